// SVG chart builders of the HTML report: Okabe-Ito palette, linear and log scales, axes, legends, line/step charts, grouped and horizontal bar charts.
/**
 * Small SVG chart builders for the HTML report and comparison: axes with ticks, line/step charts, grouped
 * vertical bars, labelled horizontal bars. Pure string building; every text goes through
 * {@link escapeHtml}. Sizes are SVG user units (px at 100 %).
 */

/** Colour-blind-safe palette (Okabe & Ito), readable in greyscale print as dark vs light. */
export const PALETTE = {
  blue: '#0072B2',
  orange: '#E69F00',
  vermillion: '#D55E00',
  purple: '#CC79A7',
  green: '#009E73',
  sky: '#56B4E9',
  grey: '#666666',
} as const;

/** Escapes `& < > " '` for HTML text and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;'));
}

/** A number for SVG coordinates (2 decimals, no exponent). */
function n2(v: number): string {
  return (Math.round(v * 100) / 100).toString();
}

/** An axis domain extended to round numbers, with its ticks. */
export interface Scale {
  min: number;
  max: number;
  ticks: number[];
  log: boolean;
}

function niceStep(range: number, target: number): number {
  const raw = range / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
}

/**
 * A linear scale over [min, max] extended to multiples of a round step (1, 2 or 5 × 10^k) with
 * about `target` ticks. An empty range becomes [min, min + 1].
 */
export function linearScale(min: number, max: number, target = 5): Scale {
  if (!(max > min)) max = min + 1;
  const step = niceStep(max - min, target);
  const lo = Math.floor(min / step + 1e-9) * step;
  const hi = Math.ceil(max / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let v = lo, i = 0; v <= hi + step * 1e-6 && i < 1000; i++, v = lo + i * step) ticks.push(Math.round(v / step) * step);
  return { min: lo, max: hi, ticks, log: false };
}

/**
 * A log-10 scale over [min, max] (min > 0) extended to powers of ten; ticks at 1, 2, 5 × 10^k
 * when it spans at most 3 decades, else at powers of ten.
 */
export function logScale(min: number, max: number): Scale {
  const lo = 10 ** Math.floor(Math.log10(min) + 1e-9);
  let hi = 10 ** Math.ceil(Math.log10(max) - 1e-9);
  if (hi <= lo) hi = lo * 10;
  const decades = Math.round(Math.log10(hi / lo));
  const ticks: number[] = [];
  for (let d = 0; d <= decades; d++) {
    const base = lo * 10 ** d;
    for (const m of decades <= 3 ? [1, 2, 5] : [1]) if (base * m <= hi * (1 + 1e-9)) ticks.push(base * m);
  }
  return { min: lo, max: hi, ticks, log: true };
}

/** A tick label: thousands separators, as many decimals as the spacing needs. */
export function tickLabel(v: number, scale: Scale): string {
  let decimals = 0;
  if (scale.log) decimals = v < 1 ? Math.min(6, Math.ceil(-Math.log10(v) - 1e-9)) : 0;
  else if (scale.ticks.length >= 2) {
    const step = (scale.ticks[1] ?? 0) - (scale.ticks[0] ?? 0);
    decimals = step > 0 && step < 1 ? Math.min(6, Math.ceil(-Math.log10(step) - 1e-9)) : 0;
  }
  const s = Math.abs(v).toFixed(decimals);
  const [int = '0', frac] = s.split('.');
  const sign = v < 0 && Number(s) !== 0 ? '-' : '';
  return sign + int.replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (frac ? `.${frac}` : '');
}

/** Maps a value of `scale` to a pixel between `from` and `to`, clamped. */
function project(scale: Scale, v: number, from: number, to: number): number {
  let f: number;
  if (scale.log) {
    const x = Math.max(v, scale.min);
    f = Math.log10(x / scale.min) / Math.log10(scale.max / scale.min);
  } else f = (v - scale.min) / (scale.max - scale.min);
  f = Math.min(1, Math.max(0, f));
  return from + f * (to - from);
}

interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

function open(title: string, f: Frame, desc: string): string {
  return (
    `<svg viewBox="0 0 ${f.width} ${f.height}" width="${f.width}" height="${f.height}" ` +
    `role="img" font-size="12" font-family="inherit"><title>${escapeHtml(title)}</title><desc>${escapeHtml(desc)}</desc>` +
    `<rect x="0" y="0" width="${f.width}" height="${f.height}" fill="#ffffff"/>`
  );
}

/** Axes, grid lines, tick labels and axis titles of a plot area. */
function axes(f: Frame, xs: Scale, ys: Scale, xLabel: string, yLabel: string): string {
  const x0 = f.left;
  const x1 = f.width - f.right;
  const y0 = f.height - f.bottom;
  const y1 = f.top;
  const parts: string[] = [];
  for (const t of ys.ticks) {
    const y = n2(project(ys, t, y0, y1));
    parts.push(`<line x1="${x0}" y1="${y}" x2="${x1}" y2="${y}" stroke="#dddddd" stroke-width="1"/>`);
    parts.push(`<line x1="${x0 - 5}" y1="${y}" x2="${x0}" y2="${y}" stroke="#333333"/>`);
    parts.push(`<text x="${x0 - 8}" y="${y}" text-anchor="end" dy="0.35em" fill="#222222">${escapeHtml(tickLabel(t, ys))}</text>`);
  }
  for (const t of xs.ticks) {
    const x = n2(project(xs, t, x0, x1));
    parts.push(`<line x1="${x}" y1="${y0}" x2="${x}" y2="${y0 + 5}" stroke="#333333"/>`);
    parts.push(`<text x="${x}" y="${y0 + 18}" text-anchor="middle" fill="#222222">${escapeHtml(tickLabel(t, xs))}</text>`);
  }
  parts.push(`<line x1="${x0}" y1="${y0}" x2="${x1}" y2="${y0}" stroke="#333333"/>`);
  parts.push(`<line x1="${x0}" y1="${y0}" x2="${x0}" y2="${y1}" stroke="#333333"/>`);
  parts.push(`<text x="${n2((x0 + x1) / 2)}" y="${f.height - 8}" text-anchor="middle" fill="#222222">${escapeHtml(xLabel)}</text>`);
  const cy = n2((y0 + y1) / 2);
  parts.push(`<text x="16" y="${cy}" text-anchor="middle" transform="rotate(-90 16 ${cy})" fill="#222222">${escapeHtml(yLabel)}</text>`);
  return parts.join('');
}

/** A legend entry. `kind` line draws a line sample (with its dash), box a filled square. */
export interface LegendItem {
  name: string;
  color: string;
  dash?: string;
  kind: 'line' | 'box';
}

/** Height of one legend row, px. */
const LEGEND_ROW = 18;

/** Estimated width of a legend entry (7 px per character). */
function legendWidth(item: LegendItem): number {
  return 28 + item.name.length * 7 + 16;
}

/** The legend entries split into rows that each fit between the plot's left and right margins (one row when they all fit). */
function legendRows(items: readonly LegendItem[], f: Pick<Frame, 'width' | 'left' | 'right'>): LegendItem[][] {
  const room = f.width - f.left - f.right;
  const rows: LegendItem[][] = [[]];
  let used = 0;
  for (const item of items) {
    const w = legendWidth(item);
    const row = rows[rows.length - 1]!;
    if (row.length > 0 && used + w > room) {
      rows.push([item]);
      used = w;
    } else {
      row.push(item);
      used += w;
    }
  }
  return rows;
}

/** Extra top margin a chart needs for its legend: one {@link LEGEND_ROW} per row after the first. */
function legendExtra(items: readonly LegendItem[], f: Pick<Frame, 'width' | 'left' | 'right'>): number {
  return (legendRows(items, f).length - 1) * LEGEND_ROW;
}

/**
 * A legend at the top right of a chart, in as many rows as it needs (see {@link legendRows}), each
 * row right-aligned. Text width is estimated (7 px per character).
 */
function legend(items: readonly LegendItem[], f: Frame): string {
  const parts: string[] = [];
  legendRows(items, f).forEach((row, r) => {
    const widths = row.map(legendWidth);
    let x = f.width - f.right - widths.reduce((a, b) => a + b, 0);
    x = Math.max(f.left, x);
    const y = 14 + r * LEGEND_ROW;
    row.forEach((item, i) => {
      if (item.kind === 'line')
        parts.push(
          `<line x1="${x}" y1="${y}" x2="${x + 22}" y2="${y}" stroke="${item.color}" stroke-width="2.5"${item.dash ? ` stroke-dasharray="${item.dash}"` : ''}/>`,
        );
      else parts.push(`<rect x="${x + 6}" y="${y - 6}" width="12" height="12" fill="${item.color}"/>`);
      parts.push(`<text x="${x + 28}" y="${y}" dy="0.35em" fill="#222222">${escapeHtml(item.name)}</text>`);
      x += widths[i] ?? 0;
    });
  });
  return parts.join('');
}

function emptyChart(title: string, message: string, width: number): string {
  const f: Frame = { width, height: 80, left: 0, right: 0, top: 0, bottom: 0 };
  return (
    open(title, f, message) +
    `<text x="${width / 2}" y="44" text-anchor="middle" fill="#444444">${escapeHtml(message)}</text></svg>`
  );
}

/** One series of a {@link lineChart}. */
export interface LineSeries {
  name: string;
  color: string;
  /** `stroke-dasharray`, e.g. `6 4`; solid when absent. */
  dash?: string;
  points: readonly { x: number; y: number }[];
  /** Draw as an empirical CDF: a step up at each x, then flat to the next. */
  step?: boolean;
  /** Dots at the points (for short series). */
  markers?: boolean;
}

/** Options of {@link lineChart}. */
export interface LineChartOpts {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly LineSeries[];
  /** Log-10 x axis (every x must then be > 0; smaller values are clamped to the axis start). */
  xLog?: boolean;
  /** Fixed y domain, e.g. [0, 1] for a CDF; otherwise [0, max y] made round. */
  yDomain?: [number, number];
  /** Fixed x domain start (default: 0 for linear axes, the smallest x for log). */
  xMin?: number;
  /** x domain end before rounding (default: the largest x). */
  xMax?: number;
  /** Shown instead of the chart when no series has points. */
  emptyMessage: string;
  width?: number;
  height?: number;
}

/** A line (or step) chart with axes, grid, ticks, axis titles and a legend. */
export function lineChart(o: LineChartOpts): string {
  const width = o.width ?? 720;
  const all = o.series.flatMap((s) => s.points);
  if (all.length === 0) return emptyChart(o.title, o.emptyMessage, width);
  const items = o.series.map((s) => ({ name: s.name, color: s.color, dash: s.dash, kind: 'line' as const }));
  const extra = legendExtra(items, { width, left: 72, right: 28 });
  const height = (o.height ?? 340) + extra;
  const f: Frame = { width, height, left: 72, right: 28, top: 32 + extra, bottom: 48 };
  const xsMax = o.xMax ?? Math.max(...all.map((p) => p.x));
  let xs: Scale;
  if (o.xLog) {
    const positive = all.map((p) => p.x).filter((x) => x > 0);
    xs = logScale(o.xMin ?? Math.min(...(positive.length > 0 ? positive : [1])), Math.max(xsMax, 1e-9));
  } else xs = linearScale(o.xMin ?? 0, xsMax, 8);
  const ys = o.yDomain ? { ...linearScale(o.yDomain[0], o.yDomain[1], 4), min: o.yDomain[0], max: o.yDomain[1] } : linearScale(0, Math.max(...all.map((p) => p.y)), 5);
  const X = (v: number) => project(xs, v, f.left, width - f.right);
  const Y = (v: number) => project(ys, v, height - f.bottom, f.top);
  const parts: string[] = [open(o.title, f, `${o.yLabel} against ${o.xLabel}`), axes(f, xs, ys, o.xLabel, o.yLabel)];
  for (const s of o.series) {
    if (s.points.length === 0) continue;
    let d = '';
    if (s.step) {
      let prevY = ys.min;
      s.points.forEach((p, i) => {
        d += `${i === 0 ? 'M' : 'L'}${n2(X(p.x))} ${n2(Y(prevY))}L${n2(X(p.x))} ${n2(Y(p.y))}`;
        prevY = p.y;
      });
      d += `L${n2(width - f.right)} ${n2(Y(prevY))}`;
    } else d = s.points.map((p, i) => `${i === 0 ? 'M' : 'L'}${n2(X(p.x))} ${n2(Y(p.y))}`).join('');
    parts.push(
      `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2" stroke-linejoin="round"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}><title>${escapeHtml(s.name)}</title></path>`,
    );
    if (s.markers)
      for (const p of s.points) parts.push(`<circle cx="${n2(X(p.x))}" cy="${n2(Y(p.y))}" r="2.5" fill="${s.color}"/>`);
  }
  parts.push(legend(items, f));
  parts.push('</svg>');
  return parts.join('');
}

/** Options of {@link groupedBarChart}. */
export interface GroupedBarOpts {
  title: string;
  xLabel: string;
  yLabel: string;
  categories: readonly string[];
  groups: readonly { name: string; color: string; values: readonly number[] }[];
  emptyMessage: string;
  width?: number;
  height?: number;
}

/** Vertical bars grouped by category (one bar per group in each), with value labels when they fit. */
export function groupedBarChart(o: GroupedBarOpts): string {
  const width = o.width ?? 720;
  if (o.categories.length === 0 || o.groups.length === 0) return emptyChart(o.title, o.emptyMessage, width);
  const items = o.groups.map((g) => ({ name: g.name, color: g.color, kind: 'box' as const }));
  const extra = legendExtra(items, { width, left: 72, right: 28 });
  const height = (o.height ?? 340) + extra;
  const f: Frame = { width, height, left: 72, right: 28, top: 32 + extra, bottom: 48 };
  const maxV = Math.max(0, ...o.groups.flatMap((g) => g.values));
  const ys = linearScale(0, maxV > 0 ? maxV : 1, 5);
  const Y = (v: number) => project(ys, v, height - f.bottom, f.top);
  const plotW = width - f.left - f.right;
  const slot = plotW / o.categories.length;
  const barW = (slot * 0.8) / o.groups.length;
  // Categories as an axis without numeric ticks: labels drawn below each group.
  const xs: Scale = { min: 0, max: 1, ticks: [], log: false };
  const parts: string[] = [open(o.title, f, `${o.yLabel} per ${o.xLabel}`), axes(f, xs, ys, o.xLabel, o.yLabel)];
  const labelEvery = Math.max(1, Math.ceil(o.categories.length / 32));
  const showValues = barW >= 22;
  o.categories.forEach((cat, c) => {
    const gx = f.left + c * slot + slot * 0.1;
    o.groups.forEach((g, gi) => {
      const v = g.values[c] ?? 0;
      const x = gx + gi * barW;
      const y = Y(v);
      parts.push(
        `<rect x="${n2(x)}" y="${n2(y)}" width="${n2(Math.max(0.5, barW - 1))}" height="${n2(height - f.bottom - y)}" fill="${g.color}"><title>${escapeHtml(`${o.xLabel} ${cat}, ${g.name}: ${v}`)}</title></rect>`,
      );
      if (showValues && v > 0)
        parts.push(`<text x="${n2(x + barW / 2)}" y="${n2(y - 4)}" text-anchor="middle" font-size="10" fill="#222222">${escapeHtml(tickLabel(v, { min: 0, max: 1, ticks: [], log: false }))}</text>`);
    });
    if (c % labelEvery === 0) {
      const cx = n2(f.left + c * slot + slot / 2);
      parts.push(`<line x1="${cx}" y1="${height - f.bottom}" x2="${cx}" y2="${height - f.bottom + 5}" stroke="#333333"/>`);
      parts.push(`<text x="${cx}" y="${height - f.bottom + 18}" text-anchor="middle" fill="#222222">${escapeHtml(cat)}</text>`);
    }
  });
  parts.push(legend(items, f));
  parts.push('</svg>');
  return parts.join('');
}

/** One bar of a {@link horizontalBarChart}. */
export interface HBar {
  label: string;
  value: number;
  color: string;
}

/** Options of {@link horizontalBarChart}. */
export interface HBarOpts {
  title: string;
  xLabel: string;
  bars: readonly HBar[];
  legend: readonly LegendItem[];
  emptyMessage: string;
  width?: number;
}

/** Horizontal bars, each with its label above it (full width, so long labels fit) and its value at its end. */
export function horizontalBarChart(o: HBarOpts): string {
  const width = o.width ?? 720;
  if (o.bars.length === 0) return emptyChart(o.title, o.emptyMessage, width);
  const rowH = 36;
  const f: Frame = { width, height: 0, left: 16, right: 60, top: 32 + legendExtra(o.legend, { width, left: 16, right: 60 }), bottom: 44 };
  f.height = f.top + o.bars.length * rowH + f.bottom;
  const xs = linearScale(0, Math.max(1, ...o.bars.map((b) => b.value)), 6);
  const X = (v: number) => project(xs, v, f.left, width - f.right);
  const y0 = f.height - f.bottom;
  const parts: string[] = [open(o.title, f, `${o.xLabel} per reason`)];
  for (const t of xs.ticks) {
    const x = n2(X(t));
    parts.push(`<line x1="${x}" y1="${f.top}" x2="${x}" y2="${y0}" stroke="#e4e4e4"/>`);
    parts.push(`<line x1="${x}" y1="${y0}" x2="${x}" y2="${y0 + 5}" stroke="#333333"/>`);
    parts.push(`<text x="${x}" y="${y0 + 18}" text-anchor="middle" fill="#222222">${escapeHtml(tickLabel(t, xs))}</text>`);
  }
  parts.push(`<line x1="${f.left}" y1="${y0}" x2="${width - f.right}" y2="${y0}" stroke="#333333"/>`);
  parts.push(`<line x1="${f.left}" y1="${f.top}" x2="${f.left}" y2="${y0}" stroke="#333333"/>`);
  const maxChars = Math.floor((width - f.left - f.right) / 6.6);
  o.bars.forEach((b, i) => {
    const top = f.top + i * rowH;
    const label = b.label.length > maxChars ? `${b.label.slice(0, maxChars - 1)}…` : b.label;
    parts.push(`<text x="${f.left + 4}" y="${top + 11}" fill="#222222">${escapeHtml(label)}<title>${escapeHtml(b.label)}</title></text>`);
    const x1 = X(b.value);
    parts.push(`<rect x="${f.left}" y="${top + 16}" width="${n2(Math.max(1, x1 - f.left))}" height="14" fill="${b.color}"><title>${escapeHtml(`${b.label}: ${b.value}`)}</title></rect>`);
    parts.push(`<text x="${n2(x1 + 4)}" y="${top + 27}" fill="#222222">${escapeHtml(tickLabel(b.value, { min: 0, max: 1, ticks: [], log: false }))}</text>`);
  });
  parts.push(`<text x="${n2((f.left + width - f.right) / 2)}" y="${f.height - 8}" text-anchor="middle" fill="#222222">${escapeHtml(o.xLabel)}</text>`);
  parts.push(legend(o.legend, f));
  parts.push('</svg>');
  return parts.join('');
}
