import { ErrorCode, errors } from '@shardlab/common';
import { rejection } from '@shardlab/testing';
import { silentLogger } from '@shardlab/telemetry';
import { backoffDelayMs, retryWhileUnavailable, sleep } from '../src';

describe('backoff helpers', () => {
  it('doubles the delay from initialMs up to maxMs, within ±20 % jitter', () => {
    for (let i = 0; i < 20; i++) {
      expect(backoffDelayMs(0)).toBeGreaterThanOrEqual(80);
      expect(backoffDelayMs(0)).toBeLessThanOrEqual(120);
      expect(backoffDelayMs(3, { initialMs: 10, maxMs: 1000 })).toBeGreaterThanOrEqual(64);
      expect(backoffDelayMs(3, { initialMs: 10, maxMs: 1000 })).toBeLessThanOrEqual(96);
      expect(backoffDelayMs(100, { initialMs: 10, maxMs: 1000 })).toBeLessThanOrEqual(1200);
      expect(backoffDelayMs(100, { initialMs: 10, maxMs: 1000 })).toBeGreaterThanOrEqual(800);
    }
  });

  it('sleep resolves at once when the signal aborts', async () => {
    const ctl = new AbortController();
    const started = Date.now();
    const slept = sleep(60_000, ctl.signal);
    ctl.abort();
    await slept;
    expect(Date.now() - started).toBeLessThan(1000);
    await sleep(60_000, ctl.signal); // already aborted
  });

  it('retryWhileUnavailable retries UNAVAILABLE failures and throws any other error at once', async () => {
    let calls = 0;
    const value = await retryWhileUnavailable(
      async () => {
        calls++;
        if (calls < 3) throw errors.unavailable('registry 127.0.0.1:1 unavailable: not reachable');
        return 'config';
      },
      silentLogger(),
      'the registry',
    );
    expect([value, calls]).toEqual(['config', 3]);

    let refused = 0;
    const err = await rejection(
      retryWhileUnavailable(
        async () => {
          refused++;
          throw errors.invalidArgument('bad shard id');
        },
        silentLogger(),
        'the registry',
      ),
    );
    expect([err.code, refused]).toEqual([ErrorCode.InvalidArgument, 1]);
  });

  it('retryWhileUnavailable gives up with the last UNAVAILABLE once its signal aborts', async () => {
    const ctl = new AbortController();
    const err = await rejection(
      retryWhileUnavailable(
        async () => {
          ctl.abort();
          throw errors.unavailable('registry 127.0.0.1:1 unavailable: not reachable');
        },
        silentLogger(),
        'the registry',
        ctl.signal,
      ),
    );
    expect(err.message).toBe('registry 127.0.0.1:1 unavailable: not reachable');
  });

  it('retryWhileUnavailable stops waiting when its signal aborts during the back-off, without another attempt', async () => {
    const ctl = new AbortController();
    let attempts = 0;
    const err = await rejection(
      retryWhileUnavailable(
        async () => {
          attempts++;
          // Aborts once the back-off wait has started (after this attempt failed).
          setImmediate(() => ctl.abort());
          throw errors.unavailable('registry 127.0.0.1:1 unavailable: not reachable');
        },
        silentLogger(),
        'the registry',
        ctl.signal,
      ),
    );
    expect([err.message, attempts]).toEqual(['registry 127.0.0.1:1 unavailable: not reachable', 1]);
  });
});
