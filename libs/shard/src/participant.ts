import type { SystemOp } from '@shardlab/chain';
import { Decision, Vote, type OrchestratorBlock, type PrepareVote, type Transaction } from '@shardlab/proto';

/**
 * What a state shard remembers of one cross-shard transaction it takes part in (two-phase
 * commit, DESIGN.md section 3). Amounts in wei.
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
}

/** Serialised form of a record (stored in the shard's block batch). */
export function encodeRecord(r: TpcRecord): Uint8Array {
  return Buffer.from(JSON.stringify({ ...r, amount: r.amount.toString() }));
}

/** Inverse of {@link encodeRecord}. */
export function decodeRecord(bytes: Uint8Array): TpcRecord {
  const o = JSON.parse(Buffer.from(bytes).toString('utf8')) as Omit<TpcRecord, 'amount'> & { amount: string };
  return { ...o, amount: BigInt(o.amount) };
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
}

/**
 * The two-phase-commit participant state of a state shard: records of the cross-shard
 * transactions in flight here, and the locked amount per account. Pure: the node persists the
 * record writes of each plan in the block's atomic batch and applies them afterwards.
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
    for (const b of blocks) {
      plan.orchestratorHeight = b.height;
      for (const x of b.ctToOrder) {
        const tx = x.tx;
        if (!tx || !x.involvedShards.includes(ctx.shardId)) continue;
        plan.traces.set(tx.hash, x.traceContext);
        if (x.sourceShard === ctx.shardId) {
          if (!current(tx.hash) && !ctx.inMempool(tx.hash) && !plan.accepts.some((a) => a.hash === tx.hash)) plan.accepts.push(tx);
          continue;
        }
        if (current(tx.hash)) continue;
        const value = BigInt(tx.value || '0');
        let reason = '';
        if (!tx.to) reason = 'contract creation cannot be prepared as a value transfer';
        else if (ctx.shardOf(tx.to) !== ctx.shardId) reason = `recipient ${tx.to} is not placed on shard ${ctx.shardId}`;
        else if (await ctx.isContract(tx.to)) reason = `recipient ${tx.to} is a contract: cross-shard contract calls need the simulator`;
        plan.writes.set(tx.hash, { txHash: tx.hash, role: 'destination', address: tx.to, amount: value, phase: reason ? 'refused' : 'prepared' });
        plan.votes.push({ txHash: tx.hash, vote: reason ? Vote.VOTE_NO : Vote.VOTE_YES, reason });
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
          continue;
        }
        if (r.phase === 'abortedEarly') continue;
        if (r.phase === 'locked') {
          if (commit) plan.finalize.push({ kind: 'debit', txHash: d.txHash, address: r.address, amount: r.amount });
          else unlocks.push({ kind: 'unlock', txHash: d.txHash, address: r.address, amount: r.amount });
        } else if (r.phase === 'prepared') {
          plan.finalize.push({ kind: commit ? 'credit' : 'abort', txHash: d.txHash, address: r.address, amount: r.amount });
          // A vote planned in this same block for a transaction already decided is moot.
          plan.votes = plan.votes.filter((v) => v.txHash !== d.txHash);
        }
        plan.writes.set(d.txHash, null);
      }
    }
    plan.finalize.push(...unlocks);
    return plan;
  }

  /**
   * The record writes after this block accepted cross-shard transactions as source: locked
   * (voted YES) or refused (voted NO); `abortedEarly` records are cleared.
   */
  acceptanceWrites(accepted: { txHash: string; address: string; amount: bigint; locked: boolean; ok: boolean }[]): Map<string, TpcRecord | null> {
    const w = new Map<string, TpcRecord | null>();
    for (const a of accepted) {
      if (!a.locked) w.set(a.txHash, null);
      else w.set(a.txHash, { txHash: a.txHash, role: 'source', address: a.address, amount: a.amount, phase: a.ok ? 'locked' : 'refused' });
    }
    return w;
  }
}
