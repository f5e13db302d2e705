// Abort and rejection reasons in the report: normalising their text (hex, hashes, numbers) and grouping them by code or normalised text.
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

/** One reason to group: its text, and the code it is grouped by when it has one. */
export interface ReasonItem {
  reason?: string | undefined;
  code?: string | undefined;
  /** Group by the normalised text within the code too (rejections: the gRPC code is coarse). */
  byText?: boolean;
}

/**
 * Groups reasons: an item with a code groups with the others of that code (typed reasons: the
 * hashes, addresses and amounts in their text do not matter); with `byText`, or without a code,
 * by {@link normaliseReason} as well. Gives counts, the first member's normalised text and one
 * original example per group, sorted by count (descending) then code and reason (ascending) so
 * that the order is deterministic. Plain strings are untyped reasons. Pure.
 */
export function groupReasons(reasons: Iterable<string | undefined | ReasonItem>): ReasonCount[] {
  const groups = new Map<string, ReasonCount>();
  for (const item of reasons) {
    const it: ReasonItem = typeof item === 'object' ? item : { reason: item };
    const code = it.code ?? '';
    const reason = normaliseReason(it.reason);
    const key = code && !it.byText ? `${code}\u0000` : `${code}\u0000${reason}`;
    const g = groups.get(key);
    if (g) g.count++;
    else groups.set(key, { code, reason, count: 1, example: it.reason ?? '' });
  }
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...groups.values()].sort((a, b) => b.count - a.count || cmp(a.code, b.code) || cmp(a.reason, b.reason));
}
