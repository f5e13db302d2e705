import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { createChainCommon, createPlacement, devAccounts } from '@shardlab/chain';
import { GatewayServiceClient, type Account } from '@shardlab/proto';
import { createClient, unaryCall } from '@shardlab/rpc';
import { startDevnet, type Devnet } from './devnet';
import { REPO_ROOT } from './processes';
import { formatSummary, summarise } from './summary';
import { planLocalTransfers, runWorkload } from './workload';
import { deployCounters } from './contracts';
import { runAudit } from '@shardlab/audit';
import { formatEther } from '@shardlab/common';

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`expected a non-negative integer, got ${v}`);
  return n;
};

/** The running network, stopped on an unexpected error. */
let devnetForCleanup: Devnet | undefined;

const ratio = (v: string) => {
  const n = Number(v);
  if (!(n >= 0 && n <= 1)) throw new Error(`expected a number from 0 to 1, got ${v}`);
  return n;
};

const program = new Command()
  .name('npm start --')
  .description('Starts a local ShardLab network (registry, state shards, orchestrator, gateway as separate processes), sends a workload of signed local and cross-shard transfers through the gateway, prints a summary and shuts down.')
  .addOption(new Option('--shards <n>', 'number of state shards').argParser(int).default(4))
  .addOption(new Option('--block-interval-ms <ms>', 'block interval of state shards').argParser(int).default(250))
  .addOption(new Option('--txs <n>', 'number of transfers in the workload').argParser(int).default(400))
  .addOption(new Option('--seed <n>', 'seed of the workload').argParser(int).default(1))
  .addOption(new Option('--cross-shard-ratio <r>', 'share of transfers to another shard, 0..1').argParser(ratio).default(0.5))
  .addOption(new Option('--call-ratio <r>', 'share of transactions that call a counter contract instead of paying, 0..1').argParser(ratio).default(0.1))
  .addOption(new Option('--data-dir <dir>', 'where each service keeps its LevelDB data and logs (default: a new directory under .data/)'))
  .addOption(new Option('--keep-running', 'leave the network running after the workload (Ctrl-C stops it)').default(false))
  .addOption(new Option('--keep-data', 'keep the data directory after a successful run').default(false));

async function main(): Promise<number> {
  program.parse();
  const o = program.opts<{ shards: number; blockIntervalMs: number; txs: number; seed: number; crossShardRatio: number; callRatio: number; dataDir?: string; keepRunning: boolean; keepData: boolean }>();
  if (o.shards < 1) throw new Error('--shards must be at least 1');
  if (o.blockIntervalMs < 10) throw new Error('--block-interval-ms must be at least 10');
  const dataDir = o.dataDir ?? (mkdirSync(join(REPO_ROOT, '.data'), { recursive: true }), mkdtempSync(join(REPO_ROOT, '.data', 'devnet-')));
  const say = (line: string) => process.stdout.write(`${line}\n`);
  say(`ShardLab devnet: ${o.shards} shards, block interval ${o.blockIntervalMs} ms, data in ${dataDir}`);

  let devnet: Devnet | undefined;
  const track = () => (devnetForCleanup = devnet);
  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    if (devnet) {
      say('stopping the network...');
      await devnet.stop();
    }
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(130));
  process.on('SIGTERM', () => void shutdown(143));

  const t0 = Date.now();
  try {
    devnet = await startDevnet({ shards: o.shards, blockIntervalMs: o.blockIntervalMs, dataDir, onProgress: (l) => say(`  ${l}`) });
  } catch (err) {
    say(`the network failed to start: ${(err as Error).message}`);
    say(`logs are in ${join(dataDir, 'logs')}`);
    return 1;
  }
  track();
  say(`network up in ${((Date.now() - t0) / 1000).toFixed(1)} s; gateway at ${devnet.gatewayAddress} (gRPC, reflection on)`);

  const common = createChainCommon();
  const placement = createPlacement(o.shards);
  const gateway = createClient(GatewayServiceClient, devnet.gatewayAddress);
  const accounts = devAccounts();
  let counters = new Map<number, string>();
  if (o.callRatio > 0) {
    say('deploying a counter contract on every shard...');
    counters = await deployCounters(gateway, common, placement, accounts);
    say(`  counters: ${[...counters].sort(([a], [b]) => a - b).map(([s, a]) => `#${s} ${a}`).join(', ')}`);
  }
  const startNonces = new Map<string, bigint>();
  for (const a of accounts) startNonces.set(a.address, BigInt((await unaryCall<Account>('gateway', (md, op, cb) => gateway.getAccount({ address: a.address }, md, op, cb))).nonce));
  const plan = planLocalTransfers({ common, placement, accounts, count: o.txs, seed: o.seed, crossShardRatio: o.crossShardRatio, counters, callRatio: o.callRatio, startNonces });
  say(`sending ${o.txs} signed transactions (${Math.round(o.crossShardRatio * 100)}% cross-shard, ${Math.round(o.callRatio * 100)}% contract calls) from ${plan.length} development accounts through the gateway...`);
  let done = 0;
  const progress = setInterval(() => say(`  ${done}/${o.txs} transactions settled`), 1000);
  let results;
  try {
    results = await runWorkload(gateway, plan, () => (done += 1));
  } finally {
    clearInterval(progress);
  }
  gateway.close();
  const summary = summarise(results);
  say('');
  say(formatSummary(summary, o.shards, o.blockIntervalMs));
  // Every decision is applied by the shards' next blocks; audit once nothing is in flight.
  const audit = await auditWhenSettled(devnet.registryAddress, 10_000);
  const c = audit.conservation;
  say(`  audit          ${audit.ok ? 'PASSED' : 'FAILED'}`);
  say(`    conservation ${c.ok ? 'ok' : 'VIOLATED'}: genesis ${formatEther(c.genesisWei)} − burned ${formatEther(c.burnedWei)} = ${formatEther(c.expectedWei)} ether; balances ${formatEther(c.actualWei)} ether (exact, in wei)`);
  say(`    atomicity    ${audit.atomicity.ok ? 'ok' : 'VIOLATED'}: ${audit.atomicity.committed} committed, ${audit.atomicity.aborted} aborted, ${audit.atomicity.inFlight} in flight`);
  say(`    locks        ${audit.locks.ok ? 'none left' : `${audit.locks.accountsWithLocks.length} accounts still locked`}`);
  for (const p of audit.problems.slice(0, 5)) say(`    problem: ${p}`);
  say(`  logs           ${devnet.logDir}`);
  const ok = summary.committed + summary.aborted === summary.submitted && audit.ok;
  if (o.keepRunning) {
    say(`\nnetwork still running; gateway at ${devnet.gatewayAddress}. Ctrl-C to stop.`);
    return new Promise<number>(() => {});
  }
  await devnet.stop();
  devnet = undefined;
  if (ok && !o.keepData && !o.dataDir) rmSync(dataDir, { recursive: true, force: true });
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    process.stderr.write(`devnet failed: ${(err as Error).message}\n`);
    if (devnetForCleanup) await devnetForCleanup.stop();
    process.exit(1);
  },
);

/** Runs the audit until it passes or `timeoutMs` passes (decisions land in the shards' next blocks). */
async function auditWhenSettled(registryAddress: string, timeoutMs: number) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const report = await runAudit({ registryAddress });
    if (report.ok || Date.now() > end) return report;
    await new Promise((r) => setTimeout(r, 250));
  }
}
