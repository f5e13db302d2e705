// The trace benchmark: replays the shipped mainnet trace through the main job once per shard count and collects each run's report.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Report } from '@shardlab/report';
import { REPO_ROOT, runJob } from '@shardlab/devnet';

/** The real trace shipped beside the repository (see ../shared/data/README.md). */
export const DEFAULT_TRACE = resolve(REPO_ROOT, '..', 'shared', 'data', 'eth-mainnet-3.3M-20k.csv.gz');

/** Options of {@link runTraceBench}. */
export interface TraceBenchOpts {
  trace: string;
  shardCounts: readonly number[];
  blockIntervalMs: number;
  /** Replay only the first rows. */
  limit?: number;
  say: (line: string) => void;
}

/**
 * Replays the trace through the main job ({@link runJob}: separate processes, submission through
 * the gateway as fast as possible, every transaction to its terminal status, audit) once per shard
 * count, one after another on the same machine, and returns each run's report.
 * @throws Error when the trace is missing or a run fails to produce its report.
 */
export async function runTraceBench(o: TraceBenchOpts): Promise<{ shards: number; code: number; report: Report }[]> {
  if (!existsSync(o.trace)) throw new Error(`trace ${o.trace} not found; pass --trace FILE`);
  const out: { shards: number; code: number; report: Report }[] = [];
  for (const shards of o.shardCounts) {
    const dir = join(REPO_ROOT, '.data', 'bench', `trace-${shards}`);
    o.say(`  replaying ${o.limit ? `the first ${o.limit} rows of ` : ''}${o.trace} on ${shards} shard${shards === 1 ? '' : 's'}...`);
    const lines: string[] = [];
    const code = await runJob(
      {
        trace: o.trace, onMalformed: 'skip', ...(o.limit ? { limit: o.limit } : {}), valueScale: '1',
        txs: 0, accounts: 0, mix: { transfer: 1, erc20: 0, swap: 0 }, seed: 1,
        shards, blockIntervalMs: o.blockIntervalMs, rate: 0, concurrency: 256,
        out: dir, keepRunning: false, keepData: false,
      },
      () => {},
      { write: (c: string) => lines.push(c) },
    );
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as Report;
    o.say(`    ${report.counts.committed}/${report.counts.submitted} committed, ${report.throughput.committedPerSecond?.toFixed(1)} tx/s, audit ${report.audit.ok ? 'passed' : 'FAILED'} (report in ${dir})`);
    out.push({ shards, code, report });
  }
  return out;
}
