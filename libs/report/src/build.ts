// buildReport: validates a run's transaction outcomes and computes the report's figures (counts, throughput, latency and CDFs, per-shard load, reasons, time series, CPU).
import { errors } from '@shardlab/common';
import { groupReasons } from './reasons';
import { mean, nearestRank, sortedAscending } from './stats';
import {
  REPORT_SCHEMA,
  type CdfPoint,
  type ClassSplit,
  type CpuFigures,
  type LatencyFigures,
  type LatencyStats,
  type LockTimeouts,
  type OutcomeCounts,
  type Report,
  type ReportInput,
  type ShardLoad,
  type TimeBucket,
  type TxClass,
  type TxOutcome,
  type TxOutcomeKind,
} from './types';

const OUTCOME_KINDS: readonly TxOutcomeKind[] = ['committed', 'reverted', 'aborted', 'rejected', 'unknown'];
const CLASSES: readonly TxClass[] = ['local', 'cross-shard'];

/** Quantiles of the latency CDFs: q = 1/CDF_POINTS … 1. */
export const CDF_POINTS = 100;

/** Most per-second buckets of a time series (about 11.5 days). */
export const MAX_BUCKETS = 1_000_000;

/** How each figure is computed; copied into {@link Report.methods}. */
export const REPORT_METHODS: Readonly<Record<string, string>> = {
  latency:
    'Latency of a transaction = finalAtMs - submittedAtMs (time from submission until its terminal status was known to the client), over committed transactions only; also given in block intervals (ms / blockIntervalMs).',
  percentiles:
    'Nearest-rank percentiles: the p-th percentile of n sorted values is the value at rank ceil(p/100 * n) (1-based); every percentile is an observed value. CDF points are the percentiles p = 1..100.',
  throughput:
    'committedPerSecond = committed / (last terminal time of any transaction - first submission); submittedPerSecond = submitted / (the later of submitEndedAtMs and the last submission - first submission).',
  crossShardRatio: 'Submitted cross-shard transactions / submitted transactions (rejected ones included).',
  crossShardPaths:
    'Cross-shard transactions that ended, by how: credited through shard-led receipts, decided by block-2PC (under shard-led, the fallback for calls that reach several shards), or decided by client-led two-phase commit (the decision recorded by every involved shard, or an abort by a shard\'s lock timeout).',
  lockTimeouts:
    'Client-led aborts whose reason is a shard\'s lock timeout (no decision of the coordinator within the timeout after the prepare); blocking window = height of the shard block that recorded the abort - height of the block that recorded the prepare, on that shard; nearest-rank p50 and max.',
  perShard:
    'home: transactions whose sender is on the shard; involved: transactions for which the shard is the home shard or listed among the involved shards.',
  abortReasons:
    'Reasons normalised before grouping: 0x-hex values become "0x…", bare hex of 16+ digits "<hex>", decimal numbers "N".',
  timeSeries:
    'Per-second buckets from run start: submitted by submittedAtMs, committed and aborted by finalAtMs. Times before the run start fall in bucket 0.',
  cpu: 'CPU seconds (user + system) of all processes of the network; averageCores = cpuSeconds / run duration.',
};

function emptyCounts(): OutcomeCounts {
  return { submitted: 0, committed: 0, reverted: 0, aborted: 0, rejected: 0, unknown: 0 };
}

function emptySplit(): ClassSplit {
  return { local: 0, crossShard: 0, total: 0 };
}

function addToSplit(split: ClassSplit, cls: TxClass): void {
  if (cls === 'local') split.local++;
  else split.crossShard++;
  split.total++;
}

function finiteOrThrow(value: number, field: string): void {
  if (!Number.isFinite(value)) throw errors.invalidArgument(`${field} must be a finite number, got ${value}`, { field });
}

function validate(input: ReportInput): void {
  const c = input.config;
  if (!Number.isInteger(c.shards) || c.shards < 1)
    throw errors.invalidArgument(`config.shards must be a positive integer, got ${c.shards}`);
  if (!(Number.isFinite(c.blockIntervalMs) && c.blockIntervalMs > 0))
    throw errors.invalidArgument(`config.blockIntervalMs must be a positive number, got ${c.blockIntervalMs}`);
  finiteOrThrow(input.runStartedAtMs, 'runStartedAtMs');
  finiteOrThrow(input.submitEndedAtMs, 'submitEndedAtMs');
  finiteOrThrow(input.runEndedAtMs, 'runEndedAtMs');
  if (input.runEndedAtMs < input.runStartedAtMs)
    throw errors.invalidArgument(`runEndedAtMs (${input.runEndedAtMs}) is before runStartedAtMs (${input.runStartedAtMs})`);
  if (input.cpuSeconds !== undefined && !(Number.isFinite(input.cpuSeconds) && input.cpuSeconds >= 0))
    throw errors.invalidArgument(`cpuSeconds must be a non-negative number, got ${input.cpuSeconds}`);
  input.outcomes.forEach((o, i) => {
    if (!CLASSES.includes(o.class)) throw errors.invalidArgument(`outcomes[${i}].class is not a transaction class: ${String(o.class)}`);
    if (!OUTCOME_KINDS.includes(o.outcome))
      throw errors.invalidArgument(`outcomes[${i}].outcome is not an outcome: ${String(o.outcome)}`);
    finiteOrThrow(o.submittedAtMs, `outcomes[${i}].submittedAtMs`);
    if (o.finalAtMs !== undefined) finiteOrThrow(o.finalAtMs, `outcomes[${i}].finalAtMs`);
  });
}

function figures(sorted: readonly number[], scale: number): LatencyFigures | null {
  if (sorted.length === 0) return null;
  const f = (v: number | null) => (v ?? 0) / scale;
  return {
    p50: f(nearestRank(sorted, 50)),
    p95: f(nearestRank(sorted, 95)),
    p99: f(nearestRank(sorted, 99)),
    mean: f(mean(sorted)),
    min: f(sorted[0]!),
    max: f(sorted[sorted.length - 1]!),
  };
}

function latencyStats(sorted: readonly number[], blockIntervalMs: number): LatencyStats {
  return { n: sorted.length, ms: figures(sorted, 1), blockIntervals: figures(sorted, blockIntervalMs) };
}

function cdf(sorted: readonly number[]): CdfPoint[] {
  if (sorted.length === 0) return [];
  const points: CdfPoint[] = [];
  for (let i = 1; i <= CDF_POINTS; i++) {
    const p = (100 * i) / CDF_POINTS;
    points.push({ q: i / CDF_POINTS, ms: nearestRank(sorted, p)! });
  }
  return points;
}

function rate(count: number, seconds: number): number | null {
  return seconds > 0 ? count / seconds : null;
}

/**
 * Builds the experiment report from a run's transaction outcomes. Pure and deterministic: the
 * same input gives the same report (no clock, no IO). See {@link REPORT_METHODS} for how each
 * figure is computed; percentiles are nearest-rank.
 *
 * Oddities that do not invalidate the run are left out of the affected figure and listed in
 * `warnings`: a shard outside 0..shards-1, a committed or aborted transaction without
 * `finalAtMs`, a final time before the submission time.
 *
 * @throws ShardLabError INVALID_ARGUMENT when `config.shards` is not a positive integer,
 *   `config.blockIntervalMs` is not positive, a time is not finite, the run ends before it
 *   starts or spans more than {@link MAX_BUCKETS} seconds, or an outcome has an unknown class or
 *   status.
 */
export function buildReport(input: ReportInput): Report {
  validate(input);
  const { config, outcomes } = input;
  const warnings: string[] = [];

  // Counts.
  const all = emptyCounts();
  const byClass: Record<TxClass, OutcomeCounts> = { local: emptyCounts(), 'cross-shard': emptyCounts() };
  for (const o of outcomes) {
    for (const c of [all, byClass[o.class]]) {
      c.submitted++;
      c[o.outcome]++;
    }
  }

  // Latency of committed transactions.
  const lat: Record<TxClass, number[]> = { local: [], 'cross-shard': [] };
  let committedWithoutFinal = 0;
  let negativeLatency = 0;
  for (const o of outcomes) {
    if (o.outcome !== 'committed') continue;
    if (o.finalAtMs === undefined) {
      committedWithoutFinal++;
      continue;
    }
    const ms = o.finalAtMs - o.submittedAtMs;
    if (ms < 0) {
      negativeLatency++;
      continue;
    }
    lat[o.class].push(ms);
  }
  if (committedWithoutFinal > 0)
    warnings.push(`${committedWithoutFinal} committed transaction(s) without finalAtMs: not in latency or the time series`);
  if (negativeLatency > 0)
    warnings.push(`${negativeLatency} committed transaction(s) with finalAtMs before submittedAtMs: not in latency`);
  const sortedLocal = sortedAscending(lat.local);
  const sortedCross = sortedAscending(lat['cross-shard']);
  const sortedAll = sortedAscending([...lat.local, ...lat['cross-shard']]);

  // Throughput window.
  let firstSubmit = Infinity;
  let lastSubmit = -Infinity;
  let lastFinal = -Infinity;
  for (const o of outcomes) {
    firstSubmit = Math.min(firstSubmit, o.submittedAtMs);
    lastSubmit = Math.max(lastSubmit, o.submittedAtMs);
    if (o.finalAtMs !== undefined) lastFinal = Math.max(lastFinal, o.finalAtMs);
  }
  const windowStartMs = outcomes.length > 0 ? firstSubmit : null;
  const windowEndMs = windowStartMs !== null && lastFinal > -Infinity ? Math.max(lastFinal, windowStartMs) : null;
  const durationSeconds = windowStartMs !== null && windowEndMs !== null ? (windowEndMs - windowStartMs) / 1000 : 0;
  const submitEnd = Math.max(input.submitEndedAtMs, outcomes.length > 0 ? lastSubmit : -Infinity);
  const submitDurationSeconds = windowStartMs !== null ? Math.max(0, submitEnd - windowStartMs) / 1000 : 0;

  // Per shard.
  const perShard: ShardLoad[] = [];
  for (let s = 0; s < config.shards; s++)
    perShard.push({ shard: s, home: emptySplit(), involved: emptySplit(), committedInvolved: emptySplit() });
  const outOfRange = new Set<number>();
  for (const o of outcomes) {
    const cls = o.class;
    const home = perShard[o.homeShard];
    if (home && Number.isInteger(o.homeShard)) addToSplit(home.home, cls);
    else outOfRange.add(o.homeShard);
    for (const s of new Set([o.homeShard, ...o.shards])) {
      const load = Number.isInteger(s) ? perShard[s] : undefined;
      if (!load) {
        outOfRange.add(s);
        continue;
      }
      addToSplit(load.involved, cls);
      if (o.outcome === 'committed') addToSplit(load.committedInvolved, cls);
    }
  }
  if (outOfRange.size > 0)
    warnings.push(
      `shard number(s) outside 0..${config.shards - 1} in the outcomes, not in the per-shard figures: ${[...outOfRange].sort((a, b) => a - b).join(', ')}`,
    );

  // Time series.
  const start = input.runStartedAtMs;
  let lastEvent = input.runEndedAtMs;
  for (const o of outcomes) lastEvent = Math.max(lastEvent, o.submittedAtMs, o.finalAtMs ?? -Infinity);
  const bucketCount = Math.max(1, Math.ceil((lastEvent - start) / 1000));
  if (bucketCount > MAX_BUCKETS)
    throw errors.invalidArgument(
      `the run spans ${bucketCount} s from runStartedAtMs to its last event (more than ${MAX_BUCKETS}); are all times epoch ms?`,
    );
  const buckets: TimeBucket[] = Array.from({ length: bucketCount }, (_, t) => ({ t, submitted: 0, committed: 0, aborted: 0 }));
  const bucketOf = (ms: number) => buckets[Math.min(bucketCount - 1, Math.max(0, Math.floor((ms - start) / 1000)))]!;
  const unplaced = { committed: 0, aborted: 0 };
  let abortedWithoutFinal = 0;
  for (const o of outcomes) {
    bucketOf(o.submittedAtMs).submitted++;
    if (o.outcome === 'committed' || o.outcome === 'aborted') {
      if (o.finalAtMs === undefined) {
        unplaced[o.outcome]++;
        if (o.outcome === 'aborted') abortedWithoutFinal++;
      } else bucketOf(o.finalAtMs)[o.outcome]++;
    }
  }
  if (abortedWithoutFinal > 0)
    warnings.push(`${abortedWithoutFinal} aborted transaction(s) without finalAtMs: not in the time series`);

  // CPU.
  const runDurationSeconds = Math.max(0, input.runEndedAtMs - input.runStartedAtMs) / 1000;
  const cpu: CpuFigures | null =
    input.cpuSeconds === undefined
      ? null
      : {
          cpuSeconds: input.cpuSeconds,
          cpuSecondsPerCommittedTx: all.committed > 0 ? input.cpuSeconds / all.committed : null,
          averageCores: rate(input.cpuSeconds, runDurationSeconds),
        };

  return {
    schema: REPORT_SCHEMA,
    config: structuredClone(config),
    run: {
      startedAtMs: input.runStartedAtMs,
      submitEndedAtMs: input.submitEndedAtMs,
      endedAtMs: input.runEndedAtMs,
      durationSeconds: runDurationSeconds,
    },
    counts: { ...all, local: byClass.local, crossShard: byClass['cross-shard'] },
    accountedFor: all.unknown === 0,
    throughput: {
      committedPerSecond: rate(all.committed, durationSeconds),
      submittedPerSecond: rate(all.submitted, submitDurationSeconds),
      durationSeconds,
      submitDurationSeconds,
      windowStartMs,
      windowEndMs,
    },
    latency: {
      local: latencyStats(sortedLocal, config.blockIntervalMs),
      crossShard: latencyStats(sortedCross, config.blockIntervalMs),
      all: latencyStats(sortedAll, config.blockIntervalMs),
    },
    latencyCdf: { local: cdf(sortedLocal), crossShard: cdf(sortedCross), all: cdf(sortedAll) },
    crossShardRatio: all.submitted > 0 ? byClass['cross-shard'].submitted / all.submitted : null,
    ...crossShardPathsOf(outcomes),
    lockTimeouts: lockTimeoutsOf(outcomes),
    perShard,
    abortReasons: {
      aborted: groupReasons(outcomes.filter((o) => o.outcome === 'aborted').map((o) => ({ reason: o.reason, code: o.reasonCode }))),
      rejected: groupReasons(outcomes.filter((o) => o.outcome === 'rejected').map((o) => ({ reason: o.reason, code: o.reasonCode, byText: true }))),
    },
    timeSeries: { startMs: start, bucketSeconds: 1, buckets, unplaced },
    cpu,
    audit: structuredClone(input.audit),
    methods: { ...REPORT_METHODS },
    warnings,
  };
}

/** How the cross-shard transactions ended (shard-led receipts, block-2PC or client-led 2PC), when outcomes say. */
function crossShardPathsOf(outcomes: readonly TxOutcome[]): Pick<Report, 'crossShardPaths'> {
  const withPath = outcomes.filter((o) => o.path !== undefined);
  if (withPath.length === 0) return {};
  const count = (p: TxOutcome['path']) => withPath.filter((o) => o.path === p).length;
  return { crossShardPaths: { shardLed: count('shard-led'), blockTwoPc: count('block-2pc'), clientLed: count('client-led') } };
}

/**
 * The aborts by a shard's lock timeout: those whose reason code is `lock-timeout`, and the
 * blocking window (abort height − prepare height) of those whose outcome carries both heights.
 */
function lockTimeoutsOf(outcomes: readonly TxOutcome[]): LockTimeouts {
  const timedOut = outcomes.filter((o) => o.outcome === 'aborted' && (o.reasonCode === 'lock-timeout' || o.lockTimeout !== undefined));
  const windows = sortedAscending(timedOut.flatMap((o) => (o.lockTimeout ? [o.lockTimeout.abortedAtHeight - o.lockTimeout.preparedAtHeight] : [])));
  return {
    count: timedOut.length,
    blockingWindowBlocks: { n: windows.length, p50: nearestRank(windows, 50), max: windows.length > 0 ? windows[windows.length - 1]! : null },
  };
}
