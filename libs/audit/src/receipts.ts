// Cross-shard receipts of the shard-led protocol: each sent receipt debited once at its source and credited exactly once, as sent, at its destination.
import { place, type Finding } from './findings';
import type { ReceiptsReport } from './report';
import type { CrossReceiptFacts, ShardsIndex } from './shard-index';

/** The result of {@link checkReceipts}. */
export interface ReceiptsResult {
  report: ReceiptsReport;
  /** Σ value of receipts debited and not yet credited, in wei (for conservation). */
  inTransitWei: bigint;
  findings: Finding[];
}

/**
 * Checks the shard-led protocol's receipts (docs/ARCHITECTURE.md §5.4, pure), per transaction:
 * exactly one outgoing receipt, listed in the block of its source shard that holds exactly one
 * RECEIPT_DEBIT of the sender for the receipt's value; at most one RECEIPT_CREDIT, on the
 * receipt's destination shard, to its recipient, of its value. A credit without a sent receipt, a
 * second credit, a debit without a receipt or a mismatch is a violation; a receipt not credited
 * yet is in flight (its value in transit).
 */
export function checkReceipts(index: Pick<ShardsIndex, 'crossReceipts'>): ReceiptsResult {
  const findings: Finding[] = [];
  let sent = 0;
  let credited = 0;
  let inFlight = 0;
  let inFlightWei = 0n;
  for (const [h, f] of index.crossReceipts) {
    const problems = receiptProblems(h, f);
    for (const text of problems) findings.push({ place: place.receipts, text });
    if (f.sent.length > 0) sent += 1;
    if (f.credits.length > 0) credited += 1;
    if (problems.length === 0 && f.credits.length === 0) {
      inFlight += 1;
      inFlightWei += f.sent[0]!.value ?? 0n;
    }
  }
  return {
    report: { sent, credited, inFlight, inFlightWei, ok: findings.length === 0 && inFlight === 0 },
    inTransitWei: inFlightWei,
    findings,
  };
}

/** The problems of one transaction's receipt (empty when it is sound, credited or in flight). */
function receiptProblems(h: string, f: CrossReceiptFacts): string[] {
  const out: string[] = [];
  const tx = `tx ${h}`;
  if (f.sent.length === 0) {
    if (f.debits.length > 0) out.push(`${tx}: RECEIPT_DEBIT on shard ${f.debits[0]!.shardId} without an outgoing receipt`);
    if (f.credits.length > 0) out.push(`${tx}: RECEIPT_CREDIT on shard ${f.credits[0]!.shardId} for a receipt no shard sent`);
    return out;
  }
  if (f.sent.length > 1) out.push(`${tx}: receipt sent ${f.sent.length} times (shards ${f.sent.map((s) => `${s.shardId}@${s.height}`).join(', ')})`);
  const r = f.sent[0]!;
  if (r.value === undefined) out.push(`${tx}: receipt with a malformed value`);
  const debits = f.debits.filter((d) => d.shardId === r.shardId && d.height === r.height);
  if (f.debits.length !== 1 || debits.length !== 1) {
    out.push(`${tx}: ${f.debits.length} RECEIPT_DEBITs, ${debits.length} of them in the sending block (shard ${r.shardId} block ${r.height}); exactly one expected`);
  } else if (debits[0]!.address !== r.from || debits[0]!.amount !== r.value) {
    out.push(`${tx}: RECEIPT_DEBIT of ${debits[0]!.amount} wei from ${debits[0]!.address}, but the receipt says ${r.value} wei from ${r.from}`);
  }
  if (f.credits.length > 1) out.push(`${tx}: receipt credited ${f.credits.length} times (shards ${f.credits.map((c) => `${c.shardId}@${c.height}`).join(', ')})`);
  const c = f.credits[0];
  if (c && (c.shardId !== r.destShard || c.address !== r.to || c.amount !== r.value)) {
    out.push(`${tx}: credited ${c.amount} wei to ${c.address} on shard ${c.shardId}, but the receipt says ${r.value} wei to ${r.to} on shard ${r.destShard}`);
  }
  return out;
}
