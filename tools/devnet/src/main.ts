// The main job's command line (npm start): workload, network and output options, runJob (or runComparison for lists of protocols/placements), and stopping the network on Ctrl-C or failure.
import { Command, InvalidArgumentError, Option } from 'commander';
import { jobPlan, parsePlacements, parseProtocols, parseZipf, runComparison, runJob, type Devnet, type JobOpts, type JobPlan } from '@shardlab/devnet';
import { deadlineScale } from '@shardlab/rpc';
import { SHARD_PROTOCOLS, type ShardProtocolName } from '@shardlab/shard';
import { PLACEMENT_POLICIES, type PlacementPolicy } from '@shardlab/workload';

// Flag parsers throw commander's InvalidArgumentError: commander then prints
// `error: option '--x <v>' argument 'y' is invalid. <why>` and exits 1 (any other error would crash with a stack).
const int = (min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer ≥ ${min}, got ${v}`);
  return n;
};

const mix = (v: string) => {
  const parts = v.split(',').map((x) => Number(x.trim()));
  if (parts.length !== 3 || parts.some((x) => !Number.isFinite(x) || x < 0) || parts.every((x) => x === 0)) {
    throw new InvalidArgumentError(`expected three non-negative weights "transfer,erc20,swap" (e.g. 0.6,0.3,0.1), got ${v}`);
  }
  return { transfer: parts[0]!, erc20: parts[1]!, swap: parts[2]! };
};

/** A flag parser from a function throwing ShardLabError: its message becomes commander's. */
const flag = <T>(parse: (v: string) => T) => (v: string): T => {
  try {
    return parse(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
};
const zipf = flag(parseZipf);

const program = new Command()
  .name('npm start --')
  .description(
    'The main job: starts a local ShardLab network (registry, state shards, orchestrator, simulator, gateway as separate processes), ' +
      'replays a workload through the gateway (a real transaction trace with --trace, else a synthetic mainnet-like mix), ' +
      'waits for every transaction to commit or abort, audits the network and writes report.json and report.html. ' +
      'With several protocols or placements (--protocol block-2pc,shard-led --placement hash,graph) it runs the same workload once per combination, ' +
      'each on a fresh network, and writes each run\'s report to <out>/<protocol>-<placement>/ and comparison.json and comparison.html to <out>.',
  )
  .addOption(new Option('--trace <file>', 'transactions CSV to replay: ethereum-etl `transactions` or XBlock-ETH layout, plain or gzip'))
  .addOption(new Option('--on-malformed <policy>', 'what a malformed trace row does').choices(['skip', 'stop']).default('skip'))
  .addOption(new Option('--limit <n>', 'replay only the first n rows of the trace (in trace order)').argParser(int(1)))
  .addOption(new Option('--value-scale <f>', 'multiply trace values by this factor (e.g. 0.001)').default('1'))
  .addOption(new Option('--txs <n>', 'synthetic workload: number of transactions').argParser(int(1)).default(2000))
  .addOption(new Option('--accounts <n>', 'synthetic workload: number of accounts').argParser(int(2)).default(2000))
  .addOption(new Option('--mix <t,e,s>', 'synthetic workload: weights of native transfers, ERC-20 transfers, Uniswap swaps').argParser(mix).default({ transfer: 0.6, erc20: 0.3, swap: 0.1 }, '0.6,0.3,0.1'))
  .addOption(new Option('--zipf <s>', 'synthetic workload: Zipf exponent of the popularity of accounts and tokens (0 = uniform)').argParser(zipf).default(1))
  .addOption(new Option('--seed <n>', 'seed of the synthetic workload and of the graph placement').argParser(int(0)).default(1))
  .addOption(
    new Option(
      '--placement <policy>',
      `account placement, one of ${PLACEMENT_POLICIES.join(', ')} or a comma-separated list of them (compared): hash (last byte of the address mod shards) or graph (the workload's interaction graph partitioned before genesis)`,
    )
      .argParser(flag(parsePlacements))
      .default(['hash'], 'hash'),
  )
  .addOption(
    new Option(
      '--protocol <name>',
      `cross-shard commit protocol, one of ${SHARD_PROTOCOLS.join(', ')} or a comma-separated list of them (compared): block-2pc (the orchestrator coordinates), shard-led (receipts for transfers and single-shard calls, block-2pc for the other calls) or client-led (the gateway coordinates two-phase commit for its clients)`,
    )
      .argParser(flag(parseProtocols))
      .default(['block-2pc'], 'block-2pc'),
  )
  .addOption(new Option('--shards <n>', 'number of state shards').argParser(int(1)).default(4))
  .addOption(new Option('--block-interval-ms <ms>', 'block interval of state shards and the orchestrator').argParser(int(10)).default(250))
  .addOption(new Option('--rate <tx/s>', 'submissions per second (0 = as fast as possible)').argParser(int(0)).default(0))
  .addOption(new Option('--concurrency <n>', 'most submissions awaiting the gateway\'s answer at once').argParser(int(1)).default(256))
  .addOption(new Option('--out <dir>', 'where report.json and report.html are written (a comparison: comparison.json and .html, and a <protocol>-<placement>/ directory per run)').default('.'))
  .addOption(new Option('--data-dir <dir>', 'where each service keeps its LevelDB data and logs (default: a new directory under .data/, removed after a successful run; a comparison uses <dir>/<protocol>-<placement>)'))
  .addOption(new Option('--keep-running', 'leave the network running after the report (Ctrl-C stops it)').default(false))
  .addOption(new Option('--keep-data', 'keep the data directory after a successful run').default(false));

/** The running network, stopped on Ctrl-C or an unexpected error. */
let devnet: Devnet | undefined;
let stopping = false;

async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    if (devnet) {
      process.stdout.write('\nstopping the network...\n');
      await devnet.stop();
    }
  }
  process.exit(code);
}

process.on('SIGINT', () => void shutdown(130));
process.on('SIGTERM', () => void shutdown(143));

program.parse();
const { protocol, placement, ...opts } = program.opts<Omit<JobOpts, 'protocol' | 'placement'> & { protocol: ShardProtocolName[]; placement: PlacementPolicy[] }>();
let plan: JobPlan;
try {
  deadlineScale(); // SHARDLAB_DEADLINE_SCALE: refused here, before the network starts, rather than by every call
  plan = jobPlan(protocol, placement, opts.keepRunning);
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
}
const track = (d: Devnet | undefined) => (devnet = d);
const job =
  plan.kind === 'single'
    ? runJob({ ...opts, protocol: plan.protocol, placement: plan.placement }, track)
    : runComparison(opts, plan.protocols, plan.placements, track);
job.then(
  (code) => process.exit(code),
  async (err: unknown) => {
    process.stderr.write(`the experiment failed: ${(err as Error).message}\n`);
    await shutdown(1);
  },
);
