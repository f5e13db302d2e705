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
 * Checks the shard-led protocol's receipts (docs/ARCHITECTURE.md §5.8, pure), per transaction
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
    sent += r.sent;
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

/** A receipt kind's name as reported (`CALL_RESULT` for `RECEIPT_KIND_CALL_RESULT`). */
const kindName = (k: ReceiptKind): string => (ReceiptKind[k] ?? String(k)).replace(/^RECEIPT_KIND_/, '');

/** The problems of one transaction's receipts, how many distinct receipts (one per kind) it sent and how many were credited, and the values of those in flight. */
function receiptProblems(h: string, f: CrossReceiptFacts): { problems: string[]; sent: number; credited: number; inFlight: bigint[] } {
  const out: string[] = [];
  const tx = `tx ${h}`;
  const inFlight: bigint[] = [];
  let credited = 0;
  const usedDebits = new Set<SysOcc>();
  const usedCredits = new Set<SysOcc>();
  const at = (xs: readonly { shardId: number; height: number }[]) => xs.map((x) => `${x.shardId}@${x.height}`).join(', ');
  const firstOfKind = new Map<number, (typeof f.sent)[number]>();
  for (const r of f.sent) {
    if (firstOfKind.has(r.kind)) continue;
    firstOfKind.set(r.kind, r);
    const all = f.sent.filter((x) => x.kind === r.kind);
    if (all.length > 1) out.push(`${tx}: ${kindName(r.kind)} receipt sent ${all.length} times (shards ${at(all)})`);
  }
  const receipts = [...firstOfKind.values()];
  for (const r of receipts) {
    if (r.value === undefined) out.push(`${tx}: receipt of shard ${r.shardId} block ${r.height} has a malformed value`);
    // Debits of the sending shard belong to its receipt; exactly one, in the sending block.
    const onShard = f.debits.filter((d) => d.shardId === r.shardId && !usedDebits.has(d));
    const inBlock = onShard.filter((d) => d.height === r.height);
    for (const d of onShard) usedDebits.add(d);
    if (onShard.length !== 1 || inBlock.length !== 1) {
      out.push(`${tx}: ${onShard.length} RECEIPT_DEBITs, ${inBlock.length} of them in the sending block (shard ${r.shardId} block ${r.height}); exactly one expected`);
    } else if (inBlock[0]!.address !== r.from || inBlock[0]!.amount !== r.value) {
      out.push(`${tx}: RECEIPT_DEBIT of ${inBlock[0]!.amount} wei from ${inBlock[0]!.address}, but the receipt says ${r.value} wei from ${r.from}`);
    }
    let credits = f.credits.filter((c) => c.shardId === r.destShard && !usedCredits.has(c));
    // A lone receipt explains any credit of its transaction, wherever it landed.
    if (credits.length === 0 && receipts.length === 1) credits = f.credits.filter((c) => !usedCredits.has(c));
    for (const c of credits) usedCredits.add(c);
    const c = credits[0];
    if (!c) {
      inFlight.push(r.value ?? 0n);
      continue;
    }
    credited += 1;
    if (credits.length > 1) out.push(`${tx}: receipt credited ${credits.length} times (shards ${at(credits)})`);
    const to = r.kind === ReceiptKind.RECEIPT_KIND_CALL ? r.from : r.to;
    if (c.address !== to || c.amount !== r.value || c.shardId !== r.destShard) {
      out.push(`${tx}: credited ${c.amount} wei to ${c.address} on shard ${c.shardId}, but the receipt says ${r.value} wei to ${to} on shard ${r.destShard}`);
    }
  }
  for (const d of f.debits) if (!usedDebits.has(d)) out.push(`${tx}: RECEIPT_DEBIT on shard ${d.shardId} without an outgoing receipt (block ${d.height})`);
  for (const c of f.credits) if (!usedCredits.has(c)) out.push(`${tx}: RECEIPT_CREDIT on shard ${c.shardId} for a receipt no shard sent (block ${c.height})`);
  return { problems: out, sent: receipts.length, credited, inFlight };
}
