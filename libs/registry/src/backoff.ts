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

/**
 * Resolves after `ms` milliseconds, or as soon as `signal` aborts (never rejects). The timer does
 * not keep the process alive.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref?.();
    signal?.addEventListener('abort', done, { once: true });
  });
}
