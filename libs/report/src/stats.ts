// The report's statistics: nearest-rank percentiles, ascending sort and arithmetic mean.
/**
 * Small statistics used by the report. Pure.
 */

/**
 * The `p`-th percentile (0 < p ≤ 100) of an ascending `sorted` sample by the nearest-rank method:
 * the value at rank ⌈p/100 · n⌉ (1-based) of the sorted sample, so every result is an observed
 * value. p = 0 gives the minimum. Returns null for an empty sample.
 * @throws RangeError when p is outside 0..100.
 */
export function nearestRank(sorted: readonly number[], p: number): number | null {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within 0..100, got ${p}`);
  const n = sorted.length;
  if (n === 0) return null;
  // p·n/100 rather than (p/100)·n: exact for integer p; the epsilon absorbs rounding of other p.
  const rank = Math.min(n, Math.max(1, Math.ceil((p * n) / 100 - 1e-9)));
  return sorted[rank - 1]!;
}

/** Ascending copy of `values`. */
export function sortedAscending(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/** Arithmetic mean; null for an empty sample. */
export function mean(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}
