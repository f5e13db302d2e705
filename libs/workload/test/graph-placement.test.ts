import fc from 'fast-check';
import { createPlacement, shardOf } from '@shardlab/chain';
import { ErrorCode } from '@shardlab/common';
import { thrown } from '@shardlab/testing';
import { mulberry32, partitionGraph, placementStats, vertexLoads, type InteractionEdge } from '../src';

/** A 20-byte address whose bytes come from `rand` (so its hash shard is its last byte mod S). */
function address(rand: () => number): string {
  let hex = '0x';
  for (let i = 0; i < 20; i++) hex += Math.floor(rand() * 256).toString(16).padStart(2, '0');
  return hex;
}

const hashShard = (S: number) => {
  const p = createPlacement(S);
  return (v: string) => shardOf(p, v);
};

/**
 * `k` clusters of `size` accounts: each account sends `intra` transactions to random members of
 * its own cluster and, with probability `leak`, one to a random account of another cluster.
 */
function clusteredGraph(seed: number, k: number, size: number, intra: number, leak: number): { edges: InteractionEdge[]; clusters: string[][] } {
  const rand = mulberry32(seed);
  const clusters = Array.from({ length: k }, () => Array.from({ length: size }, () => address(rand)));
  const edges: InteractionEdge[] = [];
  for (let c = 0; c < k; c++) {
    for (const from of clusters[c]!) {
      for (let i = 0; i < intra; i++) {
        let to = from;
        while (to === from) to = clusters[c]![Math.floor(rand() * size)]!;
        edges.push({ from, to, weight: 1 });
      }
      if (rand() < leak) {
        const other = (c + 1 + Math.floor(rand() * (k - 1))) % k;
        edges.push({ from, to: clusters[other]![Math.floor(rand() * size)]!, weight: 1 });
      }
    }
  }
  return { edges, clusters };
}

/** Random graphs over `n` addresses: edges (endpoint indices, weights), a shard count, a seed. */
const graphArb = fc
  .record({ n: fc.integer({ min: 2, max: 60 }), S: fc.integer({ min: 1, max: 6 }), seed: fc.integer(), addrSeed: fc.integer() })
  .chain(({ n, S, seed, addrSeed }) =>
    fc.record({
      n: fc.constant(n),
      S: fc.constant(S),
      seed: fc.constant(seed),
      addrSeed: fc.constant(addrSeed),
      raw: fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1), fc.integer({ min: 1, max: 5 })), { minLength: 1, maxLength: 200 }),
    }),
  )
  .map(({ n, S, seed, addrSeed, raw }) => {
    const rand = mulberry32(addrSeed);
    const ids = Array.from({ length: n }, () => address(rand));
    const edges: InteractionEdge[] = raw.map(([a, b, w]) => ({ from: ids[a]!, to: ids[b]!, weight: w }));
    return { ids, S, seed, edges };
  });

describe('partitionGraph', () => {
  it('is deterministic for a seed and assigns every vertex a shard in range', () => {
    fc.assert(
      fc.property(graphArb, ({ ids, S, seed, edges }) => {
        const a = partitionGraph(edges, { shardCount: S, seed });
        const b = partitionGraph(edges, { shardCount: S, seed });
        expect([...b.shards]).toEqual([...a.shards]);
        const vertices = new Set(edges.flatMap((e) => [e.from, e.to]));
        expect(new Set(a.shards.keys())).toEqual(vertices);
        for (const v of vertices) {
          const s = a.shards.get(v)!;
          expect(Number.isInteger(s) && s >= 0 && s < S).toBe(true);
        }
        expect(ids.length).toBeGreaterThan(0);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps every shard within the default cap when each vertex is light (load ≤ cap − average)', () => {
    // n ≥ 10·S vertices of load 1: average n/S, cap 1.1·n/S, so cap − average ≥ 1 = every vertex's load.
    const arb = fc
      .record({ S: fc.integer({ min: 1, max: 5 }), extra: fc.integer({ min: 0, max: 30 }), seed: fc.integer(), addrSeed: fc.integer() })
      .chain(({ S, extra, seed, addrSeed }) => {
        const n = 10 * S + extra;
        return fc.record({
          S: fc.constant(S),
          n: fc.constant(n),
          seed: fc.constant(seed),
          addrSeed: fc.constant(addrSeed),
          raw: fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1), fc.integer({ min: 1, max: 9 })), { maxLength: 300 }),
        });
      });
    fc.assert(
      fc.property(arb, ({ S, n, seed, addrSeed, raw }) => {
        const rand = mulberry32(addrSeed);
        const ids = Array.from({ length: n }, () => address(rand));
        const edges = raw.map(([a, b, w]) => ({ from: ids[a]!, to: ids[b]!, weight: w }));
        const loads = new Map(ids.map((v) => [v, 1]));
        const p = partitionGraph(edges, { shardCount: S, seed, loads });
        expect(p.loadCap).toBeCloseTo((1.1 * n) / S, 9);
        const stats = placementStats(edges, (v) => p.shards.get(v)!, S, loads);
        expect(stats.perShardLoad).toEqual(p.perShardLoad);
        for (const l of stats.perShardLoad) expect(l).toBeLessThanOrEqual(p.loadCap + 1e-9);
      }),
      { numRuns: 200 },
    );
  });

  it('never adds load to a shard beyond the cap, whatever the vertex loads (a shard over it at the start only sheds load)', () => {
    fc.assert(
      fc.property(graphArb, fc.double({ min: 0.3, max: 3, noNaN: true }), ({ S, seed, edges }, capFactor) => {
        const loads = vertexLoads(edges);
        const total = [...loads.values()].reduce((a, b) => a + b, 0);
        const loadCap = (capFactor * total) / S;
        const start = placementStats(edges, hashShard(S), S, loads).perShardLoad;
        const p = partitionGraph(edges, { shardCount: S, seed, loadCap });
        p.perShardLoad.forEach((l, s) => expect(l).toBeLessThanOrEqual(Math.max(loadCap, start[s]!) + 1e-9));
      }),
      { numRuns: 200 },
    );
  });

  it('never moves pinned vertices, and pins symbolic (non-address) vertices', () => {
    fc.assert(
      fc.property(graphArb, fc.array(fc.nat(), { maxLength: 10 }), ({ ids, S, seed, edges }, picks) => {
        const pinned = new Map<string, number>(picks.map((k) => [ids[k % ids.length]!, k % S]));
        pinned.set('contract:router', S - 1);
        const withContract = [...edges, { from: ids[0]!, to: 'contract:router', weight: 3 }];
        const p = partitionGraph(withContract, { shardCount: S, seed, pinned });
        for (const [v, s] of pinned) expect(p.shards.get(v)).toBe(s);
      }),
      { numRuns: 200 },
    );
  });

  it('on k clearly separated clusters reaches a much lower cross-shard ratio than the hash placement', () => {
    // k a multiple of S: a placement keeping every cluster whole fits within the cap.
    for (const [S, k] of [
      [2, 4],
      [4, 4],
      [4, 8],
      [8, 8],
    ] as const) {
      // 2% of accounts send one transaction out of their cluster: ≈ 0.4% of the edge weight.
      const { edges, clusters } = clusteredGraph(11 * S + k, k, 60, 5, 0.02);
      const planted = placementStats(edges, (v) => clusters.findIndex((c) => c.includes(v)) % S, S).crossShardRatio;
      const hash = placementStats(edges, hashShard(S), S).crossShardRatio;
      const p = partitionGraph(edges, { shardCount: S, seed: 5 });
      const graph = placementStats(edges, (v) => p.shards.get(v)!, S).crossShardRatio;
      // Hash placement ignores the clusters: ≈ 1 − 1/S of the edges cross.
      expect(hash).toBeGreaterThan(0.4);
      expect(graph).toBeLessThan(hash);
      // Clusters kept whole cut only the leaks (planted < 0.01), while a placement blind to them
      // cuts ≈ 1 − 1/S. Label propagation from the hash start may still leave a cluster split
      // between full shards (a local optimum; halving one of k clusters cuts ≈ 1/(2k) of the
      // weight), so the bound is not near-planted but a quarter of hash's ratio (0.12 at S = 2,
      // 0.19 at S = 4, 0.22 at S = 8): about one split cluster at most.
      expect(planted).toBeLessThan(0.01);
      expect(graph).toBeLessThanOrEqual(hash / 4);
      for (const l of p.perShardLoad) expect(l).toBeLessThanOrEqual(p.loadCap + 1e-9);
    }
  });

  it('rejects bad input with INVALID_ARGUMENT', () => {
    const a = '0x' + '11'.repeat(20);
    const b = '0x' + '22'.repeat(20);
    const edges = [{ from: a, to: b, weight: 1 }];
    const cases: Array<[() => unknown, RegExp]> = [
      [() => partitionGraph(edges, { shardCount: 0, seed: 1 }), /shard count must be a positive integer/],
      [() => partitionGraph([{ from: a, to: b, weight: -1 }], { shardCount: 2, seed: 1 }), /edge .* must be a finite number ≥ 0/],
      [() => partitionGraph(edges, { shardCount: 2, seed: 1, loads: new Map([[a, Number.NaN]]) }), /load of .* must be a finite number/],
      [() => partitionGraph(edges, { shardCount: 2, seed: 1, loadCap: 0 }), /load cap must be a positive finite number/],
      [() => partitionGraph(edges, { shardCount: 2, seed: 1, maxRounds: 1.5 }), /maxRounds must be an integer/],
      [() => partitionGraph(edges, { shardCount: 2, seed: 1, pinned: new Map([[a, 2]]) }), /pinned vertex .* names shard 2, outside 0..1/],
      [() => partitionGraph([{ from: a, to: 'token', weight: 1 }], { shardCount: 2, seed: 1 }), /"token" is neither pinned nor a 0x 20-byte hex address/],
      [() => placementStats(edges, () => 3, 2), /puts .* on shard 3, outside 0..1/],
    ];
    for (const [fn, message] of cases) {
      const err = thrown(fn);
      expect(err.code).toBe(ErrorCode.InvalidArgument);
      expect(err.message).toMatch(message);
    }
  });
});

describe('placementStats', () => {
  it('weighs cross-shard edges and sums vertex loads per shard', () => {
    const [a, b, c] = ['0x' + '00'.repeat(20), '0x' + '00'.repeat(19) + '01', '0x' + '00'.repeat(19) + '03'];
    // a on shard 0, b and c on shard 1 (hash at 2 shards).
    const edges = [
      { from: a, to: b, weight: 3 },
      { from: b, to: c, weight: 1 },
      { from: c, to: c, weight: 2 },
    ];
    const s = placementStats(edges, hashShard(2), 2);
    expect(s.crossShardRatio).toBeCloseTo(3 / 6, 12);
    expect(s.perShardLoad).toEqual([3, 3]);
    expect(vertexLoads(edges)).toEqual(new Map([[a, 3], [b, 1], [c, 2]]));
    expect(placementStats([], hashShard(2), 2)).toEqual({ crossShardRatio: 0, perShardLoad: [0, 0] });
  });
});
