import { isCrossShard, latencyOf, summariseRun, type ExperimentOutcome, type ExperimentTx } from '../src';

const tx = (hash: string, shards: number[]): ExperimentTx => ({ hash, from: '0xa', raw: new Uint8Array(), kind: 'transfer', shards });

let n = 0;
const outcome = (o: Partial<ExperimentOutcome> & Pick<ExperimentOutcome, 'outcome' | 'submittedAtMs'>, shards = [0]): ExperimentOutcome => ({
  tx: tx(`0x${(n++).toString(16)}`, shards),
  homeShard: shards[0]!,
  ...o,
});

describe('latencyOf', () => {
  it('gives nearest-rank percentiles of the sample', () => {
    const l = latencyOf([50, 10, 40, 30, 20, 60, 70, 80, 90, 100]);
    expect(l).toEqual({ p50: 50, p95: 100, p99: 100, max: 100, count: 10 });
  });

  it('gives NaN figures for an empty sample', () => {
    const l = latencyOf([]);
    expect(l.count).toBe(0);
    expect([l.p50, l.p95, l.p99, l.max].every(Number.isNaN)).toBe(true);
  });
});

describe('isCrossShard', () => {
  it('takes the home shard\'s answer, else the shards the workload expected', () => {
    expect(isCrossShard(outcome({ outcome: 'committed', submittedAtMs: 0, crossShard: false }, [0, 1]))).toBe(false);
    expect(isCrossShard(outcome({ outcome: 'committed', submittedAtMs: 0, crossShard: true }, [0]))).toBe(true);
    expect(isCrossShard(outcome({ outcome: 'rejected', submittedAtMs: 0 }, [0, 1]))).toBe(true);
    expect(isCrossShard(outcome({ outcome: 'rejected', submittedAtMs: 0 }, [1, 1]))).toBe(false);
  });
});

describe('summariseRun', () => {
  it('counts outcomes, splits latency by class and measures throughput from first submission to last outcome', () => {
    const s = summariseRun({
      outcomes: [
        outcome({ outcome: 'committed', crossShard: false, submittedAtMs: 1_000, finalAtMs: 1_100 }),
        outcome({ outcome: 'committed', crossShard: false, submittedAtMs: 1_000, finalAtMs: 1_300 }),
        outcome({ outcome: 'committed', crossShard: true, submittedAtMs: 1_200, finalAtMs: 2_000 }),
        outcome({ outcome: 'aborted', crossShard: true, submittedAtMs: 1_200, finalAtMs: 1_900, reason: 'conflict' }),
        outcome({ outcome: 'aborted', crossShard: true, submittedAtMs: 1_200, finalAtMs: 1_900, reason: 'conflict' }),
        outcome({ outcome: 'reverted', crossShard: false, submittedAtMs: 1_200, finalAtMs: 1_400, reason: 'revert' }),
        outcome({ outcome: 'rejected', submittedAtMs: 1_500, reason: 'INVALID_ARGUMENT: bad' }),
        outcome({ outcome: 'unknown', crossShard: false, submittedAtMs: 1_500 }),
      ],
    });
    expect(s).toMatchObject({ submitted: 8, committed: 3, reverted: 1, aborted: 2, rejected: 1, unknown: 1, committedLocal: 2, committedCross: 1 });
    // 3 committed over 1,000 ms (first submission at 1,000, last outcome at 2,000).
    expect(s.throughputTps).toBe(3);
    expect(s.latencyMs.local).toEqual({ p50: 100, p95: 300, p99: 300, max: 300, count: 2 });
    expect(s.latencyMs.crossShard).toEqual({ p50: 800, p95: 800, p99: 800, max: 800, count: 1 });
    expect(s.reasons).toEqual(new Map([['conflict', 2], ['revert', 1], ['INVALID_ARGUMENT: bad', 1]]));
  });

  it('gives zero throughput when nothing committed', () => {
    const s = summariseRun({ outcomes: [outcome({ outcome: 'rejected', submittedAtMs: 5, reason: 'no' })] });
    expect(s.committed).toBe(0);
    expect(s.throughputTps).toBe(0);
    expect(s.latencyMs.local.count).toBe(0);
  });
});
