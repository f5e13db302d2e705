// Interaction graphs of the main job's workloads (trace replay, synthetic mix) and the placement planned from one: the hash rule, or graph partitioning with contracts pinned.
import { createPlacement, devAccounts, shardOf, type Placement } from '@shardlab/chain';
import { errors } from '@shardlab/common';
import type { UniswapLayout } from '@shardlab/contracts';
import { partitionGraph, placementStats, vertexLoads, type InteractionEdge } from './graph-placement';
import type { SyntheticPlan } from './synthetic-txs';

/** A workload's interaction graph: what {@link partitionGraph} and {@link placementStats} take. */
export interface InteractionGraph {
  /** One edge per transaction (a swap: one per contract it calls, sharing its weight of 1). */
  readonly edges: InteractionEdge[];
  /** Load of each vertex: transactions it sends. */
  readonly loads: Map<string, number>;
  /** Vertices whose shard is decided before placement (contracts, symbolic swap senders): never moved, never overridden. */
  readonly pinned: Map<string, number>;
}

/**
 * The interaction graph of a trace replay: an edge of weight 1 from the generated sender to the
 * generated recipient of every transaction (as planned by `planReplay`); a vertex's load is the
 * number of transactions it sends. Nothing is pinned. Pure.
 */
export function replayGraph(txs: readonly { readonly from: string; readonly to: string }[]): InteractionGraph {
  const edges: InteractionEdge[] = txs.map((t) => ({ from: t.from, to: t.to, weight: 1 }));
  return { edges, loads: vertexLoads(edges), pinned: new Map() };
}

/**
 * Symbolic vertices of the synthetic workload's graph: the contracts (deployed after the network
 * starts, on the shards of `syntheticLayout` of @shardlab/contracts) and the senders of swaps.
 */
export const SYNTHETIC_VERTICES = {
  tokenA: 'contract:token-a',
  tokenB: 'contract:token-b',
  /** The Uniswap V2 pair of tokens A and B, on the factory's shard. */
  pair: 'contract:pair',
  router: 'contract:router',
  /** Senders of swaps whose input is token A: accounts chosen on token A's shard after placement. */
  swapsFromA: 'swappers:token-a',
  swapsFromB: 'swappers:token-b',
} as const;

/**
 * The interaction graph of a synthetic plan: an edge of weight 1 from sender to recipient for a
 * native transfer, and from sender to the token for an ERC-20 transfer (its recipient is only a
 * storage key of the token: the transaction involves the sender's and the token's shards, as
 * `signSynthetic` counts them). A swap is sent by an account that `signSynthetic` picks on the
 * input token's shard under the final placement, and the input token (pairs order their tokens by
 * address) is known only once the tokens are deployed: so each swap counts half for each
 * direction, as a symbolic sender pinned on that token's shard ({@link SYNTHETIC_VERTICES}) with
 * edges to router, pair, token A and token B sharing the half. Contracts are pinned on their
 * `layout` shards. Loads: transactions sent. Pure.
 * @throws ShardLabError INVALID_ARGUMENT when the plan has ERC-20 transfers or swaps and no layout is given.
 */
export function syntheticGraph(plan: SyntheticPlan, layout?: Pick<UniswapLayout, 'tokenA' | 'tokenB' | 'factory' | 'router'>): InteractionGraph {
  const V = SYNTHETIC_VERTICES;
  const edges: InteractionEdge[] = [];
  const pinned = new Map<string, number>();
  if (layout) {
    for (const [v, s] of [
      [V.tokenA, layout.tokenA],
      [V.tokenB, layout.tokenB],
      [V.pair, layout.factory],
      [V.router, layout.router],
      [V.swapsFromA, layout.tokenA],
      [V.swapsFromB, layout.tokenB],
    ] as const) {
      pinned.set(v, s);
    }
  }
  for (const op of plan.ops) {
    if (op.kind !== 'transfer' && !layout) throw errors.invalidArgument(`the synthetic plan has ${op.kind} operations: the contracts' layout is needed to place them`);
    if (op.kind === 'swap') {
      for (const swapper of [V.swapsFromA, V.swapsFromB]) {
        for (const c of [V.router, V.pair, V.tokenA, V.tokenB]) edges.push({ from: swapper, to: c, weight: 0.125 });
      }
      continue;
    }
    const from = plan.accounts[op.from]!.address;
    const to = op.kind === 'transfer' ? plan.accounts[op.to]!.address : op.token % 2 === 0 ? V.tokenA : V.tokenB;
    edges.push({ from, to, weight: 1 });
  }
  return { edges, loads: vertexLoads(edges), pinned };
}

/** How the main job places accounts: `hash` (last byte mod shards) or `graph` ({@link partitionGraph}). */
export type PlacementPolicy = 'hash' | 'graph';

/** The policies of {@link PlacementPolicy}. */
export const PLACEMENT_POLICIES: readonly PlacementPolicy[] = ['hash', 'graph'];

/** A placement planned for a workload ({@link planPlacement}). */
export interface PlacementPlan {
  readonly policy: PlacementPolicy;
  /** Seed of the partitioner (recorded under `hash` too). */
  readonly seed: number;
  /** Accounts placed off their hash shard (lowercase address → shard): the registry's initial overrides. Empty under `hash`. */
  readonly overrides: Map<string, number>;
  /** The network's placement: the hash rule with {@link overrides}, epoch 1. */
  readonly placement: Placement;
  /** Share of the graph's edge weight crossing shards under {@link placement} (pinned vertices on their shards). */
  readonly crossShardRatio: number;
  /** Transactions sent from each shard under {@link placement} (index = shard). */
  readonly perShardLoad: number[];
  /** The same ratio under the hash rule, for comparison. */
  readonly hashCrossShardRatio: number;
  /** Under `graph`: the partitioner's load cap, rounds and moves. */
  readonly partition?: { readonly loadCap: number; readonly rounds: number; readonly moves: number };
}

/**
 * Plans the placement of a workload's accounts on `shardCount` shards: under `hash` the default
 * rule; under `graph` {@link partitionGraph} of `graph` (default load cap 1.1 × the average load
 * per shard, the graph's pinned vertices and any development account in it kept on their
 * shards), whose moved accounts become overrides. Development accounts and contracts are never
 * overridden. Both policies report the cross-shard ratio and per-shard load under the result and
 * under the hash rule ({@link placementStats}). Pure, deterministic for a seed.
 * @throws ShardLabError INVALID_ARGUMENT as {@link partitionGraph} (bad shard count, weights, pins).
 */
export function planPlacement(graph: InteractionGraph, o: { policy: PlacementPolicy; shardCount: number; seed: number }): PlacementPlan {
  const hash = createPlacement(o.shardCount);
  const stats = (placement: Placement) =>
    placementStats(graph.edges, (v) => graph.pinned.get(v) ?? shardOf(placement, v), o.shardCount, graph.loads);
  const hashStats = stats(hash);
  if (o.policy === 'hash') {
    return { policy: 'hash', seed: o.seed, overrides: new Map(), placement: hash, ...hashStats, hashCrossShardRatio: hashStats.crossShardRatio };
  }
  const pinned = new Map(graph.pinned);
  const vertices = new Set([...graph.loads.keys(), ...graph.edges.flatMap((e) => [e.from, e.to])].map((v) => v.toLowerCase()));
  for (const d of devAccounts()) if (vertices.has(d.address)) pinned.set(d.address, shardOf(hash, d.address));
  const p = partitionGraph(graph.edges, { shardCount: o.shardCount, seed: o.seed, loads: graph.loads, pinned });
  const overrides = new Map<string, number>();
  for (const [v, s] of p.shards) if (!pinned.has(v) && s !== shardOf(hash, v)) overrides.set(v.toLowerCase(), s);
  const placement = createPlacement(o.shardCount, 1, overrides);
  return {
    policy: 'graph',
    seed: o.seed,
    overrides,
    placement,
    ...stats(placement),
    hashCrossShardRatio: hashStats.crossShardRatio,
    partition: { loadCap: p.loadCap, rounds: p.rounds, moves: p.moves },
  };
}
