// ShardLab's error model: stable error codes (one gRPC status each), ShardLabError with a client message and log metadata, shorthand constructors, isShardLabError
/**
 * Error codes of ShardLab. Each maps to one gRPC status code at the handler edge
 * (see `@shardlab/rpc` `toGrpcStatus`); libraries never import gRPC themselves.
 */
export const ErrorCode = {
  /** Malformed input: bad RLP, bad hex, unknown field values. gRPC INVALID_ARGUMENT. */
  InvalidArgument: 'INVALID_ARGUMENT',
  /** Well-formed but not acceptable now: nonce, balance, gas bounds. gRPC FAILED_PRECONDITION. */
  FailedPrecondition: 'FAILED_PRECONDITION',
  /** The same transaction hash was already accepted. gRPC ALREADY_EXISTS. */
  AlreadyExists: 'ALREADY_EXISTS',
  /** Unknown transaction, block or shard. gRPC NOT_FOUND. */
  NotFound: 'NOT_FOUND',
  /** A shard or service cannot be reached. gRPC UNAVAILABLE. */
  Unavailable: 'UNAVAILABLE',
  /** The mempool or a queue is full. gRPC RESOURCE_EXHAUSTED. */
  ResourceExhausted: 'RESOURCE_EXHAUSTED',
  /**
   * A concurrency conflict the caller resolves by retrying from the start (e.g. state locked by
   * another transaction's simulation). gRPC ABORTED.
   */
  Aborted: 'ABORTED',
  /** A feature that a later issue builds. gRPC UNIMPLEMENTED. */
  Unimplemented: 'UNIMPLEMENTED',
  /** A bug or broken invariant; the message is not shown to clients. gRPC INTERNAL. */
  Internal: 'INTERNAL',
} as const;

/** One of the {@link ErrorCode} values. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Base error of every ShardLab library: a stable string `code`, a message fit for clients, and
 * typed metadata for logs (never sent to clients).
 */
export class ShardLabError extends Error {
  /** Stable machine-readable code; decides the gRPC status. */
  readonly code: ErrorCode;
  /** Structured context for logs (transaction hash, shard, expected/actual values). */
  readonly meta: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, meta: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ShardLabError';
    this.code = code;
    this.meta = meta;
  }
}

/** Shorthand constructors, one per code. */
export const errors = {
  invalidArgument: (message: string, meta?: Record<string, unknown>) =>
    new ShardLabError(ErrorCode.InvalidArgument, message, meta),
  failedPrecondition: (message: string, meta?: Record<string, unknown>) =>
    new ShardLabError(ErrorCode.FailedPrecondition, message, meta),
  alreadyExists: (message: string, meta?: Record<string, unknown>) =>
    new ShardLabError(ErrorCode.AlreadyExists, message, meta),
  notFound: (message: string, meta?: Record<string, unknown>) => new ShardLabError(ErrorCode.NotFound, message, meta),
  unavailable: (message: string, meta?: Record<string, unknown>) =>
    new ShardLabError(ErrorCode.Unavailable, message, meta),
  resourceExhausted: (message: string, meta?: Record<string, unknown>) =>
    new ShardLabError(ErrorCode.ResourceExhausted, message, meta),
  aborted: (message: string, meta?: Record<string, unknown>) => new ShardLabError(ErrorCode.Aborted, message, meta),
  unimplemented: (message: string, meta?: Record<string, unknown>) =>
    new ShardLabError(ErrorCode.Unimplemented, message, meta),
  internal: (message: string, meta?: Record<string, unknown>) => new ShardLabError(ErrorCode.Internal, message, meta),
};

/** True when `err` is a {@link ShardLabError}, optionally with the given code. */
export function isShardLabError(err: unknown, code?: ErrorCode): err is ShardLabError {
  return err instanceof ShardLabError && (code === undefined || err.code === code);
}
