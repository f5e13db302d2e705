// renderReportHtml: the self-contained HTML report page (inline CSS and SVG figures, tables of counts, latency, shards, reasons, audit, configuration, methods).
import { formatReportTable } from './table';
import {
  describeLoad,
  describeMix,
  describePopularity,
  describeSetup,
  describeStart,
  describePlacement,
  describeWorkload,
  fmtInt,
  fmtIntervals,
  fmtMs,
  fmtPct,
  fmtRate,
  fmtSeconds,
  fmtWeiAsEther,
} from './text';
import { escapeHtml, groupedBarChart, lineChart, PALETTE, type LineSeries } from './svg';
import { HTML_CHART_REASONS, htmlKv, htmlTable, mergeFactor, reasonChart, reasonTable, REPORT_CSS, seriesPoints, useLogX, htmlPageStart } from './html-parts';
import type { LatencyStats, OutcomeCounts, Report } from './types';

const e = escapeHtml;

function countRow(name: string, c: OutcomeCounts): string[] {
  return [name, fmtInt(c.submitted), fmtInt(c.committed), fmtInt(c.reverted), fmtInt(c.aborted), fmtInt(c.rejected), fmtInt(c.unknown)];
}

function latencyRow(name: string, l: LatencyStats): string[] {
  return [
    name,
    fmtInt(l.n),
    fmtMs(l.ms?.p50),
    fmtMs(l.ms?.p95),
    fmtMs(l.ms?.p99),
    fmtMs(l.ms?.mean),
    fmtMs(l.ms?.max),
    fmtIntervals(l.blockIntervals?.p50),
    fmtIntervals(l.blockIntervals?.p95),
    fmtIntervals(l.blockIntervals?.p99),
    fmtIntervals(l.blockIntervals?.max),
  ];
}

function throughputChart(r: Report): { svg: string; averaged: number } {
  const b = r.counts.submitted > 0 ? r.timeSeries.buckets : [];
  const k = mergeFactor(b.length);
  const minutes = b.length > 1200;
  const unit = minutes ? 60 : 1;
  const markers = b.length / k <= 60;
  const series: LineSeries[] = [
    { name: 'committed', color: PALETTE.blue, points: seriesPoints(b, 'committed', k, unit), markers },
    { name: 'submitted', color: PALETTE.orange, dash: '7 4', points: seriesPoints(b, 'submitted', k, unit), markers },
  ];
  if (r.counts.aborted > 0)
    series.push({ name: 'aborted', color: PALETTE.vermillion, dash: '2 3', points: seriesPoints(b, 'aborted', k, unit), markers });
  const svg = lineChart({
    title: 'Transactions per second over time',
    xLabel: `time since run start (${minutes ? 'min' : 's'})`,
    yLabel: k === 1 ? 'transactions per second' : `transactions per second (mean over ${k} s)`,
    series,
    xMin: 0,
    xMax: b.length / unit,
    emptyMessage: 'No transactions.',
  });
  return { svg, averaged: k };
}

function latencyCdfChart(r: Report): { svg: string; log: boolean } {
  const local = r.latencyCdf.local.map((p) => ({ x: p.ms, y: p.q }));
  const cross = r.latencyCdf.crossShard.map((p) => ({ x: p.ms, y: p.q }));
  const xsAll = [...local, ...cross].map((p) => p.x);
  const maxX = Math.max(...xsAll);
  const log = useLogX(xsAll);
  const svg = lineChart({
    title: 'Latency CDF, local vs cross-shard',
    xLabel: `latency, submission to final status (ms${log ? ', log scale' : ''})`,
    yLabel: 'fraction of committed transactions',
    series: [
      { name: `local (n = ${fmtInt(r.latency.local.n)})`, color: PALETTE.blue, points: local, step: true },
      { name: `cross-shard (n = ${fmtInt(r.latency.crossShard.n)})`, color: PALETTE.orange, dash: '7 4', points: cross, step: true },
    ],
    xLog: log,
    xMax: maxX * 1.04, // keep the last step off the frame
    yDomain: [0, 1],
    emptyMessage: 'No committed transactions: no latency to show.',
  });
  return { svg, log };
}

function perShardChart(r: Report): string {
  return groupedBarChart({
    title: 'Load per shard, local vs cross-shard',
    xLabel: 'shard',
    yLabel: 'transactions involving the shard',
    categories: r.perShard.map((s) => String(s.shard)),
    groups: [
      { name: 'local', color: PALETTE.blue, values: r.perShard.map((s) => s.involved.local) },
      { name: 'cross-shard', color: PALETTE.orange, values: r.perShard.map((s) => s.involved.crossShard) },
    ],
    emptyMessage: 'No shards.',
  });
}

/**
 * Renders a report as ONE self-contained HTML document: inline CSS and inline SVG charts, no
 * scripts and no external resources (fonts, images, styles). Figures: (1) committed and submitted
 * transactions per second over time, (2) latency CDFs local vs cross-shard, (3) per-shard load
 * local vs cross-shard, (4) abort and rejection reasons; tables of counts, throughput, latency,
 * per-shard load and reasons; the audit, the configuration, the methods and the warnings; the
 * terminal summary in a collapsed block. Colours from the Okabe–Ito palette, with dashes as a
 * second cue. Every string from the report is HTML-escaped. Pure.
 */
export function renderReportHtml(report: Report): string {
  const r = report;
  const c = r.counts;
  const a = r.audit;
  const t = r.throughput;
  const title = `ShardLab report: ${r.config.protocol}, ${r.config.shards} shards, ${r.config.startedAt}`;

  const verdict = a.ok && r.accountedFor;
  const verdictText = `Audit ${a.ok ? 'PASSED' : 'FAILED'} · ${
    r.accountedFor ? `all ${fmtInt(c.submitted)} transactions reached a terminal status` : `${fmtInt(c.unknown)} transaction(s) without a terminal status`
  }`;

  const headline = htmlKv([
    ['Committed throughput', `${e(fmtRate(t.committedPerSecond))} tx/s <span class="note">over ${e(fmtSeconds(t.durationSeconds))}, first submission to last final status</span>`],
    ['Offered load', `${e(fmtRate(t.submittedPerSecond))} tx/s <span class="note">over ${e(fmtSeconds(t.submitDurationSeconds))} of submission</span>`],
    [
      'Latency p50 / p99',
      `local ${e(fmtMs(r.latency.local.ms?.p50))} / ${e(fmtMs(r.latency.local.ms?.p99))} ms · cross-shard ${e(fmtMs(r.latency.crossShard.ms?.p50))} / ${e(fmtMs(r.latency.crossShard.ms?.p99))} ms`,
    ],
    ['Cross-shard ratio', `${e(fmtPct(r.crossShardRatio))} <span class="note">(${fmtInt(c.crossShard.submitted)} of ${fmtInt(c.submitted)} submitted)</span>`],
    ['Committed', `${fmtInt(c.committed)} of ${fmtInt(c.submitted)} (${e(fmtPct(c.submitted > 0 ? c.committed / c.submitted : null))})`],
    [
      'CPU',
      r.cpu === null
        ? 'not measured'
        : `${e(r.cpu.cpuSeconds.toFixed(1))} s (all network processes) · ${
            r.cpu.cpuSecondsPerCommittedTx === null ? '-' : e((r.cpu.cpuSecondsPerCommittedTx * 1000).toFixed(2))
          } ms per committed tx · ${r.cpu.averageCores === null ? '-' : e(r.cpu.averageCores.toFixed(2))} cores busy on average`,
    ],
  ]);

  const counts = htmlTable(
    ['class', 'submitted', 'committed', 'reverted', 'aborted', 'rejected', 'unknown'],
    [countRow('local', c.local), countRow('cross-shard', c.crossShard), countRow('all', c)],
    { totalLast: true },
  );

  const latency = htmlTable(
    ['class', 'n', 'p50 ms', 'p95 ms', 'p99 ms', 'mean ms', 'max ms', 'p50 blk', 'p95 blk', 'p99 blk', 'max blk'],
    [latencyRow('local', r.latency.local), latencyRow('cross-shard', r.latency.crossShard), latencyRow('all', r.latency.all)],
    { totalLast: true },
  );

  const perShard = htmlTable(
    ['shard', 'home local', 'home cross-shard', 'involved local', 'involved cross-shard', 'committed (involved)'],
    r.perShard.map((s) => [
      String(s.shard),
      fmtInt(s.home.local),
      fmtInt(s.home.crossShard),
      fmtInt(s.involved.local),
      fmtInt(s.involved.crossShard),
      fmtInt(s.committedInvolved.total),
    ]),
  );

  const fig1 = throughputChart(r);
  const fig2 = latencyCdfChart(r);

  const ok = (b: boolean) => (b ? 'ok' : '<span class="bad-text">FAILED</span>');
  const cons = a.conservation;
  const audit = htmlKv([
    ['Verdict', a.ok ? 'PASSED' : '<span class="bad-text">FAILED</span>'],
    [
      'Conservation',
      `${ok(cons.ok)}: genesis ${e(fmtWeiAsEther(cons.genesisWei))} − burned ${e(fmtWeiAsEther(cons.burnedWei))} = expected ${e(
        fmtWeiAsEther(cons.expectedWei),
      )}; actual ${e(fmtWeiAsEther(cons.actualWei))}<br><span class="note">in wei: expected ${e(cons.expectedWei)}, actual ${e(cons.actualWei)}</span>`,
    ],
    [
      'Atomicity',
      `${ok(a.atomicity.ok)}: ${fmtInt(a.atomicity.committed)} committed, ${fmtInt(a.atomicity.aborted)} aborted, ${fmtInt(a.atomicity.inFlight)} in flight`,
    ],
    ['Locks', `${ok(a.locks.ok)}: ${a.locks.accountsWithLocks === 0 ? 'none left' : `${fmtInt(a.locks.accountsWithLocks)} account(s) still hold locks`}`],
  ]);
  const problems =
    a.problems.length === 0 ? '' : `\n<h3>Problems (${fmtInt(a.problems.length)})</h3>\n<ul class="problems">${a.problems.map((p) => `<li>${e(p)}</li>`).join('')}</ul>`;

  const w = r.config.workload;
  const workloadRows: [string, string][] =
    w.kind === 'synthetic'
      ? [
          ['Transactions', fmtInt(w.txs)],
          ['Accounts', fmtInt(w.accounts)],
          ['Mix', e(describeMix(w.mix))],
          ['Popularity', e(describePopularity(w.zipf))],
        ]
      : [
          ['File', `<code>${e(w.file)}</code>`],
          ['Format', e(w.format)],
          ['Rows', `${fmtInt(w.rows)} (${fmtInt(w.skippedRows)} skipped)`],
          ['Value scale', e(w.valueScale)],
        ];
  const config = htmlKv([
    ['Protocol', e(r.config.protocol)],
    ['Shards', fmtInt(r.config.shards)],
    ['Block interval', `${e(String(r.config.blockIntervalMs))} ms`],
    ['Workload', e(describeWorkload(w))],
    ...workloadRows,
    ...(r.config.placement ? [['Placement', e(describePlacement(r.config.placement))] as [string, string]] : []),
    ['Load', e(describeLoad(r))],
    ['Seed', e(String(r.config.seed))],
    ['Commit', `<code>${e(r.config.commit)}</code>`],
    ['Started', e(describeStart(r))],
    ['Run', `${e(fmtSeconds(r.run.durationSeconds))} (submission ${e(fmtSeconds(t.submitDurationSeconds))})`],
  ]);
  const notes = w.notes.length === 0 ? '' : `\n<h3>Workload notes</h3>\n<ul>${w.notes.map((n) => `<li>${e(n)}</li>`).join('')}</ul>`;
  const methods = `<ul>${Object.entries(r.methods)
    .map(([k, v]) => `<li><b>${e(k)}</b>: ${e(v)}</li>`)
    .join('')}</ul>`;
  const warnings =
    r.warnings.length === 0 ? '' : `\n<h2>Warnings</h2>\n<ul class="problems">${r.warnings.map((x) => `<li>${e(x)}</li>`).join('')}</ul>`;

  return `${htmlPageStart(e(title))}
<header>
<h1>ShardLab experiment report</h1>
<p class="sub">${e(describeSetup(r))}</p>
<p class="sub">${e(describeWorkload(w))}; ${e(describeLoad(r))}</p>
<p class="verdict ${verdict ? 'ok' : 'bad'}">${e(verdictText)}</p>
</header>

<h2>Summary</h2>
${headline}

<h2>Transactions</h2>
${counts}
<p class="note">committed: local transaction final with a successful receipt, or cross-shard transaction committed; reverted: local transaction included with a failed receipt; aborted: cross-shard transaction aborted by the protocol; rejected: refused at submission; unknown: no terminal status when the run ended.</p>

<h2>Latency</h2>
${latency}
<p class="note">Committed transactions, from submission to final status. ms: milliseconds; blk: block intervals of ${e(String(r.config.blockIntervalMs))} ms. Nearest-rank percentiles.</p>

<h2>Figures</h2>
<div class="figs">
<figure id="fig-throughput">
${fig1.svg}
<figcaption>Figure 1. Transactions per second since the start of the run: committed (solid) and submitted (dashed)${
    r.counts.aborted > 0 ? ', aborted (dotted)' : ''
  }; committed and aborted counted when their final status became known; ${fig1.averaged === 1 ? '1 s buckets' : `mean over ${fig1.averaged} s buckets`}.</figcaption>
</figure>
<figure id="fig-latency-cdf">
${fig2.svg}
<figcaption>Figure 2. Empirical CDF of the latency of committed transactions, local (solid) and cross-shard (dashed): fraction of transactions final within x ms of submission${fig2.log ? ' (x axis in log scale)' : ''}; 100 nearest-rank quantiles.</figcaption>
</figure>
<figure id="fig-per-shard">
${perShardChart(r)}
<figcaption>Figure 3. Transactions involving each shard (home shard or other involved shard), local and cross-shard; a cross-shard transaction counts on every shard it involves.</figcaption>
</figure>
<figure id="fig-reasons">
${reasonChart(r.abortReasons)}
<figcaption>Figure 4. The ${HTML_CHART_REASONS} most frequent abort (aborted) and rejection (rejected) reasons, hashes, addresses and numbers normalised.</figcaption>
</figure>
</div>

<h2>Per shard</h2>
${perShard}
<p class="note">home: the sender is on the shard; involved: the shard takes part (as home or another shard); committed: committed transactions involving the shard.</p>

<h2>Abort and rejection reasons</h2>
${reasonTable('Aborted', c.aborted, r.abortReasons.aborted)}
${reasonTable('Rejected', c.rejected, r.abortReasons.rejected)}

<h2>Audit</h2>
${audit}${problems}

<h2>Configuration</h2>
${config}${notes}

<h2>Methods</h2>
${methods}
${warnings}
<details>
<summary>Terminal summary</summary>
<pre>${e(formatReportTable(r))}</pre>
</details>

<footer>Generated by ShardLab (${e(r.schema)}); the same figures are in report.json.</footer>
</body>
</html>
`;
}
