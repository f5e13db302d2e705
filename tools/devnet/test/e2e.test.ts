/**
 * End to end: real processes (registry, gateway, 2 state shards) started by the devnet launcher,
 * signed transfers committed through the gateway (the experiment runner), then shards restarted — cleanly and with
 * SIGKILL — and found at the same blocks, state roots and balances (docs/ARCHITECTURE.md §4 and §5.4);
 * a cross-shard transfer whose watch ends only once applied on both shards (§3, Streams).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createChainCommon, createPlacement, devAccounts, DEV_ACCOUNT_BALANCE, shardOf } from '@shardlab/chain';
import { runExperimentOn, startDevnet, type Devnet } from '@shardlab/devnet';
import type { ExperimentOutcome } from '@shardlab/experiment';
import { NetClient } from '@shardlab/contracts';
import { GatewayServiceClient, TxStatus, type Account, type StateShardBlock } from '@shardlab/proto';
import { createClient, unaryCall } from '@shardlab/rpc';
import { silentLogger } from '@shardlab/telemetry';
import { addressOnShard } from '@shardlab/testing';
import { planLocalTransfers, type PlannedTransfer } from '@shardlab/workload';

const SHARDS = 2;
let devnet: Devnet;
let gateway: GatewayServiceClient;
let dataDir: string;
let results: ExperimentOutcome<PlannedTransfer>[];

/** Submits `plan` through the gateway and waits for every outcome. */
const run = async (plan: PlannedTransfer[]) => (await runExperimentOn(devnet, gateway, plan, {}, silentLogger())).outcomes;

const account = (address: string) =>
  unaryCall<Account>('gateway', (md, o, cb) => gateway.getAccount({ address }, md, o, cb));
const block = (shardId: number, height?: number) =>
  unaryCall<StateShardBlock>('gateway', (md, o, cb) => gateway.getShardBlock({ shardId, ...(height !== undefined ? { height } : {}) }, md, o, cb));

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'shardlab-e2e-'));
  devnet = await startDevnet({ shards: SHARDS, blockIntervalMs: 100, dataDir });
  gateway = createClient(GatewayServiceClient, devnet.gatewayAddress);
  const plan = planLocalTransfers({ common: createChainCommon(), placement: createPlacement(SHARDS), accounts: devAccounts(), count: 40, seed: 7 });
  results = await run(plan);
}, 120_000);

afterAll(async () => {
  gateway?.close();
  await devnet?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('every transfer is committed on its home shard with a successful receipt', () => {
  expect(results).toHaveLength(40);
  for (const r of results) {
    expect(r.reason).toBeUndefined();
    // Committed as a local transaction: final with a successful receipt.
    expect(r.crossShard).toBe(false);
    expect(r.outcome).toBe('committed');
  }
  const shards = new Set(results.map((r) => r.tx.homeShard));
  expect(shards).toEqual(new Set([0, 1]));
});

test('balances reflect the transfers exactly (value and fees)', async () => {
  // Each development account started with DEV_ACCOUNT_BALANCE; fees are gasUsed × price.
  const placement = createPlacement(SHARDS);
  for (const a of devAccounts()) {
    const sent = results.filter((r) => r.tx.from === a.address);
    const received = results.filter((r) => r.tx.to === a.address);
    const acct = await account(a.address);
    expect(acct.shardId).toBe(shardOf(placement, a.address));
    expect(acct.nonce).toBe(sent.length);
    const paidValue = sent.reduce((s, r) => s + r.tx.value, 0n);
    const got = received.reduce((s, r) => s + r.tx.value, 0n);
    const balance = BigInt(acct.balance);
    // Fees: 21,000 gas per transfer at (base fee + tip) per gas, at most the fee cap.
    const fees = DEV_ACCOUNT_BALANCE - paidValue + got - balance;
    expect(fees % 21_000n).toBe(0n);
    expect(fees).toBeGreaterThanOrEqual(BigInt(sent.length) * 21_000n * 1_000_000_000n);
    expect(fees).toBeLessThanOrEqual(BigInt(sent.length) * 21_000n * 2_000_000_000n);
  }
});

async function snapshot(shardId: number) {
  const head = await block(shardId);
  const balances = new Map<string, string>();
  for (const a of devAccounts()) if (shardOf(createPlacement(SHARDS), a.address) === shardId) balances.set(a.address, (await account(a.address)).balance);
  for (const r of results) if (r.tx.homeShard === shardId) balances.set(r.tx.to, (await account(r.tx.to)).balance);
  return { head, balances };
}

async function expectSameChain(shardId: number, before: Awaited<ReturnType<typeof snapshot>>) {
  // Every block up to the old head is unchanged, and state did not move (no transactions since).
  for (let h = 0; h <= before.head.height; h++) {
    const b = await block(shardId, h);
    if (h === before.head.height) {
      expect(b.hash).toBe(before.head.hash);
      expect(b.stateRoot).toBe(before.head.stateRoot);
    }
  }
  const head = await block(shardId);
  expect(head.height).toBeGreaterThanOrEqual(before.head.height);
  expect(head.stateRoot).toBe(before.head.stateRoot);
  const after = await snapshot(shardId);
  expect(after.balances).toEqual(before.balances);
}

test('a shard stopped cleanly resumes at the same blocks, state root and balances', async () => {
  const before = await snapshot(1);
  await devnet.stopShard(1);
  await devnet.restartShard(1);
  await expectSameChain(1, before);
}, 60_000);

test('a shard killed with SIGKILL resumes at the same blocks, state root and balances', async () => {
  const before = await snapshot(0);
  await devnet.killShard(0);
  await devnet.restartShard(0);
  await expectSameChain(0, before);
  // And it keeps working: a new transfer from a shard-0 account commits.
  const placement = createPlacement(SHARDS);
  const sender = devAccounts().find((a) => shardOf(placement, a.address) === 0)!;
  const nonce = BigInt((await account(sender.address)).nonce);
  const plan = planLocalTransfers({ common: createChainCommon(), placement, accounts: [sender], count: 1, seed: 99, startNonces: new Map([[sender.address, nonce]]) });
  const [r] = await run(plan);
  expect(r?.crossShard).toBe(false);
  expect(r?.outcome).toBe('committed');
}, 60_000);

test("a cross-shard transfer's watch ends only once both shards applied it: the recipient's balance shows the value right after", async () => {
  const net = new NetClient(devnet.registryAddress, devnet.gatewayAddress, SHARDS);
  try {
    const sender = net.on(0)[1]!;
    const recipient = addressOnShard(net.placement, 1, 4242);
    const value = 10n ** 15n;
    const { sent, final } = await net.send(sender, { to: recipient, value, data: '' });
    expect(sent.crossShard).toBe(true);
    expect(final).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, applied: true, involvedShards: [0, 1] });
    expect(BigInt((await account(recipient)).balance)).toBe(value);
  } finally {
    net.close();
  }
}, 60_000);
