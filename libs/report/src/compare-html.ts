// renderComparisonHtml: the self-contained HTML comparison page (side-by-side figures and ratios, throughput of every run on one chart, latency CDFs overlaid, abort reasons per run).
import type { Comparison, ComparisonRun } from './compare';
import { comparisonSections, fmtRatio, formatComparisonTable, RATIO_ROWS, runVerdict } from './compare-table';
import { htmlKv, htmlTable, mergeFactor, reasonChart, REPORT_CSS, seriesPoints, useLogX, htmlPageStart } from './html-parts';
import { escapeHtml, lineChart, PALETTE, type LineSeries } from './svg';
import { describeLoad, describeWorkload, fmtInt } from './text';
import type { CdfPoint, Report } from './types';

const e = escapeHtml;

/** Colours of the runs, in run order (Okabe–Ito), repeated when there are more runs. */
export const RUN_COLORS: readonly string[] = [PALETTE.blue, PALETTE.orange, PALETTE.green, PALETTE.vermillion, PALETTE.purple, PALETTE.sky, PALETTE.grey];

/** Dashes of the runs (a second cue besides colour), in run order, repeated. */
const RUN_DASHES: readonly (string | undefined)[] = [undefined, '7 4', '2 3', '10 3 2 3'];

/** Colour and dash of run `i`. */
function runStyle(i: number): { color: string; dash?: string } {
  const dash = RUN_DASHES[i % RUN_DASHES.length];
  return { color: RUN_COLORS[i % RUN_COLORS.length]!, ...(dash ? { dash } : {}) };
}

/** `#1 block-2pc / hash`: a run's name in legends and headings. */
function runName(run: ComparisonRun, i: number): string {
  return `#${i + 1} ${run.label}`;
}

function withReports(c: Comparison): { run: ComparisonRun; report: Report; i: number }[] {
  return c.runs.flatMap((run, i) => (run.report ? [{ run, report: run.report, i }] : []));
}

/** Committed tx/s over time of every run on one chart, each from its own run start, merged over a common bucket width. */
function throughputChart(c: Comparison): { svg: string; averaged: number } {
  const runs = withReports(c).map((x) => ({ ...x, buckets: x.report.counts.submitted > 0 ? x.report.timeSeries.buckets : [] }));
  const longest = Math.max(0, ...runs.map((x) => x.buckets.length));
  const k = mergeFactor(longest);
  const minutes = longest > 1200;
  const unit = minutes ? 60 : 1;
  const markers = longest / k <= 60;
  const series: LineSeries[] = runs.map(({ run, i, buckets }) => ({
    name: runName(run, i),
    ...runStyle(i),
    points: seriesPoints(buckets, 'committed', k, unit),
    markers,
  }));
  const svg = lineChart({
    title: 'Committed transactions per second over time, every run',
    xLabel: `time since the run's start (${minutes ? 'min' : 's'})`,
    yLabel: k === 1 ? 'committed transactions per second' : `committed tx per second (mean over ${k} s)`,
    series,
    xMin: 0,
    xMax: longest / unit,
    emptyMessage: 'No transactions in any run.',
  });
  return { svg, averaged: k };
}

/** The latency CDFs of one class of every run, overlaid. */
function latencyCdfChart(c: Comparison, cls: 'local' | 'crossShard'): { svg: string; log: boolean } {
  const name = cls === 'local' ? 'local' : 'cross-shard';
  const series = withReports(c).map(({ run, report, i }) => {
    const cdf: readonly CdfPoint[] = report.latencyCdf[cls];
    return {
      name: `${runName(run, i)} (n = ${fmtInt(report.latency[cls].n)})`,
      ...runStyle(i),
      points: cdf.map((p) => ({ x: p.ms, y: p.q })),
      step: true,
    };
  });
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const log = useLogX(xs);
  const svg = lineChart({
    title: `Latency CDF of ${name} transactions, every run`,
    xLabel: `latency, submission to final status (ms${log ? ', log scale' : ''})`,
    yLabel: `fraction of committed ${name} txs`,
    series,
    xLog: log,
    xMax: Math.max(0, ...xs) * 1.04,
    yDomain: [0, 1],
    emptyMessage: `No committed ${name} transactions in any run.`,
  });
  return { svg, log };
}

/** The side-by-side figures as an HTML table (the terminal table's sections, one column per run). */
function figuresTable(c: Comparison): string {
  const head = ['', ...c.runs.map((r, i) => `#${i + 1}<br>${e(r.protocol)}<br>${e(r.placement)}`)];
  const rows: string[][] = [];
  const blank = c.runs.map(() => '');
  for (const s of comparisonSections(c)) {
    rows.push([`<b>${e(s.title)}</b>`, ...blank]);
    for (const row of s.rows) rows.push([e(row.name), ...c.runs.map((r) => e(r.figures ? row.cell(r.figures) : '-'))]);
  }
  rows.push(['<b>run</b>', ...c.runs.map((r) => (r.ok ? 'ok' : `<span class="bad-text">${e(runVerdict(r))}</span>`))]);
  return htmlTable(head, rows);
}

function ratioTable(c: Comparison): string {
  if (c.baseline === null) return '<p class="note">No run has a report: no ratios.</p>';
  const base = c.runs[c.baseline]!;
  const head = ['', ...c.runs.map((r, i) => `#${i + 1}<br>${e(r.label)}`)];
  const rows = RATIO_ROWS.map((row) => [e(row.name), ...c.runs.map((r) => e(fmtRatio(r.ratios?.[row.key])))]);
  return `${htmlTable(head, rows)}\n<p class="note">Each figure divided by run #${c.baseline + 1}'s (${e(base.label)}); above 1 is more — better for throughput, worse for latency, aborts and CPU. "-" when a figure is missing or the baseline's is 0.</p>`;
}

/** A run's verdict in words: ok, why it has no report, or what failed (accounting, the audit and its first problems). */
function verdictCell(r: ComparisonRun): string {
  if (r.error !== null) return `<span class="bad-text">no report</span>: ${e(r.error)}`;
  if (r.ok || !r.report) return 'ok';
  const why: string[] = [];
  if (!r.report.accountedFor) why.push(`${fmtInt(r.report.counts.unknown)} transaction(s) without a terminal status`);
  if (!r.report.audit.ok) why.push(`audit failed${r.report.audit.problems.length > 0 ? `: ${r.report.audit.problems.slice(0, 3).join('; ')}` : ''}`);
  return `<span class="bad-text">FAILED</span>: ${e(why.join('; '))}`;
}

function runsTable(c: Comparison): string {
  const rows = c.runs.map((r, i) => [
    `#${i + 1}`,
    e(r.label),
    r.report ? `<code>${e(r.dir)}/report.html</code>` : '-',
    r.signedWorkload ? `${fmtInt(r.signedWorkload.txs)} · <code>${e(r.signedWorkload.digest)}</code>` : '-',
    verdictCell(r),
  ]);
  return htmlTable(['run', 'protocol / placement', 'its report', 'signed txs · digest', 'verdict'], rows, { textCols: [1, 2, 3, 4] });
}

/**
 * Renders a comparison as ONE self-contained HTML document, like the report page (inline CSS and
 * SVG, no scripts, no external resources): the runs and their verdicts, the side-by-side figures
 * and the ratios against the baseline; figures: (1) committed transactions per second over time of
 * every run, (2, 3) latency CDFs of local and of cross-shard transactions with every run overlaid,
 * (4…) the abort and rejection reasons of each run; the notes, the methods, and the terminal table
 * in a collapsed block. Runs are told apart by colour and dash. Every string is HTML-escaped. Pure.
 */
export function renderComparisonHtml(c: Comparison): string {
  const base = c.baseline !== null ? (c.runs[c.baseline]?.report ?? null) : null;
  const title = `ShardLab comparison: ${c.runs.map((r) => r.label).join(', ')}`;
  const failed = c.runs.filter((r) => !r.ok).length;
  const verdictText = failed === 0
    ? `Every run (${c.runs.length}) accounted for every transaction and passed its audit`
    : `${failed} of ${c.runs.length} runs did not account for every transaction, failed their audit or have no report`;
  const fig1 = throughputChart(c);
  const fig2 = latencyCdfChart(c, 'local');
  const fig3 = latencyCdfChart(c, 'crossShard');
  const reasonFigs = withReports(c)
    .map(
      ({ run, report, i }, n) =>
        `<figure id="fig-reasons-${i + 1}">\n${reasonChart(report.abortReasons, `Abort and rejection reasons, ${runName(run, i)}`)}\n<figcaption>Figure ${4 + n}. The most frequent abort and rejection reasons of run ${e(runName(run, i))}, hashes, addresses and numbers normalised.</figcaption>\n</figure>`,
    )
    .join('\n');
  const setup = base
    ? htmlKv([
        ['Workload', e(describeWorkload(base.config.workload))],
        ['Network', `${fmtInt(base.config.shards)} shards, block interval ${e(String(base.config.blockIntervalMs))} ms`],
        ['Load', e(describeLoad(base))],
        ['Commit', `<code>${e(base.config.commit)}</code>`],
        ['Started', e(c.startedAt)],
      ])
    : htmlKv([['Started', e(c.startedAt)]]);
  const notes = c.notes.length === 0 ? '' : `\n<h3>Notes</h3>\n<ul>${c.notes.map((n) => `<li>${e(n)}</li>`).join('')}</ul>`;
  const methods = `<ul>${Object.entries(c.methods)
    .map(([k, v]) => `<li><b>${e(k)}</b>: ${e(v)}</li>`)
    .join('')}</ul>`;

  return `${htmlPageStart(e(title))}
<header>
<h1>ShardLab comparison</h1>
<p class="sub">${e(c.runs.map((r, i) => runName(r, i)).join(' · '))}</p>
<p class="verdict ${failed === 0 ? 'ok' : 'bad'}">${e(verdictText)}</p>
</header>

<h2>Set-up</h2>
${setup}${notes}

<h2>Runs</h2>
${runsTable(c)}
<p class="note">Each run's own report.json and report.html are in its directory beside comparison.json; every report is also inside comparison.json. Runs with equal digests submitted byte-identical signed transactions.</p>

<h2>Side by side</h2>
${figuresTable(c)}
<p class="note">Latency of committed transactions from submission to final status, nearest rank; blk: block intervals${base ? ` of ${e(String(base.config.blockIntervalMs))} ms` : ''}.</p>

<h2>Ratios</h2>
${ratioTable(c)}

<h2>Figures</h2>
<div class="figs">
<figure id="fig-throughput">
${fig1.svg}
<figcaption>Figure 1. Committed transactions per second of every run, each from its own start, counted when their final status became known; ${fig1.averaged === 1 ? '1 s buckets' : `mean over ${fig1.averaged} s buckets`}.</figcaption>
</figure>
<figure id="fig-latency-local">
${fig2.svg}
<figcaption>Figure 2. Empirical CDF of the latency of committed local transactions, every run overlaid${fig2.log ? ' (x axis in log scale)' : ''}; 100 nearest-rank quantiles.</figcaption>
</figure>
<figure id="fig-latency-cross-shard">
${fig3.svg}
<figcaption>Figure 3. Empirical CDF of the latency of committed cross-shard transactions, every run overlaid${fig3.log ? ' (x axis in log scale)' : ''}; 100 nearest-rank quantiles.</figcaption>
</figure>
${reasonFigs}
</div>

<h2>Methods</h2>
${methods}
<details>
<summary>Terminal summary</summary>
<pre>${e(formatComparisonTable(c))}</pre>
</details>

<footer>Generated by ShardLab (${e(c.schema)}); the same figures, and every run's report, are in comparison.json.</footer>
</body>
</html>
`;
}
