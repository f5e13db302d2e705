// followStream: following a server stream for as long as a signal allows, reopening it with back-off whenever it ends or fails.
import type { Logger } from '@shardlab/telemetry';
import { sleep } from './backoff';

/** Options of {@link followStream}. */
export interface FollowOpts<T> {
  /** Names the stream in logs, e.g. `shard 2 blocks`. */
  name: string;
  /** Opens the stream (again): called at start and after every failure. */
  open: (signal: AbortSignal) => AsyncIterable<T>;
  /** Handles one message; a throw ends this connection and reopens the stream. */
  handle: (msg: T) => void | Promise<void>;
  /** Stops following when aborted. */
  signal: AbortSignal;
  logger: Logger;
  /** First delay before reopening, in milliseconds [100]; doubles up to `maxDelayMs` [2000]. */
  initialDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * Follows a server stream for as long as `signal` is not aborted: reopens it with exponential
 * back-off whenever it ends or fails (the server restarted, a gap was detected), logging each
 * reconnect. `open` decides where to resume (e.g. after the last height handled). Resolves when
 * `signal` aborts.
 */
export async function followStream<T>(opts: FollowOpts<T>): Promise<void> {
  const initial = opts.initialDelayMs ?? 100;
  const max = opts.maxDelayMs ?? 2000;
  let delay = initial;
  while (!opts.signal.aborted) {
    let received = 0;
    try {
      for await (const msg of opts.open(opts.signal)) {
        if (opts.signal.aborted) return;
        received += 1;
        await opts.handle(msg);
      }
      if (!opts.signal.aborted) opts.logger.warn({ stream: opts.name }, 'stream ended; reopening');
    } catch (err) {
      if (opts.signal.aborted) return;
      opts.logger.warn({ stream: opts.name, err: (err as Error).message, retryInMs: delay }, 'stream failed; reopening');
    }
    if (received > 0) delay = initial;
    await sleep(delay, opts.signal, { keepAlive: true });
    delay = Math.min(max, delay * 2);
  }
}
