import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { ErrorCode, errors, ShardLabError } from '@shardlab/common';
import { fromServiceError, toGrpcStatus } from '../src';

const serviceError = (code: status, details: string): ServiceError => Object.assign(new Error(details), { code, details, metadata: new Metadata() });

describe('status mapping at the edge', () => {
  it('keeps the code and message of client-facing errors', () => {
    expect(toGrpcStatus(errors.failedPrecondition('nonce too low'))).toMatchObject({ code: status.FAILED_PRECONDITION, details: 'nonce too low' });
    expect(toGrpcStatus(errors.alreadyExists('dup'))).toMatchObject({ code: status.ALREADY_EXISTS, details: 'dup' });
  });

  it('never shows internal messages to clients', () => {
    expect(toGrpcStatus(errors.internal('block 7 missing below head 9'))).toMatchObject({ code: status.INTERNAL, details: 'internal error' });
    expect(toGrpcStatus(new TypeError('x is undefined'))).toMatchObject({ code: status.INTERNAL, details: 'internal error' });
  });

  it('passes a callee’s ShardLab status through and hides transport details of unreachable callees', () => {
    const pass = fromServiceError(serviceError(status.FAILED_PRECONDITION, 'insufficient funds'), 'shard 1');
    expect(pass).toBeInstanceOf(ShardLabError);
    expect(pass).toMatchObject({ code: ErrorCode.FailedPrecondition, message: 'insufficient funds' });
    const down = fromServiceError(serviceError(status.UNAVAILABLE, 'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:4242'), 'shard 1');
    expect(down.code).toBe(ErrorCode.Unavailable);
    expect(down.message).toBe('shard 1 unavailable: not reachable');
    expect(down.meta['grpcDetails']).toMatch(/ECONNREFUSED/);
    // Without the call (see deadline.test.ts for a call that names itself and its deadline).
    expect(fromServiceError(serviceError(status.DEADLINE_EXCEEDED, 'Deadline exceeded'), 'orchestrator').message).toBe('orchestrator unavailable: deadline exceeded');
  });
});
