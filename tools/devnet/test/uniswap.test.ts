/**
 * Uniswap V2 across shards (issue: cross-shard contract calls): the contracts as published in
 * @uniswap/v2-core and @uniswap/v2-periphery, deployed so that token A, token B, the factory and
 * its pair, the router (and WETH) and the traders are on five different shards. The network runs
 * as real processes (registry, 5 state shards, orchestrator, simulator, gateway: startDevnet) and
 * everything goes through gRPC. Every transaction also runs on a reference: one unsharded
 * @ethereumjs/vm (see RefChain), and reserves, token balances and logs are compared with it (not
 * timestamps: the pair's blockTimestampLast and price accumulators depend on block times).
 *
 * The deployment (shared with `npm run scenario` and the benchmark) is in libs/contracts/src/uniswap.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAudit } from '@shardlab/audit';
import type { DevAccount } from '@shardlab/chain';
import { TxStatus, type TransactionStatus } from '@shardlab/proto';
import {
  BUILDS,
  calldata,
  DEADLINE,
  E18,
  deployUniswap,
  FIVE_SHARD_LAYOUT,
  fundTrader,
  getAmountOut,
  keccakHex,
  mappingSlot,
  nestedMappingSlot,
  NetClient,
  PAIR_INIT_CODE_HASH,
  RefChain,
  reservesFor as reservesOf,
  ROUTER_INIT_CODE_HASH,
  SLOT_ALLOWANCE,
  SLOT_BALANCE_OF,
  SLOT_RESERVES,
  slotKey,
  sortTokens,
  swapExactTokensForTokens,
  until,
  type NormLog,
  type Req,
  type Step,
  type UniswapDeployment,
} from '@shardlab/contracts';
import { startDevnet, type Devnet } from '@shardlab/devnet';

const SHARDS = 5;
const { trader: TRADER_SHARD, tokenA: TOKEN_A_SHARD, tokenB: TOKEN_B_SHARD, factory: FACTORY_SHARD, router: ROUTER_SHARD } = FIVE_SHARD_LAYOUT;


let devnet: Devnet;
let net: NetClient;
let dataDir: string;
let ref: RefChain;
let trader: DevAccount;
let trader2: DevAccount;
let d: UniswapDeployment;
let factory: string;
let weth: string;
let router: string;
let tokenA: string;
let tokenB: string;
let pair: string;

const account = (address: string) => net.account(address);
const heads = () => net.heads();
const storage = (address: string, slots: string[]) => net.storage(address, slots);
const submit = (from: DevAccount, req: Req) => net.submit(from, req);
const watch = (txHash: string) => net.watch(txHash);
const settled = () => net.settled();
const systemOps = (shardId: number, txHash: string, from: number) => net.systemOps(shardId, txHash, from);
const shardOf = (address: string) => net.shardOf(address);
const reservesFor = (tokenIn: string) => reservesOf(net, d, tokenIn);

const normLogs = (s: TransactionStatus): NormLog[] =>
  (s.receipt?.logs ?? []).map((l) => ({ address: l.address.toLowerCase(), topics: l.topics.map((t) => t.toLowerCase()), data: '0x' + Buffer.from(l.data).toString('hex') }));

/**
 * Sends a transaction through the gateway, follows it to FINAL (local) or COMMITTED
 * (cross-shard) with a successful receipt, runs the same on the reference and checks that the
 * logs are the same. Returns the sharded outcome.
 */
const step: Step = async (from, req, crossShard) => {
  const out = await net.send(from, req);
  const { sent, final } = out;
  if (crossShard !== undefined) expect(sent.crossShard).toBe(crossShard);
  expect(final.reason).toBe('');
  expect(final.status).toBe(sent.crossShard ? TxStatus.TX_STATUS_COMMITTED : TxStatus.TX_STATUS_FINAL);
  expect(final.receipt?.success).toBe(true);
  const r = await ref.run(from, req);
  expect(r.success).toBe(true);
  expect(normLogs(final)).toEqual(r.logs);
  return out;
};

async function expectCleanAudit(): Promise<void> {
  const report = await runAudit({ registryAddress: devnet.registryAddress });
  expect(report.problems).toEqual([]);
  expect(report.ok).toBe(true);
}

/** The slots compared between the network and the reference: reserves, token balances and allowances of the traders and the pair. */
function watchedSlots(): { address: string; slot: string; what: string }[] {
  const out: { address: string; slot: string; what: string }[] = [{ address: pair, slot: slotKey(SLOT_RESERVES), what: 'pair reserves' }];
  for (const [name, t] of [['A', tokenA], ['B', tokenB], ['LP', pair]] as const) {
    for (const [who, a] of [['pair', pair], ['trader', trader.address], ['trader2', trader2.address]] as const) {
      out.push({ address: t, slot: mappingSlot(a, SLOT_BALANCE_OF), what: `${name}.balanceOf(${who})` });
    }
    for (const [who, a] of [['trader', trader.address], ['trader2', trader2.address]] as const) {
      out.push({ address: t, slot: nestedMappingSlot(a, router, SLOT_ALLOWANCE), what: `${name}.allowance(${who}, router)` });
    }
  }
  return out;
}

/** The watched slots on the network (reserves without blockTimestampLast). */
async function netState(): Promise<Record<string, bigint>> {
  const out: Record<string, bigint> = {};
  for (const s of watchedSlots()) {
    const [v] = await storage(s.address, [s.slot]);
    out[s.what] = s.what === 'pair reserves' ? reservesWord(v!) : v!;
  }
  return out;
}

async function refState(r: RefChain): Promise<Record<string, bigint>> {
  const out: Record<string, bigint> = {};
  for (const s of watchedSlots()) {
    const v = await r.storage(s.address, s.slot);
    out[s.what] = s.what === 'pair reserves' ? reservesWord(v) : v;
  }
  return out;
}

/** The reserves part of slot 8 (timestamp masked out). */
const reservesWord = (v: bigint): bigint => v & ((1n << 224n) - 1n);

/** reserveIn, reserveOut of the pair for a swap tokenIn → other, on the network. */
beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'shardlab-uniswap-'));
  devnet = await startDevnet({ shards: SHARDS, blockIntervalMs: 120, dataDir });
  net = new NetClient(devnet.registryAddress, devnet.gatewayAddress, SHARDS);
  [trader, trader2] = net.on(TRADER_SHARD) as [DevAccount, DevAccount];
  ref = await RefChain.create(net.common, net.dev);
  await until('the gateway to answer', async () => (await account(trader.address)).shardId === TRADER_SHARD);

  d = await deployUniswap(net, FIVE_SHARD_LAYOUT, step);
  ({ factory, weth, router, tokenA, tokenB, pair } = d);
  for (const t of [trader, trader2]) await fundTrader(net, d, step, t);
  await settled();
}, 180_000);

afterAll(async () => {
  net?.close();
  await devnet?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test("Router02's hard-coded init code hash is keccak of the published UniswapV2Pair bytecode", () => {
  expect(PAIR_INIT_CODE_HASH).toBe(ROUTER_INIT_CODE_HASH);
  expect(BUILDS.UniswapV2Router02).toContain(ROUTER_INIT_CODE_HASH);
});

test('tokens, pair (+factory), router (+WETH) and traders are on five different shards; the pair is where CREATE2 put it', async () => {
  expect([tokenA, tokenB, pair, factory, router, weth, trader.address, trader2.address].map((a) => shardOf(a))).toEqual([
    TOKEN_A_SHARD,
    TOKEN_B_SHARD,
    FACTORY_SHARD,
    FACTORY_SHARD,
    ROUTER_SHARD,
    ROUTER_SHARD,
    TRADER_SHARD,
    TRADER_SHARD,
  ]);
  expect((await account(pair)).codeHash).not.toBe('0x' + keccakHex(''));
  // UniswapV2Pair: token0 at slot 6, token1 at slot 7, factory at slot 5.
  const [f, t0, t1] = await storage(pair, [slotKey(5n), slotKey(6n), slotKey(7n)]);
  const [s0, s1] = sortTokens(tokenA, tokenB);
  expect([f, t0, t1]).toEqual([BigInt(factory), BigInt(s0), BigInt(s1)]);
  // UniswapV2Factory: getPair at slot 2, both ways.
  expect(await storage(factory, [nestedMappingSlot(tokenA, tokenB, 2n), nestedMappingSlot(tokenB, tokenA, 2n)])).toEqual([BigInt(pair), BigInt(pair)]);
  expect(await netState()).toEqual(await refState(ref));
  await expectCleanAudit();
});

test('addLiquidity and swapExactTokensForTokens through Router02 across shards match the unsharded reference', async () => {
  const add = await step(
    trader,
    {
      to: router,
      data: calldata('addLiquidity(address,address,uint256,uint256,uint256,uint256,address,uint256)', tokenA, tokenB, 1_000n * E18, 4_000n * E18, 0n, 0n, trader.address, DEADLINE),
      gasLimit: 1_000_000n,
    },
    true,
  );
  expect(add.final.receipt?.logs.length).toBeGreaterThanOrEqual(4); // Transfer A, Transfer B, LP Transfers, Sync, Mint
  await settled();
  expect(await netState()).toEqual(await refState(ref));
  const [rA, rB] = await reservesFor(tokenA);
  expect([rA, rB]).toEqual([1_000n * E18, 4_000n * E18]);

  const amountIn = 10n * E18;
  const quote = getAmountOut(amountIn, rA, rB);
  const before = await heads();
  const swap = await step(trader, { to: router, data: swapExactTokensForTokens(amountIn, (quote * 99n) / 100n, [tokenA, tokenB], trader.address, DEADLINE), gasLimit: 500_000n }, true);
  await settled();
  expect(await reservesFor(tokenA)).toEqual([rA + amountIn, rB - quote]);
  expect(await netState()).toEqual(await refState(ref));
  // The write sets were applied on both token shards and the pair's shard, the router's untouched.
  for (const s of [TOKEN_A_SHARD, TOKEN_B_SHARD, FACTORY_SHARD]) expect(await systemOps(s, swap.sent.txHash, before[s]!)).toContain('WRITE_SET');
  expect(await systemOps(ROUTER_SHARD, swap.sent.txHash, before[ROUTER_SHARD]!)).not.toContain('WRITE_SET');
  expect((await account(trader.address)).locked).toBe('0');
  await expectCleanAudit();
}, 60_000);

test('a swap below amountOutMin aborts in simulation and changes nothing anywhere', async () => {
  const stateBefore = await netState();
  const accts = await Promise.all([tokenA, tokenB, pair, router].map(account));
  const before = await heads();
  const amountIn = 5n * E18;
  const [rIn, rOut] = await reservesFor(tokenA);
  const quote = getAmountOut(amountIn, rIn, rOut);
  const sent = await submit(trader, { to: router, data: swapExactTokensForTokens(amountIn, quote + 1n, [tokenA, tokenB], trader.address, DEADLINE), gasLimit: 500_000n });
  expect(sent.crossShard).toBe(true);
  const final = await watch(sent.txHash);
  expect(final.status).toBe(TxStatus.TX_STATUS_ABORTED);
  expect(final.reason).toContain('simulation failed');
  expect(final.reason).toContain('UniswapV2Router: INSUFFICIENT_OUTPUT_AMOUNT');
  await settled();
  expect(await netState()).toEqual(stateBefore);
  const after = await Promise.all([tokenA, tokenB, pair, router].map(account));
  for (let i = 0; i < after.length; i++) {
    expect(after[i]).toMatchObject({ balance: accts[i]!.balance, nonce: accts[i]!.nonce, codeHash: accts[i]!.codeHash, locked: '0' });
  }
  for (let s = 0; s < SHARDS; s++) expect(await systemOps(s, sent.txHash, before[s]!)).not.toContain('WRITE_SET');
  expect((await account(trader.address)).locked).toBe('0');
  // The same call reverts on the reference too (and changes none of the watched slots there).
  const r = await ref.run(trader, { to: router, data: swapExactTokensForTokens(amountIn, quote + 1n, [tokenA, tokenB], trader.address, DEADLINE), gasLimit: 500_000n });
  expect(r.success).toBe(false);
  expect(await refState(ref)).toEqual(stateBefore);
  await expectCleanAudit();
}, 60_000);

/**
 * Two swaps on one pair sent at once. With simulation locks the second simulation usually waits
 * for the first swap's decision (it is refused the pair's state and retries) and then commits on
 * top of it; it may still abort (on the lock deadline, or on a conflict seen at prepare). Either
 * way: at least one commits, at most one aborts (with a conflict or lock reason), and some serial
 * order of the committed ones (then the resubmitted one) gives the same logs and the same state.
 */
test('two swaps on the same pair in the same round: serialisable, at most one aborts, and it commits when resubmitted', async () => {
  const outcomes: string[] = [];
  const swapA = swapExactTokensForTokens(20n * E18, 1n, [tokenA, tokenB], trader.address, DEADLINE);
  const swapB = swapExactTokensForTokens(30n * E18, 1n, [tokenB, tokenA], trader2.address, DEADLINE);
  const reqs: [DevAccount, Req][] = [
    [trader, { to: router, data: swapA, gasLimit: 500_000n }],
    [trader2, { to: router, data: swapB, gasLimit: 500_000n }],
  ];
  const sent = await Promise.all(reqs.map(([from, req]) => submit(from, req)));
  for (const s of sent) expect(s.crossShard).toBe(true);
  const finals = await Promise.all(sent.map((s) => watch(s.txHash)));
  outcomes.push(...finals.map((f, i) => `swap ${i}: ${TxStatus[f.status]}${f.reason ? ` (${f.reason})` : ''}`));

  // Commit order: the committed ones by (home block, index) — both traders share a home shard —
  // then the aborted ones, resubmitted one by one.
  const committed = finals
    .map((f, i) => ({ f, i }))
    .filter(({ f }) => f.status === TxStatus.TX_STATUS_COMMITTED)
    .sort((x, y) => x.f.receipt!.blockHeight - y.f.receipt!.blockHeight || x.f.receipt!.txIndex - y.f.receipt!.txIndex);
  if (committed.length === 0) throw new Error(`neither concurrent swap committed:\n  ${outcomes.join('\n  ')}`);
  expect(finals.filter((f) => f.status === TxStatus.TX_STATUS_ABORTED).length).toBeLessThanOrEqual(1);
  const order: { i: number; final: TransactionStatus }[] = committed.map(({ f, i }) => ({ i, final: f }));
  for (const [i, f] of finals.entries()) {
    if (f.status === TxStatus.TX_STATUS_COMMITTED) continue;
    expect(f.status).toBe(TxStatus.TX_STATUS_ABORTED);
    expect(f.reason).toMatch(/conflict|read set changed|simulation lock|state locked by another transaction/);
    await settled();
    const again = await submit(reqs[i]![0], reqs[i]![1]);
    const f2 = await watch(again.txHash);
    outcomes.push(`swap ${i} resubmitted: ${TxStatus[f2.status]}${f2.reason ? ` (${f2.reason})` : ''}`);
    expect(f2.reason).toBe('');
    expect(f2.status).toBe(TxStatus.TX_STATUS_COMMITTED);
    order.push({ i, final: f2 });
  }
  await settled();
  console.log(`concurrent swaps:\n  ${outcomes.join('\n  ')}`);

  // The reference runs them serially in that order: same logs, same reserves and balances.
  for (const { i, final } of order) {
    const r = await ref.run(reqs[i]![0], reqs[i]![1]);
    expect(r.success).toBe(true);
    expect(normLogs(final)).toEqual(r.logs);
  }
  expect(await netState()).toEqual(await refState(ref));
  for (const t of [trader, trader2]) expect((await account(t.address)).locked).toBe('0');
  await expectCleanAudit();
}, 90_000);
