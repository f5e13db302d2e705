// The services' structured JSON logger (pino): createLogger with service, pid and base fields on every line, and a silent logger.
import pino, { type Logger, type LoggerOptions, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

/** Options of {@link createLogger}. */
export interface LoggerOpts {
  /** Service name, on every line as `service`. */
  service: string;
  /** pino level; default `info` (set with `LOG_LEVEL` by the apps). */
  level?: string;
  /** Extra fields on every line (shard id, instance id). */
  base?: Record<string, unknown>;
  /** Where lines go; default standard output. Tests pass a memory stream. */
  destination?: DestinationStream;
}

/**
 * Creates the root structured JSON logger of a service (pino): one JSON object per line with
 * `level` (pino number), `time` (ISO 8601), `service`, `pid`, the `base` fields, the call's fields
 * and `msg`. Modules take a child with `logger.child({ module: 'mempool' })`; lines about a
 * transaction carry `txHash`. `service` cannot be overridden by `base`.
 * @throws Error when `level` is not a pino level.
 */
export function createLogger(opts: LoggerOpts): Logger {
  const options: LoggerOptions = {
    level: opts.level ?? 'info',
    base: { pid: process.pid, ...opts.base, service: opts.service },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/** A logger that discards everything, for tests and libraries used without a service. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
