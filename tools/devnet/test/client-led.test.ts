/**
 * Client-led two-phase commit on real processes (issue: shard-led and client-led protocols): the
 * gateway coordinates for clients that only send raw transactions — Prepare on every involved
 * shard, votes recorded in blocks, Decide — and a cross-shard transaction's watch ends COMMITTED
 * only once every involved shard applied it (the recipient's balance shows the value at once).
 * Uniswap V2 (the published builds) deployed over 4 shards and used through the gateway: ERC-20
 * transfers and a swap as cross-shard calls whose RwSets come from the simulator. The coordinator
 * (the gateway) killed with SIGKILL after the source shard's prepare: both shards abort by their
 * lock timeout, the lock is released and the nonce spent; the blocking window equals the timeout;
 * the audit passes; a restarted gateway coordinates again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAudit } from '@shardlab/audit';
import type { DevAccount } from '@shardlab/chain';
import { Decision, ReasonCode, StateShardServiceClient, TxStatus, type Account, type StateShardBlock, type TransactionStatus } from '@shardlab/proto';
import { createClient, unaryCall } from '@shardlab/rpc';
import { addLiquidityReq, deployUniswap, E18, FOUR_SHARD_LAYOUT, fundTrader, getAmountOut, NetClient, reservesFor, strictStep, swapReq, until, type UniswapDeployment } from '@shardlab/contracts';
import { startDevnet, type Devnet } from '@shardlab/devnet';
import { addressOnShard } from '@shardlab/testing';

const SHARDS = 4;
const LOCK_TIMEOUT_BLOCKS = 20;
let devnet: Devnet;
let net: NetClient;
let dataDir: string;
let seq = 0;

const shardClient = (s: number) => createClient(StateShardServiceClient, devnet.processes.get(`state-shard-${s}`)!.address);
const shardAccount = (s: number, address: string) => unaryCall<Account>(`shard ${s}`, (md, o, cb) => shardClient(s).getAccount({ address }, md, o, cb), { waitForReady: true });
const shardTx = (s: number, txHash: string) => unaryCall<TransactionStatus>(`shard ${s}`, (md, o, cb) => shardClient(s).getTransaction({ txHash }, md, o, cb), { waitForReady: true });
const shardBlock = (s: number, height?: number) =>
  unaryCall<StateShardBlock>(`shard ${s}`, (md, o, cb) => shardClient(s).getBlock(height === undefined ? {} : { height }, md, o, cb), { waitForReady: true });

/** Every block of shard `s` from `from` to its head. */
async function blocksOf(s: number, from = 1): Promise<StateShardBlock[]> {
  const head = Number((await shardBlock(s)).height);
  const out: StateShardBlock[] = [];
  for (let h = from; h <= head; h++) out.push(await shardBlock(s, h));
  return out;
}

async function expectCleanAudit(): Promise<void> {
  const report = await runAudit({ registryAddress: devnet.registryAddress, protocol: 'client-led', lockTimeoutBlocks: LOCK_TIMEOUT_BLOCKS });
  expect(report.problems).toEqual([]);
  expect(report.ok).toBe(true);
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'shardlab-client-led-'));
  devnet = await startDevnet({ shards: SHARDS, blockIntervalMs: 100, protocol: 'client-led', lockTimeoutBlocks: LOCK_TIMEOUT_BLOCKS, dataDir });
  net = new NetClient(devnet.registryAddress, devnet.gatewayAddress, SHARDS);
}, 120_000);

afterAll(async () => {
  net?.close();
  await devnet?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

it('commits cross-shard transfers both ways: COMMITTED only once both shards applied it, decisions recorded in both blocks', async () => {
  for (const [from, to] of [
    [0, 1],
    [2, 0],
  ] as const) {
    const sender = net.on(from)[0]!;
    const recipient = addressOnShard(net.placement, to, ++seq);
    const value = 10n ** 15n;
    const { sent, final } = await net.send(sender, { to: recipient, value, data: '' });
    expect(sent.crossShard).toBe(true);
    expect(final).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, reason: '' });
    // The final status means applied everywhere: the recipient's balance shows it at once.
    expect(BigInt((await net.account(recipient)).balance)).toBe(value);
    for (const s of [from, to]) {
      const decided = (await blocksOf(s)).flatMap((b) => b.decisions.filter((d) => d.txHash === sent.txHash));
      expect(decided.map((d) => [d.decision, d.involvedShards])).toEqual([[Decision.DECISION_COMMIT, [Math.min(from, to), Math.max(from, to)]]]);
    }
  }
  await expectCleanAudit();
}, 120_000);

describe('Uniswap V2 over 4 shards under client-led', () => {
  let d: UniswapDeployment;
  let trader: DevAccount;

  it('deploys the contracts (createPair across shards), funds a trader with ERC-20 transfers and swaps: the reserves move by getAmountOut', async () => {
    const step = strictStep(net);
    d = await deployUniswap(net, FOUR_SHARD_LAYOUT, step);
    trader = net.on(FOUR_SHARD_LAYOUT.trader)[2]!;
    await fundTrader(net, d, step, trader, 1_000n * E18);
    await step(trader, addLiquidityReq(d, 400n * E18, 400n * E18, trader.address));
    const [rin, rout] = await reservesFor(net, d, d.tokenA);
    const amountIn = 10n * E18;
    const out = await net.send(trader, swapReq(d, d.tokenA, amountIn, 0n, trader.address));
    expect(out.sent.crossShard).toBe(true);
    expect(out.final).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, reason: '' });
    expect(out.final.receipt?.success).toBe(true);
    expect(await reservesFor(net, d, d.tokenA)).toEqual([rin + amountIn, rout - getAmountOut(amountIn, rin, rout)]);
    await expectCleanAudit();
  }, 300_000);
});

it('a coordinator killed after the prepare: both shards abort by lock timeout, the lock is released, the audit passes, a new gateway coordinates again', async () => {
  const sender = net.on(0)[1]!;
  const recipient = addressOnShard(net.placement, 3, ++seq);
  const before = await shardAccount(0, sender.address);
  // The destination is frozen: the coordinator's Prepare on it waits, while the source prepares.
  devnet.signal('state-shard-3', 'SIGSTOP');
  let txHash: string;
  try {
    const sent = await net.submit(sender, { to: recipient, value: 10n ** 15n, data: '' });
    txHash = sent.txHash;
    await until('the source shard locked the value (its vote)', async () => BigInt((await shardAccount(0, sender.address)).locked) > 0n, 30_000);
    await devnet.killGateway();
  } finally {
    devnet.signal('state-shard-3', 'SIGCONT');
  }
  await until('the source shard aborted it by itself', async () => (await shardTx(0, txHash)).status === TxStatus.TX_STATUS_ABORTED, 60_000);
  const after = await shardAccount(0, sender.address);
  expect(after.locked).toBe('0');
  expect(Number(after.nonce)).toBe(Number(before.nonce) + 1);
  expect(BigInt(after.balance)).toBeLessThan(BigInt(before.balance)); // the fee, not the value
  expect(BigInt(before.balance) - BigInt(after.balance)).toBeLessThan(10n ** 15n);
  // The blocking window: from the vote's block to the abort's block, the lock timeout exactly.
  const home = await blocksOf(0);
  const voteAt = home.find((b) => b.tpcPrepare.some((v) => v.txHash === txHash))!.height;
  const abort = home.flatMap((b) => b.decisions.filter((x) => x.txHash === txHash).map((x) => ({ at: b.height, x })))[0]!;
  expect(abort.x.cause?.code).toBe(ReasonCode.REASON_CODE_LOCK_TIMEOUT);
  expect(Number(abort.at) - Number(voteAt)).toBe(LOCK_TIMEOUT_BLOCKS);
  // The destination got the Prepare after it resumed (or never): either way nothing stays locked there.
  await until('the destination holds nothing for it', async () => {
    const dest = (await blocksOf(3)).flatMap((b) => [...b.tpcPrepare.filter((v) => v.txHash === txHash).map(() => 'vote'), ...b.decisions.filter((x) => x.txHash === txHash).map(() => 'decision')]);
    return dest.length === 0 || dest.includes('decision');
  }, 60_000);
  expect(BigInt((await shardAccount(3, recipient)).balance)).toBe(0n);
  await devnet.restartGateway();
  await expectCleanAudit();
  const again = await net.send(sender, { to: addressOnShard(net.placement, 3, ++seq), value: 1n, data: '' });
  expect(again.final.status).toBe(TxStatus.TX_STATUS_COMMITTED);
}, 180_000);
