import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { ErrorCode } from '@shardlab/common';
import { StateShardServiceClient, StateShardServiceService, type GetHeadResponse, type StateShardServiceServer } from '@shardlab/proto';
import { silentLogger } from '@shardlab/telemetry';
import { rejection, thrown } from '@shardlab/testing';
import {
  callName,
  createClient,
  DEADLINE_SCALE_ENV,
  deadlineScale,
  fromServiceError,
  parseDeadlineScale,
  scaleDeadlineMs,
  startServer,
  unary,
  unaryCall,
  type RunningServer,
} from '../src';

const logger = silentLogger();
const serviceError = (code: status, details: string): ServiceError => Object.assign(new Error(details), { code, details, metadata: new Metadata() });

describe('deadline scale (SHARDLAB_DEADLINE_SCALE)', () => {
  it('is 1 when unset or blank, else the number given', () => {
    expect(parseDeadlineScale(undefined)).toBe(1);
    expect(parseDeadlineScale('')).toBe(1);
    expect(parseDeadlineScale(' ')).toBe(1);
    expect(parseDeadlineScale('2')).toBe(2);
    expect(parseDeadlineScale(' 1.5 ')).toBe(1.5);
    expect(parseDeadlineScale('0.5')).toBe(0.5);
    expect(deadlineScale({})).toBe(1);
    expect(deadlineScale({ [DEADLINE_SCALE_ENV]: '3' })).toBe(3);
    expect(deadlineScale({ [DEADLINE_SCALE_ENV]: '1' })).toBe(1);
  });

  it('refuses anything else with INVALID_ARGUMENT naming the variable and the value', () => {
    for (const raw of ['0', '-1', 'abc', 'Infinity', '101', '2x']) {
      const err = thrown(() => parseDeadlineScale(raw));
      expect(err.code).toBe(ErrorCode.InvalidArgument);
      expect(err.message).toContain(`${DEADLINE_SCALE_ENV} must be a number > 0`);
      expect(err.message).toContain(JSON.stringify(raw));
    }
    expect(thrown(() => deadlineScale({ [DEADLINE_SCALE_ENV]: 'fast' })).code).toBe(ErrorCode.InvalidArgument);
  });

  it('multiplies a deadline, rounded to whole milliseconds and at least 1', () => {
    expect(scaleDeadlineMs(5000, 1)).toBe(5000);
    expect(scaleDeadlineMs(5000, 2)).toBe(10_000);
    expect(scaleDeadlineMs(333, 1.5)).toBe(500);
    expect(scaleDeadlineMs(1, 0.1)).toBe(1);
  });
});

describe('a deadline that passes names the call and its deadline', () => {
  it('names gRPC methods without their package', () => {
    expect(callName('/shardlab.v1.SimulatorService/Simulate')).toBe('SimulatorService.Simulate');
    expect(callName('/grpc.health.v1.Health/Check')).toBe('Health.Check');
    expect(callName('/Plain/Method')).toBe('Plain.Method');
    expect(callName('not a path')).toBe('not a path');
  });

  it('fromServiceError: `<target> unavailable: <Service.Method>: deadline of <ms> ms exceeded`, with what is known', () => {
    const err = fromServiceError(serviceError(status.DEADLINE_EXCEEDED, 'Deadline exceeded after 5.001s'), 'simulator (127.0.0.1:1)', {
      method: 'SimulatorService.Simulate',
      deadlineMs: 5000,
    });
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.message).toBe('simulator (127.0.0.1:1) unavailable: SimulatorService.Simulate: deadline of 5000 ms exceeded');
    expect(err.meta).toMatchObject({ target: 'simulator (127.0.0.1:1)', grpcCode: status.DEADLINE_EXCEEDED, method: 'SimulatorService.Simulate', deadlineMs: 5000 });
    expect(fromServiceError(serviceError(status.DEADLINE_EXCEEDED, 'x'), 'shard 1', { deadlineMs: 300 }).message).toBe('shard 1 unavailable: deadline of 300 ms exceeded');
    expect(fromServiceError(serviceError(status.DEADLINE_EXCEEDED, 'x'), 'shard 1').message).toBe('shard 1 unavailable: deadline exceeded');
    // Other failures do not change.
    expect(fromServiceError(serviceError(status.UNAVAILABLE, 'x'), 'shard 1', { method: 'StateShardService.GetHead', deadlineMs: 300 }).message).toBe('shard 1 unavailable: not reachable');
  });

  describe('unaryCall against a server that never answers', () => {
    let server: RunningServer;
    let client: StateShardServiceClient;
    const saved = process.env[DEADLINE_SCALE_ENV];

    beforeAll(async () => {
      const implementation = { getHead: unary(logger, 'GetHead', () => new Promise<GetHeadResponse>(() => {})) };
      server = await startServer({
        port: 0,
        logger,
        reflection: false,
        services: [{ name: 'shardlab.v1.StateShardService', definition: StateShardServiceService, implementation: implementation as unknown as StateShardServiceServer }],
      });
      client = createClient(StateShardServiceClient, server.address);
    });
    afterEach(() => {
      if (saved === undefined) delete process.env[DEADLINE_SCALE_ENV];
      else process.env[DEADLINE_SCALE_ENV] = saved;
    });
    afterAll(async () => {
      client.close();
      await server.close(100);
    });

    const getHead = (deadlineMs: number) => unaryCall<GetHeadResponse>('shard 0', (md, o, cb) => client.getHead({}, md, o, cb), { deadlineMs });

    it('rejects UNAVAILABLE naming StateShardService.GetHead and the deadline it was given', async () => {
      delete process.env[DEADLINE_SCALE_ENV];
      const err = await rejection(getHead(200));
      expect(err.code).toBe(ErrorCode.Unavailable);
      expect(err.message).toBe('shard 0 unavailable: StateShardService.GetHead: deadline of 200 ms exceeded');
      expect(err.meta['grpcCode']).toBe(status.DEADLINE_EXCEEDED);
    });

    it('gives the call its deadline times SHARDLAB_DEADLINE_SCALE, and says so', async () => {
      process.env[DEADLINE_SCALE_ENV] = '1.5';
      const err = await rejection(getHead(200));
      expect(err.message).toBe('shard 0 unavailable: StateShardService.GetHead: deadline of 300 ms exceeded');
    });

    it('refuses to call at all when SHARDLAB_DEADLINE_SCALE is invalid', async () => {
      process.env[DEADLINE_SCALE_ENV] = 'slow';
      let invoked = false;
      const err = await rejection(
        unaryCall<GetHeadResponse>('shard 0', (md, o, cb) => {
          invoked = true;
          return client.getHead({}, md, o, cb);
        }),
      );
      expect(err.code).toBe(ErrorCode.InvalidArgument);
      expect(err.message).toContain(DEADLINE_SCALE_ENV);
      expect(invoked).toBe(false);
    });
  });
});
