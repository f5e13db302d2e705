// The live progress line of a running experiment: TTY redraw or throttled log lines, sliding-window rate, ETA and duration formatting.
/**
 * A progress line for a running experiment. On a terminal it redraws one line in place (`\r`);
 * elsewhere (CI logs, files) it prints a plain line now and then. The clock is injected, so the
 * rate, the ETA and the throttling are testable without waiting.
 */

/** Where progress is written: `process.stderr` or `process.stdout`, or any object with `write`. */
export interface ProgressOutput {
  write(chunk: string): unknown;
  /** True on a terminal: redraw in place. */
  isTTY?: boolean;
  /** Terminal width; 80 when unknown. */
  columns?: number;
}

/** Where the experiment stands. `settled` = committed + aborted + rejected (+ reverted). */
export interface ProgressCounts {
  submitted: number;
  committed: number;
  aborted: number;
  rejected: number;
  inFlight: number;
  /** Local transactions included with a failed receipt (settled too). */
  reverted?: number;
}

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  /** Transactions the run will settle in all (the bar's 100 %). */
  total: number;
  out: ProgressOutput;
  /** Printed first, e.g. `workload`. */
  label?: string;
  /** Least time between two lines when `out` is not a TTY, ms; default 2000. */
  intervalMs?: number;
  /** Least time between two redraws on a TTY, ms; default 100 (at most 10 per second). */
  ttyIntervalMs?: number;
  /** Window of the recent rate, ms; default 5000. */
  rateWindowMs?: number;
  /** Clock in ms; default `Date.now`. */
  now?: () => number;
}

/** A running progress display. */
export interface Progress {
  /** Reports the current counts; draws when the throttle allows. Ignored after `done`. */
  update(counts: ProgressCounts): void;
  /** Prints the final line (with the last counts) and a newline. Idempotent. */
  done(): void;
}

/** Settled transactions of `c`: committed + aborted + rejected + reverted. */
export function settledOf(c: ProgressCounts): number {
  return c.committed + c.aborted + c.rejected + (c.reverted ?? 0);
}

/** A rate over a sliding window of (time, cumulative count) samples. */
export interface RateMeter {
  /** Adds the cumulative count `value` at time `t` (ms, not decreasing). */
  add(t: number, value: number): void;
  /** Per second over the last `windowMs` (from the newest sample at or before the window start); null with less than two instants. */
  rate(): number | null;
}

/**
 * Creates a {@link RateMeter}: the rate is (newest − oldest) / elapsed over the samples of the
 * last `windowMs`, anchored at the last sample before the window so that sparse updates still
 * give a rate. Pure apart from its own state; no clock.
 */
export function createRateMeter(windowMs = 5000): RateMeter {
  const samples: { t: number; v: number }[] = [];
  return {
    add(t, value) {
      samples.push({ t, v: value });
      while (samples.length > 2 && samples[1]!.t <= t - windowMs) samples.shift();
    },
    rate() {
      const first = samples[0];
      const last = samples[samples.length - 1];
      if (!first || !last || last.t <= first.t) return null;
      return ((last.v - first.v) * 1000) / (last.t - first.t);
    },
  };
}

/** `0:07`, `12:34`, `1:02:03`; `?` for null or not finite. */
export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms) || ms < 0) return '?';
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** What one progress line shows. */
export interface ProgressSnapshot {
  label?: string;
  total: number;
  counts: ProgressCounts;
  elapsedMs: number;
  /** Settled transactions per second (recent, or average for the final line); null when unknown. */
  ratePerSecond: number | null;
  /** The final line: no ETA, "done". */
  final?: boolean;
}

/** ETA in ms from the remaining transactions and the rate; 0 when all settled, null when unknown. */
export function etaMs(total: number, settled: number, ratePerSecond: number | null): number | null {
  const remaining = Math.max(0, total - settled);
  if (remaining === 0) return 0;
  if (ratePerSecond === null || !(ratePerSecond > 0)) return null;
  return (remaining / ratePerSecond) * 1000;
}

function fmtRate(r: number | null): string {
  return r === null ? '- tx/s' : `${r >= 100 ? r.toFixed(0) : r.toFixed(1)} tx/s`;
}

function percent(settled: number, total: number): number {
  return total > 0 ? Math.min(100, Math.floor((100 * settled) / total)) : 100;
}

/**
 * The one-line form for a terminal, at most `columns - 1` characters: label, a bar of
 * settled/total, counts (rejected and reverted only when not zero), rate, elapsed time and ETA.
 * Numbers are padded to the width of `total` so that the line does not jitter; on a narrower
 * terminal shorter words are used, then the bar is dropped, then the line is cut. Pure.
 */
export function formatTtyLine(s: ProgressSnapshot, columns: number): string {
  const settled = settledOf(s.counts);
  const c = s.counts;
  const max = Math.max(10, columns - 1);
  const digits = String(Math.max(0, s.total)).length;
  const num = (v: number) => String(v).padStart(digits);
  const pct = `${percent(settled, s.total)}%`.padStart(4);
  const rate = fmtRate(s.ratePerSecond).padStart(10);
  const elapsed = formatDuration(s.elapsedMs);
  const eta = s.final ? 'done     ' : `ETA ${formatDuration(etaMs(s.total, settled, s.ratePerSecond)).padStart(5)}`; // same width
  const long = [
    `committed ${num(c.committed)}`,
    `aborted ${num(c.aborted)}`,
    ...(c.rejected ? [`rejected ${num(c.rejected)}`] : []),
    ...(c.reverted ? [`reverted ${num(c.reverted)}`] : []),
  ].join(', ');
  const short = [
    `ok ${num(c.committed)}`,
    `ab ${num(c.aborted)}`,
    ...(c.rejected ? [`rej ${num(c.rejected)}`] : []),
    ...(c.reverted ? [`rev ${num(c.reverted)}`] : []),
    `fly ${num(c.inFlight)}`,
  ].join(' ');
  const progress = `${num(settled)}/${s.total} ${pct}`;
  const tails = [
    ` ${progress} | ${long} | ${num(c.inFlight)} in flight | ${rate} | ${elapsed} ${eta}`,
    ` ${progress} | ${short} | ${rate} | ${elapsed} ${eta}`,
  ];
  const head = s.label ? `${s.label} ` : '';
  for (const tail of tails) {
    const room = max - head.length - tail.length - 2;
    if (room >= 8) {
      const w = Math.min(40, room);
      const filled = s.total > 0 ? Math.min(w, Math.floor((w * settled) / s.total)) : w;
      return `${head}[${'#'.repeat(filled)}${'.'.repeat(w - filled)}]${tail}`.trimEnd();
    }
  }
  const line = `${head.trimEnd()}${tails[1]}`.trimEnd();
  return line.length > max ? line.slice(0, max).replace(/[\s|,]+$/, '') : line;
}

/** The plain line for logs: no bar, words spelled out. Pure. */
export function formatLogLine(s: ProgressSnapshot): string {
  const settled = settledOf(s.counts);
  const c = s.counts;
  const parts = [
    `${s.label ? `${s.label}: ` : ''}${settled}/${s.total} settled (${percent(settled, s.total)}%)`,
    `submitted ${c.submitted}`,
    `committed ${c.committed}`,
    `aborted ${c.aborted}`,
    `rejected ${c.rejected}`,
    ...(c.reverted ? [`reverted ${c.reverted}`] : []),
    `in flight ${c.inFlight}`,
    s.final ? `${fmtRate(s.ratePerSecond)} on average` : fmtRate(s.ratePerSecond),
    `elapsed ${formatDuration(s.elapsedMs)}`,
    s.final ? 'done' : `ETA ${formatDuration(etaMs(s.total, settled, s.ratePerSecond))}`,
  ];
  return parts.join(', ');
}

/**
 * Creates a progress display writing to `out`. On a TTY (`out.isTTY`) each update redraws one
 * line with `\r` (padded with spaces over the previous one), at most every `ttyIntervalMs`
 * (100 ms); otherwise a plain line is printed on the first update and then at most every
 * `intervalMs` (2 s). The rate is settled transactions per second over the last `rateWindowMs`;
 * the ETA is the remaining transactions at that rate. `done()` prints the final line (average
 * rate since creation) and a newline.
 */
export function createProgress(opts: ProgressOptions): Progress {
  const now = opts.now ?? Date.now;
  const out = opts.out;
  const tty = out.isTTY === true;
  const interval = tty ? (opts.ttyIntervalMs ?? 100) : (opts.intervalMs ?? 2000);
  const meter = createRateMeter(opts.rateWindowMs ?? 5000);
  const startedAt = now();
  meter.add(startedAt, 0);
  let last: ProgressCounts = { submitted: 0, committed: 0, aborted: 0, rejected: 0, inFlight: 0 };
  let lastDrawAt: number | null = null;
  let lastLength = 0;
  let finished = false;

  const snapshot = (t: number, final: boolean): ProgressSnapshot => {
    const elapsedMs = t - startedAt;
    return {
      label: opts.label,
      total: opts.total,
      counts: last,
      elapsedMs,
      ratePerSecond: final ? (elapsedMs > 0 ? (settledOf(last) * 1000) / elapsedMs : null) : meter.rate(),
      final,
    };
  };

  const draw = (t: number, final: boolean) => {
    const s = snapshot(t, final);
    if (tty) {
      const line = formatTtyLine(s, out.columns ?? 80);
      const pad = lastLength > line.length ? ' '.repeat(lastLength - line.length) : '';
      out.write(`\r${line}${pad}${final ? '\n' : ''}`);
      lastLength = line.length;
    } else out.write(`${formatLogLine(s)}\n`);
    lastDrawAt = t;
  };

  return {
    update(counts) {
      if (finished) return;
      const t = now();
      last = { ...counts };
      meter.add(t, settledOf(counts));
      if (lastDrawAt === null || t - lastDrawAt >= interval) draw(t, false);
    },
    done() {
      if (finished) return;
      finished = true;
      draw(now(), true);
    },
  };
}
