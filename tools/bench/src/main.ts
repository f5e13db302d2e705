import { Command, Option } from 'commander';
import { makeTransfers, runBaseline, runShard } from './executor-bench';

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`expected a positive integer, got ${v}`);
  return n;
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const program = new Command()
  .name('npm run bench --')
  .description('ShardLab benchmarks. Figures are ratios against a baseline measured in the same run, alternating, median of rounds.')
  .addOption(new Option('--txs <n>', 'signed transfers per round').argParser(int).default(4000))
  .addOption(new Option('--senders <n>', 'distinct senders').argParser(int).default(200))
  .addOption(new Option('--block-size <n>', 'transactions per block for the shard').argParser(int).default(1000))
  .addOption(new Option('--rounds <n>', 'rounds (baseline and shard alternate)').argParser(int).default(3));

async function main(): Promise<void> {
  program.parse();
  const o = program.opts<{ txs: number; senders: number; blockSize: number; rounds: number }>();
  const say = (s: string) => process.stdout.write(s + '\n');
  say(`Executor benchmark: ${o.txs} signed ETH transfers from ${o.senders} senders, ${o.rounds} rounds, shard block size ${o.blockSize}`);
  say('signing transfers (not measured)...');
  const set = makeTransfers(o.txs, o.senders);
  const base: number[] = [];
  const shard: number[] = [];
  for (let r = 1; r <= o.rounds; r++) {
    const b = await runBaseline(set);
    base.push(b);
    const s = await runShard(set, o.blockSize);
    shard.push(s);
    say(`  round ${r}: baseline ${((o.txs * 1000) / b).toFixed(0)} tx/s, shard ${((o.txs * 1000) / s).toFixed(0)} tx/s, ratio ${(b / s).toFixed(2)}x`);
  }
  const bt = (o.txs * 1000) / median(base);
  const st = (o.txs * 1000) / median(shard);
  say('');
  say('| executor | tx/s (median) | ratio |');
  say('|---|---:|---:|');
  say(`| baseline: runTx loop, fresh VM, default settings | ${bt.toFixed(0)} | 1.00x |`);
  say(`| ShardLab state shard: submit + block (native crypto, per-block trie flush, LevelDB) | ${st.toFixed(0)} | ${(st / bt).toFixed(2)}x |`);
  say('');
  say(`target: at least 5x the baseline — ${st / bt >= 5 ? 'met' : 'NOT met'}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
