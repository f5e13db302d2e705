// Set-up of the synthetic workload's contracts on a running network: where Uniswap V2 goes, its deployment and liquidity.
import { createPlacement, devAccounts, shardOf, type DevAccount } from '@shardlab/chain';
import { calldata } from './abi';
import type { NetClient } from './client';
import { addLiquidityReq, deployUniswap, E18, MAX_UINT, strictStep, type UniswapActors, type UniswapDeployment, type UniswapLayout } from './uniswap';

/** Tokens put in the pair's pool by the liquidity provider: 100,000 of each (base units). */
const SYNTHETIC_LIQUIDITY = 100_000n * E18;

/** The contracts of a synthetic experiment and who holds what. */
export interface SyntheticContracts {
  uniswap: UniswapDeployment;
  /** Token addresses by the operations' token index (0 = token A, 1 = token B). */
  tokens: [string, string];
}

/** Options of {@link syntheticLayout}. */
export interface SyntheticLayoutOpts {
  /**
   * Put every part (tokens, factory + pair, router + WETH: contracts that call each other) on one
   * shard, as a graph placement does with accounts that interact [false: spread over shards].
   */
  colocate?: boolean;
}

/**
 * Picks where Uniswap's parts go on `shardCount` shards and four different development accounts
 * to deploy them: token A, token B, factory + pair, router + WETH on shards 1, 2, 3, 3 (mod the
 * shard count), or all on one shard with `colocate`, each moved to the next shard when no unused
 * development account is placed there.
 * Development accounts are placed by the default rule (`last byte mod shardCount`, never
 * overridden), so the layout is known before the network starts: the main job's graph placement
 * pins the contracts there. Pure.
 * @throws Error when the development accounts cannot provide four deployers.
 */
export function syntheticLayout(shardCount: number, opts: SyntheticLayoutOpts = {}): { layout: UniswapLayout; actors: UniswapActors } {
  const n = shardCount;
  const placement = createPlacement(n);
  const dev = devAccounts();
  const used = new Set<string>();
  const pick = (want: number): [number, DevAccount] => {
    for (let k = 0; k < n; k++) {
      const s = (want + k) % n;
      const a = dev.find((d) => shardOf(placement, d.address) === s && !used.has(d.address));
      if (a) {
        used.add(a.address);
        return [s, a];
      }
    }
    throw new Error('not enough development accounts to deploy Uniswap');
  };
  if (opts.colocate) {
    // Every part on the shard with the most development accounts (moved on when it runs out).
    const counts = Array.from({ length: n }, (_, s) => dev.filter((d) => shardOf(placement, d.address) === s).length);
    const home = counts.indexOf(Math.max(...counts));
    const [tokenA, holderA] = pick(home);
    const [tokenB, holderB] = pick(tokenA);
    const [factory, factoryDeployer] = pick(tokenB);
    const [router, routerDeployer] = pick(factory);
    return { layout: { trader: 0, tokenA, tokenB, factory, router }, actors: { holderA, holderB, factoryDeployer, routerDeployer } };
  }
  const [tokenA, holderA] = pick(1 % n);
  const [tokenB, holderB] = pick(2 % n);
  const [factory, factoryDeployer] = pick(3 % n);
  // The router (and WETH) beside the factory when a second development account is placed there.
  const [router, routerDeployer] = pick(factory);
  return { layout: { trader: 0, tokenA, tokenB, factory, router }, actors: { holderA, holderB, factoryDeployer, routerDeployer } };
}

/**
 * Deploys the synthetic experiment's contracts through the gateway, one transaction after another
 * (each must succeed): Uniswap V2 with tokens A and B and their pair ({@link deployUniswap}), then
 * liquidity: token A's holder gets token B, approves the router for both and adds
 * {@link SYNTHETIC_LIQUIDITY} of each to the pool, where {@link syntheticLayout} puts them for
 * `layoutOpts`. Progress lines go to `say`.
 * @throws Error naming the set-up transaction that did not succeed.
 */
export async function deploySyntheticContracts(net: NetClient, say: (line: string) => void, layoutOpts: SyntheticLayoutOpts = {}): Promise<SyntheticContracts> {
  const step = strictStep(net);
  const { layout, actors } = syntheticLayout(net.shardCount, layoutOpts);
  say(`deploying Uniswap V2: token A on shard ${layout.tokenA}, token B on shard ${layout.tokenB}, factory + pair on shard ${layout.factory}, router on shard ${layout.router}...`);
  const d = await deployUniswap(net, layout, step, actors);
  await step(d.holderB, { to: d.tokenB, data: calldata('transfer(address,uint256)', d.holderA.address, SYNTHETIC_LIQUIDITY) });
  await step(d.holderA, { to: d.tokenA, data: calldata('approve(address,uint256)', d.router, MAX_UINT) });
  await step(d.holderA, { to: d.tokenB, data: calldata('approve(address,uint256)', d.router, MAX_UINT) });
  await step(d.holderA, addLiquidityReq(d, SYNTHETIC_LIQUIDITY, SYNTHETIC_LIQUIDITY, d.holderA.address));
  say(`  router ${d.router}, pair ${d.pair}, tokens ${d.tokenA} / ${d.tokenB}`);
  return { uniswap: d, tokens: [d.tokenA, d.tokenB] };
}
