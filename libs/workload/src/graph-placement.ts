// Graph placement: a seeded, load-capped label propagation over an account interaction graph (after BlockEmulator's CLPA), and the cross-shard ratio and per-shard load of a placement.
/**
 * Account placement from an interaction graph, as graph-based sharding work does it (CLPA:
 * Li et al., "Achieving Scalability and Load Balance across Blockchain Shards for State
 * Sharding", SRDS 2022, as implemented by BlockEmulator's `partition/partition_CLPA.go`). Here the
 * load constraint is a hard cap on the summed vertex load of a shard instead of CLPA's soft
 * penalty, and a vertex only moves when that strictly lowers the weight of cross-shard edges, so
 * the rounds end. Pure: no IO, deterministic for a seed.
 */
import { createPlacement, shardOf, type Placement } from '@shardlab/chain';
import { errors } from '@shardlab/common';
import { mulberry32 } from './synthetic';

/**
 * One interaction: vertex `from` sends transactions touching vertex `to`, `weight` of them (a
 * transaction touching k other vertices may give each edge 1/k). Vertices are 0x addresses
 * (placed by the hash rule to start with) or symbolic ids (e.g. `contract:router`) that must be
 * pinned. Undirected for the partition; `from` is whose load it counts as by default.
 */
export interface InteractionEdge {
  readonly from: string;
  readonly to: string;
  /** A finite number ≥ 0. */
  readonly weight: number;
}

/** Default factor of the load cap over the average load per shard (CLPA-like balance within 10%). */
export const DEFAULT_LOAD_CAP_FACTOR = 1.1;
/** Default most rounds of label propagation (BlockEmulator's CLPA runs up to 100; ours stop earlier when no vertex moves). */
export const DEFAULT_MAX_ROUNDS = 100;

/** Options of {@link partitionGraph}. */
export interface GraphPartitionOpts {
  /** Number of shards (0..shardCount-1); a positive integer. */
  shardCount: number;
  /** Seed of the order in which vertices are visited (any 32-bit integer; same seed → same result). */
  seed: number;
  /**
   * Load of each vertex (e.g. transactions it sends); vertices missing here weigh 0, vertices
   * only here are placed too. Default {@link vertexLoads} of the edges.
   */
  loads?: ReadonlyMap<string, number>;
  /** Most load a shard may take; default {@link DEFAULT_LOAD_CAP_FACTOR} × total load / shardCount. */
  loadCap?: number;
  /** Vertices whose shard is already decided (e.g. contracts deployed by development accounts): never moved. */
  pinned?: ReadonlyMap<string, number>;
  /** Most rounds of label propagation (each visits every vertex once); default {@link DEFAULT_MAX_ROUNDS}. */
  maxRounds?: number;
}

/** Result of {@link partitionGraph}. */
export interface GraphPartition {
  /** Shard of every vertex (edge endpoints, loaded and pinned vertices), in first-seen order. */
  readonly shards: Map<string, number>;
  /** The load cap that was applied. */
  readonly loadCap: number;
  /** Load of each shard at the end (same units as the vertex loads). */
  readonly perShardLoad: number[];
  /** Rounds of label propagation run (the last one moved nothing unless `maxRounds` stopped it). */
  readonly rounds: number;
  /** Vertices moved off their start shard by rebalancing or label propagation (counting repeats). */
  readonly moves: number;
}

/** Cross-shard ratio and per-shard load of a placement over an interaction graph ({@link placementStats}). */
export interface PlacementStats {
  /** Share of the edge weight whose endpoints are on different shards, in [0, 1]; 0 without edges. With one edge per transaction, the share of cross-shard transactions. */
  readonly crossShardRatio: number;
  /** Summed vertex load of each shard, index = shard. */
  readonly perShardLoad: number[];
}

/** Load of each vertex by default: the summed weight of the edges it sends (0 for a vertex that only receives), in first-seen order. */
export function vertexLoads(edges: readonly InteractionEdge[]): Map<string, number> {
  const loads = new Map<string, number>();
  for (const e of edges) {
    loads.set(e.from, (loads.get(e.from) ?? 0) + e.weight);
    if (!loads.has(e.to)) loads.set(e.to, 0);
  }
  return loads;
}

/**
 * The cross-shard ratio and per-shard load of the placement `shardOf` over `edges`: the share of
 * edge weight whose endpoints `shardOf` puts on different shards, and the summed load of the
 * vertices of `loads` (default {@link vertexLoads}) on each shard.
 * @throws ShardLabError INVALID_ARGUMENT when `shardCount` is not a positive integer, a weight or
 *   load is negative or not finite, or `shardOf` answers a shard outside 0..shardCount-1.
 */
export function placementStats(
  edges: readonly InteractionEdge[],
  shardOf: (vertex: string) => number,
  shardCount: number,
  loads: ReadonlyMap<string, number> = vertexLoads(edges),
): PlacementStats {
  checkShardCount(shardCount);
  const shard = (v: string) => {
    const s = shardOf(v);
    if (!Number.isInteger(s) || s < 0 || s >= shardCount) throw errors.invalidArgument(`placement puts ${v} on shard ${s}, outside 0..${shardCount - 1}`);
    return s;
  };
  let total = 0;
  let cross = 0;
  for (const e of edges) {
    checkWeight(e.weight, `edge ${e.from} → ${e.to}`);
    total += e.weight;
    if (e.from !== e.to && shard(e.from) !== shard(e.to)) cross += e.weight;
  }
  const perShardLoad = new Array<number>(shardCount).fill(0);
  for (const [v, l] of loads) {
    checkWeight(l, `load of ${v}`);
    perShardLoad[shard(v)]! += l;
  }
  return { crossShardRatio: total > 0 ? cross / total : 0, perShardLoad };
}

/**
 * Places the vertices of an interaction graph on `shardCount` shards so that few edges cross
 * shards while no shard's load exceeds the cap (label propagation with a load cap, after CLPA):
 *
 * 1. Start: pinned vertices on their shard, every other vertex (a 0x address) by the hash rule
 *    (`last byte mod shardCount`, `shardOf` of @shardlab/chain).
 * 2. Rebalance: while a shard's load exceeds the cap, its unpinned vertices (in seeded order) move
 *    to the shard, among those they fit in, they have the most edge weight to (ties: the least
 *    loaded shard, then the lowest shard id).
 * 3. Rounds: visit the unpinned vertices in a seeded order (a new permutation each round); move a
 *    vertex to the shard it has the most edge weight to among those it fits in (ties as above)
 *    when that is strictly more than to its own shard. Then exchanges: a vertex whose best shard
 *    t was full trades places with the vertex of t that loses least by moving to the first one's
 *    shard, when the two moves together lower the cross-shard weight and both shards stay within
 *    the cap (without them label propagation stalls on tightly balanced graphs: clusters split
 *    between full shards). Stop after a round without a move or exchange, or after `maxRounds`.
 *    Every move and exchange lowers the cross-shard edge weight, so the rounds end.
 *
 * "Fits" means the shard's load plus the vertex's stays ≤ the cap. Guarantee: every shard ends
 * within the cap when each unpinned vertex's load is ≤ cap − average load per shard and the
 * pinned load of each shard is ≤ the cap (a vertex then always fits in the least loaded shard);
 * otherwise an overloaded shard is relieved as far as it goes (e.g. one account sending more than
 * the cap stays over it) and never gains load. A round costs O(vertices × shardCount + edges)
 * plus O(shardCount × (vertices + edges)) per pair of shards with blocked moves (about 0.2 s for
 * the 20,000-transaction mainnet sample at 4 shards).
 * @throws ShardLabError INVALID_ARGUMENT when `shardCount` is not a positive integer, a weight or
 *   load is negative or not finite, the cap is not a positive finite number, `maxRounds` is not
 *   an integer ≥ 0, a pinned shard is outside 0..shardCount-1, or an unpinned vertex is not a 0x
 *   20-byte hex address.
 */
export function partitionGraph(edges: readonly InteractionEdge[], opts: GraphPartitionOpts): GraphPartition {
  const S = opts.shardCount;
  checkShardCount(S);
  const maxRounds = opts.maxRounds ?? DEFAULT_MAX_ROUNDS;
  if (!Number.isInteger(maxRounds) || maxRounds < 0) throw errors.invalidArgument(`maxRounds must be an integer ≥ 0, got ${maxRounds}`);
  const loadsIn = opts.loads ?? vertexLoads(edges);
  const pinnedIn = opts.pinned ?? new Map<string, number>();

  // Vertices as indices 0..n-1, in first-seen order: edges, loads, pinned.
  const ids: string[] = [];
  const index = new Map<string, number>();
  const idOf = (v: string): number => {
    let i = index.get(v);
    if (i === undefined) index.set(v, (i = ids.push(v) - 1));
    return i;
  };
  for (const e of edges) {
    checkWeight(e.weight, `edge ${e.from} → ${e.to}`);
    idOf(e.from);
    idOf(e.to);
  }
  for (const v of loadsIn.keys()) idOf(v);
  for (const v of pinnedIn.keys()) idOf(v);
  const n = ids.length;

  const load = new Float64Array(n);
  let totalLoad = 0;
  for (const [v, l] of loadsIn) {
    checkWeight(l, `load of ${v}`);
    load[index.get(v)!] = l;
    totalLoad += l;
  }
  const loadCap = opts.loadCap ?? (DEFAULT_LOAD_CAP_FACTOR * totalLoad) / S;
  if (opts.loadCap !== undefined && !(Number.isFinite(loadCap) && loadCap > 0)) throw errors.invalidArgument(`load cap must be a positive finite number, got ${loadCap}`);
  // Tolerance of cap and weight comparisons against rounding in sums of fractional weights.
  const capTol = loadCap * 1e-9;

  // Undirected adjacency with merged weights (self-loops dropped), as compressed rows.
  const merged: Map<number, number>[] = Array.from({ length: n }, () => new Map());
  for (const e of edges) {
    const a = index.get(e.from)!;
    const b = index.get(e.to)!;
    if (a === b || e.weight === 0) continue;
    merged[a]!.set(b, (merged[a]!.get(b) ?? 0) + e.weight);
    merged[b]!.set(a, (merged[b]!.get(a) ?? 0) + e.weight);
  }
  const rowStart = new Int32Array(n + 1);
  for (let v = 0; v < n; v++) rowStart[v + 1] = rowStart[v]! + merged[v]!.size;
  const nbr = new Int32Array(rowStart[n]!);
  const nbrWeight = new Float64Array(rowStart[n]!);
  for (let v = 0; v < n; v++) {
    let k = rowStart[v]!;
    for (const [u, w] of merged[v]!) {
      nbr[k] = u;
      nbrWeight[k++] = w;
    }
  }

  // Start: pinned shards, else the hash rule.
  const hash = createPlacement(S);
  const shard = new Int32Array(n);
  const pinned = new Uint8Array(n);
  for (let v = 0; v < n; v++) {
    const p = pinnedIn.get(ids[v]!);
    if (p !== undefined) {
      if (!Number.isInteger(p) || p < 0 || p >= S) throw errors.invalidArgument(`pinned vertex ${ids[v]} names shard ${p}, outside 0..${S - 1}`);
      shard[v] = p;
      pinned[v] = 1;
    } else {
      shard[v] = startShard(hash, ids[v]!);
    }
  }
  const shardLoad = new Float64Array(S);
  for (let v = 0; v < n; v++) shardLoad[shard[v]!]! += load[v]!;

  const rand = mulberry32(opts.seed);
  const movable = Array.from({ length: n }, (_, v) => v).filter((v) => pinned[v] === 0);
  const shuffled = () => {
    const order = movable.slice();
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    return order;
  };
  const toShard = new Float64Array(S);
  /** Edge weight from v to each shard, in `toShard`. */
  const weighTo = (v: number) => {
    toShard.fill(0);
    for (let k = rowStart[v]!; k < rowStart[v + 1]!; k++) toShard[shard[nbr[k]!]!]! += nbrWeight[k]!;
  };
  /** The shard other than v's that v fits in with the most edge weight to it (ties: least loaded, lowest id); -1 when none. */
  const bestOther = (v: number): number => {
    let best = -1;
    for (let t = 0; t < S; t++) {
      if (t === shard[v] || shardLoad[t]! + load[v]! > loadCap + capTol) continue;
      if (best < 0 || toShard[t]! > toShard[best]! + 1e-12 || (Math.abs(toShard[t]! - toShard[best]!) <= 1e-12 && shardLoad[t]! < shardLoad[best]!)) best = t;
    }
    return best;
  };
  let moves = 0;
  const move = (v: number, t: number) => {
    shardLoad[shard[v]!]! -= load[v]!;
    shardLoad[t]! += load[v]!;
    shard[v] = t;
    moves++;
  };

  // Rebalance shards over the cap (the hash start, or heavy pinned vertices, may put them there).
  for (let s = 0; s < S; s++) {
    if (shardLoad[s]! <= loadCap + capTol) continue;
    for (const v of shuffled()) {
      if (shardLoad[s]! <= loadCap + capTol) break;
      if (shard[v] !== s || load[v] === 0) continue;
      weighTo(v);
      const t = bestOther(v);
      if (t >= 0) move(v, t);
    }
  }

  /** Moves v to t and u back to v's shard when that lowers the cross-shard weight and both shards stay within the cap. */
  const trySwap = (v: number, u: number): boolean => {
    const c = shard[v]!;
    const t = shard[u]!;
    if (c === t || shardLoad[c]! - load[v]! + load[u]! > loadCap + capTol || shardLoad[t]! - load[u]! + load[v]! > loadCap + capTol) return false;
    weighTo(v);
    const gainV = toShard[t]! - toShard[c]!;
    move(v, t);
    weighTo(u);
    const gainU = toShard[c]! - toShard[t]!;
    if (gainV + gainU > 1e-12) {
      move(u, c);
      return true;
    }
    move(v, c);
    moves -= 2;
    return false;
  };

  let rounds = 0;
  while (rounds < maxRounds) {
    rounds++;
    let moved = 0;
    // Moves blocked by the cap, by (from, to) shard pair: [vertex, gain][].
    const blocked = new Map<number, [number, number][]>();
    for (const v of shuffled()) {
      if (rowStart[v + 1] === rowStart[v]) continue;
      weighTo(v);
      const c = shard[v]!;
      const t = bestOther(v);
      if (t >= 0 && toShard[t]! > toShard[c]! + 1e-12) {
        move(v, t);
        moved++;
        continue;
      }
      let want = c;
      for (let s = 0; s < S; s++) if (toShard[s]! > toShard[want]! + 1e-12) want = s;
      if (want !== c) {
        const key = c * S + want;
        if (!blocked.has(key)) blocked.set(key, []);
        blocked.get(key)!.push([v, toShard[want]! - toShard[c]!]);
      }
    }
    // Exchanges: a vertex kept off shard t by the cap trades places with the vertex of t that
    // loses least by moving to the first one's shard, while the pair lowers the cross-shard weight.
    const byGain = (a: [number, number], b: [number, number]) => b[1] - a[1] || a[0] - b[0];
    for (const [key, wanting] of [...blocked].sort((a, b) => a[0] - b[0])) {
      const c = Math.floor(key / S);
      const t = key % S;
      const partners: [number, number][] = [];
      for (const u of movable) {
        if (shard[u] !== t) continue;
        weighTo(u);
        partners.push([u, toShard[c]! - toShard[t]!]);
      }
      partners.sort(byGain);
      wanting.sort(byGain);
      for (let i = 0, j = 0; i < wanting.length && j < partners.length; ) {
        const [v, gainV] = wanting[i]!;
        const [u, gainU] = partners[j]!;
        if (gainV + gainU <= 1e-12) break;
        if (shard[v] !== c) i++;
        else if (shard[u] !== t) j++;
        else if (trySwap(v, u)) {
          moved += 2;
          i++;
          j++;
        } else j++;
      }
    }
    if (moved === 0) break;
  }

  const shards = new Map<string, number>();
  const perShardLoad = new Array<number>(S).fill(0);
  for (let v = 0; v < n; v++) {
    shards.set(ids[v]!, shard[v]!);
    perShardLoad[shard[v]!]! += load[v]!;
  }
  return { shards, loadCap, perShardLoad, rounds, moves };
}

function startShard(hash: Placement, vertex: string): number {
  try {
    return shardOf(hash, vertex);
  } catch {
    throw errors.invalidArgument(`vertex ${JSON.stringify(vertex)} is neither pinned nor a 0x 20-byte hex address (only addresses start at the hash placement)`);
  }
}

function checkShardCount(shardCount: number): void {
  if (!Number.isInteger(shardCount) || shardCount < 1) throw errors.invalidArgument(`shard count must be a positive integer, got ${shardCount}`);
}

function checkWeight(w: number, what: string): void {
  if (!Number.isFinite(w) || w < 0) throw errors.invalidArgument(`${what} must be a finite number ≥ 0, got ${w}`);
}
