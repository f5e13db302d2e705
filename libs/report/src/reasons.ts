import type { ReasonCount } from './types';

/** Group name of transactions that came without a reason. */
export const NO_REASON = '(no reason given)';

/**
 * Normalises an abort or rejection reason so that the same cause groups together: hex values
 * (`0x…`, possibly shortened with `…` or `...`) become `0x…`, bare hex runs of 16+ digits become
 * `<hex>`, decimal numbers become `N`, whitespace collapses. `conflict: 0xabc… is locked by
 * 0xdef…` and `conflict: 0x12…9f is locked by 0x77…` both give `conflict: 0x… is locked by 0x…`.
 * Pure; an empty or missing reason gives {@link NO_REASON}.
 */
export function normaliseReason(reason: string | undefined): string {
  if (reason === undefined) return NO_REASON;
  const out = reason
    // 0x-prefixed hex, optionally shortened in the middle or at the end (0xabcd…ef12, 0xabc...).
    .replace(/\b0x[0-9a-fA-F]*(?:(?:…|\.\.\.)[0-9a-fA-F]*)?/g, '0x…')
    // Long bare hex (hashes printed without 0x).
    .replace(/\b[0-9a-fA-F]{16,}\b/g, '<hex>')
    // Decimal numbers (integers, decimals, exponents; units may follow: 3000ms → Nms), not digits
    // that end a word (erc20, v2).
    .replace(/(?<![\w.])-?\d+(?:\.\d+)?(?:e[+-]?\d+)?(?!x…)/gi, 'N')
    .replace(/\s+/g, ' ')
    .trim();
  return out === '' ? NO_REASON : out;
}

/**
 * Groups reasons by {@link normaliseReason}: counts, one original example per group, sorted by
 * count (descending) then reason (ascending) so that the order is deterministic. Pure.
 */
export function groupReasons(reasons: Iterable<string | undefined>): ReasonCount[] {
  const groups = new Map<string, ReasonCount>();
  for (const raw of reasons) {
    const reason = normaliseReason(raw);
    const g = groups.get(reason);
    if (g) g.count++;
    else groups.set(reason, { reason, count: 1, example: raw ?? '' });
  }
  return [...groups.values()].sort((a, b) => b.count - a.count || (a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : 0));
}
