import { isShardLabError } from '@shardlab/common';
import { buildReport, CDF_POINTS, groupReasons, nearestRank, normaliseReason, NO_REASON, REPORT_SCHEMA, reportToJson, type TxOutcome } from '../src';
import { config, cross, input, local, sampleInput, T0 } from './fixtures';

describe('nearestRank', () => {
  // The textbook example of the nearest-rank method.
  const sample = [15, 20, 35, 40, 50];

  it('takes the value at rank ceil(p/100 · n)', () => {
    expect(nearestRank(sample, 5)).toBe(15);
    expect(nearestRank(sample, 30)).toBe(20);
    expect(nearestRank(sample, 40)).toBe(20);
    expect(nearestRank(sample, 50)).toBe(35);
    expect(nearestRank(sample, 100)).toBe(50);
    expect(nearestRank(sample, 0)).toBe(15);
  });

  it('is exact for integer percentiles where (p/100)·n would round up wrongly', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    // (7 / 100) * 100 = 7.000000000000001 in floating point: ceil would give rank 8.
    expect(nearestRank(hundred, 7)).toBe(7);
    for (let p = 1; p <= 100; p++) expect(nearestRank(hundred, p)).toBe(p);
  });

  it('gives null for no values and refuses p outside 0..100', () => {
    expect(nearestRank([], 50)).toBeNull();
    expect(() => nearestRank(sample, 101)).toThrow(RangeError);
    expect(() => nearestRank(sample, -1)).toThrow(RangeError);
  });
});

describe('normaliseReason / groupReasons', () => {
  it('groups the same conflict whatever the addresses and how they are shortened', () => {
    const variants = [
      'conflict: 0xabc… is locked by 0xdef…',
      'conflict: 0x1234abcd… is locked by 0x99ff…',
      'conflict: 0xabcdef0123456789abcdef0123456789abcdef01 is locked by 0x00000000000000000000000000000000000000000000000000000000000000aa',
      'conflict: 0xAB...CD is locked by 0x12…9f',
      'conflict:  0x5 is   locked by 0x6…',
    ];
    for (const v of variants) expect(normaliseReason(v)).toBe('conflict: 0x… is locked by 0x…');
    const groups = groupReasons([...variants, 'vote timeout after 5 blocks', 'vote timeout after 12 blocks']);
    expect(groups).toEqual([
      { code: '', reason: 'conflict: 0x… is locked by 0x…', count: 5, example: variants[0] },
      { code: '', reason: 'vote timeout after N blocks', count: 2, example: 'vote timeout after 5 blocks' },
    ]);
  });

  it('groups typed reasons by code whatever their text, and rejections by code and text', () => {
    const groups = groupReasons([
      { reason: 'read set changed: 0xaa balance', code: 'shard-voted-no/read-set-changed' },
      { reason: 'read set changed: 0xbb slot 0x01', code: 'shard-voted-no/read-set-changed' },
      { reason: 'vote timeout: shard 2 did not vote within 20 orchestrator blocks', code: 'vote-timeout' },
      { reason: 'FAILED_PRECONDITION: nonce too high', code: 'failed-precondition', byText: true },
      { reason: 'FAILED_PRECONDITION: insufficient funds', code: 'failed-precondition', byText: true },
      'untyped text',
    ]);
    expect(groups.map((g) => [g.code, g.count, g.example])).toEqual([
      ['shard-voted-no/read-set-changed', 2, 'read set changed: 0xaa balance'],
      ['', 1, 'untyped text'],
      ['failed-precondition', 1, 'FAILED_PRECONDITION: insufficient funds'],
      ['failed-precondition', 1, 'FAILED_PRECONDITION: nonce too high'],
      ['vote-timeout', 1, 'vote timeout: shard 2 did not vote within 20 orchestrator blocks'],
    ]);
  });

  it('replaces numbers (with units) but not digits ending a word, and bare hashes', () => {
    expect(normaliseReason('nonce too low: expected 7, got 3')).toBe('nonce too low: expected N, got N');
    expect(normaliseReason('timeout after 3000ms at 1.5 s')).toBe('timeout after Nms at N s');
    expect(normaliseReason('erc20 transfer failed in v2')).toBe('erc20 transfer failed in v2');
    expect(normaliseReason(`unknown tx ${'ab'.repeat(32)}`)).toBe('unknown tx <hex>');
  });

  it('names missing and empty reasons, sorts by count then reason', () => {
    expect(normaliseReason(undefined)).toBe(NO_REASON);
    expect(normaliseReason('  ')).toBe(NO_REASON);
    expect(groupReasons(['b', 'a', undefined, 'b']).map((g) => [g.reason, g.count])).toEqual([
      ['b', 2],
      [NO_REASON, 1],
      ['a', 1],
    ]);
  });
});

describe('buildReport', () => {
  // 3 local (2 committed, 1 reverted), 5 cross-shard (2 committed, 2 aborted, 1 rejected),
  // 1 local unknown.
  const outcomes: TxOutcome[] = [
    local({ submittedAtMs: T0 + 100, finalAtMs: T0 + 400, homeShard: 0, shards: [0] }),
    local({ submittedAtMs: T0 + 200, finalAtMs: T0 + 700, homeShard: 1, shards: [1] }),
    local({ submittedAtMs: T0 + 300, finalAtMs: T0 + 600, homeShard: 2, shards: [2], outcome: 'reverted', reason: 'execution reverted' }),
    cross({ submittedAtMs: T0 + 100, finalAtMs: T0 + 1100, homeShard: 0, shards: [0, 1] }),
    cross({ submittedAtMs: T0 + 1200, finalAtMs: T0 + 3200, homeShard: 1, shards: [1, 3] }),
    cross({ submittedAtMs: T0 + 1300, finalAtMs: T0 + 2300, homeShard: 2, shards: [2, 3], outcome: 'aborted', reason: 'conflict: 0xabc… locked by 0xdef…' }),
    cross({ submittedAtMs: T0 + 1400, finalAtMs: T0 + 2500, homeShard: 3, shards: [3, 0], outcome: 'aborted', reason: 'conflict: 0x123… locked by 0x456…' }),
    cross({ submittedAtMs: T0 + 1500, homeShard: 0, shards: [0, 2], outcome: 'rejected', reason: 'insufficient funds' }),
    local({ submittedAtMs: T0 + 1600, homeShard: 3, shards: [3], outcome: 'unknown' }),
  ];
  const report = buildReport(input(outcomes, { cpuSeconds: 8 }));

  it('counts by class and status', () => {
    expect(report.schema).toBe(REPORT_SCHEMA);
    expect(report.counts).toEqual({
      submitted: 9,
      committed: 4,
      reverted: 1,
      aborted: 2,
      rejected: 1,
      unknown: 1,
      local: { submitted: 4, committed: 2, reverted: 1, aborted: 0, rejected: 0, unknown: 1 },
      crossShard: { submitted: 5, committed: 2, reverted: 0, aborted: 2, rejected: 1, unknown: 0 },
    });
  });

  it('counts how cross-shard transactions ended (shard-led receipts or block-2PC) only when outcomes say', () => {
    expect(report.crossShardPaths).toBeUndefined();
    const withPaths = outcomes.map((o, i) => (o.class === 'cross-shard' && o.outcome !== 'rejected' ? { ...o, path: i % 2 === 0 ? ('shard-led' as const) : ('block-2pc' as const) } : o));
    // Cross-shard outcomes at indexes 3, 4, 5, 6 (7 was rejected): two each way.
    expect(buildReport(input(withPaths)).crossShardPaths).toEqual({ shardLed: 2, blockTwoPc: 2, clientLed: 0 });
    const clientLed = outcomes.map((o) => (o.class === 'cross-shard' && o.outcome !== 'rejected' ? { ...o, path: 'client-led' as const } : o));
    expect(buildReport(input(clientLed)).crossShardPaths).toEqual({ shardLed: 0, blockTwoPc: 0, clientLed: 4 });
  });

  it('counts aborts by a lock timeout with their blocking window (abort height − prepare height), and none when there are none', () => {
    expect(report.lockTimeouts).toEqual({ count: 0, blockingWindowBlocks: { n: 0, p50: null, max: null } });
    const timedOut = (preparedAtHeight: number, abortedAtHeight: number) =>
      cross({ outcome: 'aborted', finalAtMs: T0 + 900, path: 'client-led', reasonCode: 'lock-timeout', reason: 'lock timeout', lockTimeout: { preparedAtHeight, abortedAtHeight } });
    const r = buildReport(
      input([
        timedOut(10, 30),
        timedOut(4, 14),
        timedOut(100, 121),
        // Grouped by its code, but without heights (e.g. from the gateway): counted, not measured.
        cross({ outcome: 'aborted', finalAtMs: T0 + 900, reasonCode: 'lock-timeout', reason: 'lock timeout' }),
        // Aborted by the coordinator, and a committed one: neither is a lock timeout.
        cross({ outcome: 'aborted', finalAtMs: T0 + 900, path: 'client-led', reasonCode: 'coordinator-aborted', reason: 'aborted by the coordinator: x' }),
        cross({ finalAtMs: T0 + 900, path: 'client-led' }),
      ]),
    );
    // Windows 20, 10, 21 → sorted 10, 20, 21: p50 (rank 2) 20, max 21.
    expect(r.lockTimeouts).toEqual({ count: 4, blockingWindowBlocks: { n: 3, p50: 20, max: 21 } });
    expect(r.abortReasons.aborted.map((g) => [g.code, g.count])).toEqual([
      ['lock-timeout', 4],
      ['coordinator-aborted', 1],
    ]);
    expect(r.methods.lockTimeouts).toContain('blocking window');
  });

  it('is not accounted for when one transaction has no terminal status', () => {
    expect(report.accountedFor).toBe(false);
    const good = buildReport(input(outcomes.filter((o) => o.outcome !== 'unknown')));
    expect(good.accountedFor).toBe(true);
    expect(good.counts.unknown).toBe(0);
  });

  it('computes throughput over first submission → last final time', () => {
    // Window T0+100 .. T0+3200 = 3.1 s; 4 committed. Submission window T0+100 .. T0+1000 (submitEndedAtMs),
    // widened to the last submission (T0+1600).
    expect(report.throughput.windowStartMs).toBe(T0 + 100);
    expect(report.throughput.windowEndMs).toBe(T0 + 3200);
    expect(report.throughput.durationSeconds).toBeCloseTo(3.1);
    expect(report.throughput.committedPerSecond).toBeCloseTo(4 / 3.1);
    expect(report.throughput.submitDurationSeconds).toBeCloseTo(1.5);
    expect(report.throughput.submittedPerSecond).toBeCloseTo(9 / 1.5);
  });

  it('computes latency of committed transactions only, per class, in ms and block intervals', () => {
    expect(report.latency.local.n).toBe(2);
    expect(report.latency.local.ms).toEqual({ p50: 300, p95: 500, p99: 500, mean: 400, min: 300, max: 500 });
    expect(report.latency.local.blockIntervals).toEqual({ p50: 1.2, p95: 2, p99: 2, mean: 1.6, min: 1.2, max: 2 });
    expect(report.latency.crossShard.ms).toEqual({ p50: 1000, p95: 2000, p99: 2000, mean: 1500, min: 1000, max: 2000 });
    expect(report.latency.all.n).toBe(4);
    expect(report.latency.all.ms?.p50).toBe(500); // sorted 300, 500, 1000, 2000: rank ceil(2) = 2
  });

  it('uses nearest-rank percentiles on a known sample', () => {
    // 20 local latencies 10, 20, …, 200 ms.
    const os = Array.from({ length: 20 }, (_, i) => local({ submittedAtMs: T0, finalAtMs: T0 + 10 * (i + 1) }));
    const r = buildReport(input(os.reverse(), { config: config({ blockIntervalMs: 50 }) }));
    expect(r.latency.local.ms).toEqual({ p50: 100, p95: 190, p99: 200, mean: 105, min: 10, max: 200 });
    expect(r.latency.local.blockIntervals).toEqual({ p50: 2, p95: 3.8, p99: 4, mean: 2.1, min: 0.2, max: 4 });
    expect(r.latency.crossShard).toEqual({ n: 0, ms: null, blockIntervals: null });
    expect(r.latencyCdf.local).toHaveLength(CDF_POINTS);
    expect(r.latencyCdf.local[4]).toEqual({ q: 0.05, ms: 10 });
    expect(r.latencyCdf.local[49]).toEqual({ q: 0.5, ms: 100 });
    expect(r.latencyCdf.local[CDF_POINTS - 1]).toEqual({ q: 1, ms: 200 });
    expect(r.latencyCdf.crossShard).toEqual([]);
  });

  it('gives the cross-shard ratio of submitted transactions', () => {
    expect(report.crossShardRatio).toBeCloseTo(5 / 9);
    expect(buildReport(input([])).crossShardRatio).toBeNull();
  });

  it('counts per shard: home, involved and committed-involved, by class', () => {
    expect(report.perShard.map((s) => s.shard)).toEqual([0, 1, 2, 3]);
    const s0 = report.perShard[0]!;
    expect(s0.home).toEqual({ local: 1, crossShard: 2, total: 3 });
    // involved: local #1; cross [0,1], [3,0] and the rejected [0,2]
    expect(s0.involved).toEqual({ local: 1, crossShard: 3, total: 4 });
    expect(s0.committedInvolved).toEqual({ local: 1, crossShard: 1, total: 2 });
    const s3 = report.perShard[3]!;
    expect(s3.home).toEqual({ local: 1, crossShard: 1, total: 2 });
    expect(s3.involved).toEqual({ local: 1, crossShard: 3, total: 4 });
    expect(s3.committedInvolved).toEqual({ local: 0, crossShard: 1, total: 1 });
    const homes = report.perShard.reduce((n, s) => n + s.home.total, 0);
    expect(homes).toBe(report.counts.submitted);
  });

  it('counts the home shard as involved even when the shard list omits it, and warns about shards out of range', () => {
    const r = buildReport(input([cross({ homeShard: 2, shards: [3] }), local({ homeShard: 7, shards: [7] })]));
    expect(r.perShard[2]!.involved.crossShard).toBe(1);
    expect(r.perShard[3]!.involved.crossShard).toBe(1);
    expect(r.perShard.reduce((n, s) => n + s.home.total, 0)).toBe(1);
    expect(r.warnings.join('\n')).toMatch(/outside 0\.\.3.*7/);
  });

  it('groups abort reasons after normalisation, separately for aborted and rejected', () => {
    expect(report.abortReasons.aborted).toEqual([
      { code: '', reason: 'conflict: 0x… locked by 0x…', count: 2, example: 'conflict: 0xabc… locked by 0xdef…' },
    ]);
    expect(report.abortReasons.rejected).toEqual([{ code: '', reason: 'insufficient funds', count: 1, example: 'insufficient funds' }]);
  });

  it('builds per-second time-series buckets from run start that sum to the counts', () => {
    const ts = report.timeSeries;
    expect(ts.startMs).toBe(T0);
    expect(ts.buckets.map((b) => b.t)).toEqual([0, 1, 2, 3, 4]); // runEndedAtMs = T0 + 5000
    const sum = (f: 'submitted' | 'committed' | 'aborted') => ts.buckets.reduce((n, b) => n + b[f], 0);
    expect(sum('submitted')).toBe(report.counts.submitted);
    expect(sum('committed')).toBe(report.counts.committed);
    expect(sum('aborted')).toBe(report.counts.aborted);
    expect(ts.buckets[0]).toEqual({ t: 0, submitted: 4, committed: 2, aborted: 0 });
    expect(ts.buckets[3]).toEqual({ t: 3, submitted: 0, committed: 1, aborted: 0 });

    const big = buildReport(sampleInput({ txs: 500 }));
    const bsum = (f: 'submitted' | 'committed' | 'aborted') => big.timeSeries.buckets.reduce((n, b) => n + b[f], 0);
    expect([bsum('submitted'), bsum('committed'), bsum('aborted')]).toEqual([
      big.counts.submitted,
      big.counts.committed,
      big.counts.aborted,
    ]);
  });

  it('leaves committed transactions without a final time out of latency and the series, with a warning', () => {
    const r = buildReport(input([local({ finalAtMs: T0 + 10 }), local({})]));
    expect(r.latency.local.n).toBe(1);
    expect(r.timeSeries.unplaced).toEqual({ committed: 1, aborted: 0 });
    expect(r.warnings.some((w) => w.includes('without finalAtMs'))).toBe(true);
  });

  it('gives CPU per committed transaction and average cores when CPU time was measured', () => {
    expect(report.cpu).toEqual({ cpuSeconds: 8, cpuSecondsPerCommittedTx: 2, averageCores: 8 / 5 });
    expect(buildReport(input(outcomes)).cpu).toBeNull();
  });

  it('copies the config and audit as given', () => {
    expect(report.config).toEqual(config());
    expect(report.audit).toEqual(input([]).audit);
  });

  it('refuses malformed input with INVALID_ARGUMENT', () => {
    const bad = [
      input([], { config: config({ shards: 0 }) }),
      input([], { config: config({ blockIntervalMs: 0 }) }),
      input([], { runEndedAtMs: T0 - 1 }),
      input([], { runStartedAtMs: 0, runEndedAtMs: T0 }),
      input([local({ submittedAtMs: Number.NaN })]),
      input([local({ outcome: 'lost' as never })]),
      input([], { cpuSeconds: -1 }),
    ];
    for (const b of bad) {
      let err: unknown;
      try {
        buildReport(b);
      } catch (e) {
        err = e;
      }
      expect(isShardLabError(err, 'INVALID_ARGUMENT')).toBe(true);
    }
  });

  it('is plain JSON: round-trips through report.json text with the required keys', () => {
    const r = buildReport(sampleInput({ txs: 300 }));
    const text = reportToJson(r);
    expect(text).toMatch(/^\{\n {2}"schema": "shardlab\.report\/v1",\n/);
    const parsed = JSON.parse(text) as Record<string, unknown>;
    expect(parsed).toEqual(r);
    for (const key of [
      'schema',
      'config',
      'counts',
      'accountedFor',
      'throughput',
      'latency',
      'crossShardRatio',
      'perShard',
      'abortReasons',
      'timeSeries',
      'latencyCdf',
      'cpu',
      'audit',
    ])
      expect(parsed).toHaveProperty(key);
    expect(parsed).toHaveProperty('throughput.committedPerSecond');
    expect(parsed).toHaveProperty('latency.crossShard.ms.p99');
    expect(parsed).toHaveProperty('latency.local.blockIntervals.p50');
    expect(parsed).toHaveProperty('counts.crossShard.aborted');
    // An empty run has nulls, never NaN (which JSON would turn into null silently).
    const empty = buildReport(input([]));
    expect(JSON.parse(reportToJson(empty))).toEqual(empty);
  });
});
