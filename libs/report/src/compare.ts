// buildComparison: the side-by-side figures of several runs of one workload (protocol × placement), their ratios against a baseline run, and the comparison.json structure.
/**
 * A comparison puts several runs of the same workload side by side — one per combination of
 * commit protocol and account placement, each on a fresh network — from their reports
 * ({@link Report}, built by `buildReport`). {@link buildComparison} is pure: it validates the runs,
 * takes each run's headline figures from its report ({@link RunFigures}) and divides them by the
 * baseline run's ({@link RunRatios}). The result is the content of `comparison.json`; every run's
 * full report is kept in it.
 *
 * Units are in the names as in the report: `…Ms` milliseconds, `…Blocks` block intervals,
 * `…PerSecond` per second, `…Seconds` seconds; shares are fractions in [0, 1]. A figure that
 * cannot be computed is `null`.
 */
import { errors } from '@shardlab/common';
import type { LatencyStats, OutcomeCounts, Report } from './types';

/** Version tag of {@link Comparison}; changes when a field changes meaning or goes away. */
export const COMPARISON_SCHEMA = 'shardlab.comparison/v1' as const;

/** One run of a comparison, as the job hands it in: its report, or why it has none. */
export interface ComparisonRunInput {
  /** Commit protocol of the run's network (`block-2pc`, `shard-led`…). */
  protocol: string;
  /** Account placement policy of the run (`hash`, `graph`). */
  placement: string;
  /** Directory of the run's report.json and report.html, relative to the comparison's (`shard-led-hash`). */
  dir: string;
  /** The run's report; absent when the run ended without one (exactly one of report and error). */
  report?: Report;
  /** Why the run has no report: the network did not start, a set-up transaction failed… */
  error?: string;
  /**
   * The signed transactions the run submitted: how many, and a digest of their hashes in order
   * (runs with equal digests replayed byte-identical transactions). Absent when it never got there.
   */
  signedWorkload?: { txs: number; digest: string };
}

/** Everything {@link buildComparison} needs. */
export interface ComparisonInput {
  /** The runs in the order they ran; the first with a report is the baseline of the ratios. */
  runs: readonly ComparisonRunInput[];
  /** ISO 8601 time the comparison started. */
  startedAt: string;
  /** What the reader must know about how the runs relate (same workload, what differs). */
  notes: readonly string[];
}

/**
 * The headline figures of one run, taken from its report: throughput, outcome counts and shares,
 * latency percentiles of committed transactions per class (nearest rank; ms and block
 * intervals), CPU per committed transaction, shard-led receipts (null when the audit has none)
 * and the verdicts.
 */
export interface RunFigures extends OutcomeCounts {
  committedPerSecond: number | null;
  submittedPerSecond: number | null;
  /** First submission to last final status, seconds (the throughput window). */
  durationSeconds: number;
  /** aborted / submitted; null without transactions. */
  abortedShare: number | null;
  /** Submitted cross-shard / submitted; null without transactions. */
  crossShardRatio: number | null;
  localP50Ms: number | null;
  localP95Ms: number | null;
  localP99Ms: number | null;
  crossShardP50Ms: number | null;
  crossShardP95Ms: number | null;
  crossShardP99Ms: number | null;
  localP50Blocks: number | null;
  localP95Blocks: number | null;
  localP99Blocks: number | null;
  crossShardP50Blocks: number | null;
  crossShardP95Blocks: number | null;
  crossShardP99Blocks: number | null;
  /** CPU seconds of the network per committed transaction; null when not measured or nothing committed. */
  cpuSecondsPerCommittedTx: number | null;
  /** Shard-led receipts from the audit; null when the audit reports none. */
  receiptsSent: number | null;
  receiptsCredited: number | null;
  receiptsInFlight: number | null;
  /** Cross-shard transactions ended by shard-led receipts / by block-2PC (the fallback under shard-led); null when the report has no paths. */
  viaReceipts: number | null;
  viaBlockTwoPc: number | null;
  /** Cross-shard transactions ended by client-led two-phase commit; null when the report has no client-led path count. */
  viaClientLed: number | null;
  /** Aborts by a shard's lock timeout (client-led); null in reports written before the count. */
  lockTimeouts: number | null;
  /** Blocking window of those aborts, prepare to abort, in blocks (p50, max); null without a measured one. */
  lockTimeoutP50Blocks: number | null;
  lockTimeoutMaxBlocks: number | null;
  /** Every transaction reached a terminal status. */
  accountedFor: boolean;
  /** The audit passed. */
  auditOk: boolean;
}

/** The figures that get a ratio against the baseline run. */
export const RATIO_FIGURES = [
  'committedPerSecond',
  'submittedPerSecond',
  'durationSeconds',
  'committed',
  'aborted',
  'abortedShare',
  'crossShardRatio',
  'localP50Ms',
  'localP95Ms',
  'localP99Ms',
  'crossShardP50Ms',
  'crossShardP95Ms',
  'crossShardP99Ms',
  'cpuSecondsPerCommittedTx',
] as const satisfies readonly (keyof RunFigures)[];

/** One of {@link RATIO_FIGURES}. */
export type RatioFigure = (typeof RATIO_FIGURES)[number];

/** Run figure / baseline figure for each of {@link RATIO_FIGURES}; null when either is null or the baseline's is 0. */
export type RunRatios = Record<RatioFigure, number | null>;

/** One run of the comparison. */
export interface ComparisonRun {
  /** `protocol / placement`, e.g. `shard-led / hash`. */
  label: string;
  protocol: string;
  placement: string;
  dir: string;
  /** The run has a report, every transaction reached a terminal status and the audit passed. */
  ok: boolean;
  /** Why the run has no report; null when it has one. */
  error: string | null;
  signedWorkload: { txs: number; digest: string } | null;
  /** Null without a report. */
  figures: RunFigures | null;
  /** Against the baseline run (1 for the baseline itself); null without a report or a baseline. */
  ratios: RunRatios | null;
  /** The run's full report (report.json); null without one. */
  report: Report | null;
}

/** The comparison: the content of `comparison.json`. Plain JSON data. */
export interface Comparison {
  schema: typeof COMPARISON_SCHEMA;
  startedAt: string;
  /** Index in `runs` of the run the ratios are against: the first run with a report; null when none has one. */
  baseline: number | null;
  /** Every run is ok (has a report, accounted for every transaction, passed its audit). */
  ok: boolean;
  runs: ComparisonRun[];
  notes: string[];
  /** How the figures and ratios are made, in words. */
  methods: Record<string, string>;
}

/** How the comparison's figures are made; copied into {@link Comparison.methods}. */
export const COMPARISON_METHODS: Readonly<Record<string, string>> = {
  runs: 'Each run is one network started fresh (its own data directory) for one combination of commit protocol and account placement; the runs ran one after the other on the same machine.',
  figures:
    "Every figure of a run is its report's (report.json, same methods): committed tx/s over the first submission to the last final status, latency of committed transactions from submission to final status by nearest rank, in ms and in block intervals.",
  abortedShare: 'Aborted transactions / submitted transactions.',
  ratios:
    'Ratio = the run\'s figure / the baseline run\'s figure (the first run with a report); null when either figure is null or the baseline\'s is 0. Above 1 means more: better for throughput, worse for latency, aborts and CPU.',
};

/** `protocol / placement`: how a run is named in the comparison. */
export function comparisonLabel(protocol: string, placement: string): string {
  return `${protocol} / ${placement}`;
}

function pct(l: LatencyStats, unit: 'ms' | 'blockIntervals', p: 'p50' | 'p95' | 'p99'): number | null {
  return l[unit]?.[p] ?? null;
}

/** The headline figures of a report (see {@link RunFigures}). Pure. */
export function runFigures(r: Report): RunFigures {
  const c = r.counts;
  const l = r.latency;
  const receipts = r.audit.receipts;
  return {
    committedPerSecond: r.throughput.committedPerSecond,
    submittedPerSecond: r.throughput.submittedPerSecond,
    durationSeconds: r.throughput.durationSeconds,
    submitted: c.submitted,
    committed: c.committed,
    reverted: c.reverted,
    aborted: c.aborted,
    rejected: c.rejected,
    unknown: c.unknown,
    abortedShare: c.submitted > 0 ? c.aborted / c.submitted : null,
    crossShardRatio: r.crossShardRatio,
    localP50Ms: pct(l.local, 'ms', 'p50'),
    localP95Ms: pct(l.local, 'ms', 'p95'),
    localP99Ms: pct(l.local, 'ms', 'p99'),
    crossShardP50Ms: pct(l.crossShard, 'ms', 'p50'),
    crossShardP95Ms: pct(l.crossShard, 'ms', 'p95'),
    crossShardP99Ms: pct(l.crossShard, 'ms', 'p99'),
    localP50Blocks: pct(l.local, 'blockIntervals', 'p50'),
    localP95Blocks: pct(l.local, 'blockIntervals', 'p95'),
    localP99Blocks: pct(l.local, 'blockIntervals', 'p99'),
    crossShardP50Blocks: pct(l.crossShard, 'blockIntervals', 'p50'),
    crossShardP95Blocks: pct(l.crossShard, 'blockIntervals', 'p95'),
    crossShardP99Blocks: pct(l.crossShard, 'blockIntervals', 'p99'),
    cpuSecondsPerCommittedTx: r.cpu?.cpuSecondsPerCommittedTx ?? null,
    receiptsSent: receipts?.sent ?? null,
    receiptsCredited: receipts?.credited ?? null,
    receiptsInFlight: receipts?.inFlight ?? null,
    viaReceipts: r.crossShardPaths?.shardLed ?? null,
    viaBlockTwoPc: r.crossShardPaths?.blockTwoPc ?? null,
    viaClientLed: r.crossShardPaths?.clientLed ?? null,
    lockTimeouts: r.lockTimeouts?.count ?? null,
    lockTimeoutP50Blocks: r.lockTimeouts?.blockingWindowBlocks.p50 ?? null,
    lockTimeoutMaxBlocks: r.lockTimeouts?.blockingWindowBlocks.max ?? null,
    accountedFor: r.accountedFor,
    auditOk: r.audit.ok,
  };
}

/** `value / base` for each of {@link RATIO_FIGURES}; null when either is null or `base` is 0. Pure. */
export function runRatios(f: RunFigures, base: RunFigures): RunRatios {
  const out = {} as RunRatios;
  for (const k of RATIO_FIGURES) {
    const v = f[k];
    const b = base[k];
    out[k] = v !== null && b !== null && b !== 0 ? v / b : null;
  }
  return out;
}

function validate(input: ComparisonInput): void {
  if (input.runs.length === 0) throw errors.invalidArgument('a comparison needs at least one run');
  const seen = new Set<string>();
  input.runs.forEach((run, i) => {
    const where = `runs[${i}]`;
    if (typeof run.protocol !== 'string' || run.protocol === '') throw errors.invalidArgument(`${where}.protocol must be a non-empty string`);
    if (typeof run.placement !== 'string' || run.placement === '') throw errors.invalidArgument(`${where}.placement must be a non-empty string`);
    const label = comparisonLabel(run.protocol, run.placement);
    if (seen.has(label)) throw errors.invalidArgument(`${where} repeats ${label}: each combination of protocol and placement runs once`);
    seen.add(label);
    if ((run.report === undefined) === (run.error === undefined))
      throw errors.invalidArgument(`${where} (${label}) must have exactly one of report and error`);
    const r = run.report;
    if (r && r.config.protocol !== run.protocol)
      throw errors.invalidArgument(`${where} is ${label} but its report ran ${r.config.protocol}`);
    if (r?.config.placement && r.config.placement.policy !== run.placement)
      throw errors.invalidArgument(`${where} is ${label} but its report used ${r.config.placement.policy} placement`);
  });
}

/**
 * Builds the comparison of `input.runs`: for each run its label, verdict, figures
 * ({@link runFigures}) and ratios against the baseline — the first run with a report
 * ({@link runRatios}) — and its full report; the comparison is ok when every run is. Pure and
 * deterministic.
 * @throws ShardLabError INVALID_ARGUMENT without runs, for a run without a protocol or placement,
 *   a combination listed twice, a run with both or neither of report and error, or a report whose
 *   protocol or placement is not its run's.
 */
export function buildComparison(input: ComparisonInput): Comparison {
  validate(input);
  const figures = input.runs.map((run) => (run.report ? runFigures(run.report) : null));
  const baselineIndex = figures.findIndex((f) => f !== null);
  const base = baselineIndex >= 0 ? figures[baselineIndex]! : null;
  const runs: ComparisonRun[] = input.runs.map((run, i) => {
    const f = figures[i] ?? null;
    const r = run.report ?? null;
    return {
      label: comparisonLabel(run.protocol, run.placement),
      protocol: run.protocol,
      placement: run.placement,
      dir: run.dir,
      ok: r !== null && r.accountedFor && r.audit.ok,
      error: run.error ?? null,
      signedWorkload: run.signedWorkload ?? null,
      figures: f,
      ratios: f && base ? runRatios(f, base) : null,
      report: r ?? null,
    };
  });
  return {
    schema: COMPARISON_SCHEMA,
    startedAt: input.startedAt,
    baseline: baselineIndex >= 0 ? baselineIndex : null,
    ok: runs.every((r) => r.ok),
    runs,
    notes: [...input.notes],
    methods: { ...COMPARISON_METHODS },
  };
}
