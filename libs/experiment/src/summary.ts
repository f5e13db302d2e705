// Figures of one experiment run for the benchmarks: counts by outcome, throughput, latency by class (pure).
import { nearestRank, sortedAscending, type OutcomeCounts } from '@shardlab/report';
import type { ExperimentOutcome, ExperimentRun } from './run';

/**
 * Whether an outcome is of a cross-shard transaction: as the home shard decided it at submission,
 * else (refused at submission) whether the workload expected it to involve several shards.
 */
export function isCrossShard(o: ExperimentOutcome): boolean {
  return o.crossShard ?? new Set(o.tx.shards).size > 1;
}

/** Nearest-rank percentiles of a sample (latencies in milliseconds); NaN when it is empty. */
export interface Latency {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  count: number;
}

/** Nearest-rank percentiles (`nearestRank` of @shardlab/report) of `values`; NaN for each figure of an empty sample. */
export function latencyOf(values: readonly number[]): Latency {
  const sorted = sortedAscending(values);
  const at = (p: number) => nearestRank(sorted, p) ?? NaN;
  return { p50: at(50), p95: at(95), p99: at(99), max: at(100), count: sorted.length };
}

/** Figures of an experiment run: the report's outcome counts, and more. Times in milliseconds. */
export interface RunSummary extends OutcomeCounts {
  committedLocal: number;
  committedCross: number;
  /** Committed transactions per second, from the first submission to the last terminal outcome (0 without either). */
  throughputTps: number;
  /** Submission → terminal outcome of the committed transactions, by class ({@link isCrossShard}). */
  latencyMs: { local: Latency; crossShard: Latency };
  /** Reasons of the transactions that did not commit (revert errors, abort reasons, refusals), with counts. */
  reasons: Map<string, number>;
}

/** Summarises an experiment run's outcomes (pure). */
export function summariseRun(run: Pick<ExperimentRun, 'outcomes'>): RunSummary {
  const os = run.outcomes;
  const count = (k: ExperimentOutcome['outcome']) => os.filter((o) => o.outcome === k).length;
  const committed = os.filter((o) => o.outcome === 'committed' && o.finalAtMs !== undefined);
  const local = committed.filter((o) => !isCrossShard(o));
  const cross = committed.filter((o) => isCrossShard(o));
  const start = Math.min(...os.map((o) => o.submittedAtMs));
  const end = Math.max(...os.flatMap((o) => (o.finalAtMs !== undefined ? [o.finalAtMs] : [])));
  const reasons = new Map<string, number>();
  for (const o of os) if (o.outcome !== 'committed' && o.reason) reasons.set(o.reason, (reasons.get(o.reason) ?? 0) + 1);
  const latency = (xs: ExperimentOutcome[]) => latencyOf(xs.map((o) => o.finalAtMs! - o.submittedAtMs));
  return {
    submitted: os.length,
    committed: count('committed'),
    reverted: count('reverted'),
    aborted: count('aborted'),
    rejected: count('rejected'),
    unknown: count('unknown'),
    committedLocal: local.length,
    committedCross: cross.length,
    throughputTps: committed.length > 0 && end > start ? (committed.length * 1000) / (end - start) : 0,
    latencyMs: { local: latency(local), crossShard: latency(cross) },
    reasons,
  };
}
