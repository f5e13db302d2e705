// Uniswap V2 deployed across shards: layouts, deployer nonces chosen so the pair lands on the factory's shard, trader funding, liquidity and swap requests, reserves
/**
 * Deployment of Uniswap V2 (the published @uniswap/v2-core and v2-periphery builds) across
 * shards, shared by the Uniswap test, the scenario runner and the benchmark.
 *
 * factory.createPair (a CREATE2) runs here as a local transaction on the factory's shard: the token
 * deployments are chosen (deployer nonces) so that the pair's CREATE2 address lands there. (It can
 * also run as a cross-shard call, the RwSet carrying the pair's code and both nonces: see
 * libs/shard/test/cross-shard-create-pair.test.ts.)
 */
import type { DevAccount } from '@shardlab/chain';
import { TxStatus } from '@shardlab/proto';
import { createdBy, statusText, type NetClient, type Outcome, type Req } from './client';
import { calldata, keccakHex, slotKey, word } from './abi';
import { BUILDS, pairAddress, SLOT_RESERVES, sortTokens, swapExactTokensForTokens, unpackReserves } from './uniswap-fixtures';

/** Which shard each part goes to. */
export interface UniswapLayout {
  trader: number;
  tokenA: number;
  tokenB: number;
  /** The factory and its pair. */
  factory: number;
  /** The router and WETH. */
  router: number;
}

/** Traders, token A, token B, factory + pair, router + WETH on five different shards. */
export const FIVE_SHARD_LAYOUT: UniswapLayout = { trader: 0, tokenA: 1, tokenB: 2, factory: 3, router: 4 };
/** Four shards: the router (and WETH) beside the factory. */
export const FOUR_SHARD_LAYOUT: UniswapLayout = { trader: 0, tokenA: 1, tokenB: 2, factory: 3, router: 3 };

export const E18 = 10n ** 18n;
export const TOKEN_SUPPLY = 1_000_000n * E18;
export const DEADLINE = 1n << 64n;
export const MAX_UINT = (1n << 256n) - 1n;
export const PAIR_INIT_CODE_HASH = keccakHex(BUILDS.UniswapV2Pair);

/**
 * Runs one transaction to its end. The test's version also checks it against the reference chain;
 * `crossShard` is what the caller expects the gateway to answer (undefined: either).
 */
export type Step = (from: DevAccount, req: Req, crossShard?: boolean) => Promise<Outcome>;

/** The accounts that deploy and hold the contracts of a layout. */
export interface UniswapActors {
  holderA: DevAccount;
  holderB: DevAccount;
  factoryDeployer: DevAccount;
  routerDeployer: DevAccount;
}

export function uniswapActors(net: NetClient, layout: UniswapLayout): UniswapActors {
  const first = (s: number) => {
    const a = net.on(s)[0];
    if (!a) throw new Error(`no development account on shard ${s}`);
    return a;
  };
  return { holderA: first(layout.tokenA), holderB: first(layout.tokenB), factoryDeployer: first(layout.factory), routerDeployer: first(layout.router) };
}

export interface UniswapDeployment extends UniswapActors {
  factory: string;
  weth: string;
  router: string;
  tokenA: string;
  tokenB: string;
  pair: string;
}

/** The first nonce ≥ `from`'s current one whose CREATE address is on `shardId`. */
export async function nonceLandingOn(net: NetClient, from: DevAccount, shardId: number): Promise<bigint> {
  let n = BigInt((await net.account(from.address)).nonce);
  while (net.shardOf(createdBy(from, n)) !== shardId) n++;
  return n;
}

/** Spends `from`'s nonces with zero-value self-transfers (through `step`) until its nonce is `target`. */
export async function burnTo(net: NetClient, step: Step, from: DevAccount, target: bigint): Promise<void> {
  for (let n = BigInt((await net.account(from.address)).nonce); n < target; n++) await step(from, { to: from.address, data: '', gasLimit: 21_000n }, false);
}

/** Deploys `code` + `args` from `from` at `nonce` (burning the nonces before it) by a local transaction. */
export async function deployAt(net: NetClient, step: Step, from: DevAccount, nonce: bigint, code: string, args: (bigint | string)[]): Promise<string> {
  await burnTo(net, step, from, nonce);
  const have = BigInt((await net.account(from.address)).nonce);
  if (have !== nonce) throw new Error(`${from.address} is at nonce ${have}, expected ${nonce}`);
  await step(from, { data: code + args.map(word).join(''), gasLimit: 6_000_000n }, false);
  const address = createdBy(from, nonce);
  if ((await net.account(address)).codeHash === '0x' + keccakHex('')) throw new Error(`no code at ${address}`);
  return address;
}

/**
 * Deploys factory, WETH, router, token A, token B and creates their pair, each on its layout's
 * shard, by local transactions through `step`. `actors` (default {@link uniswapActors}: the first
 * development account of each layout shard) must be four different accounts placed on their parts'
 * shards when the layout puts several parts on one shard.
 */
export async function deployUniswap(net: NetClient, layout: UniswapLayout, step: Step, actors: UniswapActors = uniswapActors(net, layout)): Promise<UniswapDeployment> {
  const { holderA, holderB, factoryDeployer, routerDeployer } = actors;
  const factory = await deployAt(net, step, factoryDeployer, await nonceLandingOn(net, factoryDeployer, layout.factory), BUILDS.UniswapV2Factory, [factoryDeployer.address]);
  const weth = await deployAt(net, step, routerDeployer, await nonceLandingOn(net, routerDeployer, layout.router), BUILDS.WETH9, []);
  const router = await deployAt(net, step, routerDeployer, await nonceLandingOn(net, routerDeployer, layout.router), BUILDS.UniswapV2Router02, [factory, weth]);

  // Token deployer nonces such that both tokens are on their shards and their pair on the factory's.
  const startA = BigInt((await net.account(holderA.address)).nonce);
  const startB = BigInt((await net.account(holderB.address)).nonce);
  let best: [bigint, bigint] | undefined;
  for (let nA = startA; nA < startA + 40n; nA++) {
    if (net.shardOf(createdBy(holderA, nA)) !== layout.tokenA) continue;
    for (let nB = startB; nB < startB + 40n; nB++) {
      if (net.shardOf(createdBy(holderB, nB)) !== layout.tokenB) continue;
      if (net.shardOf(pairAddress(factory, createdBy(holderA, nA), createdBy(holderB, nB), PAIR_INIT_CODE_HASH)) !== layout.factory) continue;
      if (!best || nA + nB < best[0] + best[1]) best = [nA, nB];
    }
  }
  if (!best) throw new Error('no token deployment nonces put the pair on the factory shard');
  const tokenA = await deployAt(net, step, holderA, best[0], BUILDS.ERC20, [TOKEN_SUPPLY]);
  const tokenB = await deployAt(net, step, holderB, best[1], BUILDS.ERC20, [TOKEN_SUPPLY]);

  // createPair: a local transaction on the factory shard (CREATE2 of the pair there).
  await step(factoryDeployer, { to: factory, data: calldata('createPair(address,address)', tokenA, tokenB), gasLimit: 5_000_000n }, false);
  const pair = pairAddress(factory, tokenA, tokenB, PAIR_INIT_CODE_HASH);
  return { ...actors, factory, weth, router, tokenA, tokenB, pair };
}

/**
 * Gives `trader` `amount` of each token (local transfers on the tokens' shards) and approves the
 * router for both (cross-shard unless the trader is on the token's shard).
 */
export async function fundTrader(net: NetClient, d: UniswapDeployment, step: Step, trader: DevAccount, amount = 100_000n * E18): Promise<void> {
  await step(d.holderA, { to: d.tokenA, data: calldata('transfer(address,uint256)', trader.address, amount) }, false);
  await step(d.holderB, { to: d.tokenB, data: calldata('transfer(address,uint256)', trader.address, amount) }, false);
  await step(trader, { to: d.tokenA, data: calldata('approve(address,uint256)', d.router, MAX_UINT) }, net.shardOf(trader.address) !== net.shardOf(d.tokenA));
  await step(trader, { to: d.tokenB, data: calldata('approve(address,uint256)', d.router, MAX_UINT) }, net.shardOf(trader.address) !== net.shardOf(d.tokenB));
}

/** Request of Router02.addLiquidity(tokenA, tokenB, amountA, amountB, 0, 0, to, DEADLINE). */
export const addLiquidityReq = (d: UniswapDeployment, amountA: bigint, amountB: bigint, to: string): Req => ({
  to: d.router,
  data: calldata('addLiquidity(address,address,uint256,uint256,uint256,uint256,address,uint256)', d.tokenA, d.tokenB, amountA, amountB, 0n, 0n, to, DEADLINE),
  gasLimit: 1_000_000n,
});

/** Request of Router02.swapExactTokensForTokens(amountIn, minOut, [tokenIn, other], to, DEADLINE). */
export const swapReq = (d: UniswapDeployment, tokenIn: string, amountIn: bigint, minOut: bigint, to: string): Req => ({
  to: d.router,
  data: swapExactTokensForTokens(amountIn, minOut, [tokenIn, tokenIn === d.tokenA ? d.tokenB : d.tokenA], to, DEADLINE),
  gasLimit: 500_000n,
});

/** reserveIn, reserveOut of the pair for a swap tokenIn → other, on the network. */
export async function reservesFor(net: NetClient, d: UniswapDeployment, tokenIn: string): Promise<[bigint, bigint]> {
  const [v] = await net.storage(d.pair, [slotKey(SLOT_RESERVES)]);
  const [r0, r1] = unpackReserves(v!);
  return sortTokens(d.tokenA, d.tokenB)[0] === tokenIn ? [r0, r1] : [r1, r0];
}

/** A step that throws unless the transaction commits (cross-shard) or is final and successful (local). */
export function strictStep(net: NetClient, counter: { n: number; ms: number } = { n: 0, ms: 0 }): Step {
  return async (from, req, crossShard) => {
    const o = await net.send(from, req);
    counter.n++;
    counter.ms += o.latencyMs;
    // A cross-shard COMMITTED may carry a failed receipt (a shard-led call that reverted).
    const ok = o.sent.crossShard
      ? o.final.status === TxStatus.TX_STATUS_COMMITTED && o.final.receipt?.success !== false
      : o.final.status === TxStatus.TX_STATUS_FINAL && o.final.receipt?.success === true;
    if (!ok || (crossShard !== undefined && o.sent.crossShard !== crossShard)) {
      throw new Error(`set-up transaction from ${from.address} to ${req.to ?? '(create)'}: ${statusText(o.final)}, crossShard=${o.sent.crossShard}`);
    }
    return o;
  };
}

