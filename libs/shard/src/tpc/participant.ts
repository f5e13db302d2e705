// The state shard's two-phase-commit participant: per-transaction records and locks, planning each block's votes, accepts and finalize operations from orchestrator blocks, RwSet checks.
import { createAccountFromRLP } from '@ethereumjs/util';
import { lockKeyId, lockKeysOf, nonceWrite, type SystemOp } from '@shardlab/chain';
import { toHex } from '@shardlab/common';
import { Decision, LockMode, Vote, reasons, withReason, type OrchestratorBlock, type PrepareVote, type Reason, type RwSet, type Transaction } from '@shardlab/proto';
import { verifyAccountProof, verifyStorageProof } from '../proofs';

/** A held lock as a record stores it: `<mode>@<key id>` (mode the LockMode number). */
export function encodeHeldLock(keyId: string, mode: LockMode): string {
  return `${mode}@${keyId}`;
}

/** The locks of a record's `locks` list (see {@link encodeHeldLock}): key id → mode. */
export function decodeHeldLocks(locks: readonly string[]): Map<string, LockMode> {
  const out = new Map<string, LockMode>();
  for (const l of locks) {
    const at = l.indexOf('@');
    out.set(l.slice(at + 1), Number(l.slice(0, at)) as LockMode);
  }
  return out;
}

/**
 * What a state shard remembers of one cross-shard transaction it takes part in (two-phase
 * commit, docs/ARCHITECTURE.md §3). Amounts in wei.
 *
 * Source side (the sender's shard): `locked` once accepted with its value locked (voted YES),
 * `refused` when acceptance failed (voted NO), `abortedEarly` when the abort decision arrived
 * before acceptance (accept without locking, no vote).
 * Destination side: `prepared` (pending credit, voted YES) or `refused` (voted NO).
 */
export interface TpcRecord {
  txHash: string;
  role: 'source' | 'destination';
  /** Sender (source) or recipient (destination). */
  address: string;
  amount: bigint;
  phase: 'locked' | 'prepared' | 'refused' | 'abortedEarly';
  /**
   * Cross-shard contract calls: the keys of this shard (account fields and storage slots, see
   * {@link encodeHeldLock}) locked while the transaction is in flight (held in phases `locked`
   * and `prepared`; restored into the lock table after a restart).
   */
  locks?: string[];
  /** Cross-shard contract calls: what a commit applies here (write sets, credits, debits), in order. */
  commitOps?: SystemOp[];
}

/** Serialised form of a record (stored in the shard's block batch). */
export function encodeRecord(r: TpcRecord): Uint8Array {
  return Buffer.from(
    JSON.stringify({ ...r, amount: r.amount.toString(), ...(r.commitOps ? { commitOps: r.commitOps.map((op) => ({ ...op, amount: op.amount.toString() })) } : {}) }),
  );
}

/** Inverse of {@link encodeRecord}. */
export function decodeRecord(bytes: Uint8Array): TpcRecord {
  const o = JSON.parse(Buffer.from(bytes).toString('utf8')) as Omit<TpcRecord, 'amount' | 'commitOps'> & { amount: string; commitOps?: (Omit<SystemOp, 'amount'> & { amount: string })[] };
  const { commitOps, ...rest } = o;
  return { ...rest, amount: BigInt(o.amount), ...(commitOps ? { commitOps: commitOps.map((op) => ({ ...op, amount: BigInt(op.amount) })) } : {}) };
}

/** What the source shard needs to accept a cross-shard contract call from its ordered copy. */
export interface CallAcceptance {
  /** Why this shard refuses it (its part of the ReadSet is invalid or conflicts); votes NO. */
  refuse?: Reason;
  /** Gas used by the simulation (charged instead of the intrinsic gas). */
  gasUsed: bigint;
  /** Balance delta of the sender (fee and value included), in wei. */
  senderDelta: bigint;
  /** Logs of the simulation (the acceptance receipt's). */
  logs: { address: string; topics: string[]; data: Uint8Array }[];
  /** Keys of this shard it holds besides the sender's (see {@link encodeHeldLock}). */
  locks: string[];
  /** What a commit applies here besides the sender's debit. */
  commitOps: SystemOp[];
}

/** Current state at the shard's head, for the validation of ReadSets. */
export interface StateReader {
  account(address: string): Promise<{ exists: boolean; nonce: bigint; balance: bigint; codeHash: string }>;
  /** A slot's value as a 32-byte 0x hex word. */
  storage(address: string, slot: string): Promise<string>;
}

/** What processing orchestrator blocks asks of the next shard block. */
export interface TpcPlan {
  /** Finalize operations (debit/credit on commit, abort markers), then unlocks: run first. */
  finalize: SystemOp[];
  /** Votes of destination prepares. */
  votes: PrepareVote[];
  /** Cross-shard transactions this shard must accept as source but never saw (lost mempool). */
  accepts: Transaction[];
  /** Record writes (null deletes), applied once the block is durable. */
  writes: Map<string, TpcRecord | null>;
  /** Decisions taken, for status and tracing: tx hash → commit/abort. */
  decided: Map<string, 'commit' | 'abort'>;
  /** Orchestrator height the plan covers (the block's `orchestratorHeight`). */
  orchestratorHeight: number;
  /** Cross-shard contract calls among `accepts` (source side), by hash. */
  calls?: Map<string, CallAcceptance>;
  /** W3C trace context of each transaction the plan touches, from the orchestrator blocks. */
  traces: Map<string, Record<string, string>>;
}

/** Facts the participant asks the node while planning. */
export interface PlanContext {
  shardId: number;
  /** Shard of an address under the current placement. */
  shardOf(address: string): number;
  /** Whether the address holds contract code at the head. */
  isContract(address: string): Promise<boolean>;
  /** Whether the transaction is waiting (or executing) in this shard's mempool. */
  inMempool(txHash: string): boolean;
  /** Head state, to validate the ReadSets of cross-shard contract calls [none: they are refused]. */
  state?: StateReader;
  /**
   * State of the simulation lock of transaction `txHash` on key `keyId` in a mode covering `mode`,
   * at the time the block is planned (see key-locks.ts). A cross-shard contract call is prepared
   * only while it holds every key of this shard its RwSet needs (`lockKeysOf`) [none: not checked].
   */
  simulationLock?(keyId: string, txHash: string, mode: LockMode): 'held' | 'expired' | 'not held';
}

/**
 * The two-phase-commit participant state of a state shard: records of the cross-shard
 * transactions in flight here, and the locked amount per account. Pure: the node persists the
 * record writes of each plan in the block's atomic batch and applies them afterwards. The keys a
 * record holds live in the shard's lock table (key-locks.ts), pinned from the prepare to the
 * decision.
 */
export class Participant {
  private readonly records = new Map<string, TpcRecord>();
  private readonly locked = new Map<string, bigint>();

  /** Restores records loaded from the store. */
  constructor(records: Iterable<TpcRecord> = []) {
    for (const r of records) this.set(r.txHash, r);
  }

  /** Value locked on `address` by accepted cross-shard transactions, in wei. */
  lockedOf(address: string): bigint {
    return this.locked.get(address) ?? 0n;
  }

  /** Records that hold keys (accepted or prepared contract calls), to restore the lock table after a restart. */
  lockHolders(): TpcRecord[] {
    return [...this.records.values()].filter(holdsLocks);
  }

  /** The record of a transaction, if it is in flight here. */
  get(txHash: string): TpcRecord | undefined {
    return this.records.get(txHash);
  }

  /** Number of records (transactions in flight here). */
  get size(): number {
    return this.records.size;
  }

  /** Applies record writes of a durable block (null deletes). */
  apply(writes: ReadonlyMap<string, TpcRecord | null>): void {
    for (const [h, r] of writes) this.set(h, r);
  }

  private set(txHash: string, r: TpcRecord | null): void {
    const old = this.records.get(txHash);
    if (old?.phase === 'locked') this.moveLock(old.address, -old.amount);
    if (r) {
      this.records.set(txHash, r);
      if (r.phase === 'locked') this.moveLock(r.address, r.amount);
    } else {
      this.records.delete(txHash);
    }
  }

  private moveLock(address: string, by: bigint): void {
    const v = (this.locked.get(address) ?? 0n) + by;
    if (v === 0n) this.locked.delete(address);
    else this.locked.set(address, v);
  }

  /**
   * Plans the two-phase-commit work of the next block from orchestrator blocks (in height order,
   * each exactly once). Per transaction and phase the work is idempotent: a prepare for a
   * transaction with a record, or a decision for one already finalized, does nothing.
   *
   * - `ct_to_order` naming this shard as destination: vote NO when the recipient is not placed
   *   here or holds code (cross-shard contract calls need the simulator), else YES with a pending
   *   credit. As source: nothing if accepted or queued here; else accept it from the ordered copy.
   * - `tpc_result`: commit → debit (source) / credit (destination); abort → unlock (source) /
   *   abort marker (destination); an abort before acceptance leaves an `abortedEarly` record so the
   *   later acceptance consumes the nonce without locking.
   */
  async plan(blocks: readonly OrchestratorBlock[], ctx: PlanContext, fromHeight: number): Promise<TpcPlan> {
    const plan: TpcPlan = { finalize: [], votes: [], accepts: [], writes: new Map(), decided: new Map(), orchestratorHeight: fromHeight, traces: new Map() };
    const current = (h: string) => (plan.writes.has(h) ? (plan.writes.get(h) ?? undefined) : this.records.get(h));
    const unlocks: SystemOp[] = [];
    const calls = new Map<string, CallAcceptance>();
    for (const b of blocks) {
      plan.orchestratorHeight = b.height;
      for (const x of b.ctToOrder) {
        const tx = x.tx;
        if (!tx || !x.involvedShards.includes(ctx.shardId)) continue;
        plan.traces.set(tx.hash, x.traceContext);
        if (x.rwSet) {
          // A cross-shard contract call: validate and lock this shard's part of the RwSet.
          if (current(tx.hash) || calls.has(tx.hash)) continue;
          const source = x.sourceShard === ctx.shardId;
          const part = await this.checkCall(tx, x.rwSet, source, ctx);
          if (source) {
            calls.set(tx.hash, part);
            plan.accepts.push(tx);
          } else {
            const address = (tx.to || x.rwSet.addresses.find((a) => Number(a.shardId) === ctx.shardId)?.address || '').toLowerCase();
            plan.writes.set(tx.hash, {
              txHash: tx.hash,
              role: 'destination',
              address,
              amount: 0n,
              phase: part.refuse ? 'refused' : 'prepared',
              ...(part.refuse ? {} : { locks: part.locks, commitOps: part.commitOps }),
            });
            plan.votes.push(part.refuse ? { txHash: tx.hash, vote: Vote.VOTE_NO, ...withReason(part.refuse) } : { txHash: tx.hash, vote: Vote.VOTE_YES, reason: '' });
          }
          continue;
        }
        if (x.sourceShard === ctx.shardId) {
          if (!current(tx.hash) && !ctx.inMempool(tx.hash) && !plan.accepts.some((a) => a.hash === tx.hash)) plan.accepts.push(tx);
          continue;
        }
        if (current(tx.hash)) continue;
        const value = BigInt(tx.value || '0');
        let refusal: Reason | undefined;
        if (!tx.to) refusal = reasons.notPreparable('contract creation cannot be prepared as a value transfer');
        else if (ctx.shardOf(tx.to) !== ctx.shardId) refusal = reasons.wrongShard(tx.to, ctx.shardId, 'recipient');
        else if (await ctx.isContract(tx.to)) refusal = reasons.needsSimulation(tx.to, 'recipient');
        plan.writes.set(tx.hash, { txHash: tx.hash, role: 'destination', address: tx.to, amount: value, phase: refusal ? 'refused' : 'prepared' });
        plan.votes.push(refusal ? { txHash: tx.hash, vote: Vote.VOTE_NO, ...withReason(refusal) } : { txHash: tx.hash, vote: Vote.VOTE_YES, reason: '' });
      }
      for (const d of b.tpcResult) {
        if (!d.involvedShards.includes(ctx.shardId)) continue;
        plan.traces.set(d.txHash, d.traceContext);
        const r = current(d.txHash);
        const commit = d.decision === Decision.DECISION_COMMIT;
        plan.decided.set(d.txHash, commit ? 'commit' : 'abort');
        if (!r) {
          // Abort before this shard took part: remember it if this shard is the source and may still accept it.
          if (!commit && ctx.inMempool(d.txHash)) {
            plan.writes.set(d.txHash, { txHash: d.txHash, role: 'source', address: '', amount: 0n, phase: 'abortedEarly' });
          }
          plan.accepts = plan.accepts.filter((a) => a.hash !== d.txHash || commit);
          if (!commit) calls.delete(d.txHash);
          continue;
        }
        if (r.phase === 'abortedEarly') continue;
        if (r.phase === 'locked') {
          if (commit) {
            plan.finalize.push({ kind: 'debit', txHash: d.txHash, address: r.address, amount: r.amount });
            plan.finalize.push(...(r.commitOps ?? []));
          } else unlocks.push({ kind: 'unlock', txHash: d.txHash, address: r.address, amount: r.amount });
        } else if (r.phase === 'prepared' && r.commitOps) {
          // A cross-shard contract call: apply this shard's writes and deltas, or release the locks.
          if (commit) plan.finalize.push(...r.commitOps);
          else plan.finalize.push({ kind: 'abort', txHash: d.txHash, address: r.address, amount: 0n });
          plan.votes = plan.votes.filter((v) => v.txHash !== d.txHash);
        } else if (r.phase === 'prepared') {
          plan.finalize.push({ kind: commit ? 'credit' : 'abort', txHash: d.txHash, address: r.address, amount: r.amount });
          // A vote planned in this same block for a transaction already decided is moot.
          plan.votes = plan.votes.filter((v) => v.txHash !== d.txHash);
        }
        plan.writes.set(d.txHash, null);
      }
    }
    plan.finalize.push(...unlocks);
    if (calls.size > 0) plan.calls = calls;
    return plan;
  }

  /**
   * Validates this shard's part of a cross-shard contract call's RwSet (the items whose shard is
   * this one) and computes what it locks and what a commit applies. Refused (with the reason)
   * when a proof does not hold against the reference state root (`invalid proof for …`), what
   * the simulation read differs from the head state (`read set changed: …`: code hash always;
   * slots read; the balance only when the simulation read it, since credits commute; the nonce
   * only when the call changes it; never the sender's fields on the source, which its acceptance
   * changes), or the transaction no longer holds a key its RwSet needs (`lockKeysOf`) in the
   * shard's lock table (`simulation lock expired: …`, `simulation lock not held: …`). Another
   * transaction cannot hold a conflicting key while this one holds it, so no conflict check is
   * needed beyond that.
   */
  private async checkCall(tx: Transaction, rwSet: RwSet, source: boolean, ctx: PlanContext): Promise<CallAcceptance> {
    const from = tx.from.toLowerCase();
    const to = tx.to.toLowerCase();
    const items = rwSet.addresses.filter((a) => Number(a.shardId) === ctx.shardId);
    const senderItem = rwSet.addresses.find((a) => a.address.toLowerCase() === from);
    const part: CallAcceptance = {
      gasUsed: BigInt(rwSet.gasUsed),
      senderDelta: BigInt(senderItem?.balanceDelta || '0'),
      logs: rwSet.logs.map((l) => ({ address: l.address, topics: [...l.topics], data: new Uint8Array(l.data) })),
      locks: [],
      commitOps: [],
    };
    const refuse = (reason: Reason) => ({ ...part, refuse: reason, locks: [], commitOps: [] });
    if (!ctx.state) return refuse(reasons.notPreparable('this shard cannot validate read sets'));
    const ref = rwSet.referenceBlocks.find((r) => Number(r.shardId) === ctx.shardId);
    for (const item of items) {
      const a = item.address.toLowerCase();
      if (ctx.shardOf(a) !== ctx.shardId) return refuse(reasons.wrongShard(a, ctx.shardId));
      const isSender = source && a === from;
      if (!ref) return refuse(reasons.invalidProof(a, `no reference block of shard ${ctx.shardId}`));
      const accountRead = item.reads.find((r) => r.slot === '');
      if (!accountRead) return refuse(reasons.invalidProof(a, 'no account read'));
      let proven: Awaited<ReturnType<typeof verifyAccountProof>>;
      try {
        proven = await verifyAccountProof(ref.stateRoot, a, accountRead.proof);
        const v = accountRead.value.toLowerCase();
        if (v === '0x' || v === '') {
          if (proven.exists) throw new Error('read as absent, proven present');
        } else {
          const acc = createAccountFromRLP(Buffer.from(v.slice(2), 'hex'));
          if (!proven.exists || acc.nonce !== proven.nonce || acc.balance !== proven.balance || toHex(acc.storageRoot) !== proven.storageRoot || toHex(acc.codeHash) !== proven.codeHash) {
            throw new Error('read account differs from the proven one');
          }
        }
        for (const r of item.reads) {
          if (r.slot === '') continue;
          const value = await verifyStorageProof(proven.storageRoot, r.slot, r.proof);
          if (value !== r.value.toLowerCase()) throw new Error(`slot ${r.slot} read ${r.value}, proven ${value}`);
        }
      } catch {
        return refuse(reasons.invalidProof(a));
      }
      const cur = await ctx.state.account(a);
      if (cur.codeHash !== proven.codeHash) return refuse(reasons.readSetChanged(a, 'code hash'));
      if (!isSender) {
        if ((item.newNonce !== undefined || item.createdCode) && cur.nonce !== proven.nonce) return refuse(reasons.readSetChanged(a, 'nonce'));
        if (item.balanceRead && cur.balance !== proven.balance) return refuse(reasons.readSetChanged(a, 'balance'));
      }
      for (const r of item.reads) {
        if (r.slot === '') continue;
        if ((await ctx.state.storage(a, r.slot)) !== r.value.toLowerCase()) return refuse(reasons.readSetChanged(a, 'slot', r.slot));
      }
      if (isSender) continue;
      const writes = item.writes.map((w) => ({ slot: w.slot, oldValue: w.oldValue, newValue: w.newValue }));
      // Applied in order: created code, nonce, storage (SystemOp.writes).
      if (item.newNonce !== undefined) writes.unshift(nonceWrite(proven.nonce, BigInt(item.newNonce)));
      if (item.createdCode) writes.unshift({ slot: '', oldValue: '', newValue: item.createdCode });
      if (writes.length > 0) part.commitOps.push({ kind: 'write-set', txHash: tx.hash, address: a, amount: 0n, writes });
      const delta = BigInt(item.balanceDelta || '0');
      // The recipient (or created contract) is always credited, even with 0 wei, so that the
      // commit shows where the value went.
      if (delta > 0n || (delta === 0n && (a === to || (!to && item.createdCode !== '')))) part.commitOps.push({ kind: 'credit', txHash: tx.hash, address: a, amount: delta });
      else if (delta < 0n) part.commitOps.push({ kind: 'debit', txHash: tx.hash, address: a, amount: -delta });
    }
    // What was read is unchanged (checked above); every key the call needs here must still be
    // held, so that nothing could have written it since the simulation read it; the prepare pins
    // them. Checked after the read set, so that a real change is named as such.
    for (const k of lockKeysOf(rwSet, from)) {
      if (k.shardId !== ctx.shardId) continue;
      const id = lockKeyId(k);
      const sim = ctx.simulationLock?.(id, tx.hash, k.mode) ?? 'held';
      if (sim === 'expired') return refuse(reasons.simulationLockExpired(k.address, tx.hash));
      if (sim === 'not held') return refuse(reasons.simulationLockNotHeld(k.address, tx.hash));
      part.locks.push(encodeHeldLock(id, k.mode));
    }
    return part;
  }

  /**
   * The record writes after this block accepted cross-shard transactions as source: locked
   * (voted YES) or refused (voted NO); `abortedEarly` records are cleared.
   */
  acceptanceWrites(
    accepted: { txHash: string; address: string; amount: bigint; locked: boolean; ok: boolean; locks?: string[]; commitOps?: SystemOp[] }[],
  ): Map<string, TpcRecord | null> {
    const w = new Map<string, TpcRecord | null>();
    for (const a of accepted) {
      if (!a.locked) w.set(a.txHash, null);
      else {
        const call = a.ok && (a.locks || a.commitOps) ? { locks: a.locks ?? [], commitOps: a.commitOps ?? [] } : {};
        w.set(a.txHash, { txHash: a.txHash, role: 'source', address: a.address, amount: a.amount, phase: a.ok ? 'locked' : 'refused', ...call });
      }
    }
    return w;
  }
}

/** Whether a record holds its address-level locks (an accepted or prepared contract call). */
function holdsLocks(r: TpcRecord): boolean {
  return (r.phase === 'locked' || r.phase === 'prepared') && (r.locks?.length ?? 0) > 0;
}
