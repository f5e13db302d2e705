// Mapping between ShardLabError codes and gRPC statuses, both ways: handler errors to statuses, failed client calls to ShardLabErrors.
import { status, Metadata, type ServiceError } from '@grpc/grpc-js';
import { ErrorCode, ShardLabError } from '@shardlab/common';

const CODE_TO_STATUS: Record<ErrorCode, status> = {
  [ErrorCode.InvalidArgument]: status.INVALID_ARGUMENT,
  [ErrorCode.FailedPrecondition]: status.FAILED_PRECONDITION,
  [ErrorCode.AlreadyExists]: status.ALREADY_EXISTS,
  [ErrorCode.NotFound]: status.NOT_FOUND,
  [ErrorCode.Unavailable]: status.UNAVAILABLE,
  [ErrorCode.ResourceExhausted]: status.RESOURCE_EXHAUSTED,
  [ErrorCode.Aborted]: status.ABORTED,
  [ErrorCode.Unimplemented]: status.UNIMPLEMENTED,
  [ErrorCode.Internal]: status.INTERNAL,
};

const STATUS_TO_CODE = new Map<status, ErrorCode>(
  Object.entries(CODE_TO_STATUS).map(([code, s]) => [s, code as ErrorCode]),
);

/** A gRPC status object as handed to a unary callback or `call.destroy`. */
export interface GrpcStatus {
  code: status;
  details: string;
  metadata: Metadata;
}

/**
 * Translates any thrown value into a gRPC status at the handler edge (docs/ARCHITECTURE.md §7):
 * a {@link ShardLabError} keeps its code and message; INTERNAL ones and anything else become
 * INTERNAL with a generic message, so internal details never leak to clients.
 */
export function toGrpcStatus(err: unknown): GrpcStatus {
  if (err instanceof ShardLabError && err.code !== ErrorCode.Internal) {
    return { code: CODE_TO_STATUS[err.code], details: err.message, metadata: new Metadata() };
  }
  return { code: status.INTERNAL, details: 'internal error', metadata: new Metadata() };
}

/** The call a failed status came from, when the caller knows it. */
export interface FailedCall {
  /** The call, e.g. `SimulatorService.Simulate` (see `callName`). */
  method?: string | undefined;
  /** The deadline the call was given, in milliseconds. */
  deadlineMs?: number | undefined;
}

/**
 * Translates a failed client call into a {@link ShardLabError}: statuses that ShardLab uses keep
 * their code and message (so a gateway passes a shard's FAILED_PRECONDITION through unchanged),
 * except INTERNAL and UNAVAILABLE; those, DEADLINE_EXCEEDED, CANCELLED and unknown statuses become
 * UNAVAILABLE naming `target`. A deadline that passed also names the call and its deadline when
 * `call` gives them: `simulator (host:port) unavailable: SimulatorService.Simulate: deadline of
 * 30000 ms exceeded` (else `<target> unavailable: deadline exceeded`); `meta` keeps `grpcCode`,
 * `grpcDetails`, and `method` and `deadlineMs` when known.
 */
export function fromServiceError(err: ServiceError, target: string, call: FailedCall = {}): ShardLabError {
  const code = STATUS_TO_CODE.get(err.code);
  if (code && code !== ErrorCode.Unavailable && code !== ErrorCode.Internal) {
    return new ShardLabError(code, err.details, { target });
  }
  // Transport details (host:port, socket errors) go to logs through `meta`, not to clients.
  const reason =
    err.code === status.DEADLINE_EXCEEDED ? deadlineReason(call) : err.code === status.UNAVAILABLE ? 'not reachable' : status[err.code] ?? 'unknown status';
  const known = { ...(call.method !== undefined ? { method: call.method } : {}), ...(call.deadlineMs !== undefined ? { deadlineMs: call.deadlineMs } : {}) };
  return new ShardLabError(ErrorCode.Unavailable, `${target} unavailable: ${reason}`, { target, grpcCode: err.code, grpcDetails: err.details, ...known });
}

/** `SimulatorService.Simulate: deadline of 30000 ms exceeded`, with what of it is known. */
function deadlineReason(call: FailedCall): string {
  const what = call.deadlineMs !== undefined ? `deadline of ${call.deadlineMs} ms exceeded` : 'deadline exceeded';
  return call.method !== undefined ? `${call.method}: ${what}` : what;
}
