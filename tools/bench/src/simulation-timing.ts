// timeSimulations: the Uniswap bench's timing of Simulate calls one at a time, where a call that fails is counted with its reason instead of ending the bench.
import { latencyOf } from '@shardlab/experiment';
import type { SimulateResponse } from '@shardlab/proto';
import { normaliseReason } from '@shardlab/report';

/** What timing Simulate on a list of transactions measured. Times in milliseconds. */
export interface SimulationTiming {
  /** Simulate calls made (one per transaction). */
  count: number;
  /** Calls that were answered (with success or not). */
  answered: number;
  /** Answers with `success`. */
  succeeded: number;
  /** Answers without `success`, by reason (normalised: hashes and numbers replaced). */
  unsuccessful: Map<string, number>;
  /** Calls that got no answer (deadline passed, simulator unreachable, ...). */
  failed: number;
  /** Those calls by error message (as thrown: it names the call and its deadline). */
  failures: Map<string, number>;
  /** Failures of the untimed step after each call (`after`), by error message. */
  afterFailures: Map<string, number>;
  /** Time of the answered calls: mean, p50, p99 (nearest rank); NaN when none was answered. */
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
}

const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

/** Options of {@link timeSimulations}. */
export interface TimeSimulationsOpts<T> {
  /**
   * Untimed step after each call, answered or not (the bench releases the simulation locks the
   * call took, so that the next call does not wait for them); a failure is counted, not thrown.
   */
  after?: (item: T) => Promise<void>;
  /** Clock in ms [performance.now]. */
  now?: () => number;
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * Calls `simulate` on each of `items`, one at a time, and times the calls that are answered. A
 * call that throws is counted in `failed` under its message and the next one is made: a failure
 * is a measurement, not the end of the bench.
 */
export async function timeSimulations<T>(items: readonly T[], simulate: (item: T) => Promise<SimulateResponse>, opts: TimeSimulationsOpts<T> = {}): Promise<SimulationTiming> {
  const now = opts.now ?? (() => performance.now());
  const ms: number[] = [];
  const unsuccessful = new Map<string, number>();
  const failures = new Map<string, number>();
  const afterFailures = new Map<string, number>();
  let succeeded = 0;
  let failed = 0;
  for (const item of items) {
    const t0 = now();
    try {
      const res = await simulate(item);
      ms.push(now() - t0);
      if (res.success) succeeded++;
      else bump(unsuccessful, normaliseReason(res.error));
    } catch (err) {
      failed++;
      bump(failures, messageOf(err));
    }
    if (opts.after) await opts.after(item).catch((err: unknown) => void bump(afterFailures, messageOf(err)));
  }
  const latency = latencyOf(ms);
  return {
    count: items.length,
    answered: ms.length,
    succeeded,
    unsuccessful,
    failed,
    failures,
    afterFailures,
    meanMs: ms.length === 0 ? Number.NaN : ms.reduce((a, b) => a + b, 0) / ms.length,
    p50Ms: latency.p50,
    p99Ms: latency.p99,
  };
}
