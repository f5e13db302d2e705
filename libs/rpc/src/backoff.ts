// Retry helpers shared by every retry loop: exponential back-off delays, an abortable sleep, and a retry-while-UNAVAILABLE loop.
import { ErrorCode, isShardLabError } from '@shardlab/common';
import type { Logger } from '@shardlab/telemetry';

/** Exponential back-off settings, in milliseconds. */
export interface BackoffOpts {
  /** First delay; default 100 ms. */
  initialMs?: number;
  /** Largest delay; default 5000 ms. */
  maxMs?: number;
}

/**
 * The delay before retry number `attempt` (0-based): `initialMs × 2^attempt`, capped at `maxMs`,
 * with ±20 % jitter so that many clients do not retry in lockstep. In milliseconds.
 */
export function backoffDelayMs(attempt: number, opts: BackoffOpts = {}): number {
  const initial = opts.initialMs ?? 100;
  const max = opts.maxMs ?? 5000;
  const base = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  return Math.round(base * (0.8 + 0.4 * Math.random()));
}

/** Options of {@link sleep}. */
export interface SleepOpts {
  /**
   * Keep the process alive while sleeping (a referenced timer), for a process that has nothing
   * else to do yet. Default false: the timer does not keep the process alive.
   */
  keepAlive?: boolean;
}

/**
 * Resolves after `ms` milliseconds, or as soon as `signal` aborts (never rejects). By default the
 * timer does not keep the process alive (see {@link SleepOpts.keepAlive}).
 */
export function sleep(ms: number, signal?: AbortSignal, opts: SleepOpts = {}): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    if (!opts.keepAlive) timer.unref?.();
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Calls `fn` until it does not fail with UNAVAILABLE, backing off between attempts
 * ({@link backoffDelayMs} with its defaults) and logging each wait (`waiting for <what>`); other
 * errors are thrown at once, and so is the last UNAVAILABLE once `signal` aborts. Waits on a
 * referenced timer, so a process that has nothing else to do yet stays alive while it waits.
 */
export async function retryWhileUnavailable<T>(fn: () => Promise<T>, log: Logger, what: string, signal?: AbortSignal): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isShardLabError(err, ErrorCode.Unavailable) || signal?.aborted) throw err;
      const delay = backoffDelayMs(attempt);
      log.info({ attempt: attempt + 1, retryInMs: delay, err: err.message }, `waiting for ${what}`);
      await sleep(delay, signal, { keepAlive: true });
      if (signal?.aborted) throw err;
    }
  }
}
