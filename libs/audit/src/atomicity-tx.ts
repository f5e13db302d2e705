// Atomicity of one cross-shard transaction: what the orchestrator ordered and decided (client-led: what the source accepted and the shards recorded as decided) against what the shards applied.
import { auditCallCommit, auditOpaqueCallCommit, callFee, type CallFees } from './atomicity-call';
import { checkClientLedDecisions } from './atomicity-client-led';
import { heightsOf, TxBook, type TxFacts, type TxParties } from './atomicity-context';
import type { Decided } from './orchestrator-index';
import type { SystemKindName, TxAudit, TxState } from './report';
import type { SysOcc } from './shard-index';

/**
 * Audits one cross-shard transaction `h` (lower-case hash) from its facts (pure); see
 * `auditNetwork` for the rules. A client-led one (`f.clientLed`) is audited by the same rules
 * against its shards' decision records (`atomicity-client-led.ts` checks that they agree and that
 * every shard that must record the decision did). Returns its audit (problems prefixed
 * `tx <h>: `) and its contribution to the in-transit value in wei (value debited but not yet
 * credited, minus value credited but not yet debited).
 */
export function auditTx(h: string, f: TxFacts): { audit: TxAudit; inTransitWei: bigint } {
  const book = new TxBook(h, f);
  const d = book.decision;
  if (!book.ordered && !d && !f.clientLed) return auditUnordered(book);
  if (!f.clientLed) checkOrderAndDecisions(book);
  const p = partiesOf(book);
  checkInvolvedShards(book, p);
  checkPlacement(book, p);
  if (f.clientLed) checkClientLedDecisions(book, p, f.clientLed);
  const locks = book.on(p.source, 'LOCK');
  const fees = p.call ? callFee(book, p, p.call, locks) : undefined;
  for (const l of locks) checkEffect(book, l, 'LOCK', fees ? fees.lockWei : p.opaqueCall ? undefined : p.value, p.sender, 'sender');

  let inTransitWei = 0n;
  if (!d) awaitDecision(book, p, locks);
  else if (d.commit) inTransitWei = auditCommit(book, p, locks, d, fees);
  else auditAbort(book, p, locks, d);

  const state: TxState = book.problems.length > 0 ? 'violated' : book.pending.length > 0 ? 'in-flight' : 'settled';
  return { audit: book.audit(state, { sourceShard: p.source, involvedShards: [...p.involved] }), inTransitWei };
}

/**
 * A transaction the orchestrator neither ordered nor decided. A home shard locks a transaction it
 * forwarded while the orchestrator is still to order it: with orchestrator blocks to compare
 * against, a lone LOCK (and its vote) is in flight. Anything else is unexplained.
 */
function auditUnordered(book: TxBook): { audit: TxAudit; inTransitWei: bigint } {
  const f = book.facts;
  const shardsSeen = new Set([...f.effects.keys(), ...f.votes.keys()]);
  const [only] = shardsSeen;
  const byKind = only === undefined ? undefined : f.effects.get(only);
  if (f.haveOrchestrator && shardsSeen.size === 1 && byKind && byKind.size === 1 && byKind.get('LOCK')?.length === 1) {
    const l = byKind.get('LOCK')![0]!;
    book.pending.push(`ordering by the orchestrator (${l.amount ?? 0n} wei locked on shard ${only} at block ${l.height})`);
    return { audit: book.audit('in-flight', { sourceShard: only }), inTransitWei: 0n };
  }
  for (const [s, kinds] of f.effects) {
    for (const [kind, occs] of kinds) {
      book.problem(`${kind} on shard ${s} (block ${heightsOf(occs)}), but the orchestrator never ordered or decided this transaction`);
    }
  }
  for (const s of f.votes.keys()) book.problem(`shard ${s} voted on it, but the orchestrator never ordered it`);
  return { audit: book.audit('violated'), inTransitWei: 0n };
}

/** A decision needs an order; and there is one decision. */
function checkOrderAndDecisions(book: TxBook): void {
  const decisions = book.facts.decisions;
  if (!book.ordered) book.problem(`decided at orchestrator block ${book.decision!.height}, but never ordered (no ct_to_order entry)`);
  if (decisions.length > 1) {
    const kinds = new Set(decisions.map((x) => x.commit));
    const at = decisions.map((x) => `${x.commit ? 'commit' : 'abort'} at ${x.height}`).join(', ');
    book.problem(kinds.size > 1 ? `decided both commit and abort (${at})` : `decided ${decisions.length} times (${at})`);
  }
}

/**
 * Who takes part: from the order (client-led: the acceptance, else who took part), else the
 * decision; the source, when not ordered, from the one shard that locked, debited or unlocked.
 */
function partiesOf(book: TxBook): TxParties {
  const o = book.ordered;
  const involved = o?.involvedShards ?? book.facts.clientLed?.involved ?? book.decision?.involvedShards ?? [];
  let source = o?.sourceShard;
  if (source === undefined) {
    const sourceLike = [...book.facts.effects.keys()].filter((s) => book.on(s, 'LOCK').length + book.on(s, 'DEBIT').length + book.on(s, 'UNLOCK').length > 0);
    if (sourceLike.length === 1) source = sourceLike[0];
  }
  return {
    involved,
    source,
    destinations: involved.filter((s) => s !== source),
    value: o?.value,
    sender: o?.from,
    recipient: o?.to || undefined,
    call: o?.call,
    opaqueCall: o?.opaqueCall === true,
  };
}

/** Every involved shard was read, and a call's RwSet names only involved shards. */
function checkInvolvedShards(book: TxBook, p: TxParties): void {
  for (const s of p.involved) {
    if (!book.facts.orchHeightOf.has(s)) book.problem(`involves shard ${s}, which the audit did not read`);
  }
  for (const item of p.call?.items ?? []) {
    if (p.involved.length > 0 && !p.involved.includes(item.shardId)) {
      book.problem(`its RwSet names ${item.address} on shard ${item.shardId}, which is not one of its involved shards [${p.involved.join(', ')}]`);
    }
  }
}

/**
 * Where each kind may appear, and at most once per shard (write sets may be several). A
 * contract call may debit, credit and write any account of its RwSet on any involved shard:
 * those are checked per account by the call commit.
 */
function checkPlacement(book: TxBook, { source, involved, destinations, call: rwSet, opaqueCall }: TxParties): void {
  const call = rwSet !== undefined || opaqueCall;
  for (const [s, byKind] of book.facts.effects) {
    for (const [kind, occs] of byKind) {
      if ((kind === 'LOCK' || kind === 'UNLOCK' || (kind === 'DEBIT' && !call)) && source !== undefined && s !== source) {
        book.problem(`${kind} on shard ${s} (block ${heightsOf(occs)}), which is not its source shard ${source}`);
      }
      if ((kind === 'ABORT' || (!call && (kind === 'CREDIT' || kind === 'WRITE_SET'))) && involved.length > 0 && !destinations.includes(s)) {
        book.problem(`${kind} on shard ${s} (block ${heightsOf(occs)}), which is not one of its destination shards [${destinations.join(', ')}]`);
      }
      if (call && (kind === 'DEBIT' || kind === 'CREDIT' || kind === 'WRITE_SET') && involved.length > 0 && !involved.includes(s)) {
        book.problem(`${kind} on shard ${s} (block ${heightsOf(occs)}), which is not one of its involved shards [${involved.join(', ')}]`);
      }
      if (kind !== 'WRITE_SET' && !(call && (kind === 'DEBIT' || kind === 'CREDIT')) && occs.length > 1) {
        book.problem(`duplicate ${kind} on shard ${s}: ${occs.length} times (blocks ${heightsOf(occs)})`);
      }
    }
  }
}

/** Checks amount and account of an occurrence against what the transaction says (undefined: not checked). */
function checkEffect(book: TxBook, occ: SysOcc, kind: SystemKindName, wantAmount: bigint | undefined, wantAddress: string | undefined, role: string): void {
  if (wantAmount !== undefined && occ.amount !== undefined && occ.amount !== wantAmount) {
    book.problem(`${kind} on shard ${occ.shardId} (block ${occ.height}) moves ${occ.amount} wei, expected ${wantAmount} wei`);
  }
  if (wantAddress && occ.address !== wantAddress) {
    book.problem(`${kind} on shard ${occ.shardId} (block ${occ.height}) is for ${occ.address}, expected the ${role} ${wantAddress}`);
  }
}

/**
 * Ordered (client-led: prepared), undecided: nothing but a LOCK may be applied yet; the decision
 * is pending (client-led: per shard, see `checkClientLedDecisions`).
 */
function awaitDecision(book: TxBook, p: TxParties, locks: readonly SysOcc[]): void {
  const clientLed = book.facts.clientLed !== undefined;
  for (const kind of ['DEBIT', 'CREDIT', 'UNLOCK', 'ABORT', 'WRITE_SET'] as const) {
    const commit = kind === 'DEBIT' || kind === 'CREDIT' || kind === 'WRITE_SET' ? 'commit ' : '';
    for (const occ of book.everywhere(kind)) {
      book.problem(`${kind} on shard ${occ.shardId} (block ${occ.height}), but ${clientLed ? `no shard recorded a ${commit}decision on it` : `the orchestrator has not decided it (no ${commit}decision)`}`);
    }
  }
  if (clientLed) return;
  book.pending.push(
    `decision of the orchestrator (ordered at orchestrator block ${book.ordered!.height}` +
      (locks.length > 0 ? `, ${locks[0]!.amount ?? 0n} wei locked on shard ${p.source})` : ')'),
  );
}

/**
 * Committed: no UNLOCK or ABORT, a LOCK on the source, a YES vote from every involved shard, then
 * the call's or the transfer's effects. Returns the in-transit value.
 */
function auditCommit(book: TxBook, p: TxParties, locks: SysOcc[], d: Decided, fees: CallFees | undefined): bigint {
  for (const kind of ['UNLOCK', 'ABORT'] as const) {
    for (const occ of book.everywhere(kind)) book.problem(`${kind} on shard ${occ.shardId} (block ${occ.height}), although it was committed`);
  }
  if (p.source !== undefined && locks.length === 0) book.problem(`committed, but its source shard ${p.source} recorded no LOCK`);
  for (const s of p.involved) {
    const vs = book.facts.votes.get(s) ?? [];
    if (vs.some((v) => !v.yes)) book.problem(`committed although shard ${s} voted NO (block ${vs.filter((v) => !v.yes).map((v) => v.height).join(', ')})`);
    else if (!vs.some((v) => v.yes)) book.problem(`committed without a YES vote from shard ${s}`);
  }
  if (p.call && fees) return auditCallCommit(book, p, p.call, fees, locks, d.height);
  if (p.opaqueCall) return auditOpaqueCallCommit(book, p, locks, d);
  return auditTransferCommit(book, p, d);
}

/**
 * A committed transfer: one DEBIT (sender, value) on the source, one CREDIT (recipient, value) on
 * one destination; a missing one is pending until its shard processed the decision. Returns the
 * value between the two halves (in transit, not lost).
 */
function auditTransferCommit(book: TxBook, p: TxParties, d: Decided): bigint {
  const debits = book.everywhere('DEBIT');
  const credits = book.everywhere('CREDIT');
  for (const x of debits) checkEffect(book, x, 'DEBIT', p.value, p.sender, 'sender');
  for (const x of credits) checkEffect(book, x, 'CREDIT', p.value, p.recipient, 'recipient');

  let debitPending = false;
  if (debits.length === 0 && p.source !== undefined) {
    if (book.processed(p.source, d.height)) {
      book.problem(`committed ${book.at(d)}, but its source shard ${p.source} recorded no DEBIT ${book.upTo(p.source)}`);
    } else {
      debitPending = true;
      book.pending.push(`DEBIT on source shard ${p.source}`);
    }
  }
  let creditPending = false;
  if (credits.length === 0) {
    const late = p.destinations.filter((s) => !book.processed(s, d.height));
    if (p.destinations.length === 0) book.problem('committed, but it has no destination shard to credit');
    else if (late.length === 0) {
      book.problem(`committed ${book.at(d)}, but no CREDIT on its destination shard${p.destinations.length > 1 ? 's' : ''} ${p.destinations.join(', ')}`);
    } else {
      creditPending = true;
      book.pending.push(`CREDIT on shard ${late.join(' or ')}`);
    }
  } else if (new Set(credits.map((c) => c.shardId)).size > 1) {
    book.problem(`CREDITs on several shards (${[...new Set(credits.map((c) => c.shardId))].join(', ')}); exactly one is expected`);
  }
  let inTransitWei = 0n;
  if (creditPending && debits.length === 1) inTransitWei += debits[0]!.amount ?? 0n;
  if (debitPending && credits.length === 1) inTransitWei -= credits[0]!.amount ?? 0n;
  return inTransitWei;
}

/**
 * Aborted: no DEBIT, CREDIT or WRITE_SET anywhere, an UNLOCK (of what was locked) for a LOCK, an
 * ABORT on every destination that voted YES; a missing one is pending until its shard processed
 * the decision.
 */
function auditAbort(book: TxBook, p: TxParties, locks: readonly SysOcc[], d: Decided): void {
  for (const kind of ['DEBIT', 'CREDIT', 'WRITE_SET'] as const) {
    for (const occ of book.everywhere(kind)) {
      book.problem(`${kind} on shard ${occ.shardId} (block ${occ.height})${occ.amount ? ` of ${occ.amount} wei` : ''}, although it was aborted`);
    }
  }
  const unlocks = book.on(p.source, 'UNLOCK');
  if (locks.length === 0) {
    for (const u of unlocks) book.problem(`UNLOCK on shard ${u.shardId} (block ${u.height}) without a LOCK`);
  } else if (unlocks.length === 0) {
    if (book.processed(p.source!, d.height)) {
      book.problem(`aborted ${book.at(d)}, but the ${locks[0]!.amount ?? 0n} wei locked on source shard ${p.source} for ${locks[0]!.address} was never unlocked (no UNLOCK)`);
    } else {
      book.pending.push(`UNLOCK on source shard ${p.source}`);
    }
  } else {
    for (const u of unlocks) checkEffect(book, u, 'UNLOCK', locks[0]!.amount, locks[0]!.address, 'locked account');
  }
  for (const s of p.destinations) {
    if (!(book.facts.votes.get(s) ?? []).some((v) => v.yes)) continue;
    if (book.on(s, 'ABORT').length > 0) continue;
    if (book.processed(s, d.height)) book.problem(`aborted ${book.at(d)}, but shard ${s}, which voted YES, recorded no ABORT`);
    else book.pending.push(`ABORT on shard ${s}`);
  }
}
