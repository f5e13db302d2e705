// Tests of syntheticLayout: where the synthetic workload's Uniswap parts go, spread (hash placement) or colocated (graph placement)
import { createPlacement, shardOf } from '@shardlab/chain';
import { syntheticLayout } from '@shardlab/contracts';

describe('syntheticLayout', () => {
  it.each([2, 3, 4])('colocated at %i shards: every part on one shard, each deployed by a distinct development account placed there', (shards) => {
    const { layout, actors } = syntheticLayout(shards, { colocate: true });
    const parts = [layout.tokenA, layout.tokenB, layout.factory, layout.router];
    const deployers = [actors.holderA, actors.holderB, actors.factoryDeployer, actors.routerDeployer];
    const placement = createPlacement(shards);
    expect(new Set(deployers.map((d) => d.address)).size).toBe(4);
    deployers.forEach((d, i) => expect(shardOf(placement, d.address)).toBe(parts[i]));
    // The development accounts allow it at these shard counts: nothing had to move on.
    expect(new Set(parts).size).toBe(1);
  });

  it('spread by default: tokens and factory on different shards at 4 shards', () => {
    const { layout } = syntheticLayout(4);
    expect(new Set([layout.tokenA, layout.tokenB, layout.factory]).size).toBe(3);
  });
});
