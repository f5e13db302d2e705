// Number and text formatting shared by the terminal table and the HTML page: ints, ms, rates, percentages, ether, wrapping, aligned columns, set-up lines.
/**
 * Number and text formatting shared by the terminal table and the HTML page. Pure.
 */
import { formatEther } from '@shardlab/common';
import type { PlacementConfig, Report, WorkloadConfig } from './types';

/** `1234567` → `1,234,567` (independent of the machine's locale). */
export function fmtInt(n: number): string {
  const sign = n < 0 ? '-' : '';
  const digits = Math.round(Math.abs(n)).toString();
  return sign + digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** A latency in ms with 3 significant digits or so: `1,234`, `56.7`, `8.90`; `-` for null. */
export function fmtMs(v: number | null | undefined): string {
  if (v === null || v === undefined) return '-';
  const a = Math.abs(v);
  return a >= 100 ? fmtInt(v) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** A number of block intervals, 2 decimals; `-` for null. */
export function fmtIntervals(v: number | null | undefined): string {
  return v === null || v === undefined ? '-' : v.toFixed(2);
}

/** A rate (per second): 1 decimal from 10 up, 2 below; `-` for null. */
export function fmtRate(v: number | null | undefined): string {
  if (v === null || v === undefined) return '-';
  return Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** A ratio 0..1 as a percentage with one decimal: `49.5 %`; `-` for null. */
export function fmtPct(v: number | null | undefined): string {
  return v === null || v === undefined ? '-' : `${(v * 100).toFixed(1)} %`;
}

/** Seconds with one decimal: `32.1 s`. */
export function fmtSeconds(s: number): string {
  return `${s.toFixed(1)} s`;
}

/** A decimal wei string in ether (`1.5 ether`); the string itself when it is not a decimal integer. */
export function fmtWeiAsEther(wei: string): string {
  return /^-?\d+$/.test(wei) ? `${formatEther(BigInt(wei))} ether` : wei;
}

/** Shortens `s` to at most `max` characters, ending in `…` when cut. */
export function truncate(s: string, max: number): string {
  if (max <= 0) return '';
  return s.length <= max ? s : s.slice(0, Math.max(0, max - 1)) + '…';
}

/**
 * Word-wraps `text` to lines of at most `width` characters, the first starting with `first`, the
 * next with `rest` (both counted in the width). Words longer than a line are cut.
 */
export function wrap(text: string, width: number, first = '', rest = first): string[] {
  const lines: string[] = [];
  let prefix = first;
  let cur = '';
  const flush = () => {
    lines.push(prefix + cur);
    prefix = rest;
    cur = '';
  };
  for (let word of text.split(/\s+/).filter((w) => w !== '')) {
    for (;;) {
      const room = width - prefix.length;
      const need = cur === '' ? word.length : cur.length + 1 + word.length;
      if (need <= room) {
        cur = cur === '' ? word : `${cur} ${word}`;
        break;
      }
      if (cur !== '') {
        flush();
        continue;
      }
      const take = Math.max(1, room);
      cur = word.slice(0, take);
      word = word.slice(take);
      flush();
      if (word === '') break;
    }
  }
  if (cur !== '' || lines.length === 0) lines.push(prefix + cur);
  return lines;
}

/** Column alignment of {@link textTable}. */
export type Align = 'left' | 'right';

/**
 * Aligns rows of cells into columns separated by two spaces (first column left-aligned unless
 * told otherwise, the others right-aligned). Returns one string per row, trailing spaces trimmed.
 */
export function textTable(rows: readonly (readonly string[])[], align: readonly Align[] = []): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => {
        const a = align[i] ?? (i === 0 ? 'left' : 'right');
        const w = widths[i] ?? 0;
        return a === 'left' ? cell.padEnd(w) : cell.padStart(w);
      })
      .join('  ')
      .trimEnd(),
  );
}

/** `transfer 70 %, erc20 20 %, swap 10 %` from a mix of weights (normalised to their sum). */
export function describeMix(mix: Record<string, number>): string {
  const entries = Object.entries(mix).filter(([, w]) => Number.isFinite(w) && w > 0);
  const sum = entries.reduce((s, [, w]) => s + w, 0);
  if (sum <= 0) return 'empty';
  return entries.map(([k, w]) => `${k} ${((100 * w) / sum).toFixed(0)} %`).join(', ');
}

/** `Zipf exponent 1` or `uniform (Zipf exponent 0)`: the popularity of a synthetic workload. */
export function describePopularity(zipf: number): string {
  return zipf === 0 ? 'uniform (Zipf exponent 0)' : `Zipf exponent ${zipf}`;
}

/** One line about the workload: `synthetic, 400 txs, 1,000 accounts, mix …, popularity …` or `trace file.csv (csv), …`. */
export function describeWorkload(w: WorkloadConfig): string {
  if (w.kind === 'synthetic')
    return `synthetic, ${fmtInt(w.txs)} txs, ${fmtInt(w.accounts)} accounts, mix ${describeMix(w.mix)}, popularity ${describePopularity(w.zipf)}`;
  return `trace ${w.file} (${w.format}), ${fmtInt(w.rows)} rows, ${fmtInt(w.skippedRows)} skipped, value scale ${w.valueScale}`;
}

/** `rate 100 tx/s` or `rate unlimited`, and the concurrency. */
export function describeLoad(report: Report): string {
  const c = report.config;
  return `${c.rate === null ? 'rate unlimited (as fast as possible)' : `rate ${fmtRate(c.rate)} tx/s`}, concurrency ${fmtInt(c.concurrency)}`;
}

/** `block-2pc, 4 shards, block interval 250 ms, seed 1, commit abc123`. */
export function describeSetup(report: Report): string {
  const c = report.config;
  return `${c.protocol}, ${c.shards} shard${c.shards === 1 ? '' : 's'}, block interval ${c.blockIntervalMs} ms, seed ${c.seed}, commit ${c.commit}`;
}

/**
 * `graph placement (seed 1): planned cross-shard ratio 0.206 (hash 0.687), load per shard
 * 4,744 / 4,987 / 5,096 / 5,172 txs, 1,234 accounts overridden`.
 */
export function describePlacement(p: PlacementConfig): string {
  const hash = p.policy !== 'hash' && p.hashCrossShardRatio !== undefined ? ` (hash ${p.hashCrossShardRatio.toFixed(3)})` : '';
  const overrides = p.overrides !== undefined && p.policy !== 'hash' ? `, ${fmtInt(p.overrides)} accounts overridden` : '';
  return `${p.policy} placement (seed ${p.seed}): planned cross-shard ratio ${p.crossShardRatio.toFixed(3)}${hash}, load per shard ${p.perShardLoad.map((l) => fmtInt(l)).join(' / ')} txs${overrides}`;
}

/** `2025-01-01T00:00:00Z on 8 CPUs, 16 GiB, node v20.11.0` (machine when known). */
export function describeStart(report: Report): string {
  const m = report.config.machine;
  return m ? `${report.config.startedAt} on ${m.cpus} CPUs, ${m.memoryGiB} GiB, node ${m.node}` : report.config.startedAt;
}
