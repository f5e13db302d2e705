// The orchestrator's pure two-phase-commit coordinator: cross-shard records, the ordering queue, vote tallies, per-block decisions and timeouts, pruning, records' stored form
import {
  Decision,
  TxStatus,
  Vote,
  reasonMessage,
  reasons,
  type CrossShardTx,
  type Reason,
  RwSet,
  type StateShardBlock,
  type TpcResult,
  type Transaction,
  type TransactionStatus,
} from '@shardlab/proto';

/** Phase of a cross-shard transaction at the orchestrator. */
export type CrossPhase = 'pending' | 'prepared' | 'committed' | 'aborted';

/** What the orchestrator knows of one cross-shard transaction. */
export interface CrossRecord {
  tx: Transaction;
  homeShard: number;
  /** Every shard that must vote (source first), sorted after the source. */
  involved: number[];
  rwSet?: RwSet;
  /** Votes received: shard → YES/NO. */
  votes: Record<number, 'yes' | 'no'>;
  phase: CrossPhase;
  /** Why it aborted (first NO vote's reason, or the timeout), as text derived from `cause`. */
  reason: string;
  /** Why it aborted, as data. */
  cause?: Reason;
  /** Orchestrator height whose block ordered it (ct_to_order); undefined while queued. */
  orderedAt?: number;
  /** Orchestrator height whose block carries the decision. */
  decidedAt?: number;
  /** W3C trace context of the transaction's trace. */
  traceContext: Record<string, string>;
  updatedAtMs: number;
  /** A contract call or creation whose RwSet the simulator has not given yet (not ordered until then). */
  simulating?: boolean;
  /** Why its simulation failed: it is ordered for its home shard only and aborted. */
  simulationError?: string;
}

/** Terminal phases. */
export const isDecided = (p: CrossPhase) => p === 'committed' || p === 'aborted';

const STATUS: Record<CrossPhase, TxStatus> = {
  pending: TxStatus.TX_STATUS_PENDING,
  prepared: TxStatus.TX_STATUS_PREPARED,
  committed: TxStatus.TX_STATUS_COMMITTED,
  aborted: TxStatus.TX_STATUS_ABORTED,
};

/**
 * The client-facing status of a record, with its involved shards. `applied` is false: whether
 * every involved shard applied the decision is the gateway's to learn (StateShardService.GetDecision).
 */
export function statusOf(r: CrossRecord): TransactionStatus {
  return {
    txHash: r.tx.hash,
    status: STATUS[r.phase],
    homeShard: r.homeShard,
    crossShard: true,
    blockHeight: r.decidedAt ?? r.orderedAt ?? 0,
    receipt: undefined,
    reason: r.reason,
    ...(r.cause ? { cause: r.cause } : {}),
    updatedAtMs: r.updatedAtMs,
    applied: false,
    involvedShards: [...r.involved],
  };
}

/** Options of {@link Coordinator}. */
export interface CoordinatorOpts {
  /** Orchestrator blocks after ordering without a decision before the transaction aborts. */
  voteTimeoutBlocks: number;
  /** Shard of an address (to learn transactions first seen in a shard block). */
  shardOf(address: string): number;
}

/** The changes one orchestrator block makes. */
export interface BlockPlan {
  ctToOrder: CrossShardTx[];
  tpcResult: TpcResult[];
  /** Records changed since the previous block (to persist with the block). */
  changed: CrossRecord[];
}

/** The first 52 bits of a 0x hash, as an exact JavaScript number. */
function hashKey(hash: string): number {
  return parseInt(hash.slice(2, 15), 16);
}

/**
 * The orchestrator's two-phase-commit coordinator (docs/ARCHITECTURE.md §3), pure: it keeps the
 * cross-shard transactions, queues new ones for the next block's `ct_to_order`, tallies votes
 * read from state-shard blocks (first NO aborts; commit when every expected shard voted YES;
 * duplicate and unexpected votes are ignored), and decides in the next block, aborting those
 * with no decision `voteTimeoutBlocks` blocks after ordering.
 */
export class Coordinator {
  private readonly records = new Map<string, CrossRecord>();
  /** Hashes of undecided transactions. */
  private readonly open = new Set<string>();
  private queue: string[] = [];
  private readonly dirty = new Set<string>();
  /** Records whose first write is still in progress: not ordered, not written by a block. */
  private readonly held = new Set<string>();
  /** Decided records still in memory, in the order of their decision height (see {@link pruneDecided}). */
  private decidedOrder: { hash: string; at: number }[] = [];
  /**
   * The first 52 bits of every dropped record's hash, spread over 256 sets by their low byte (one
   * JavaScript Set holds at most 2^24 entries): a compact filter (about 50 bytes a transaction
   * instead of its record) that says which unknown hashes may have a stored, decided record —
   * only those are looked up in the store.
   */
  private readonly prunedKeys: Set<number>[] = Array.from({ length: 256 }, () => new Set<number>());
  private prunedCount = 0;

  constructor(
    private readonly opts: CoordinatorOpts,
    restored: Iterable<CrossRecord> = [],
  ) {
    for (const r of restored) {
      this.records.set(r.tx.hash, r);
      if (!isDecided(r.phase)) this.open.add(r.tx.hash);
      else this.decidedOrder.push({ hash: r.tx.hash, at: r.decidedAt ?? 0 });
      if (r.orderedAt === undefined && !isDecided(r.phase) && !r.simulating) this.queue.push(r.tx.hash);
    }
    this.decidedOrder.sort((a, b) => a.at - b.at);
  }

  /**
   * Records the outcome of a transaction's simulation and queues it for ordering: with its RwSet
   * and the shards the RwSet names, or, when the simulation failed, for its home shard only, to
   * be aborted with `simulation failed: <error>` in the block after the one that orders it.
   */
  resolveSimulation(txHash: string, outcome: { rwSet: RwSet } | { error: string; cause?: Reason }, nowMs: number): CrossRecord | undefined {
    const r = this.records.get(txHash);
    if (!r || !r.simulating || isDecided(r.phase)) return undefined;
    delete r.simulating;
    if ('rwSet' in outcome) {
      r.rwSet = outcome.rwSet;
      const others = outcome.rwSet.addresses.map((a) => Number(a.shardId)).concat(r.involved);
      r.involved = [r.homeShard, ...[...new Set(others)].filter((s) => s !== r.homeShard).sort((a, b) => a - b)];
    } else {
      r.simulationError = outcome.error;
      r.cause = outcome.cause ? reasons.simulationFailed('', outcome.cause) : reasons.simulationFailed(outcome.error);
      r.reason = reasonMessage(r.cause);
      r.involved = [r.homeShard];
    }
    r.updatedAtMs = nowMs;
    this.queue.push(txHash);
    this.dirty.add(txHash);
    return r;
  }

  /** Records waiting for their simulation. */
  simulating(): CrossRecord[] {
    return [...this.open].map((h) => this.records.get(h)!).filter((r) => r.simulating);
  }

  /** A record by transaction hash. */
  get(txHash: string): CrossRecord | undefined {
    return this.records.get(txHash);
  }

  /** Transactions ordered or queued but not decided. */
  inFlight(): CrossRecord[] {
    return [...this.open].map((h) => this.records.get(h)!);
  }

  /**
   * Registers a cross-shard transaction forwarded by its home shard (idempotent: a second
   * forward of the same hash returns the existing record and `isNew: false`).
   */
  forward(
    tx: Transaction,
    homeShard: number,
    otherShards: readonly number[],
    rwSet: RwSet | undefined,
    traceContext: Record<string, string>,
    nowMs: number,
    simulating = false,
  ): { record: CrossRecord; isNew: boolean } {
    const existing = this.records.get(tx.hash);
    if (existing) return { record: existing, isNew: false };
    const involved = [homeShard, ...[...new Set(otherShards)].filter((s) => s !== homeShard).sort((a, b) => a - b)];
    const record: CrossRecord = {
      tx,
      homeShard,
      involved,
      votes: {},
      phase: 'pending',
      reason: '',
      traceContext,
      updatedAtMs: nowMs,
      ...(rwSet ? { rwSet } : {}),
      ...(simulating ? { simulating: true } : {}),
    };
    this.records.set(tx.hash, record);
    this.open.add(tx.hash);
    if (!simulating) this.queue.push(tx.hash);
    this.dirty.add(tx.hash);
    return { record, isNew: true };
  }

  /**
   * Reads the votes of a state-shard block. A vote for a transaction not yet known (its
   * ForwardTransaction was lost) is matched with the transaction in the same block and the
   * transaction is learned. Returns the records whose phase changed (to `prepared`).
   */
  onShardBlock(shardId: number, block: StateShardBlock, nowMs: number): CrossRecord[] {
    const changed: CrossRecord[] = [];
    for (const v of block.tpcPrepare) {
      let r = this.records.get(v.txHash);
      if (!r) {
        // A vote for a transaction decided and dropped from memory is late: ignored, as votes for
        // decided transactions are (never learned again as a new one).
        if (this.mayBePruned(v.txHash)) continue;
        const entry = block.transactions.find((e) => e.kind?.$case === 'user' && e.kind.value.hash === v.txHash)?.kind;
        if (entry?.$case !== 'user' || !entry.value.to) continue;
        r = this.forward(entry.value, shardId, [this.opts.shardOf(entry.value.to)], undefined, {}, nowMs).record;
      }
      if (isDecided(r.phase) || !r.involved.includes(shardId) || r.votes[shardId] !== undefined) continue;
      r.votes[shardId] = v.vote === Vote.VOTE_YES ? 'yes' : 'no';
      if (v.vote !== Vote.VOTE_YES && !r.reason) {
        r.cause = reasons.shardVotedNo(shardId, v.cause, v.cause ? '' : v.reason);
        r.reason = reasonMessage(r.cause);
      }
      r.updatedAtMs = nowMs;
      this.dirty.add(r.tx.hash);
      if (r.phase === 'pending' && r.involved.every((s) => r.votes[s] === 'yes')) {
        r.phase = 'prepared';
        changed.push(r);
      }
    }
    return changed;
  }

  /**
   * Plans orchestrator block `height`: orders every queued transaction, and decides every
   * transaction ordered in an earlier block that has a NO vote (abort), YES from every involved
   * shard (commit), or no decision after `voteTimeoutBlocks` blocks (abort). Mutates the records;
   * the caller persists `changed` with the block.
   */
  planBlock(height: number, nowMs: number): BlockPlan {
    const ctToOrder: CrossShardTx[] = [];
    const tpcResult: TpcResult[] = [];
    // A sender's transactions are ordered in nonce order (its source shard accepts them in the
    // order ordered): one waits while a lower-nonce one of the same sender is still simulating.
    const simulatingFrom = new Map<string, number>();
    for (const h of this.open) {
      const r = this.records.get(h)!;
      if (r.simulating && r.orderedAt === undefined) simulatingFrom.set(r.tx.from, Math.min(simulatingFrom.get(r.tx.from) ?? Infinity, r.tx.nonce));
    }
    const waiting: string[] = [];
    const ordered: CrossRecord[] = [];
    for (const h of this.queue) {
      const r = this.records.get(h);
      if (!r || r.orderedAt !== undefined || isDecided(r.phase)) continue;
      if (this.held.has(h) || (simulatingFrom.get(r.tx.from) ?? Infinity) < r.tx.nonce) {
        waiting.push(h);
        continue;
      }
      ordered.push(r);
    }
    // Arrival order across senders; nonce order within each sender's slots.
    const bySender = new Map<string, CrossRecord[]>();
    for (const r of ordered) bySender.set(r.tx.from, [...(bySender.get(r.tx.from) ?? []), r]);
    for (const list of bySender.values()) list.sort((a, b) => a.tx.nonce - b.tx.nonce);
    const next = new Map([...bySender.keys()].map((k) => [k, 0]));
    const inOrder = ordered.map((r) => {
      const i = next.get(r.tx.from)!;
      next.set(r.tx.from, i + 1);
      return bySender.get(r.tx.from)![i]!;
    });
    for (const r of inOrder) {
      r.orderedAt = height;
      r.updatedAtMs = nowMs;
      this.dirty.add(r.tx.hash);
      ctToOrder.push({ tx: r.tx, involvedShards: r.involved, rwSet: r.rwSet, sourceShard: r.homeShard, traceContext: r.traceContext });
    }
    this.queue = waiting;
    for (const h of this.open) {
      const r = this.records.get(h)!;
      if (r.orderedAt === undefined || r.orderedAt >= height) continue;
      const no = r.involved.some((s) => r.votes[s] === 'no') || r.simulationError !== undefined;
      const allYes = !no && r.involved.every((s) => r.votes[s] === 'yes');
      let decision: Decision | undefined;
      if (no) decision = Decision.DECISION_ABORT;
      else if (allYes) decision = Decision.DECISION_COMMIT;
      else if (height - r.orderedAt >= this.opts.voteTimeoutBlocks) {
        decision = Decision.DECISION_ABORT;
        const missing = r.involved.filter((s) => r.votes[s] === undefined);
        r.cause = reasons.voteTimeout(missing, this.opts.voteTimeoutBlocks);
        r.reason = reasonMessage(r.cause);
      }
      if (decision === undefined) continue;
      r.phase = decision === Decision.DECISION_COMMIT ? 'committed' : 'aborted';
      r.decidedAt = height;
      this.decidedOrder.push({ hash: r.tx.hash, at: height });
      r.updatedAtMs = nowMs;
      this.open.delete(h);
      this.dirty.add(r.tx.hash);
      tpcResult.push({ txHash: r.tx.hash, decision, reason: r.reason, ...(r.cause ? { cause: r.cause } : {}), involvedShards: r.involved, traceContext: r.traceContext });
    }
    // A held record is written by its own forward, not by a block (it stays dirty for later).
    const changed: CrossRecord[] = [];
    for (const h of this.dirty) {
      if (this.held.has(h)) continue;
      this.dirty.delete(h);
      const r = this.records.get(h);
      if (r) changed.push(r);
    }
    return { ctToOrder, tpcResult, changed };
  }

  /**
   * Forgets a transaction that was never made durable (its forward failed to persist), so it is
   * neither ordered nor reported.
   */
  forget(txHash: string): void {
    this.held.delete(txHash);
    this.records.delete(txHash);
    this.open.delete(txHash);
    this.dirty.delete(txHash);
    this.queue = this.queue.filter((h) => h !== txHash);
  }

  /**
   * Holds a new record while its first write is in progress: no block orders it or writes it until
   * {@link release} (or {@link forget} when the write failed), so a block can never make durable,
   * or order, a transaction whose forward is then refused.
   */
  hold(txHash: string): void {
    this.held.add(txHash);
  }

  /** Ends {@link hold}: the record is durable; the next block may order it. */
  release(txHash: string): void {
    this.held.delete(txHash);
  }

  /**
   * Drops from memory the records decided at orchestrator height `upTo` or below (their store
   * copies stay: status queries and repeated forwards read them there). Stops at a record not yet
   * written (dirty): it is dropped by a later call. Memory then holds the open transactions and
   * the recently decided ones, not every transaction ever seen.
   * @returns how many records were dropped.
   */
  pruneDecided(upTo: number): number {
    let n = 0;
    let i = 0;
    for (; i < this.decidedOrder.length && this.decidedOrder[i]!.at <= upTo; i++) {
      const { hash, at } = this.decidedOrder[i]!;
      const r = this.records.get(hash);
      // Gone, or decided again at another height after a reverted plan: this entry is stale.
      if (!r || !isDecided(r.phase) || r.decidedAt !== at) continue;
      if (this.dirty.has(hash) || this.held.has(hash)) break;
      const key = hashKey(hash);
      this.prunedKeys[key & 0xff]!.add(key);
      this.prunedCount++;
      this.records.delete(hash);
      n++;
    }
    if (i > 0) this.decidedOrder = this.decidedOrder.slice(i);
    return n;
  }

  /**
   * Whether `txHash` (lowercase) may be a record {@link pruneDecided} dropped: false means surely
   * not; true means ask the store (rarely a different transaction with the same first 52 bits).
   */
  mayBePruned(txHash: string): boolean {
    if (this.prunedCount === 0) return false;
    const key = hashKey(txHash);
    return this.prunedKeys[key & 0xff]!.has(key);
  }

  /** Records held in memory (open and not yet pruned decided ones). */
  get size(): number {
    return this.records.size;
  }

  /** Marks records dirty again (after a failed block write), so the next block persists them. */
  redirty(records: readonly CrossRecord[]): void {
    for (const r of records) this.dirty.add(r.tx.hash);
  }

  /**
   * Undoes {@link planBlock} after its block could not be written: the transactions it ordered
   * are queued again (ahead of newer ones) and those it decided are undecided again, so the next
   * block orders and decides them; every changed record stays dirty. Votes are kept.
   */
  revertPlan(plan: BlockPlan): void {
    const reordered: string[] = [];
    for (const x of plan.ctToOrder) {
      const r = x.tx ? this.records.get(x.tx.hash) : undefined;
      if (!r) continue;
      delete r.orderedAt;
      reordered.push(r.tx.hash);
    }
    this.queue = [...reordered, ...this.queue];
    for (const d of plan.tpcResult) {
      const r = this.records.get(d.txHash);
      if (!r) continue;
      const allYes = r.simulationError === undefined && r.involved.every((s) => r.votes[s] === 'yes');
      // A timeout is the only decision that sets the reason without a NO vote.
      if (!allYes && !r.involved.some((s) => r.votes[s] === 'no') && r.simulationError === undefined) {
        r.reason = '';
        delete r.cause;
      }
      r.phase = allYes ? 'prepared' : 'pending';
      delete r.decidedAt;
      this.open.add(r.tx.hash);
    }
    this.redirty(plan.changed);
  }
}

/** Serialised form of a record for the orchestrator store. */
export function encodeCrossRecord(r: CrossRecord): Uint8Array {
  return Buffer.from(
    JSON.stringify({
      ...r,
      tx: { ...r.tx, raw: Buffer.from(r.tx.raw).toString('base64'), data: Buffer.from(r.tx.data).toString('base64') },
      rwSet: r.rwSet ? RwSet.toJSON(r.rwSet) : undefined,
    }),
  );
}

/** Inverse of {@link encodeCrossRecord}. */
export function decodeCrossRecord(bytes: Uint8Array): CrossRecord {
  const o = JSON.parse(Buffer.from(bytes).toString('utf8')) as CrossRecord & { tx: Transaction & { raw: string; data: string } };
  const { rwSet, ...rest } = o;
  return {
    ...rest,
    tx: { ...o.tx, raw: Buffer.from(o.tx.raw as unknown as string, 'base64'), data: Buffer.from(o.tx.data as unknown as string, 'base64') },
    ...(rwSet ? { rwSet: RwSet.fromJSON(rwSet) } : {}),
  };
}
