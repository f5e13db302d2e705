import {
  createProgress,
  createRateMeter,
  etaMs,
  formatDuration,
  formatLogLine,
  formatTtyLine,
  type ProgressCounts,
  type ProgressOutput,
} from '../src';

/** A stream that keeps what is written; a TTY or not. */
function fakeOut(tty: boolean, columns?: number): ProgressOutput & { chunks: string[]; text(): string } {
  const chunks: string[] = [];
  return {
    isTTY: tty,
    columns,
    chunks,
    write(chunk: string) {
      chunks.push(chunk);
      return true;
    },
    text: () => chunks.join(''),
  };
}

/** A clock moved by hand. */
function fakeClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

function counts(settled: number, inFlight = 10): ProgressCounts {
  return { submitted: settled + inFlight, committed: settled, aborted: 0, rejected: 0, inFlight };
}

describe('rate and ETA', () => {
  it('measures the rate over the last window, anchored at the sample before it', () => {
    const m = createRateMeter(5000);
    expect(m.rate()).toBeNull();
    m.add(0, 0);
    expect(m.rate()).toBeNull();
    m.add(1000, 10);
    expect(m.rate()).toBe(10);
    m.add(2000, 30);
    expect(m.rate()).toBe(15);
    // Fast at first, then slow: after 10 s only the last 5 s (plus the anchor) count.
    for (let t = 3000; t <= 10_000; t += 1000) m.add(t, 30 + (t - 2000) / 1000);
    // samples 5000 (33) .. 10000 (38): 5 tx over 5 s
    expect(m.rate()).toBe(1);
  });

  it('gives the ETA from the remaining transactions and the rate', () => {
    expect(etaMs(100, 40, 20)).toBe(3000);
    expect(etaMs(100, 100, null)).toBe(0);
    expect(etaMs(100, 40, null)).toBeNull();
    expect(etaMs(100, 40, 0)).toBeNull();
  });

  it('formats durations', () => {
    expect(formatDuration(7_000)).toBe('0:07');
    expect(formatDuration(754_000)).toBe('12:34');
    expect(formatDuration(3_723_000)).toBe('1:02:03');
    expect(formatDuration(null)).toBe('?');
  });
});

describe('progress lines', () => {
  const snap = { label: 'workload', total: 400, counts: { ...counts(100, 30), aborted: 2, rejected: 1 }, elapsedMs: 12_000, ratePerSecond: 20 };

  it('fits a terminal line with a bar, counts, rate, elapsed and ETA', () => {
    const wide = formatTtyLine(snap, 160);
    expect(wide.length).toBeLessThanOrEqual(159);
    expect(wide).toMatch(
      /^workload \[#{10}\.{30}\] 103\/400  25% \| committed 100, aborted   2, rejected   1 \|  30 in flight \|  20\.0 tx\/s \| 0:12 ETA  0:15$/,
    );
    // Narrower: short words, then no bar, then cut.
    const medium = formatTtyLine(snap, 100);
    expect(medium).toMatch(/^workload \[#+\.+\] 103\/400  25% \| ok 100 ab   2 rej   1 fly  30 \|  20\.0 tx\/s \| 0:12 ETA  0:15$/);
    expect(medium.length).toBeLessThanOrEqual(99);
    expect(formatTtyLine(snap, 70)).toBe('workload 103/400  25% | ok 100 ab   2 rej   1 fly  30 |  20.0 tx/s');
    expect(formatTtyLine(snap, 40).length).toBeLessThanOrEqual(39);
  });

  it('spells the log line out', () => {
    expect(formatLogLine(snap)).toBe(
      'workload: 103/400 settled (25%), submitted 130, committed 100, aborted 2, rejected 1, in flight 30, 20.0 tx/s, elapsed 0:12, ETA 0:15',
    );
    expect(formatLogLine({ ...snap, final: true })).toMatch(/20\.0 tx\/s on average, elapsed 0:12, done$/);
  });
});

describe('createProgress', () => {
  it('redraws one line with \\r on a TTY, at most every 100 ms', () => {
    const out = fakeOut(true, 100);
    const clock = fakeClock();
    const p = createProgress({ total: 100, out, label: 'run', now: clock.now });
    p.update(counts(0));
    for (let i = 1; i <= 20; i++) {
      clock.advance(25); // 40 updates per second
      p.update(counts(i));
    }
    // at 0, 100, 200, 300, 400, 500 ms
    expect(out.chunks).toHaveLength(6);
    for (const c of out.chunks) {
      expect(c.startsWith('\r')).toBe(true);
      expect(c).not.toContain('\n');
      expect(c.length - 1).toBeLessThanOrEqual(99);
    }
    expect(out.chunks[5]).toContain(' 20/100 ');
    // 20 settled in 0.5 s
    expect(out.chunks[5]).toContain('40.0 tx/s');
    p.done();
    const last = out.chunks[out.chunks.length - 1]!;
    expect(last.startsWith('\r')).toBe(true);
    expect(last.endsWith('\n')).toBe(true);
    expect(last).toContain(' done');
    p.done();
    p.update(counts(50));
    expect(out.chunks).toHaveLength(7);
  });

  it('pads over a longer previous line on a TTY (terminal made narrower)', () => {
    const out = fakeOut(true, 200);
    const clock = fakeClock();
    const p = createProgress({ total: 100_000, out, now: clock.now });
    p.update(counts(0));
    clock.advance(200);
    out.columns = 80;
    p.update(counts(10));
    const [first = '', second = ''] = out.chunks;
    expect(second.length).toBeGreaterThanOrEqual(first.length);
    expect(second.trimEnd().length).toBeLessThan(first.length);
  });

  it('prints plain lines at most every intervalMs when not a TTY', () => {
    const out = fakeOut(false);
    const clock = fakeClock();
    const p = createProgress({ total: 1000, out, now: clock.now }); // default 2000 ms
    for (let i = 0; i <= 100; i++) {
      p.update(counts(i * 10));
      clock.advance(100); // 10 s in all
    }
    p.done();
    const text = out.text();
    expect(text).not.toContain('\r');
    const lines = text.split('\n').filter((l) => l !== '');
    // 0, 2, 4, 6, 8, 10 s, then the final line
    expect(lines).toHaveLength(7);
    expect(text.endsWith('\n')).toBe(true);
    expect(lines[0]).toMatch(/^0\/1000 settled \(0%\)/);
    expect(lines[6]).toMatch(/^1000\/1000 settled \(100%\).*, done$/);

    const custom = fakeOut(false);
    const c2 = fakeClock();
    const q = createProgress({ total: 10, out: custom, intervalMs: 500, now: c2.now });
    for (let i = 0; i < 10; i++) {
      q.update(counts(i));
      c2.advance(100);
    }
    expect(custom.chunks).toHaveLength(2); // at 0 and 500 ms
  });
});
