// The cross-shard benchmark: a local-only and a cross-shard-only transfer workload run one after the other on one local multi-process network.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createChainCommon, createPlacement, devAccounts } from '@shardlab/chain';
import { runExperimentOn, startDevnet } from '@shardlab/devnet';
import { summariseRun, type RunSummary } from '@shardlab/experiment';
import { GatewayServiceClient, type Account } from '@shardlab/proto';
import { createClient, unaryCall } from '@shardlab/rpc';
import { planLocalTransfers } from '@shardlab/workload';

/** Figures of one workload class. */
export interface ClassRun {
  name: string;
  summary: RunSummary;
}

/**
 * Cross-shard commit latency and throughput on a real local network (separate processes):
 * a local-only workload and a cross-shard-only workload of `txs` transfers each, run one after
 * the other on the same network, from the ten development accounts.
 */
export async function runCrossShardBench(opts: { shards: number; blockIntervalMs: number; txs: number; say: (s: string) => void }): Promise<ClassRun[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'shardlab-xbench-'));
  const devnet = await startDevnet({ shards: opts.shards, blockIntervalMs: opts.blockIntervalMs, dataDir });
  const gateway = createClient(GatewayServiceClient, devnet.gatewayAddress);
  try {
    const common = createChainCommon();
    const placement = createPlacement(opts.shards);
    const accounts = devAccounts();
    const runs: ClassRun[] = [];
    for (const [name, ratio, seed] of [['local-only', 0, 11], ['cross-shard-only', 1, 12]] as const) {
      const startNonces = new Map<string, bigint>();
      for (const a of accounts) {
        const acct = await unaryCall<Account>('gateway', (md, o, cb) => gateway.getAccount({ address: a.address }, md, o, cb));
        startNonces.set(a.address, BigInt(acct.nonce));
      }
      const plan = planLocalTransfers({ common, placement, accounts, count: opts.txs, seed, crossShardRatio: ratio, startNonces });
      opts.say(`  ${name}: ${opts.txs} transfers...`);
      const run = await runExperimentOn(devnet, gateway, plan);
      runs.push({ name, summary: summariseRun(run) });
    }
    return runs;
  } finally {
    gateway.close();
    await devnet.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
