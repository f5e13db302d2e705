// The gRPC server side: startServer with health and reflection, unary and server-streaming handler wrappers (trace context, cancellation, error mapping), shared response encoding.
import {
  Server,
  ServerCredentials,
  type ServiceDefinition,
  type UntypedServiceImplementation,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import { context, type Context } from '@opentelemetry/api';
import { extractContext, type Logger } from '@shardlab/telemetry';
import { ShardLabError } from '@shardlab/common';
import { toGrpcStatus } from './status';
import { HEALTH_SERVICE, REFLECTION_SERVICES, reflectionDescriptors, servedServiceNames } from './reflection';

/** What a handler learns about its call besides the request. */
export interface CallContext {
  /** Aborted when the client cancels or the deadline passes; long work should stop. */
  readonly signal: AbortSignal;
  /** Trace context extracted from the call's W3C `traceparent` metadata. */
  readonly trace: Context;
}

/** A gRPC service to mount: its generated definition and an implementation. */
export interface MountedService {
  /** Fully qualified name, e.g. `shardlab.v1.GatewayService` (for the health service). */
  name: string;
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
}

/** Options of {@link startServer}. */
export interface ServerOpts {
  /** Port to bind; 0 picks a free one (tests). */
  port: number;
  /** Host to bind; default `127.0.0.1`. Use `0.0.0.0` in containers. */
  host?: string;
  services: MountedService[];
  logger: Logger;
  /** Serve gRPC server reflection (for grpcurl). Default true. */
  reflection?: boolean;
}

/** A running gRPC server. */
export interface RunningServer {
  readonly server: Server;
  /** The bound port (the real one when 0 was asked). */
  readonly port: number;
  /** `host:port` to give clients. */
  readonly address: string;
  readonly health: HealthImplementation;
  /** Stops accepting calls, waits up to `graceMs` (default 2000 ms) for calls in flight, then forces. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts a gRPC server with the given services plus the standard health service
 * (`grpc.health.v1.Health`, every mounted service SERVING) and, by default, server reflection
 * (v1 and v1alpha), whose service list is exactly what this server serves: the mounted services,
 * health and reflection.
 * @throws Error when the port cannot be bound.
 */
export async function startServer(opts: ServerOpts): Promise<RunningServer> {
  const server = new Server({
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    // Detect clients that vanished without closing (frozen, partitioned): their streams end.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
  });
  for (const s of opts.services) server.addService(s.definition, s.implementation);
  const health = new HealthImplementation({ '': 'SERVING', ...Object.fromEntries(opts.services.map((s) => [s.name, 'SERVING'])) });
  health.addToServer(server);
  if (opts.reflection !== false) {
    const served = [...opts.services.flatMap((s) => servedServiceNames(s.definition)), HEALTH_SERVICE, ...REFLECTION_SERVICES];
    new ReflectionService(reflectionDescriptors(), { services: served }).addToServer(server);
  }
  const host = opts.host ?? '127.0.0.1';
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${opts.port}`, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const address = `${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  return {
    server,
    port,
    address,
    health,
    close: (graceMs = 2000) =>
      new Promise<void>((resolve) => {
        for (const s of opts.services) health.setStatus(s.name, 'NOT_SERVING');
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}

/** The abort reason of a cancelled call (one shared value: no DOMException and stack per call). */
const CALL_CANCELLED = Object.freeze(new Error('call cancelled by the client'));

function callContext(call: { metadata: { getMap(): Record<string, unknown> }; on(ev: 'cancelled', f: () => void): unknown }): CallContext {
  const controller = new AbortController();
  call.on('cancelled', () => controller.abort(CALL_CANCELLED));
  const carrier: Record<string, string> = {};
  for (const [k, v] of Object.entries(call.metadata.getMap())) if (typeof v === 'string') carrier[k] = v;
  return { signal: controller.signal, trace: extractContext(carrier) };
}

/**
 * Logs a refused request (a ShardLabError: debug, with its code) or an internal failure (error,
 * with the error and its stack) — for handlers, and for the items of batch calls.
 */
export function logFailure(logger: Logger, method: string, err: unknown): void {
  if (err instanceof ShardLabError) {
    logger.debug({ method, code: err.code, err: err.message, ...err.meta }, 'request rejected');
  } else {
    logger.error({ method, err }, 'request failed with an internal error');
  }
}

/**
 * Wraps an async unary handler: runs it in the caller's trace context, answers with its result,
 * and maps any error to a gRPC status (INTERNAL, without details, for non-ShardLab errors).
 */
export function unary<Req, Res>(
  logger: Logger,
  method: string,
  handler: (req: Req, ctx: CallContext) => Promise<Res>,
): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
  return (call, callback) => {
    const ctx = callContext(call);
    context
      .with(ctx.trace, () => handler(call.request, ctx))
      .then(
        (res) => callback(null, res),
        (err: unknown) => {
          logFailure(logger, method, err);
          callback(toGrpcStatus(err));
        },
      );
  };
}

/**
 * Wraps an async server-streaming handler. The handler writes with `send` (which waits for the
 * stream to drain, giving back-pressure) and returns when done; the stream then ends. Errors end
 * the stream with a gRPC status. Cancellation aborts `ctx.signal`.
 */
export function serverStream<Req, Res>(
  logger: Logger,
  method: string,
  handler: (req: Req, send: (msg: Res) => Promise<void>, ctx: CallContext) => Promise<void>,
): (call: ServerWritableStream<Req, Res>) => void {
  return (call) => {
    const ctx = callContext(call);
    const send = (msg: Res) =>
      new Promise<void>((resolve) => {
        if (ctx.signal.aborted) return resolve();
        if (call.write(msg)) return resolve();
        // Back-pressure: wait for the client to drain, or for the call to end.
        const done = () => {
          call.off('drain', done);
          ctx.signal.removeEventListener('abort', done);
          resolve();
        };
        call.once('drain', done);
        ctx.signal.addEventListener('abort', done, { once: true });
      });
    context
      .with(ctx.trace, () => handler(call.request, send, ctx))
      .then(
        () => {
          if (!ctx.signal.aborted) call.end();
        },
        (err: unknown) => {
          if (ctx.signal.aborted) return;
          logFailure(logger, method, err);
          call.emit('error', toGrpcStatus(err));
        },
      );
  };
}

/**
 * A copy of a generated service `definition` whose `method` (a server-streaming method) encodes
 * each response object once, however many streams send it: the encoded bytes are remembered per
 * object (WeakMap, so they go with the object). For block streams, where every subscriber gets
 * the same decoded block object from the node's recent-block cache.
 * @throws Error when the definition has no such method.
 */
export function withSharedResponseEncoding<D extends ServiceDefinition>(definition: D, method: keyof D & string): D {
  const m = definition[method] as unknown as { responseSerialize: (value: object) => Buffer } | undefined;
  if (!m) throw new Error(`service definition has no method ${method}`);
  const encoded = new WeakMap<object, Buffer>();
  const responseSerialize = (value: object): Buffer => {
    let bytes = encoded.get(value);
    if (!bytes) {
      bytes = m.responseSerialize(value);
      encoded.set(value, bytes);
    }
    return bytes;
  };
  return { ...definition, [method]: { ...m, responseSerialize } };
}
