/**
 * Crash tests with real processes (issue: cross-shard value transfers): a source shard, a
 * destination shard and the orchestrator are each killed with SIGKILL in the middle of a round —
 * after every shard voted (PREPARED) and before the decision is applied — and restarted. The round
 * completes, the audit passes and no lock remains. A shard that stops voting (SIGSTOP) makes the
 * transaction abort after the vote timeout, and every lock is released.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAudit } from '@shardlab/audit';
import { createChainCommon, createPlacement, devAccounts, shardOf, signTransaction } from '@shardlab/chain';
import { GatewayServiceClient, TxStatus, type Account, type SendRawTransactionResponse, type TransactionStatus } from '@shardlab/proto';
import { createClient, streamCall, unaryCall } from '@shardlab/rpc';
import { startDevnet, type Devnet } from '@shardlab/devnet';
import { addressOnShard } from '@shardlab/testing';
import { until as untilWithin } from '@shardlab/contracts';

const SHARDS = 2;
const placement = createPlacement(SHARDS);
const common = createChainCommon();
const sender = devAccounts().find((a) => shardOf(placement, a.address) === 0)!;
let devnet: Devnet;
let gateway: GatewayServiceClient;
let dataDir: string;
let recipientSeq = 0;

const account = (address: string) => unaryCall<Account>('gateway', (md, o, cb) => gateway.getAccount({ address }, md, o, cb), { waitForReady: true });

/** A fresh recipient address placed on shard 1. */
const recipient = (): string => addressOnShard(placement, 1, ++recipientSeq);
/** Polls `probe` until it holds, up to 30 s. */
const until = (what: string, probe: () => Promise<boolean>) => untilWithin(what, probe, 30_000);

/** Sends a cross-shard transfer and resolves the watch stream's statuses; calls `onStatus` on each. */
async function transfer(to: string, value: bigint, onStatus: (s: TransactionStatus) => Promise<void> = async () => {}): Promise<TxStatus[]> {
  const nonce = BigInt((await account(sender.address)).nonce);
  const raw = signTransaction(common, sender, { to, value, nonce });
  const sent = await unaryCall<SendRawTransactionResponse>('gateway', (md, o, cb) => gateway.sendRawTransaction({ rawTransaction: Buffer.from(raw) }, md, o, cb));
  expect(sent.crossShard).toBe(true);
  const seen: TxStatus[] = [];
  // The watch may break while a service restarts; watch again until a terminal status.
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      for await (const s of streamCall('gateway', (md, o) => gateway.watchTransaction({ txHash: sent.txHash }, md, o))) {
        if (seen.at(-1) !== s.status) {
          seen.push(s.status);
          await onStatus(s);
        }
        if (s.status === TxStatus.TX_STATUS_COMMITTED || s.status === TxStatus.TX_STATUS_ABORTED) return seen;
      }
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`no terminal status for ${sent.txHash}; saw ${seen.map((s) => TxStatus[s]).join(', ')}`);
}

async function expectCleanAudit(): Promise<void> {
  const report = await runAudit({ registryAddress: devnet.registryAddress });
  expect(report.problems).toEqual([]);
  expect(report.ok).toBe(true);
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'shardlab-crash-'));
  // Slow orchestrator blocks leave a wide window between PREPARED and the decision.
  devnet = await startDevnet({ shards: SHARDS, blockIntervalMs: 100, orchestratorBlockIntervalMs: 1500, voteTimeoutBlocks: 4, dataDir });
  gateway = createClient(GatewayServiceClient, devnet.gatewayAddress);
}, 120_000);

afterAll(async () => {
  gateway?.close();
  await devnet?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const VALUE = 10n ** 15n;

test.each([
  ['the source shard', () => devnet.killShard(0), () => devnet.restartShard(0)],
  ['the destination shard', () => devnet.killShard(1), () => devnet.restartShard(1)],
  ['the orchestrator', () => devnet.killOrchestrator(), () => devnet.restartOrchestrator()],
])(
  'killing %s with SIGKILL after prepare, before the decision is applied: the round completes exactly once',
  async (_who, kill, restart) => {
    const to = recipient();
    let killed = false;
    const seen = await transfer(to, VALUE, async (s) => {
      if (s.status === TxStatus.TX_STATUS_PREPARED && !killed) {
        killed = true;
        await kill();
        await restart();
      }
    });
    expect(killed).toBe(true);
    expect(seen).toEqual([TxStatus.TX_STATUS_PENDING, TxStatus.TX_STATUS_PREPARED, TxStatus.TX_STATUS_COMMITTED]);
    // The decision is applied on the destination: the value arrives exactly once.
    await until('the credit on the destination', async () => BigInt((await account(to)).balance) === VALUE);
    await until('the sender lock to be released', async () => (await account(sender.address)).locked === '0');
    await expectCleanAudit();
  },
  120_000,
);

test('a destination that stops voting makes the transfer abort after the vote timeout, releasing every lock', async () => {
  const to = recipient();
  const before = BigInt((await account(sender.address)).balance);
  devnet.signal('state-shard-1', 'SIGSTOP');
  let seen: TxStatus[];
  try {
    seen = await transfer(to, VALUE);
  } finally {
    devnet.signal('state-shard-1', 'SIGCONT');
  }
  expect(seen.at(-1)).toBe(TxStatus.TX_STATUS_ABORTED);
  await until('the sender lock to be released', async () => (await account(sender.address)).locked === '0');
  const after = BigInt((await account(sender.address)).balance);
  // The fee is paid, the value is not: the sender lost less than the value.
  expect(before - after).toBeGreaterThan(0n);
  expect(before - after).toBeLessThan(VALUE);
  expect((await account(to)).balance).toBe('0');
  await until('the destination to catch up', async () => {
    const r = await runAudit({ registryAddress: devnet.registryAddress });
    return r.ok;
  });
  await expectCleanAudit();
}, 120_000);
