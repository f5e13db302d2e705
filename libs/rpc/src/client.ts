// The gRPC client side: channel creation with fast reconnects, unary calls with deadline, trace metadata and cancellation, server streams, waiting for ready.
import {
  InterceptingCall,
  Metadata,
  credentials,
  type CallOptions,
  type Interceptor,
  type Client,
  type ClientOptions,
  type ClientReadableStream,
  type ServiceError,
  type ChannelCredentials,
} from '@grpc/grpc-js';
import { injectContext } from '@shardlab/telemetry';
import type { BackoffOpts } from './backoff';
import { callName, scaleDeadlineMs } from './deadline';
import { fromServiceError } from './status';

/**
 * Default deadline of a unary call, in milliseconds (before the deadline scale): 10 s. Mostly
 * clients of the gateway use it, whose calls enclose the gateway's own calls to shards and the
 * orchestrator (5 s each by default), so the inner, more precise error comes back first.
 */
export const DEFAULT_DEADLINE_MS = 10_000;

/** Options of one client call. */
export interface CallOpts {
  /**
   * Deadline in milliseconds from now; default {@link DEFAULT_DEADLINE_MS}. Every call has one,
   * multiplied by the process's deadline scale (`SHARDLAB_DEADLINE_SCALE`, see `deadlineScale`).
   */
  deadlineMs?: number;
  /** Cancels the call when aborted (propagates a server-side cancellation downstream). */
  signal?: AbortSignal;
  /**
   * Wait (up to the deadline) for a connection instead of failing at once while the channel is
   * reconnecting, e.g. to a service that is restarting. Default false.
   */
  waitForReady?: boolean;
}

/** Metadata carrying the active W3C trace context (`traceparent`, `tracestate`). */
export function traceMetadata(): Metadata {
  const md = new Metadata();
  for (const [k, v] of Object.entries(injectContext())) md.set(k, v);
  return md;
}

/**
 * Makes a unary call with a deadline (`opts.deadlineMs` or {@link DEFAULT_DEADLINE_MS}, times the
 * deadline scale `SHARDLAB_DEADLINE_SCALE`), the active trace context in metadata, and
 * cancellation. `target` names the callee in errors (e.g. `shard 2`). `invoke` must pass the
 * options it is given on to the client method (they carry the deadline, and an interceptor that
 * notes the method's name for the error).
 * @throws ShardLabError with the callee's code for ShardLab statuses; UNAVAILABLE when the
 *   callee cannot be reached or the deadline passes (then naming the call and the deadline:
 *   `shard 1 (host:port) unavailable: StateShardService.GetProof: deadline of 5000 ms exceeded`);
 *   INVALID_ARGUMENT (before any call) when `SHARDLAB_DEADLINE_SCALE` is not a valid scale.
 */
export function unaryCall<Res>(
  target: string,
  invoke: (md: Metadata, options: CallOptions, cb: (err: ServiceError | null, res?: Res) => void) => { cancel(): void },
  opts: CallOpts = {},
): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    const deadlineMs = scaleDeadlineMs(opts.deadlineMs ?? DEFAULT_DEADLINE_MS);
    const deadline = new Date(Date.now() + deadlineMs);
    const md = traceMetadata();
    if (opts.waitForReady) md.setOptions({ waitForReady: true });
    let method: string | undefined;
    const noteMethod: Interceptor = (options, nextCall) => {
      method = callName(options.method_definition.path);
      return new InterceptingCall(nextCall(options));
    };
    const call = invoke(md, { deadline, interceptors: [noteMethod] }, (err, res) => {
      opts.signal?.removeEventListener('abort', onAbort);
      if (err) reject(fromServiceError(err, target, { method, deadlineMs }));
      else resolve(res as Res);
    });
    const onAbort = () => call.cancel();
    if (opts.signal?.aborted) call.cancel();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Opens a server stream and yields its messages; errors are translated as in {@link unaryCall}.
 * Streams have no deadline (they are long-lived); abort `signal` to stop reading.
 */
export async function* streamCall<Res>(
  target: string,
  open: (md: Metadata, options: CallOptions) => ClientReadableStream<Res>,
  signal?: AbortSignal,
): AsyncGenerator<Res> {
  const stream = open(traceMetadata(), {});
  const onAbort = () => stream.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const msg of stream) yield msg as Res;
  } catch (err) {
    if (signal?.aborted) return;
    throw fromServiceError(err as ServiceError, target);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    stream.cancel();
  }
}

/** A generated client constructor (ts-proto `makeGenericClientConstructor` output). */
export type ClientCtor<C extends Client> = new (address: string, creds: ChannelCredentials, options?: Partial<ClientOptions>) => C;

/** Options of {@link createClient}. */
export interface ClientChannelOpts {
  /**
   * Back-off of the channel's reconnection attempts to a server that went away; default 100 ms
   * doubling to 5 s (rather than gRPC's 1 s to 120 s), so that calls reach a restarted service soon.
   */
  reconnect?: BackoffOpts;
}

/** Creates an insecure (plaintext) client for `address` (`host:port`). */
export function createClient<C extends Client>(Ctor: ClientCtor<C>, address: string, opts: ClientChannelOpts = {}): C {
  return new Ctor(address, credentials.createInsecure(), {
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc.keepalive_time_ms': 30_000,
    // Services restart (crash recovery, rolling updates): reconnect within seconds, not minutes.
    'grpc.initial_reconnect_backoff_ms': opts.reconnect?.initialMs ?? 100,
    'grpc.max_reconnect_backoff_ms': opts.reconnect?.maxMs ?? 5000,
  });
}

/**
 * Waits until the channel to `client` is ready, up to `timeoutMs`.
 * @throws Error naming the target when it does not become ready in time.
 */
export function waitForReady(client: Client, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) =>
    client.waitForReady(new Date(Date.now() + timeoutMs), (err) => (err ? reject(err) : resolve())),
  );
}
