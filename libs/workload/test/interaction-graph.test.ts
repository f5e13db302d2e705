import { createChainCommon, createPlacement, devAccounts, shardOf } from '@shardlab/chain';
import { ErrorCode } from '@shardlab/common';
import { syntheticLayout, type SyntheticContracts } from '@shardlab/contracts';
import { thrown } from '@shardlab/testing';
import {
  placeReplay,
  planPlacement,
  planSynthetic,
  replayGraph,
  signSynthetic,
  SYNTHETIC_VERTICES as V,
  syntheticGraph,
  type InteractionEdge,
  type ReplayPlan,
} from '../src';

/** An address whose last byte is `lastByte` (its hash shard is lastByte mod S), distinct per `tag`. */
const addr = (tag: number, lastByte: number) => '0x' + tag.toString(16).padStart(38, '0') + lastByte.toString(16).padStart(2, '0');

/** Contracts at made-up addresses on the layout's shards (signing needs only addresses and holders). */
function contractsOn(S: number): SyntheticContracts {
  const { layout, actors } = syntheticLayout(S);
  const uniswap = { ...actors, factory: addr(0xf1, layout.factory), weth: addr(0xf2, layout.router), router: addr(0xf3, layout.router), tokenA: addr(0xf4, layout.tokenA), tokenB: addr(0xf5, layout.tokenB), pair: addr(0xf6, layout.factory) };
  return { uniswap, tokens: [uniswap.tokenA, uniswap.tokenB] };
}

describe('replayGraph and placeReplay', () => {
  const [a, b, c] = [addr(1, 0), addr(2, 1), addr(3, 1)];
  const txs = [
    { from: a, to: b },
    { from: a, to: c },
    { from: b, to: c },
  ];

  it('has one edge per transaction and loads = transactions sent', () => {
    const g = replayGraph(txs);
    expect(g.edges).toEqual(txs.map((t) => ({ ...t, weight: 1 })));
    expect(g.loads).toEqual(new Map([[a, 2], [b, 1], [c, 0]]));
    expect(g.pinned.size).toBe(0);
  });

  it('recomputes shards and the cross-shard ratio under another placement', () => {
    const plan: ReplayPlan = {
      txs: txs.map((t, i) => ({ ...t, line: i + 2, realFrom: t.from, realTo: t.to, value: 0n, nonce: 0n, raw: new Uint8Array(), hash: `0x${i}`, homeShard: 0, toShard: 0, crossShard: false })),
      genesis: new Map(),
      stats: { rows: 3, transfers: 3, calldataConverted: 0, creationsConverted: 0, failedAsZeroValue: 0, senders: 2, addresses: 3, crossShard: 0, crossShardRatio: 0 },
    };
    const hash = placeReplay(plan, createPlacement(2));
    expect(hash.txs.map((t) => [t.homeShard, t.toShard, t.crossShard])).toEqual([[0, 1, true], [0, 1, true], [1, 1, false]]);
    expect(hash.stats.crossShardRatio).toBeCloseTo(2 / 3, 12);
    const moved = placeReplay(plan, createPlacement(2, 1, [[a, 1]]));
    expect(moved.stats.crossShard).toBe(0);
    expect(moved.txs[0]!.raw).toBe(plan.txs[0]!.raw);
  });
});

describe('syntheticGraph', () => {
  const S = 4;
  const { layout } = syntheticLayout(S);
  const plan = planSynthetic({ seed: 3, txs: 600, accounts: 80, mix: { transfer: 0.6, erc20: 0.3, swap: 0.1 } });

  it('links transfers to recipients, ERC-20 transfers to their token, swaps to the contracts through pinned senders', () => {
    const g = syntheticGraph(plan, layout);
    expect(g.pinned).toEqual(
      new Map([
        [V.tokenA, layout.tokenA],
        [V.tokenB, layout.tokenB],
        [V.pair, layout.factory],
        [V.router, layout.router],
        [V.swapsFromA, layout.tokenA],
        [V.swapsFromB, layout.tokenB],
      ]),
    );
    // Every operation weighs 1 in edges and in load.
    const total = (xs: Iterable<number>) => [...xs].reduce((s, x) => s + x, 0);
    expect(total(g.edges.map((e) => e.weight))).toBeCloseTo(plan.ops.length, 9);
    expect(total(g.loads.values())).toBeCloseTo(plan.ops.length, 9);
    const address = (i: number) => plan.accounts[i]!.address;
    for (const [i, op] of plan.ops.entries()) {
      if (op.kind === 'swap') continue;
      expect(g.edges).toContainEqual({ from: address(op.from), to: op.kind === 'transfer' ? address(op.to) : op.token % 2 === 0 ? V.tokenA : V.tokenB, weight: 1 });
      if (i > 50) break;
    }
    const swaps = plan.ops.filter((op) => op.kind === 'swap').length;
    expect(swaps).toBeGreaterThan(0);
    expect(g.loads.get(V.swapsFromA)).toBe(swaps / 2);
    expect(g.edges.filter((e) => e.from === V.swapsFromB && e.to === V.router)).toHaveLength(swaps);
  });

  it('needs the layout for ERC-20 transfers and swaps only', () => {
    const transfers = planSynthetic({ seed: 3, txs: 50, accounts: 10, mix: { transfer: 1, erc20: 0, swap: 0 } });
    expect(syntheticGraph(transfers).edges).toHaveLength(50);
    const err = thrown(() => syntheticGraph(plan));
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.message).toMatch(/layout is needed/);
  });
});

describe('planPlacement', () => {
  it('under hash: no overrides, and the hash figures', () => {
    const g = replayGraph([{ from: addr(1, 0), to: addr(2, 1) }]);
    const p = planPlacement(g, { policy: 'hash', shardCount: 2, seed: 1 });
    expect(p.overrides.size).toBe(0);
    expect(p).toMatchObject({ policy: 'hash', seed: 1, crossShardRatio: 1, hashCrossShardRatio: 1, perShardLoad: [1, 0] });
    expect(p.partition).toBeUndefined();
  });

  it('under graph: overrides only accounts moved off their hash shard (never the pinned contracts), and lowers the ratio', () => {
    const S = 4;
    const plan = planSynthetic({ seed: 5, txs: 3000, accounts: 300, mix: { transfer: 0.6, erc20: 0.3, swap: 0.1 } });
    const g = syntheticGraph(plan, syntheticLayout(S).layout);
    const p = planPlacement(g, { policy: 'graph', shardCount: S, seed: 2 });
    const hash = createPlacement(S);
    expect(p.overrides.size).toBeGreaterThan(0);
    for (const [a, s] of p.overrides) {
      expect(a).toMatch(/^0x[0-9a-f]{40}$/);
      expect(s).not.toBe(shardOf(hash, a));
    }
    expect(p.crossShardRatio).toBeLessThan(p.hashCrossShardRatio);
    expect(p.partition!.loadCap).toBeCloseTo((1.1 * 3000) / S, 6);
    expect(p.perShardLoad.reduce((s, x) => s + x, 0)).toBeCloseTo(3000, 6);
    expect(p.placement).toMatchObject({ shardCount: S, epoch: 1, overrides: p.overrides });
  });

  it('keeps a development account on its shard even when its partners sit elsewhere', () => {
    const dev = devAccounts()[0]!.address;
    const S = 2;
    const home = shardOf(createPlacement(S), dev);
    // A clique of 6 accounts on the other shard (weight 5 per pair) that the development account pays once each.
    const clique = Array.from({ length: 6 }, (_, i) => addr(0x100 + i, 1 - home));
    const edges: InteractionEdge[] = [];
    for (const x of clique) for (const y of clique) if (x < y) edges.push({ from: x, to: y, weight: 5 });
    for (const x of clique) edges.push({ from: dev, to: x, weight: 1 });
    // Six idle accounts on the development account's shard balance the loads (13 in all, cap 7.15), so it would fit beside the clique.
    const idle = Array.from({ length: 6 }, (_, i) => addr(0x200 + i, home));
    const loads = new Map([...clique, ...idle, dev].map((v) => [v, 1]));
    const p = planPlacement({ edges, loads, pinned: new Map() }, { policy: 'graph', shardCount: S, seed: 1 });
    expect(p.overrides.has(dev)).toBe(false);
    expect(shardOf(p.placement, dev)).toBe(home);
  });
});

describe('signSynthetic under a graph placement', () => {
  it('still sends every swap from an account on its input token\'s shard (local approvals), with shards under that placement', () => {
    const S = 4;
    const plan = planSynthetic({ seed: 7, txs: 800, accounts: 120, mix: { transfer: 0.5, erc20: 0.3, swap: 0.2 } });
    const c = contractsOn(S);
    const p = planPlacement(syntheticGraph(plan, syntheticLayout(S).layout), { policy: 'graph', shardCount: S, seed: 1 });
    expect(p.overrides.size).toBeGreaterThan(0);
    const signed = signSynthetic(plan, c, createChainCommon(), p.placement, new Map());
    const at = (a: string) => shardOf(p.placement, a);
    expect(signed.approvals.length).toBeGreaterThan(0);
    for (const t of signed.approvals) expect(t.shards).toEqual([at(t.from)]);
    const tokenShards = [at(c.uniswap.tokenA), at(c.uniswap.tokenB)];
    for (const t of signed.workload) {
      expect(t.shards[0]).toBe(at(t.from));
      if (t.kind === 'swap') expect(tokenShards).toContain(at(t.from));
    }
    // Some moved account sends a transfer whose shards follow the override, not the hash rule.
    const moved = signed.workload.filter((t) => p.overrides.has(t.from));
    expect(moved.length).toBeGreaterThan(0);
    expect(moved.every((t) => t.shards[0] === p.overrides.get(t.from))).toBe(true);
  });
});
