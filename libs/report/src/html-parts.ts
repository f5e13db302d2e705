// Pieces shared by the HTML report and the HTML comparison: the style sheet, tables, throughput series, the reason chart and table.
import { fmtInt, fmtPct } from './text';
import { escapeHtml, horizontalBarChart, PALETTE } from './svg';
import type { ReasonCount, Report, TimeBucket } from './types';

/** Most points of the throughput chart; longer runs are averaged over wider buckets. */
export const HTML_MAX_SERIES_POINTS = 300;

/** The latency CDF uses a log x axis when max / min latency reaches this ratio. */
export const LOG_X_RATIO = 10;

/** Most reasons in the abort-reason chart. */
export const HTML_CHART_REASONS = 10;

/** Most reasons per table in the HTML page. */
export const HTML_TABLE_REASONS = 50;

const e = escapeHtml;

/** The style sheet of the HTML pages (report and comparison), inlined in each page. */
export const REPORT_CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 960px; padding: 24px 28px 48px; color: #1a1a1a; background: #fff;
  font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Liberation Sans", sans-serif;
  font-size: 15px; line-height: 1.45; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #ccc; }
h3 { font-size: 15px; margin: 18px 0 6px; }
p.sub { margin: 0; color: #444; }
.verdict { display: inline-block; margin: 12px 0 0; padding: 4px 10px; border: 2px solid; font-weight: 600; }
.verdict.ok { border-color: #009E73; color: #00573f; }
.verdict.bad { border-color: #D55E00; color: #8a3d00; }
table { border-collapse: collapse; margin: 6px 0 10px; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e2e2e2; text-align: right; vertical-align: top; }
th { border-bottom: 1.5px solid #555; font-weight: 600; }
th:first-child, td:first-child, td.text, th.text { text-align: left; }
tr.total td { font-weight: 600; border-top: 1.5px solid #555; }
.kv th { text-align: left; font-weight: 600; padding-right: 18px; border-bottom: 1px solid #e2e2e2; }
.kv td { text-align: left; }
.note { color: #555; font-size: 13px; }
.figs { display: block; }
figure { margin: 18px 0 26px; page-break-inside: avoid; break-inside: avoid; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption { font-size: 13px; color: #333; margin-top: 4px; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono", monospace; font-size: 12.5px; }
pre { overflow-x: auto; background: #f6f6f6; padding: 10px; }
.bad-text { color: #a34400; font-weight: 600; }
ul.problems li { color: #a34400; }
footer { margin-top: 40px; color: #666; font-size: 12px; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  h2 { page-break-after: avoid; break-after: avoid; }
  details { display: none; }
  table, figure { page-break-inside: avoid; break-inside: avoid; }
}
`;

/**
 * An HTML table: a header row of `head` and one row per entry of `rows`. Cells are inserted as
 * given (HTML: escape text first); `totalLast` styles the last row as a total, `textCols` are
 * left-aligned.
 */
export function htmlTable(head: readonly string[], rows: readonly (readonly string[])[], opts: { totalLast?: boolean; textCols?: number[] } = {}): string {
  const textCols = new Set(opts.textCols ?? []);
  const cell = (tag: 'th' | 'td', v: string, i: number) => `<${tag}${textCols.has(i) ? ' class="text"' : ''}>${v}</${tag}>`;
  const body = rows
    .map((r, ri) => `<tr${opts.totalLast && ri === rows.length - 1 ? ' class="total"' : ''}>${r.map((v, i) => cell('td', v, i)).join('')}</tr>`)
    .join('\n');
  return `<table>\n<thead><tr>${head.map((h, i) => cell('th', h, i)).join('')}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

/** A two-column key/value table; keys and values are inserted as given (HTML). */
export function htmlKv(rows: readonly [string, string][]): string {
  return `<table class="kv">\n${rows.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join('\n')}\n</table>`;
}

/**
 * Seconds merged into one point of a throughput chart of `buckets` one-second buckets: a round
 * number (1, 2, 5, 10, 15, 20, 30, 60 … 3600 s) keeping at most {@link HTML_MAX_SERIES_POINTS} points.
 */
export function mergeFactor(buckets: number): number {
  const need = Math.ceil(buckets / HTML_MAX_SERIES_POINTS);
  for (const k of [1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600]) if (k >= need) return k;
  return Math.ceil(need / 3600) * 3600;
}

/** Buckets merged `k` at a time, as mean tx/s; x (in `unitSeconds`) at the middle of each merged bucket. */
export function seriesPoints(
  buckets: readonly TimeBucket[],
  field: 'submitted' | 'committed' | 'aborted',
  k: number,
  unitSeconds: number,
): { x: number; y: number }[] {
  const out: { x: number; y: number }[] = [];
  for (let i = 0; i < buckets.length; i += k) {
    const slice = buckets.slice(i, i + k);
    const sum = slice.reduce((s, b) => s + b[field], 0);
    out.push({ x: (i + slice.length / 2) / unitSeconds, y: sum / slice.length });
  }
  return out;
}

/**
 * Whether latency CDFs over these x values (ms) use a log x axis: every value positive and the
 * largest at least {@link LOG_X_RATIO} times the smallest.
 */
export function useLogX(xs: readonly number[]): boolean {
  if (xs.length === 0) return false;
  let min = Infinity;
  let max = -Infinity;
  for (const x of xs) {
    min = Math.min(min, x);
    max = Math.max(max, x);
  }
  return min > 0 && max / min >= LOG_X_RATIO;
}

/**
 * The horizontal bar chart of the {@link HTML_CHART_REASONS} most frequent abort and rejection
 * reasons of a report (aborted in vermillion, rejected in sky blue), under `title`.
 */
export function reasonChart(reasons: Report['abortReasons'], title = 'Abort and rejection reasons'): string {
  const bars = [
    ...reasons.aborted.map((x) => ({ ...x, kind: 'aborted' as const })),
    ...reasons.rejected.map((x) => ({ ...x, kind: 'rejected' as const })),
  ]
    .sort((a, b) => b.count - a.count || (a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : 0))
    .slice(0, HTML_CHART_REASONS)
    .map((x) => ({
      label: `${x.kind}: ${x.reason}`,
      value: x.count,
      color: x.kind === 'aborted' ? PALETTE.vermillion : PALETTE.sky,
    }));
  return horizontalBarChart({
    title,
    xLabel: 'transactions',
    bars,
    legend: [
      { name: 'aborted', color: PALETTE.vermillion, kind: 'box' },
      { name: 'rejected', color: PALETTE.sky, kind: 'box' },
    ],
    emptyMessage: 'No aborted or rejected transactions.',
  });
}

/**
 * A heading `title (total)` and the table of up to {@link HTML_TABLE_REASONS} reasons (count,
 * share of `total`, code, normalised reason, example); "None." without reasons.
 */
export function reasonTable(title: string, total: number, reasons: readonly ReasonCount[]): string {
  if (reasons.length === 0) return `<h3>${e(title)}</h3>\n<p class="note">None.</p>`;
  const shown = reasons.slice(0, HTML_TABLE_REASONS);
  const rows = shown.map((x) => [
    fmtInt(x.count),
    total > 0 ? fmtPct(x.count / total) : '-',
    x.code ? `<code>${e(x.code)}</code>` : '-',
    `<code>${e(x.reason)}</code>`,
    `<code>${e(x.example)}</code>`,
  ]);
  const more = reasons.length > shown.length ? `\n<p class="note">… and ${reasons.length - shown.length} more reasons in report.json.</p>` : '';
  return `<h3>${e(title)} (${fmtInt(total)})</h3>\n${htmlTable(['count', 'share', 'code', 'reason (normalised)', 'example'], rows, { textCols: [2, 3, 4] })}${more}`;
}

/**
 * The start of a self-contained report page up to and including `<body>`: doctype, UTF-8,
 * viewport, `title` (already HTML-escaped) and the shared stylesheet {@link REPORT_CSS}.
 */
export function htmlPageStart(escapedTitle: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapedTitle}</title>
<style>${REPORT_CSS}</style>
</head>
<body>`;
}
