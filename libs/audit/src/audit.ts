// The audit as a whole: indexes the input, runs each invariant's check and combines them into one report.
import { checkAtomicity } from './atomicity';
import { checkConservation, type ShardLedger } from './conservation';
import { checkContinuity } from './continuity';
import { orderFindings } from './findings';
import { checkLocks } from './locks';
import { indexNetwork } from './network-index';
import { checkReceipts } from './receipts';
import type { AuditInput, AuditReport, Jsonified, ShardSummary } from './report';
import type { IndexedShard } from './shard-index';

export * from './report';

/**
 * Audits a sharded network from its blocks and accounts (pure: no I/O). Checks, over all shards:
 *
 * - **Conservation** (docs/ARCHITECTURE.md §5.1): Σ balances = Σ genesis credits − Σ over every
 *   receipt of `gasUsed × baseFeePerGas` of its block, exactly, counting value debited by a
 *   committed transaction whose destination has not yet processed the decision as in transit.
 *   Each shard is also checked on its own: its balances = its genesis − its burn + its CREDITs −
 *   its DEBITs (local transfers and tips stay on the shard), which names the shard at fault.
 * - **Atomicity** (5.2), per cross-shard transaction of the orchestrator's blocks: committed ⇒
 *   one LOCK, one DEBIT (sender, value) on the source shard and one CREDIT (recipient, value) on
 *   a destination shard, no UNLOCK or ABORT, a YES vote from every involved shard; aborted ⇒ no
 *   DEBIT, CREDIT or write set anywhere, an UNLOCK for a LOCK, an ABORT on every destination that
 *   voted YES. A system transaction the orchestrator never ordered, or a DEBIT/CREDIT without a
 *   commit decision, is a violation; so is any kind recorded twice for one transaction on one
 *   shard. An effect that is missing is pending (in flight) while the shard has not processed the
 *   decision's orchestrator block (its blocks' `orchestratorHeight` is lower), a violation after.
 *   Cross-shard contract calls (the ordered copy carries an RwSet) generalise the commit rule: on
 *   every involved shard, the DEBITs and CREDITs of each address net to its RwSet balance delta
 *   (the sender's, on the source shard: its delta + the fee its acceptance receipt paid, gas used
 *   × effective gas price, with exactly one DEBIT releasing its LOCK of −delta − fee, or 0), no
 *   DEBIT/CREDIT/WRITE_SET for an address the RwSet does not name on that shard, at most one DEBIT
 *   and one CREDIT per address, each write set (created code, then storage writes) applied
 *   exactly once with the RwSet's values, and Σ deltas + fee = Σ credits − Σ debits = 0 (value
 *   only moves); the abort rule is the same as for transfers (no DEBIT, CREDIT or WRITE_SET).
 *   A lone LOCK (home shards lock before the orchestrator orders) is in flight when the input
 *   has orchestrator blocks, a violation when it has none.
 *   Client-led two-phase commit (no orchestrator round; `client-led-index.ts`,
 *   `atomicity-client-led.ts`): the decisions are the ones each shard recorded in its blocks
 *   (`StateShardBlock.decisions`) and the order is the source shard's acceptance. Every shard
 *   records a decision at most once and all record the same (a commit on one shard and an abort
 *   on another, e.g. by a lock timeout, is a violation naming both); every involved shard of the
 *   coordinator's commit and every shard that voted YES records it — pending until then, a
 *   violation once its head is more than the lock timeout past its YES vote (no lock left). The
 *   effects are then checked by the rules above, a shard having processed the decision once it
 *   recorded it; a client-led call's RwSet is in no block, so its commit is checked for the
 *   sender's DEBIT of its LOCK, no address debited or credited twice, and Σ credits = Σ debits.
 * - **Receipts** (5.8, shard-led): every outgoing receipt is debited once in its sending block
 *   (RECEIPT_DEBIT of the sender for its value) and credited at most once, as sent, on its
 *   destination (RECEIPT_CREDIT); one not credited yet is in flight, its value in transit.
 * - **Locks** (5.3): every account's `locked`, and every LOCK with neither DEBIT nor UNLOCK,
 *   must be gone; what is locked on each account must equal its open LOCKs.
 *
 * Also checks that each shard's blocks run 0..head without gaps and chain by parent hash, and
 * that each block has one receipt per user transaction. The report is `ok` only when nothing is
 * violated and nothing is in flight; audit an idle network for a verdict.
 *
 * Each invariant is its own module over the indexed input (`network-index.ts`): `continuity.ts`,
 * `conservation.ts`, `atomicity.ts` (one transaction: `atomicity-tx.ts`, contract calls:
 * `atomicity-call.ts`) and `locks.ts`; `findings.ts` orders their problems as one walk over the
 * input meets them.
 */
export function auditNetwork(input: AuditInput): AuditReport {
  const index = indexNetwork(input);
  const chain = checkContinuity(index.shards, input.orchestratorBlocks);
  const atomicity = checkAtomicity(index, chain.cursors);
  const locks = checkLocks(index);
  const receipts = checkReceipts(index);
  const conservation = checkConservation(index.shards, atomicity.inTransitWei + receipts.inTransitWei);
  const problems = orderFindings([...index.findings, ...chain.findings, ...conservation.findings, ...atomicity.findings, ...receipts.findings, ...locks.findings]);
  const report: AuditReport = {
    ok: problems.length === 0 && conservation.report.ok && atomicity.report.ok && locks.report.ok && receipts.report.ok,
    problems,
    notes: [...(input.notes ?? [])],
    conservation: conservation.report,
    atomicity: atomicity.report,
    locks: locks.report,
    receipts: receipts.report,
    shards: index.shards.map((sh) => shardSummary(sh, chain.cursors.get(sh.shardId) ?? 0, conservation.ledgers.get(sh.shardId)!, locks.lockedWeiOf.get(sh.shardId) ?? 0n)),
    orchestrator: index.orchestrator.summary,
    clientLed: index.clientLed.summary,
    toJSON: () => jsonify(report) as Jsonified<AuditReport>,
  };
  return report;
}

/** One shard's figures, from its index, its orchestrator cursor, its books and what it holds locked. */
function shardSummary(sh: IndexedShard, orchestratorHeight: number, l: ShardLedger, lockedWei: bigint): ShardSummary {
  return {
    shardId: sh.shardId,
    blocks: sh.blocks.length,
    headHeight: sh.blocks.length > 0 ? sh.blocks[sh.blocks.length - 1]!.height : -1,
    orchestratorHeight,
    userTxs: sh.userTxs,
    systemTxs: sh.kindCounts,
    accounts: sh.accountsListed,
    genesisWei: l.genesisWei,
    burnedWei: l.burnedWei,
    creditedWei: l.creditedWei,
    debitedWei: l.debitedWei,
    expectedWei: l.expectedWei,
    actualWei: l.actualWei,
    lockedWei,
    balanced: l.balanced,
  };
}

/** The value with every bigint turned into a decimal string and functions dropped. */
function jsonify(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return v.map(jsonify);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (typeof x !== 'function') out[k] = jsonify(x);
    return out;
  }
  return v;
}
