import { nearestRank, sortedAscending } from '@shardlab/report';

/**
 * The `p`-th percentile (0..100) of `values` by the nearest-rank method (`nearestRank` of
 * `@shardlab/report`); NaN for no values.
 * @throws RangeError when p is outside 0..100.
 */
export function percentile(values: readonly number[], p: number): number {
  return nearestRank(sortedAscending(values), p) ?? NaN;
}
