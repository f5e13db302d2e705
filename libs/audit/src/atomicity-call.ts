// Atomicity of a cross-shard contract call: the fee it paid, and a commit that applies exactly its RwSet on every involved shard.
import { heightsOf, type TxBook, type TxParties } from './atomicity-context';
import type { CallSet, Decided } from './orchestrator-index';
import type { StorageWrite, SysOcc } from './shard-index';

/** What a contract call paid at acceptance and locked, in wei. */
export interface CallFees {
  /** Gas used × effective gas price of its acceptance receipt on the source; undefined when it cannot be told. */
  fee: bigint | undefined;
  /** The sender's RwSet balance delta (0 when the RwSet does not name it). */
  senderDelta: bigint;
  /** What the source must lock: −senderDelta − fee, or 0 when that is not positive; undefined without a fee. */
  lockWei: bigint | undefined;
}

/** What a commit must do to one address on one shard. */
interface Want {
  /** Credits − debits, in wei. */
  net: bigint;
  /** Write sets to apply, each exactly once. */
  writes: StorageWrite[][];
  /** Whether the RwSet names the address on that shard. */
  inRwSet: boolean;
}

/** One address's system transactions on one shard. */
interface Applied {
  debits: SysOcc[];
  credits: SysOcc[];
  writes: SysOcc[];
}

/** The call commit under audit. */
interface CallCommit {
  book: TxBook;
  p: TxParties;
  fees: CallFees;
  /** The LOCKs on its source shard. */
  locks: SysOcc[];
  /** Orchestrator height of the commit decision. */
  decidedAt: number;
}

/**
 * The fee a contract call paid at acceptance on its source shard (its one receipt there: gas used ×
 * effective gas price) and what the source must lock. When the fee cannot be told and the call was
 * locked or committed, that is a problem.
 */
export function callFee(book: TxBook, p: TxParties, call: CallSet, locks: readonly SysOcc[]): CallFees {
  const senderDelta = call.items.find((i) => i.address === p.sender)?.delta ?? 0n;
  const rs = book.facts.receipts.filter((r) => r.shardId === p.source);
  let fee: bigint | undefined;
  let feeIssue: string | undefined;
  if (rs.length === 0) feeIssue = `no acceptance receipt on its source shard ${p.source}, so the fee it paid cannot be told`;
  else if (rs.length > 1) feeIssue = `${rs.length} receipts on its source shard ${p.source} (blocks ${rs.map((r) => r.height).join(', ')}); exactly one acceptance is expected`;
  else if (rs[0]!.effectiveGasPrice === undefined) feeIssue = `its receipt on source shard ${p.source} (block ${rs[0]!.height}) has a malformed effective gas price`;
  else fee = BigInt(rs[0]!.gasUsed) * rs[0]!.effectiveGasPrice!;
  let lockWei: bigint | undefined;
  if (fee !== undefined) {
    const out = -senderDelta - fee;
    lockWei = out > 0n ? out : 0n;
  }
  if (feeIssue && (locks.length > 0 || book.decision?.commit)) book.problem(feeIssue);
  return { fee, senderDelta, lockWei };
}

/**
 * The commit of a contract call: on every involved shard, the DEBITs and CREDITs of each
 * address net to its RwSet balance delta (the sender's, on the source: its delta + the fee it
 * paid at acceptance, with one DEBIT releasing its lock), each write set applied exactly once,
 * and Σ credits − Σ debits = Σ deltas + fee = 0 (value only moves). A shard that recorded none
 * of its effects and has not processed the decision is pending. Returns the in-transit value.
 */
export function auditCallCommit(book: TxBook, p: TxParties, call: CallSet, fees: CallFees, locks: SysOcc[], decidedAt: number): bigint {
  const cc: CallCommit = { book, p, fees, locks, decidedAt };
  const want = callExpectations(p, call, fees);
  const shardsToCheck = [...new Set([...p.involved, ...want.keys(), ...book.facts.effects.keys()])].sort((a, b) => a - b);
  let applied = 0n;
  let anyPending = false;
  for (const s of shardsToCheck) {
    const here: Applied = { debits: book.on(s, 'DEBIT'), credits: book.on(s, 'CREDIT'), writes: book.on(s, 'WRITE_SET') };
    for (const x of here.credits) applied += x.amount ?? 0n;
    for (const x of here.debits) applied -= x.amount ?? 0n;
    const wantHere = want.get(s) ?? new Map<string, Want>();
    const expectsSomething = s === p.source || [...wantHere.values()].some((w) => w.net !== 0n || w.writes.length > 0);
    if (here.debits.length + here.credits.length + here.writes.length === 0) {
      if (!expectsSomething) continue;
      if (!book.processed(s, decidedAt)) {
        anyPending = true;
        book.pending.push(`commit effects on shard ${s}`);
        continue;
      }
    }
    checkCallShard(cc, s, here, wantHere);
  }
  return checkValueOnlyMoves(book, call, fees.fee, applied, anyPending);
}

/**
 * The commit of a client-led contract call, whose RwSet no block carries (only its coordinator
 * had it), so what each address gets cannot be checked against it. What can: the sender's one
 * DEBIT on the source releases exactly its LOCK; no address is debited or credited twice on a
 * shard; and once every involved shard applied the decision, Σ credits − Σ debits over all shards
 * = 0 (an RwSet's deltas sum to minus the fee, paid at acceptance: value only moves). An involved
 * shard that has not applied the decision is pending. Returns the in-transit value (what pending
 * shards have yet to apply).
 */
export function auditOpaqueCallCommit(book: TxBook, p: TxParties, locks: readonly SysOcc[], d: Decided): bigint {
  let anyPending = false;
  for (const s of p.involved) {
    if (book.processed(s, d.height)) continue;
    anyPending = true;
    book.pending.push(`commit effects on shard ${s}`);
  }
  let applied = 0n;
  for (const s of [...book.facts.effects.keys()].sort((a, b) => a - b)) {
    for (const kind of ['DEBIT', 'CREDIT'] as const) {
      const byAddress = new Map<string, SysOcc[]>();
      for (const x of book.on(s, kind)) {
        byAddress.set(x.address, [...(byAddress.get(x.address) ?? []), x]);
        applied += kind === 'CREDIT' ? (x.amount ?? 0n) : -(x.amount ?? 0n);
      }
      for (const [a, xs] of byAddress) if (xs.length > 1) book.problem(`duplicate ${kind} of ${a} on shard ${s}: ${xs.length} times (blocks ${heightsOf(xs)})`);
    }
  }
  if (p.source !== undefined && p.sender !== undefined && book.processed(p.source, d.height)) {
    const ds = book.on(p.source, 'DEBIT').filter((x) => x.address === p.sender);
    const locked = locks[0]?.amount;
    if (ds.length === 0) book.problem(`committed ${book.at(d)}, but its source shard ${p.source} recorded no DEBIT of the sender's lock ${book.upTo(p.source)}`);
    else if (ds.length === 1 && locked !== undefined && ds[0]!.amount !== undefined && ds[0]!.amount !== locked) {
      book.problem(`DEBIT of the sender on shard ${p.source} (block ${ds[0]!.height}) moves ${ds[0]!.amount} wei, but ${locked} wei were locked`);
    }
  }
  if (anyPending) return -applied;
  if (applied !== 0n) book.problem(`its commit credits − debits total ${applied} wei over all shards, but a call only moves value (0 expected)`);
  return 0n;
}

/** Shard → address → what the commit must do there, from the RwSet (the sender's delta includes the fee). */
function callExpectations(p: TxParties, call: CallSet, fees: CallFees): Map<number, Map<string, Want>> {
  const want = new Map<number, Map<string, Want>>();
  const wantOf = (s: number, a: string): Want => {
    let m = want.get(s);
    if (!m) want.set(s, (m = new Map()));
    let w = m.get(a);
    if (!w) m.set(a, (w = { net: 0n, writes: [], inRwSet: false }));
    return w;
  };
  if (p.source !== undefined && p.sender !== undefined) {
    const w = wantOf(p.source, p.sender);
    w.net += fees.senderDelta + (fees.fee ?? 0n);
    w.inRwSet = true;
  }
  for (const item of call.items) {
    if (item.shardId === p.source && item.address === p.sender) continue; // its writes are not applied; its delta is counted above
    const w = wantOf(item.shardId, item.address);
    w.inRwSet = true;
    w.net += item.delta;
    if (item.writes.length > 0) w.writes.push(item.writes);
  }
  return want;
}

/** Checks every address with an expectation or a system transaction of the call on shard `s`, in address order. */
function checkCallShard(cc: CallCommit, s: number, here: Applied, wantHere: Map<string, Want>): void {
  const addresses = new Set<string>([...wantHere.keys(), ...here.debits.map((x) => x.address), ...here.credits.map((x) => x.address), ...here.writes.map((x) => x.address)]);
  for (const a of [...addresses].sort()) {
    const mine: Applied = {
      debits: here.debits.filter((x) => x.address === a),
      credits: here.credits.filter((x) => x.address === a),
      writes: here.writes.filter((x) => x.address === a),
    };
    checkCallAddress(cc, s, a, wantHere.get(a), mine);
  }
}

/** Checks what shard `s` applied to address `a` against the RwSet: at most one DEBIT and one CREDIT, the net, the sender's DEBIT, the writes. */
function checkCallAddress(cc: CallCommit, s: number, a: string, w: Want | undefined, { debits: ds, credits: cs, writes: ws }: Applied): void {
  const { book, p, fees, locks, decidedAt } = cc;
  const isSender = s === p.source && a === p.sender;
  if (ds.length > 1) book.problem(`duplicate DEBIT of ${a} on shard ${s}: ${ds.length} times (blocks ${heightsOf(ds)})`);
  if (cs.length > 1) book.problem(`duplicate CREDIT of ${a} on shard ${s}: ${cs.length} times (blocks ${heightsOf(cs)})`);
  const debited = ds.reduce((acc, x) => acc + (x.amount ?? 0n), 0n);
  const credited = cs.reduce((acc, x) => acc + (x.amount ?? 0n), 0n);
  if (!w?.inRwSet) {
    for (const [kind, occs] of [['DEBIT', ds], ['CREDIT', cs], ['WRITE_SET', ws]] as const) {
      if (occs.length > 0) book.problem(`${kind} of ${a} on shard ${s} (block ${heightsOf(occs)}), but its RwSet names no ${a} on shard ${s}`);
    }
    return;
  }
  if (credited - debited !== w.net) {
    const expected = isSender ? `its balance delta ${fees.senderDelta} + the fee ${fees.fee ?? '?'} paid at acceptance = ${w.net} wei` : `its RwSet balance delta ${w.net} wei`;
    book.problem(`on shard ${s}, ${a} was credited ${credited} and debited ${debited} wei (net ${credited - debited}), expected ${expected}`);
  }
  if (isSender) {
    if (ds.length === 0) book.problem(`committed at orchestrator block ${decidedAt}, but its source shard ${s} recorded no DEBIT of the sender's lock ${book.upTo(s)}`);
    else if (fees.lockWei !== undefined && locks.length > 0 && ds.length === 1 && ds[0]!.amount !== undefined && ds[0]!.amount !== (locks[0]!.amount ?? fees.lockWei)) {
      book.problem(`DEBIT of the sender on shard ${s} (block ${ds[0]!.height}) moves ${ds[0]!.amount} wei, but ${locks[0]!.amount ?? fees.lockWei} wei were locked`);
    }
  }
  checkCallWrites(cc, s, a, w.writes, ws);
}

function sameWrites(a: readonly StorageWrite[], b: readonly StorageWrite[]): boolean {
  return a.length === b.length && a.every((w, i) => w.slot === b[i]!.slot && w.newValue === b[i]!.newValue);
}

function showWrites(ws: readonly StorageWrite[]): string {
  const show = (w: StorageWrite) =>
    w.slot === '' ? `code ${w.newValue.length > 20 ? w.newValue.slice(0, 20) + '…' : w.newValue}` : w.slot === 'nonce' ? `nonce=${w.newValue}` : `${w.slot}=${w.newValue}`;
  return '[' + ws.map(show).join(', ') + ']';
}

/** Checks that shard `s` applied each of `want`'s write sets for `a` exactly once, with the RwSet's values. */
function checkCallWrites({ book, decidedAt }: CallCommit, s: number, a: string, want: StorageWrite[][], ws: SysOcc[]): void {
  const upTo = book.upTo(s);
  if (want.length === 0) {
    if (ws.length > 0) book.problem(`WRITE_SET of ${a} on shard ${s} (block ${heightsOf(ws)}), but its RwSet writes nothing there`);
  } else if (ws.length === 0) {
    book.problem(`committed at orchestrator block ${decidedAt}, but shard ${s} recorded no WRITE_SET for ${a} ${upTo}`);
  } else if (ws.length > want.length) {
    book.problem(`write set of ${a} applied ${ws.length} times on shard ${s} (blocks ${heightsOf(ws)}); exactly once is expected`);
  } else {
    const left = [...want];
    for (const x of ws) {
      const i = left.findIndex((ww) => sameWrites(ww, x.writes ?? []));
      if (i >= 0) left.splice(i, 1);
      else book.problem(`WRITE_SET of ${a} on shard ${s} (block ${x.height}) writes ${showWrites(x.writes ?? [])}, but its RwSet writes ${showWrites(want[0]!)}`);
    }
    if (left.length > 0 && ws.length < want.length) {
      book.problem(`committed at orchestrator block ${decidedAt}, but shard ${s} applied ${ws.length} of the ${want.length} write sets for ${a} ${upTo}`);
    }
  }
}

/**
 * Value only moves: the RwSet's deltas sum to minus the fee, and so do the commit's net transfers
 * once nothing is pending. Returns the in-transit value: what pending shards have yet to apply.
 */
function checkValueOnlyMoves(book: TxBook, call: CallSet, fee: bigint | undefined, applied: bigint, anyPending: boolean): bigint {
  const sumDeltas = call.items.reduce((acc, i) => acc + i.delta, 0n);
  if (fee !== undefined && sumDeltas + fee !== 0n) {
    book.problem(`its RwSet's balance deltas sum to ${sumDeltas} wei, but the fee paid at acceptance is ${fee} wei: value would not be conserved (Σ deltas + fee = ${sumDeltas + fee})`);
  }
  if (anyPending) return -applied;
  if (fee !== undefined && applied !== sumDeltas + fee) {
    book.problem(`its commit credits − debits total ${applied} wei over all shards, but Σ balance deltas + fee = ${sumDeltas + fee} wei`);
  }
  return 0n;
}
