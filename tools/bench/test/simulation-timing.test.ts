import { ErrorCode, ShardLabError } from '@shardlab/common';
import type { SimulateResponse } from '@shardlab/proto';
import { timeSimulations } from '../src/simulation-timing';

const ok: SimulateResponse = { success: true, error: '', rwSet: undefined };
const reverted = (hash: string): SimulateResponse => ({ success: false, error: `execution reverted: UniswapV2: K (tx ${hash})`, rwSet: undefined });
const deadline = () =>
  new ShardLabError(ErrorCode.Unavailable, 'simulator (127.0.0.1:50061) unavailable: SimulatorService.Simulate: deadline of 30000 ms exceeded', { grpcCode: 4 });

/** A clock that advances by the given step each time it is read. */
function steppingClock(steps: number[]): () => number {
  let t = 0;
  let i = 0;
  return () => (t += steps[i++ % steps.length]!);
}

describe('timeSimulations (the Uniswap bench\'s Simulate timing)', () => {
  it('counts failed calls with their messages and goes on, timing only the answered calls', async () => {
    const calls: number[] = [];
    const answers: Record<number, () => Promise<SimulateResponse>> = {
      1: async () => ok,
      2: async () => Promise.reject(deadline()),
      3: async () => reverted('0x' + 'ab'.repeat(32)),
      4: async () => Promise.reject(deadline()),
      5: async () => reverted('0x' + 'cd'.repeat(32)),
      6: async () => ok,
    };
    // Each call reads the clock twice when answered (start, end): +1 before, +10 for the call.
    const t = await timeSimulations([1, 2, 3, 4, 5, 6], (i) => (calls.push(i), answers[i]!()), { now: steppingClock([1, 10]) });
    expect(calls).toEqual([1, 2, 3, 4, 5, 6]);
    expect(t).toMatchObject({ count: 6, answered: 4, succeeded: 2, failed: 2 });
    expect([...t.failures]).toEqual([['simulator (127.0.0.1:50061) unavailable: SimulatorService.Simulate: deadline of 30000 ms exceeded', 2]]);
    // Unsuccessful answers are grouped by their normalised reason (hashes do not split them).
    expect([...t.unsuccessful]).toEqual([['execution reverted: UniswapV2: K (tx 0x…)', 2]]);
    expect(t.meanMs).toBeGreaterThan(0);
    expect(Number.isFinite(t.p50Ms) && Number.isFinite(t.p99Ms)).toBe(true);
  });

  it('reports every call failed (times NaN) rather than throwing when nothing answers', async () => {
    const t = await timeSimulations(['a', 'b'], () => Promise.reject(new Error('simulator unavailable: no live simulator is registered with the registry')));
    expect(t).toMatchObject({ count: 2, answered: 0, succeeded: 0, failed: 2 });
    expect(t.failures.get('simulator unavailable: no live simulator is registered with the registry')).toBe(2);
    expect(Number.isNaN(t.meanMs)).toBe(true);
    expect(Number.isNaN(t.p50Ms)).toBe(true);
  });

  it('runs the untimed step after every call, answered or not, counting its failures without stopping', async () => {
    const order: string[] = [];
    let t = 0;
    const timing = await timeSimulations(
      [1, 2, 3],
      async (i) => {
        order.push(`simulate ${i}`);
        t += 5;
        if (i === 2) throw deadline();
        return ok;
      },
      {
        now: () => t,
        after: async (i) => {
          order.push(`after ${i}`);
          t += 1000; // not timed
          if (i === 3) throw new Error('shard 2 unavailable: not reachable');
        },
      },
    );
    expect(order).toEqual(['simulate 1', 'after 1', 'simulate 2', 'after 2', 'simulate 3', 'after 3']);
    expect(timing).toMatchObject({ count: 3, answered: 2, succeeded: 2, failed: 1, meanMs: 5, p99Ms: 5 });
    expect([...timing.afterFailures]).toEqual([['shard 2 unavailable: not reachable', 1]]);
  });

  it('times the calls with the clock given', async () => {
    const t = await timeSimulations([1, 2, 3], async () => ok, { now: steppingClock([100, 7]) });
    expect(t).toMatchObject({ count: 3, answered: 3, succeeded: 3, failed: 0, meanMs: 7, p50Ms: 7, p99Ms: 7 });
    expect(t.failures.size).toBe(0);
    expect(t.unsuccessful.size).toBe(0);
    expect(t.afterFailures.size).toBe(0);
  });
});
