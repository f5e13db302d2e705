import { TxStatus } from '@shardlab/proto';
import { percentile } from './stats';
import type { TxResult } from './workload';

/** Figures of a workload run. Times in milliseconds. */
export interface Summary {
  submitted: number;
  /** Refused by the gateway or the home shard at submission. */
  rejected: number;
  /** Final with a successful receipt. */
  committed: number;
  /** Final with a failed receipt (reverted; fees paid). */
  reverted: number;
  /** Accepted but dropped before execution, aborted, or never seen final. */
  failed: number;
  /** Committed transactions per second, from the first submission to the last final status. */
  throughputTps: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  /** Committed transactions per home shard. */
  perShard: Map<number, number>;
  /** First few distinct error messages, with counts. */
  errors: Map<string, number>;
}

/** Summarises workload results (pure). */
export function summarise(results: readonly TxResult[]): Summary {
  const committed = results.filter((r) => r.status === TxStatus.TX_STATUS_FINAL && r.success);
  const reverted = results.filter((r) => r.status === TxStatus.TX_STATUS_FINAL && !r.success).length;
  const rejected = results.filter((r) => r.hash === undefined).length;
  const latencies = committed.map((r) => r.finalAtMs! - r.submittedAtMs);
  const start = Math.min(...results.map((r) => r.submittedAtMs));
  const end = Math.max(...committed.map((r) => r.finalAtMs!));
  const perShard = new Map<number, number>();
  for (const r of committed) perShard.set(r.tx.homeShard, (perShard.get(r.tx.homeShard) ?? 0) + 1);
  const errors = new Map<string, number>();
  for (const r of results) if (r.error) errors.set(r.error, (errors.get(r.error) ?? 0) + 1);
  return {
    submitted: results.length,
    rejected,
    committed: committed.length,
    reverted,
    failed: results.length - rejected - committed.length - reverted,
    throughputTps: committed.length > 0 && end > start ? (committed.length * 1000) / (end - start) : 0,
    latencyMs: { p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99), max: percentile(latencies, 100) },
    perShard,
    errors,
  };
}

/** The summary as a plain-text table for the terminal. */
export function formatSummary(s: Summary, shardCount: number, blockIntervalMs: number): string {
  const ms = (v: number) => (Number.isNaN(v) ? '-' : `${v.toFixed(0)} ms (${(v / blockIntervalMs).toFixed(1)} blocks)`);
  const lines = [
    'ShardLab devnet summary',
    `  submitted      ${s.submitted}`,
    `  committed      ${s.committed}`,
    `  reverted       ${s.reverted}`,
    `  rejected       ${s.rejected}`,
    `  failed         ${s.failed}`,
    `  throughput     ${s.throughputTps.toFixed(1)} tx/s`,
    `  latency p50    ${ms(s.latencyMs.p50)}`,
    `  latency p95    ${ms(s.latencyMs.p95)}`,
    `  latency p99    ${ms(s.latencyMs.p99)}`,
    `  latency max    ${ms(s.latencyMs.max)}`,
    `  per shard      ${Array.from({ length: shardCount }, (_, i) => `#${i}: ${s.perShard.get(i) ?? 0}`).join('  ')}`,
  ];
  for (const [msg, n] of [...s.errors].slice(0, 5)) lines.push(`  error ×${n}: ${msg}`);
  return lines.join('\n');
}
