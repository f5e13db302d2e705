// The bench command line (npm run bench): its options, and the executor, cross-shard, Uniswap and trace suites, each run in turn and printed as a Markdown table.
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEADLINE_SCALE_ENV, deadlineScale } from '@shardlab/rpc';
import { runCrossShardBench } from './cross-shard-bench';
import { runUniswapBench } from './uniswap-bench';
import { DEFAULT_TRACE, runTraceBench } from './trace-bench';
import { makeTransfers, runBaseline, runBlockExecution, runShard } from './executor-bench';

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got ${v}`);
  return n;
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const program = new Command()
  .name('npm run bench --')
  .description('ShardLab benchmarks. Figures are ratios against a baseline measured in the same run, alternating, median of rounds.')
  .addOption(new Option('--txs <n>', 'signed transfers per round').argParser(int).default(4000))
  .addOption(new Option('--senders <n>', 'distinct senders').argParser(int).default(200))
  .addOption(new Option('--block-size <n>', 'transactions per block for the shard').argParser(int).default(1000))
  .addOption(new Option('--rounds <n>', 'rounds (baseline and shard alternate)').argParser(int).default(3))
  .addOption(new Option('--suite <name>', 'which benchmarks').choices(['all', 'executor', 'cross-shard', 'uniswap', 'trace']).default('all'))
  .addOption(new Option('--shards <n>', 'cross-shard suite: state shards').argParser(int).default(4))
  .addOption(new Option('--block-interval-ms <ms>', 'cross-shard suite: block interval').argParser(int).default(250))
  .addOption(new Option('--cross-txs <n>', 'cross-shard suite: transfers per workload').argParser(int).default(400))
  .addOption(new Option('--swaps <n>', 'uniswap suite: cross-shard swaps (and as many cross-shard transfers beside them)').argParser(int).default(60))
  .addOption(new Option('--trace <file>', 'trace suite: transactions CSV to replay').default(DEFAULT_TRACE, '../shared/data/eth-mainnet-3.3M-20k.csv.gz'))
  .addOption(new Option('--trace-shards <list>', 'trace suite: shard counts, comma-separated').default('1,2,4,8'))
  .addOption(new Option('--trace-limit <n>', 'trace suite: replay only the first n rows').argParser(int))
  .addOption(new Option('--traders <n>', 'uniswap suite: traders, each with its own approvals').argParser(int).default(4));

async function main(): Promise<void> {
  program.parse();
  const o = program.opts<{ txs: number; senders: number; blockSize: number; rounds: number; suite: string; shards: number; blockIntervalMs: number; crossTxs: number; swaps: number; traders: number; trace: string; traceShards: string; traceLimit?: number }>();
  const say = (s: string) => process.stdout.write(s + '\n');
  // Before any network starts: an invalid scale would fail every call.
  const scale = deadlineScale();
  if (scale !== 1) say(`internal call deadlines × ${scale} (${DEADLINE_SCALE_ENV})`);
  if (o.suite === 'all' || o.suite === 'executor') await executorSuite(o, say);
  if (o.suite === 'all' || o.suite === 'cross-shard') await crossShardSuite(o, say);
  if (o.suite === 'all' || o.suite === 'uniswap') await uniswapSuite(o, say);
  if (o.suite === 'all' || o.suite === 'trace') await traceSuite(o, say);
}

async function traceSuite(o: { trace: string; traceShards: string; traceLimit?: number; blockIntervalMs: number }, say: (s: string) => void): Promise<void> {
  const shardCounts = o.traceShards.split(',').map((x) => int(x.trim()));
  say('');
  say(`Trace benchmark: ${o.trace}${o.traceLimit ? ` (first ${o.traceLimit} rows)` : ''}, shards ${shardCounts.join(', ')}, block interval ${o.blockIntervalMs} ms, real processes, as fast as possible`);
  const runs = await runTraceBench({ trace: o.trace, shardCounts, blockIntervalMs: o.blockIntervalMs, ...(o.traceLimit ? { limit: o.traceLimit } : {}), say });
  const base = runs[0]!.report.throughput.committedPerSecond ?? NaN;
  const f = (x: number | null | undefined, d = 0) => (x === null || x === undefined ? '–' : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
  say('');
  say(`| shards | txs | committed | aborted | cross-shard | committed tx/s | vs ${runs[0]!.shards} shard${runs[0]!.shards === 1 ? '' : 's'} | CPU ms / committed tx | cores busy | cross-shard p50 / p99 ms (intervals) | local p50 / p99 ms (intervals) | audit |`);
  say('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const { shards, report: r } of runs) {
    const x = r.latency.crossShard;
    const l = r.latency.local;
    const lat = (c: typeof x) => (c.n === 0 || !c.ms || !c.blockIntervals ? '–' : `${f(c.ms.p50)} / ${f(c.ms.p99)} (${f(c.blockIntervals.p50, 2)} / ${f(c.blockIntervals.p99, 2)})`);
    const tps = r.throughput.committedPerSecond;
    say(`| ${shards} | ${f(r.counts.submitted)} | ${f(r.counts.committed)} | ${f(r.counts.aborted)} | ${f((r.crossShardRatio ?? NaN) * 100, 1)} % | ${f(tps, 1)} | ${f((tps ?? NaN) / base, 2)}x | ${f((r.cpu?.cpuSecondsPerCommittedTx ?? NaN) * 1000, 2)} | ${f(r.cpu?.averageCores, 2)} | ${lat(x)} | ${lat(l)} | ${r.audit.ok && r.accountedFor ? 'passed, all accounted for' : 'FAILED'} |`);
  }
  const four = runs.find((r) => r.shards === 4);
  if (four && !o.traceLimit) {
    const tps = four.report.throughput.committedPerSecond ?? 0;
    say('');
    say(`target: the whole trace at 4 shards with the audit passing (${four.report.audit.ok && four.report.accountedFor ? 'met' : 'NOT met'}); ≥ 1,000 committed tx/s at 4 shards (${tps.toFixed(1)}: ${tps >= 1000 ? 'met' : 'NOT met'})`);
  }
}

async function uniswapSuite(o: { shards: number; blockIntervalMs: number; swaps: number; traders: number }, say: (s: string) => void): Promise<void> {
  say('');
  say(`Uniswap benchmark: ${o.shards} shards, block interval ${o.blockIntervalMs} ms, ${o.swaps} cross-shard swaps beside ${o.swaps} cross-shard transfers in the same run, real processes`);
  const r = await runUniswapBench({ shards: o.shards, blockIntervalMs: o.blockIntervalMs, swaps: o.swaps, transfers: o.swaps, traders: o.traders, say });
  const iv = (ms: number) => (ms / o.blockIntervalMs).toFixed(2);
  say('');
  say('| class | committed | aborted attempts | failed | tx/s | p50 ms (intervals) | p99 ms (intervals) |');
  say('|---|---:|---:|---:|---:|---:|---:|');
  for (const c of r.classes) {
    say(`| ${c.name} | ${c.committed}/${c.wanted} | ${c.aborted} | ${c.failed} | ${c.tps.toFixed(1)} | ${c.p50.toFixed(0)} (${iv(c.p50)}) | ${c.p99.toFixed(0)} (${iv(c.p99)}) |`);
  }
  const sw = r.classes[1]!;
  say('');
  say(`swaps: latency per committed attempt above; first submission → committed incl. resubmissions p50 ${sw.p50EndToEnd?.toFixed(0)} ms (${iv(sw.p50EndToEnd ?? NaN)}), p99 ${sw.p99EndToEnd?.toFixed(0)} ms (${iv(sw.p99EndToEnd ?? NaN)})`);
  say(`swaps: ${r.traders} traders, one swap in flight each, all on one pair (they conflict on its reserves); aborted attempts were resubmitted (up to 5 attempts)`);
  for (const c of r.classes) for (const [reason, n] of c.reasons) say(`  ${c.name} not committed ×${n}: ${reason}`);
  const s = r.simulation;
  const ms = (x: number) => (Number.isFinite(x) ? `${x.toFixed(1)} ms` : '–');
  say(
    `simulation time per transaction (simulator gRPC Simulate timed directly, one at a time, on the ${s.count} committed swaps' own signed transactions after the run; ` +
      `${s.answered} answered, ${s.succeeded} simulated successfully, ${s.failed} call${s.failed === 1 ? '' : 's'} failed): mean ${ms(s.meanMs)}, p50 ${ms(s.p50Ms)}, p99 ${ms(s.p99Ms)} (answered calls)`,
  );
  for (const [reason, n] of s.unsuccessful) say(`  Simulate answered without success ×${n}: ${reason}`);
  for (const [reason, n] of s.failures) say(`  Simulate call failed ×${n}: ${reason}`);
  for (const [reason, n] of s.afterFailures) say(`  releasing a simulated transaction's simulation locks failed ×${n}: ${reason}`);
}

async function crossShardSuite(o: { shards: number; blockIntervalMs: number; crossTxs: number }, say: (s: string) => void): Promise<void> {
  say('');
  say(`Cross-shard benchmark: ${o.shards} shards, block interval ${o.blockIntervalMs} ms, ${o.crossTxs} transfers per workload, real processes`);
  const runs = await runCrossShardBench({ shards: o.shards, blockIntervalMs: o.blockIntervalMs, txs: o.crossTxs, say });
  const iv = (ms: number) => (ms / o.blockIntervalMs).toFixed(2);
  say('');
  say('| workload | committed | aborted | tx/s | p50 ms (intervals) | p99 ms (intervals) |');
  say('|---|---:|---:|---:|---:|---:|');
  for (const r of runs) {
    const l = r.name === 'local-only' ? r.summary.latencyMs.local : r.summary.latencyMs.crossShard;
    say(`| ${r.name} | ${r.summary.committed} | ${r.summary.aborted} | ${r.summary.throughputTps.toFixed(1)} | ${l.p50.toFixed(0)} (${iv(l.p50)}) | ${l.p99.toFixed(0)} (${iv(l.p99)}) |`);
  }
  const local = runs[0]!.summary;
  const cross = runs[1]!.summary;
  say('');
  say(`cross-shard / local throughput: ${(cross.throughputTps / local.throughputTps).toFixed(2)}x`);
  const p50 = cross.latencyMs.crossShard.p50 / o.blockIntervalMs;
  const p99 = cross.latencyMs.crossShard.p99 / o.blockIntervalMs;
  say(`target: cross-shard p50 <= 3 intervals (${p50.toFixed(2)}: ${p50 <= 3 ? 'met' : 'NOT met'}), p99 <= 4 intervals (${p99.toFixed(2)}: ${p99 <= 4 ? 'met' : 'NOT met'})`);
}

async function executorSuite(o: { txs: number; senders: number; blockSize: number; rounds: number }, say: (s: string) => void): Promise<void> {
  say(`Executor benchmark: ${o.txs} signed ETH transfers from ${o.senders} senders, ${o.rounds} rounds, shard block size ${o.blockSize}`);
  say('signing transfers (not measured)...');
  const set = makeTransfers(o.txs, o.senders);
  const base: number[] = [];
  const exec: number[] = [];
  const shard: number[] = [];
  const tps = (ms: number) => ((o.txs * 1000) / ms).toFixed(0);
  for (let r = 1; r <= o.rounds; r++) {
    const b = await runBaseline(set);
    const e = await runBlockExecution(set, o.blockSize);
    const s = await runShard(set, o.blockSize);
    base.push(b);
    exec.push(e);
    shard.push(s);
    say(`  round ${r}: baseline ${tps(b)} tx/s, block execution ${tps(e)} tx/s (${(b / e).toFixed(2)}x), with admission ${tps(s)} tx/s (${(b / s).toFixed(2)}x)`);
  }
  const bt = (o.txs * 1000) / median(base);
  const et = (o.txs * 1000) / median(exec);
  const st = (o.txs * 1000) / median(shard);
  say('');
  say('| executor | tx/s (median) | ratio |');
  say('|---|---:|---:|');
  say(`| baseline: runTx loop, fresh VM, default settings | ${bt.toFixed(0)} | 1.00x |`);
  say(`| ShardLab block execution: batched native recovery, EVM, per-block trie flush, block build, LevelDB | ${et.toFixed(0)} | ${(et / bt).toFixed(2)}x |`);
  say(`| ShardLab shard path incl. admission (nonce/balance checks, mempool) | ${st.toFixed(0)} | ${(st / bt).toFixed(2)}x |`);
  say('');
  say(`target: block execution at least 5x the baseline — ${et / bt >= 5 ? 'met' : 'NOT met'} (${(et / bt).toFixed(2)}x)`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
