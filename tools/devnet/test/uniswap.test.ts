/**
 * Uniswap V2 across shards (issue: cross-shard contract calls): the contracts as published in
 * @uniswap/v2-core and @uniswap/v2-periphery, deployed so that token A, token B, the factory and
 * its pair, the router (and WETH) and the traders are on five different shards. Every transaction
 * also runs on a reference: one unsharded @ethereumjs/vm (see RefChain), and reserves, token
 * balances and logs are compared with it (not timestamps: the pair's blockTimestampLast and price
 * accumulators depend on block times).
 *
 * The current protocol cannot carry a contract's nonce change in a cross-shard call's RwSet, so
 * factory.createPair (a CREATE2) runs as a local transaction on the factory's shard: the token
 * deployments are chosen (deployer nonces) so that the pair's CREATE2 address lands there.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAddressFromString, createContractAddress } from '@ethereumjs/util';
import { runAudit } from '@shardlab/audit';
import { createChainCommon, createPlacement, devAccounts, shardOf, signTransaction, type DevAccount } from '@shardlab/chain';
import {
  GatewayServiceClient,
  StateShardServiceClient,
  SystemTxKind,
  TxStatus,
  type Account,
  type GetProofResponse,
  type SendRawTransactionResponse,
  type StateShardBlock,
  type TransactionStatus,
} from '@shardlab/proto';
import { createRegistryClient, createRegistryDirectory, type RegistryClient } from '@shardlab/registry';
import { createClient, streamCall, unaryCall } from '@shardlab/rpc';
import { startSimulator, type RunningSimulator } from '@shardlab/simulator';
import { silentLogger } from '@shardlab/telemetry';
import { startInProcessNetwork, type InProcessNetwork } from '../src/inprocess';
import {
  BUILDS,
  calldata,
  getAmountOut,
  keccakHex,
  mappingSlot,
  nestedMappingSlot,
  pairAddress,
  RefChain,
  ROUTER_INIT_CODE_HASH,
  SLOT_ALLOWANCE,
  SLOT_BALANCE_OF,
  SLOT_RESERVES,
  slotKey,
  sortTokens,
  swapExactTokensForTokens,
  unpackReserves,
  word,
  type NormLog,
} from './uniswap-fixtures';

const SHARDS = 5;
const placement = createPlacement(SHARDS);
const common = createChainCommon();
const dev = devAccounts();
const on = (s: number) => dev.filter((a) => shardOf(placement, a.address) === s);
const created = (a: DevAccount, nonce: bigint) => createContractAddress(createAddressFromString(a.address), nonce).toString();

// Placement: traders, token A, token B, factory + pair, router + WETH on five different shards.
const TRADER_SHARD = 0;
const TOKEN_A_SHARD = 1;
const TOKEN_B_SHARD = 2;
const FACTORY_SHARD = 3;
const ROUTER_SHARD = 4;
const [trader, trader2] = on(TRADER_SHARD) as [DevAccount, DevAccount];
const holderA = on(TOKEN_A_SHARD)[0]!;
const holderB = on(TOKEN_B_SHARD)[0]!;
const factoryDeployer = on(FACTORY_SHARD)[0]!;
const routerDeployer = on(ROUTER_SHARD)[0]!;

const E18 = 10n ** 18n;
const SUPPLY = 1_000_000n * E18;
const DEADLINE = 1n << 64n;
const PAIR_INIT_CODE_HASH = keccakHex(BUILDS.UniswapV2Pair);

let net: InProcessNetwork;
let simulator: RunningSimulator;
let simDirectory: { close(): void };
let registry: RegistryClient;
let gateway: GatewayServiceClient;
const shardClients = new Map<number, StateShardServiceClient>();
let dataDir: string;
let ref: RefChain;
let factory: string;
let weth: string;
let router: string;
let tokenA: string;
let tokenB: string;
let pair: string;

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      if (await probe()) return;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}

const account = (address: string) => unaryCall<Account>('gateway', (md, o, cb) => gateway.getAccount({ address }, md, o, cb));
const headBlock = (shardId: number) => unaryCall<StateShardBlock>('gateway', (md, o, cb) => gateway.getShardBlock({ shardId }, md, o, cb));
const heads = async () => Promise.all(Array.from({ length: SHARDS }, async (_, s) => Number((await headBlock(s)).height)));

async function shardClient(shardId: number): Promise<StateShardServiceClient> {
  let c = shardClients.get(shardId);
  if (c) return c;
  const { endpoints } = await registry.listEndpoints('state-shard');
  const ep = endpoints.find((e) => e.alive && Number(e.shardId) === shardId);
  if (!ep) throw new Error(`no state shard ${shardId} in the registry`);
  c = createClient(StateShardServiceClient, ep.address);
  shardClients.set(shardId, c);
  return c;
}

/** Storage slot values of `address` on its shard, at its head, by GetProof. */
async function storage(address: string, slots: string[]): Promise<bigint[]> {
  const client = await shardClient(shardOf(placement, address));
  const res = await unaryCall<GetProofResponse>('state shard', (md, o, cb) => client.getProof({ address, slots }, md, o, cb));
  return res.storage.map((s) => (s.value === '' || s.value === '0x' ? 0n : BigInt(s.value)));
}

type Req = { to?: string; data: string; gasLimit?: bigint };

async function submit(from: DevAccount, req: Req): Promise<SendRawTransactionResponse> {
  const nonce = BigInt((await account(from.address)).nonce);
  const raw = signTransaction(common, from, { to: req.to, nonce, gasLimit: req.gasLimit ?? 1_000_000n, data: Buffer.from(req.data, 'hex') });
  return unaryCall<SendRawTransactionResponse>('gateway', (md, o, cb) => gateway.sendRawTransaction({ rawTransaction: Buffer.from(raw) }, md, o, cb));
}

async function watch(txHash: string): Promise<TransactionStatus> {
  let final: TransactionStatus | undefined;
  for await (const s of streamCall('gateway', (md, o) => gateway.watchTransaction({ txHash }, md, o), AbortSignal.timeout(30_000))) {
    final = s;
    if ([TxStatus.TX_STATUS_FINAL, TxStatus.TX_STATUS_COMMITTED, TxStatus.TX_STATUS_ABORTED, TxStatus.TX_STATUS_DROPPED].includes(s.status)) break;
  }
  if (!final) throw new Error(`no status for ${txHash}`);
  return final;
}

const normLogs = (s: TransactionStatus): NormLog[] =>
  (s.receipt?.logs ?? []).map((l) => ({ address: l.address.toLowerCase(), topics: l.topics.map((t) => t.toLowerCase()), data: '0x' + Buffer.from(l.data).toString('hex') }));

/**
 * Sends a transaction through the gateway, follows it to FINAL (local) or COMMITTED
 * (cross-shard) with a successful receipt, runs the same on the reference and checks that the
 * logs are the same. Returns the sharded outcome.
 */
async function step(from: DevAccount, req: Req, crossShard?: boolean): Promise<{ sent: SendRawTransactionResponse; final: TransactionStatus }> {
  const sent = await submit(from, req);
  const final = await watch(sent.txHash);
  if (crossShard !== undefined) expect(sent.crossShard).toBe(crossShard);
  expect(final.reason).toBe('');
  expect(final.status).toBe(sent.crossShard ? TxStatus.TX_STATUS_COMMITTED : TxStatus.TX_STATUS_FINAL);
  expect(final.receipt?.success).toBe(true);
  const r = await ref.run(from, req);
  expect(r.success).toBe(true);
  expect(normLogs(final)).toEqual(r.logs);
  return { sent, final };
}

/** Spends `from`'s nonces with zero-value self-transfers until its nonce is `target` (here and on the reference). */
async function burnTo(from: DevAccount, target: bigint): Promise<void> {
  for (let n = BigInt((await account(from.address)).nonce); n < target; n++) await step(from, { to: from.address, data: '', gasLimit: 21_000n }, false);
}

/** Deploys `code` + `args` from `from` at `nonce` (burning the nonces before it) by a local transaction. */
async function deployAt(from: DevAccount, nonce: bigint, code: string, args: (bigint | string)[]): Promise<string> {
  await burnTo(from, nonce);
  expect(BigInt((await account(from.address)).nonce)).toBe(nonce);
  await step(from, { data: code + args.map(word).join(''), gasLimit: 6_000_000n }, false);
  const address = created(from, nonce);
  expect((await account(address)).codeHash).not.toBe(keccakHex(''));
  return address;
}

/** The first nonce ≥ `from`'s current one whose CREATE address is on `shardId`. */
async function nonceLandingOn(from: DevAccount, shardId: number): Promise<bigint> {
  let n = BigInt((await account(from.address)).nonce);
  while (shardOf(placement, created(from, n)) !== shardId) n++;
  return n;
}

async function settled(): Promise<void> {
  const h = net.orchestrator.node.headInfo().height;
  await until(`every shard past orchestrator block ${h}`, async () => {
    for (let s = 0; s < SHARDS; s++) if (Number((await headBlock(s)).orchestratorHeight) < h) return false;
    return true;
  });
}

async function systemOps(shardId: number, txHash: string, from: number): Promise<string[]> {
  const head = Number((await headBlock(shardId)).height);
  const kinds: string[] = [];
  for (let h = from; h <= head; h++) {
    const b = await unaryCall<StateShardBlock>('gateway', (md, o, cb) => gateway.getShardBlock({ shardId, height: h }, md, o, cb));
    for (const t of b.transactions) {
      if (t.kind?.$case === 'system' && t.kind.value.txHash === txHash) kinds.push(SystemTxKind[t.kind.value.kind].replace('SYSTEM_TX_KIND_', ''));
    }
  }
  return kinds;
}

async function expectCleanAudit(): Promise<void> {
  const report = await runAudit({ registryAddress: net.registryAddress });
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
async function reservesFor(tokenIn: string): Promise<[bigint, bigint]> {
  const [v] = await storage(pair, [slotKey(SLOT_RESERVES)]);
  const [r0, r1] = unpackReserves(v!);
  return sortTokens(tokenA, tokenB)[0] === tokenIn ? [r0, r1] : [r1, r0];
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'shardlab-uniswap-'));
  const logger = silentLogger();
  net = await startInProcessNetwork({ shards: SHARDS, blockIntervalMs: 100, dataDir, logger });
  const directory = createRegistryDirectory({ registryAddress: net.registryAddress, logger });
  simDirectory = directory;
  simulator = await startSimulator({ port: 0, host: '127.0.0.1', directory, registryAddress: net.registryAddress, logger });
  registry = createRegistryClient(net.registryAddress);
  gateway = createClient(GatewayServiceClient, net.gatewayAddress);
  ref = await RefChain.create(common, dev);
  await until('the gateway to answer', async () => (await account(trader.address)).shardId === TRADER_SHARD);

  // Factory on its shard; WETH and the router on theirs.
  factory = await deployAt(factoryDeployer, await nonceLandingOn(factoryDeployer, FACTORY_SHARD), BUILDS.UniswapV2Factory, [factoryDeployer.address]);
  weth = await deployAt(routerDeployer, await nonceLandingOn(routerDeployer, ROUTER_SHARD), BUILDS.WETH9, []);
  router = await deployAt(routerDeployer, await nonceLandingOn(routerDeployer, ROUTER_SHARD), BUILDS.UniswapV2Router02, [factory, weth]);

  // Token deployer nonces such that both tokens are on their shards and their pair on the factory's.
  const startA = BigInt((await account(holderA.address)).nonce);
  const startB = BigInt((await account(holderB.address)).nonce);
  let best: [bigint, bigint] | undefined;
  for (let nA = startA; nA < startA + 40n; nA++) {
    if (shardOf(placement, created(holderA, nA)) !== TOKEN_A_SHARD) continue;
    for (let nB = startB; nB < startB + 40n; nB++) {
      if (shardOf(placement, created(holderB, nB)) !== TOKEN_B_SHARD) continue;
      if (shardOf(placement, pairAddress(factory, created(holderA, nA), created(holderB, nB), PAIR_INIT_CODE_HASH)) !== FACTORY_SHARD) continue;
      if (!best || nA + nB < best[0] + best[1]) best = [nA, nB];
    }
  }
  if (!best) throw new Error('no token deployment nonces put the pair on the factory shard');
  tokenA = await deployAt(holderA, best[0], BUILDS.ERC20, [SUPPLY]);
  tokenB = await deployAt(holderB, best[1], BUILDS.ERC20, [SUPPLY]);

  // createPair: a local transaction on the factory shard (CREATE2 of the pair there).
  await step(factoryDeployer, { to: factory, data: calldata('createPair(address,address)', tokenA, tokenB), gasLimit: 5_000_000n }, false);
  pair = pairAddress(factory, tokenA, tokenB, PAIR_INIT_CODE_HASH);

  // Tokens to the traders (local transfers on the tokens' shards), then approvals (cross-shard).
  for (const t of [trader, trader2]) {
    await step(holderA, { to: tokenA, data: calldata('transfer(address,uint256)', t.address, 100_000n * E18) }, false);
    await step(holderB, { to: tokenB, data: calldata('transfer(address,uint256)', t.address, 100_000n * E18) }, false);
    await step(t, { to: tokenA, data: calldata('approve(address,uint256)', router, (1n << 256n) - 1n) }, true);
    await step(t, { to: tokenB, data: calldata('approve(address,uint256)', router, (1n << 256n) - 1n) }, true);
  }
  await settled();
}, 180_000);

afterAll(async () => {
  gateway?.close();
  registry?.close();
  for (const c of shardClients.values()) c.close();
  await simulator?.close();
  simDirectory?.close();
  await net?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test("Router02's hard-coded init code hash is keccak of the published UniswapV2Pair bytecode", () => {
  expect(PAIR_INIT_CODE_HASH).toBe(ROUTER_INIT_CODE_HASH);
  expect(BUILDS.UniswapV2Router02).toContain(ROUTER_INIT_CODE_HASH);
});

test('tokens, pair (+factory), router (+WETH) and traders are on five different shards; the pair is where CREATE2 put it', async () => {
  expect([tokenA, tokenB, pair, factory, router, weth, trader.address, trader2.address].map((a) => shardOf(placement, a))).toEqual([
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

test('two swaps on the same pair in the same round: serialisable, an aborted one commits when resubmitted', async () => {
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
  expect(committed.length).toBeGreaterThanOrEqual(1);
  const order: { i: number; final: TransactionStatus }[] = committed.map(({ f, i }) => ({ i, final: f }));
  for (const [i, f] of finals.entries()) {
    if (f.status === TxStatus.TX_STATUS_COMMITTED) continue;
    expect(f.status).toBe(TxStatus.TX_STATUS_ABORTED);
    expect(f.reason).toMatch(/conflict|read set changed/);
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
