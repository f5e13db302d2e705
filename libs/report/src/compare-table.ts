// formatComparisonTable: the side-by-side terminal table of a comparison (one column per run: throughput, outcomes, latency, CPU, receipts, verdicts, ratios).
import type { Comparison, ComparisonRun, RunFigures, RunRatios } from './compare';
import { TABLE_WIDTH } from './table';
import { describeLoad, describeWorkload, fmtInt, fmtIntervals, fmtMs, fmtPct, fmtRate, fmtSeconds, textTable, wrap } from './text';

/** One figure row of the side-by-side table: its name and how a run's figures show in it (plain text). */
export interface ComparisonFigureRow {
  name: string;
  cell: (f: RunFigures) => string;
}

/** A section of the side-by-side table: a heading and its rows. */
export interface ComparisonSection {
  title: string;
  rows: ComparisonFigureRow[];
}

/** Most audit problems listed per run under the terminal table. */
const MAX_PROBLEMS = 3;

function latencyRows(cls: 'local' | 'crossShard'): ComparisonFigureRow[] {
  const rows: ComparisonFigureRow[] = [];
  for (const p of ['P50', 'P95', 'P99'] as const) rows.push({ name: `${p.toLowerCase()} ms`, cell: (f) => fmtMs(f[`${cls}${p}Ms`]) });
  for (const p of ['P50', 'P95', 'P99'] as const) rows.push({ name: `${p.toLowerCase()} blk`, cell: (f) => fmtIntervals(f[`${cls}${p}Blocks`]) });
  return rows;
}

const nullable = (v: number | null) => (v === null ? '-' : fmtInt(v));

/**
 * The sections of the side-by-side comparison, shared by the terminal table and the HTML page:
 * throughput, transactions, latency per class, CPU, receipts (when any run's audit has them),
 * client-led 2PC (when any run ended a transaction by it or aborted one by a lock timeout) and
 * verdicts. Pure.
 */
export function comparisonSections(c: Comparison): ComparisonSection[] {
  const sections: ComparisonSection[] = [
    {
      title: 'Throughput',
      rows: [
        { name: 'committed tx/s', cell: (f) => fmtRate(f.committedPerSecond) },
        { name: 'submitted tx/s', cell: (f) => fmtRate(f.submittedPerSecond) },
        { name: 'duration', cell: (f) => fmtSeconds(f.durationSeconds) },
      ],
    },
    {
      title: 'Transactions',
      rows: [
        { name: 'submitted', cell: (f) => fmtInt(f.submitted) },
        { name: 'committed', cell: (f) => fmtInt(f.committed) },
        { name: 'reverted', cell: (f) => fmtInt(f.reverted) },
        { name: 'aborted', cell: (f) => fmtInt(f.aborted) },
        { name: 'aborted %', cell: (f) => fmtPct(f.abortedShare) },
        { name: 'rejected', cell: (f) => fmtInt(f.rejected) },
        { name: 'unknown', cell: (f) => fmtInt(f.unknown) },
        { name: 'cross-shard ratio', cell: (f) => fmtPct(f.crossShardRatio) },
      ],
    },
    { title: 'Latency, local', rows: latencyRows('local') },
    { title: 'Latency, cross-shard', rows: latencyRows('crossShard') },
    {
      title: 'Cost',
      rows: [{ name: 'CPU ms / committed tx', cell: (f) => (f.cpuSecondsPerCommittedTx === null ? '-' : (f.cpuSecondsPerCommittedTx * 1000).toFixed(2)) }],
    },
  ];
  if (c.runs.some((r) => r.figures?.receiptsSent !== null && r.figures?.receiptsSent !== undefined))
    sections.push({
      title: 'Receipts (shard-led)',
      rows: [
        { name: 'sent', cell: (f) => nullable(f.receiptsSent) },
        { name: 'credited', cell: (f) => nullable(f.receiptsCredited) },
        { name: 'in flight', cell: (f) => nullable(f.receiptsInFlight) },
        { name: 'cross-shard by receipts', cell: (f) => nullable(f.viaReceipts) },
        { name: 'cross-shard by block-2PC', cell: (f) => nullable(f.viaBlockTwoPc) },
      ],
    });
  if (c.runs.some((r) => (r.figures?.viaClientLed ?? 0) > 0 || (r.figures?.lockTimeouts ?? 0) > 0))
    sections.push({
      title: 'Client-led 2PC',
      rows: [
        { name: 'cross-shard by client-led', cell: (f) => nullable(f.viaClientLed) },
        { name: 'lock timeouts', cell: (f) => nullable(f.lockTimeouts) },
        { name: 'blocking p50 blk', cell: (f) => nullable(f.lockTimeoutP50Blocks) },
        { name: 'blocking max blk', cell: (f) => nullable(f.lockTimeoutMaxBlocks) },
      ],
    });
  sections.push({
    title: 'Verdict',
    rows: [
      { name: 'accounted for', cell: (f) => (f.accountedFor ? 'yes' : 'NO') },
      { name: 'audit', cell: (f) => (f.auditOk ? 'PASSED' : 'FAILED') },
    ],
  });
  return sections;
}

/** The ratio rows: figure name and key of {@link RunRatios}. */
export const RATIO_ROWS: readonly { name: string; key: keyof RunRatios }[] = [
  { name: 'committed tx/s', key: 'committedPerSecond' },
  { name: 'aborted %', key: 'abortedShare' },
  { name: 'local p50 ms', key: 'localP50Ms' },
  { name: 'local p95 ms', key: 'localP95Ms' },
  { name: 'local p99 ms', key: 'localP99Ms' },
  { name: 'cross-shard p50 ms', key: 'crossShardP50Ms' },
  { name: 'cross-shard p95 ms', key: 'crossShardP95Ms' },
  { name: 'cross-shard p99 ms', key: 'crossShardP99Ms' },
  { name: 'CPU / committed tx', key: 'cpuSecondsPerCommittedTx' },
];

/** A ratio as `1.23×`; `-` for null. */
export function fmtRatio(v: number | null | undefined): string {
  return v === null || v === undefined ? '-' : `${v.toFixed(2)}×`;
}

/** `ok`, `FAILED` (a report that is not accounted for or failed its audit) or `no report`. */
export function runVerdict(run: ComparisonRun): string {
  return run.report === null ? 'no report' : run.ok ? 'ok' : 'FAILED';
}

/**
 * The cells of the side-by-side comparison, one row per line: a header row (`#1`, `#2`…),
 * protocol and placement rows, every section's heading and rows (a run without a report shows
 * `-`), the run's verdict, then the ratios against the baseline. Cells are plain text. Pure.
 */
export function comparisonRows(c: Comparison): string[][] {
  const rows: string[][] = [];
  const runs = c.runs;
  rows.push(['', ...runs.map((_, i) => `#${i + 1}`)]);
  rows.push(['protocol', ...runs.map((r) => r.protocol)]);
  rows.push(['placement', ...runs.map((r) => r.placement)]);
  for (const s of comparisonSections(c)) {
    rows.push([s.title]);
    for (const row of s.rows) rows.push([`  ${row.name}`, ...runs.map((r) => (r.figures ? row.cell(r.figures) : '-'))]);
  }
  rows.push(['  run', ...runs.map(runVerdict)]);
  if (c.baseline !== null) {
    rows.push([`Ratio to #${c.baseline + 1}`]);
    for (const row of RATIO_ROWS) rows.push([`  ${row.name}`, ...runs.map((r) => fmtRatio(r.ratios?.[row.key]))]);
  }
  return rows;
}

/** Splits the run columns into groups whose table fits in {@link TABLE_WIDTH} columns (at least one run per group). */
function columnGroups(rows: readonly (readonly string[])[], runs: number): number[][] {
  const labelWidth = Math.max(...rows.map((r) => r[0]?.length ?? 0));
  const groups: number[][] = [];
  let cur: number[] = [];
  let width = labelWidth;
  for (let j = 0; j < runs; j++) {
    const w = 2 + Math.max(...rows.map((r) => r[j + 1]?.length ?? 0));
    if (cur.length > 0 && width + w > TABLE_WIDTH) {
      groups.push(cur);
      cur = [];
      width = labelWidth;
    }
    cur.push(j);
    width += w;
  }
  groups.push(cur);
  return groups;
}

/**
 * The terminal table of a comparison: plain text, lines of at most 100 columns (runs that do not
 * fit side by side continue in a second table), each ending in `\n`. A heading with the number of
 * runs and their verdict, the workload and load of the baseline, the notes; the side-by-side
 * figures ({@link comparisonRows}); then why a run has no report and the first audit problems of
 * a run that failed its audit. Pure.
 */
export function formatComparisonTable(c: Comparison): string {
  const out: string[] = [];
  const failed = c.runs.filter((r) => !r.ok).length;
  out.push(`ShardLab comparison (${c.schema}): ${c.runs.length} runs, ${failed === 0 ? 'every run ok' : `${failed} not ok`}`);
  const base = c.baseline !== null ? c.runs[c.baseline]?.report : null;
  if (base) {
    out.push(...wrap(describeWorkload(base.config.workload), TABLE_WIDTH, '  workload  ', '            '));
    out.push(
      ...wrap(
        `${base.config.shards} shards, block interval ${base.config.blockIntervalMs} ms, ${describeLoad(base)}`,
        TABLE_WIDTH,
        '  network   ',
        '            ',
      ),
    );
  }
  out.push(`  started   ${c.startedAt}`);
  for (const n of c.notes) out.push(...wrap(n, TABLE_WIDTH, '  note      ', '            '));
  out.push('');
  const rows = comparisonRows(c);
  const groups = columnGroups(rows, c.runs.length);
  groups.forEach((g, gi) => {
    if (gi > 0) out.push('');
    out.push(...textTable(rows.map((r) => [r[0] ?? '', ...g.map((j) => r[j + 1] ?? '')])));
  });
  const blockMs = base?.config.blockIntervalMs;
  out.push(
    ...wrap(
      `(latency of committed txs, submission to final status, nearest rank${blockMs !== undefined ? `; blk = block intervals of ${blockMs} ms` : ''}; ratios = run / #${(c.baseline ?? 0) + 1})`,
      TABLE_WIDTH,
    ),
  );
  for (const [i, r] of c.runs.entries()) {
    if (r.error !== null) out.push(...wrap(r.error, TABLE_WIDTH, `#${i + 1} ${r.label}: no report: `, '    '));
    const problems = r.report?.audit.problems ?? [];
    for (const p of problems.slice(0, MAX_PROBLEMS)) out.push(...wrap(p, TABLE_WIDTH, `#${i + 1} ${r.label}: audit problem: `, '    '));
    if (problems.length > MAX_PROBLEMS) out.push(`#${i + 1} ${r.label}: … and ${problems.length - MAX_PROBLEMS} more audit problems (see its report)`);
  }
  return out.map((line) => `${line}\n`).join('');
}
