import { TxStatus } from '@shardlab/proto';
import { percentile } from './stats';
import type { TxResult } from './workload';

/** Latency percentiles in milliseconds (NaN when there is no sample). */
export interface Latency {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  count: number;
}

/** Figures of a workload run. Times in milliseconds. */
export interface Summary {
  submitted: number;
  /** Refused by the gateway or the home shard at submission. */
  rejected: number;
  /** Final with a successful receipt (local) or committed (cross-shard). */
  committed: number;
  /** Cross-shard transactions aborted by the commit protocol. */
  aborted: number;
  /** Final with a failed receipt (reverted; fees paid). */
  reverted: number;
  /** Accepted but dropped, or never seen in a terminal status. */
  failed: number;
  /** Committed local and cross-shard transactions. */
  committedLocal: number;
  committedCross: number;
  /** Committed transactions per second, from the first submission to the last terminal status. */
  throughputTps: number;
  latencyMs: { local: Latency; crossShard: Latency };
  /** Committed transactions per home shard. */
  perShard: Map<number, number>;
  /** Distinct error messages (rejections, drops, watch failures), with counts. */
  errors: Map<string, number>;
  /** Distinct abort reasons of cross-shard transactions (e.g. contention on a contract), with counts. */
  abortReasons: Map<string, number>;
}

function latency(rs: readonly TxResult[]): Latency {
  const l = rs.map((r) => r.finalAtMs! - r.submittedAtMs);
  return { p50: percentile(l, 50), p95: percentile(l, 95), p99: percentile(l, 99), max: percentile(l, 100), count: l.length };
}

/** Summarises workload results (pure). */
export function summarise(results: readonly TxResult[]): Summary {
  const committed = results.filter((r) => r.success === true);
  const aborted = results.filter((r) => r.status === TxStatus.TX_STATUS_ABORTED).length;
  const reverted = results.filter((r) => r.status === TxStatus.TX_STATUS_FINAL && !r.success).length;
  const rejected = results.filter((r) => r.hash === undefined).length;
  const start = Math.min(...results.map((r) => r.submittedAtMs));
  const end = Math.max(...results.filter((r) => r.finalAtMs !== undefined).map((r) => r.finalAtMs!));
  const perShard = new Map<number, number>();
  for (const r of committed) perShard.set(r.tx.homeShard, (perShard.get(r.tx.homeShard) ?? 0) + 1);
  const errors = new Map<string, number>();
  const abortReasons = new Map<string, number>();
  for (const r of results) {
    if (!r.error) continue;
    const m = r.status === TxStatus.TX_STATUS_ABORTED ? abortReasons : errors;
    m.set(r.error, (m.get(r.error) ?? 0) + 1);
  }
  const local = committed.filter((r) => !r.tx.crossShard);
  const cross = committed.filter((r) => r.tx.crossShard);
  return {
    submitted: results.length,
    rejected,
    committed: committed.length,
    aborted,
    reverted,
    failed: results.length - rejected - committed.length - reverted - aborted,
    committedLocal: local.length,
    committedCross: cross.length,
    throughputTps: committed.length > 0 && end > start ? (committed.length * 1000) / (end - start) : 0,
    latencyMs: { local: latency(local), crossShard: latency(cross) },
    perShard,
    errors,
    abortReasons,
  };
}

/** The summary as a plain-text table for the terminal. */
export function formatSummary(s: Summary, shardCount: number, blockIntervalMs: number): string {
  const ms = (v: number) => (Number.isNaN(v) ? '-' : `${v.toFixed(0)} ms (${(v / blockIntervalMs).toFixed(1)} blocks)`);
  const lat = (name: string, l: Latency) =>
    l.count === 0 ? [] : [`  ${name.padEnd(15)}p50 ${ms(l.p50)}, p95 ${ms(l.p95)}, p99 ${ms(l.p99)}, max ${ms(l.max)}`];
  const lines = [
    'ShardLab devnet summary',
    `  submitted      ${s.submitted}`,
    `  committed      ${s.committed} (local ${s.committedLocal}, cross-shard ${s.committedCross})`,
    `  aborted        ${s.aborted}`,
    `  reverted       ${s.reverted}`,
    `  rejected       ${s.rejected}`,
    `  failed         ${s.failed}`,
    `  throughput     ${s.throughputTps.toFixed(1)} tx/s`,
    ...lat('latency local', s.latencyMs.local),
    ...lat('latency cross', s.latencyMs.crossShard),
    `  per shard      ${Array.from({ length: shardCount }, (_, i) => `#${i}: ${s.perShard.get(i) ?? 0}`).join('  ')}`,
  ];
  for (const [msg, n] of [...s.abortReasons].slice(0, 5)) lines.push(`  aborted ×${n}: ${msg}`);
  for (const [msg, n] of [...s.errors].slice(0, 5)) lines.push(`  error ×${n}: ${msg}`);
  return lines.join('\n');
}
