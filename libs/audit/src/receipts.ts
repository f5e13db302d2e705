// Cross-shard receipts of the shard-led protocol: each sent receipt debited once at its source and credited exactly once, as sent, at its destination.
import { ReceiptKind } from '@shardlab/proto';
import { place, type Finding } from './findings';
import type { ReceiptsReport } from './report';
import type { CrossReceiptFacts, ShardsIndex, SysOcc } from './shard-index';

/** The result of {@link checkReceipts}. */
export interface ReceiptsResult {
  report: ReceiptsReport;
  /** Σ value of receipts debited and not yet credited, in wei (for conservation). */
  inTransitWei: bigint;
  findings: Finding[];
}

/**
 * Checks the shard-led protocol's receipts (docs/ARCHITECTURE.md §5.4, pure), per transaction
 * and per receipt it sent (a transfer sends one TRANSFER; a call sends a CALL from the sender's
 * shard and a CALL_RESULT back from the contract's shard):
 * - each kind is sent at most once, listed in a block that holds exactly one RECEIPT_DEBIT of the
 *   receipt's sender for its value;
 * - each receipt is credited at most once, on its destination shard, for its value — to its
 *   recipient (TRANSFER, CALL_RESULT) or to the sender (CALL: its prepaid amount, spent there);
 * - no RECEIPT_DEBIT or RECEIPT_CREDIT is left unexplained by a sent receipt.
 * A receipt not credited yet is in flight (its value in transit); anything else is a violation.
 */
export function checkReceipts(index: Pick<ShardsIndex, 'crossReceipts'>): ReceiptsResult {
  const findings: Finding[] = [];
  let sent = 0;
  let credited = 0;
  let inFlight = 0;
  let inFlightWei = 0n;
  for (const [h, f] of index.crossReceipts) {
    const r = receiptProblems(h, f);
    for (const text of r.problems) findings.push({ place: place.receipts, text });
    sent += f.sent.length;
    credited += r.credited;
    if (r.problems.length === 0) {
      inFlight += r.inFlight.length;
      for (const v of r.inFlight) inFlightWei += v;
    }
  }
  return {
    report: { sent, credited, inFlight, inFlightWei, ok: findings.length === 0 && inFlight === 0 },
    inTransitWei: inFlightWei,
    findings,
  };
}

const KIND_NAMES = ['TRANSFER', 'CALL', 'CALL_RESULT'];

/** The problems of one transaction's receipts, how many were credited, and the values of those in flight. */
function receiptProblems(h: string, f: CrossReceiptFacts): { problems: string[]; credited: number; inFlight: bigint[] } {
  const out: string[] = [];
  const tx = `tx ${h}`;
  const inFlight: bigint[] = [];
  let credited = 0;
  const kinds = new Map<number, number>();
  for (const r of f.sent) kinds.set(r.kind, (kinds.get(r.kind) ?? 0) + 1);
  for (const [k, n] of kinds) if (n > 1) out.push(`${tx}: ${KIND_NAMES[k] ?? k} receipt sent ${n} times`);
  const usedDebits = new Set<SysOcc>();
  const usedCredits = new Set<SysOcc>();
  for (const r of f.sent) {
    const what = `${tx}: ${KIND_NAMES[r.kind] ?? r.kind} receipt of shard ${r.shardId} block ${r.height}`;
    if (r.value === undefined) out.push(`${what} has a malformed value`);
    const debits = f.debits.filter((d) => d.shardId === r.shardId && d.height === r.height && !usedDebits.has(d));
    if (debits.length !== 1) out.push(`${what}: ${debits.length} RECEIPT_DEBITs in its block; exactly one expected`);
    const d = debits[0];
    if (d) {
      usedDebits.add(d);
      if (d.address !== r.from || d.amount !== r.value) out.push(`${what}: RECEIPT_DEBIT of ${d.amount} wei from ${d.address}, but the receipt says ${r.value} wei from ${r.from}`);
    }
    const credits = f.credits.filter((c) => c.shardId === r.destShard && !usedCredits.has(c));
    for (const c of credits) usedCredits.add(c);
    if (credits.length > 1) out.push(`${what}: credited ${credits.length} times on shard ${r.destShard}`);
    const c = credits[0];
    if (!c) {
      inFlight.push(r.value ?? 0n);
      continue;
    }
    credited += 1;
    const to = r.kind === RECEIPT_KIND_CALL ? r.from : r.to;
    if (c.address !== to || c.amount !== r.value) out.push(`${what}: credited ${c.amount} wei to ${c.address} on shard ${c.shardId}, but it says ${r.value} wei to ${to}`);
  }
  for (const d of f.debits) if (!usedDebits.has(d)) out.push(`${tx}: RECEIPT_DEBIT on shard ${d.shardId} block ${d.height} without an outgoing receipt`);
  for (const c of f.credits) if (!usedCredits.has(c)) out.push(`${tx}: RECEIPT_CREDIT on shard ${c.shardId} block ${c.height} for a receipt no shard sent to it`);
  return { problems: out, credited, inFlight };
}

/** `ReceiptKind.RECEIPT_KIND_CALL`. */
const RECEIPT_KIND_CALL = ReceiptKind.RECEIPT_KIND_CALL;
