// DecisionTracker: whether every involved shard of a decided cross-shard transaction has applied the decision, from the shards' GetDecision, asked again on each new block of a shard that has not
import { Decision, TxStatus, type GetDecisionResponse } from '@shardlab/proto';
import type { Logger } from '@shardlab/telemetry';
import { BoundedMap } from './bounded-map';

/** Options of {@link DecisionTracker}. */
export interface DecisionTrackerOpts {
  /**
   * StateShardService.GetDecision of `txHash` on shard `shardId` (the decision that shard applied
   * in a durable block, DECISION_UNSPECIFIED while none). May throw (an unreachable shard).
   */
  ask(shardId: number, txHash: string, signal: AbortSignal): Promise<GetDecisionResponse>;
  /**
   * Starts (or keeps) the gateway's block subscription to a shard (`BlockWatchHub.follow`), whose
   * blocks then reach {@link DecisionTracker.onBlock}.
   */
  follow(shardId: number): unknown;
  logger: Logger;
  /** How many transactions to remember (least recently added forgotten first); default 100 000. */
  capacity?: number;
}

/** One decided transaction and what is known of its application. */
interface Entry {
  decision: Decision;
  involved: number[];
  /** Shards that answered GetDecision with the decision. */
  appliedOn: Set<number>;
  /** GetDecision calls in flight, by shard. */
  inFlight: Map<number, Promise<void>>;
  /** Shards with a new block since their call in flight was sent: ask them again once it answers. */
  again: Set<number>;
  listeners: Set<() => void>;
  /** A shard answered the other decision (logged once). */
  conflict: boolean;
}

/** The decision a COMMITTED or ABORTED status stands for (DECISION_UNSPECIFIED for any other status). */
export function decisionOfStatus(status: TxStatus): Decision {
  if (status === TxStatus.TX_STATUS_COMMITTED) return Decision.DECISION_COMMIT;
  if (status === TxStatus.TX_STATUS_ABORTED) return Decision.DECISION_ABORT;
  return Decision.DECISION_UNSPECIFIED;
}

/**
 * The gateway's knowledge of where the decision of a cross-shard transaction has been applied
 * (`TransactionStatus.applied`). Block-2PC's orchestrator decides; each involved shard applies the
 * decision in its next block (commit: DEBIT, CREDIT, WRITE_SET; abort: UNLOCK, ABORT — or nothing
 * when it had not taken part yet). The shard itself says so: GetDecision answers from its
 * protocol's durable record (`tpcd:<hash>`, also after a restart), whatever steps the block had —
 * which a reading of block contents could not tell for a shard that aborts a transaction it never
 * prepared. The answer changes only with a new durable block, so a shard that has not applied it
 * is asked again on each block the gateway's subscription to it delivers (no polling per
 * transaction); a call in flight when a block arrives is followed by one more. Failed calls are
 * logged and retried with the next block; a caller's own re-reads ({@link check}) are the safety
 * net when a block stream is down. A shard that applied the other decision (an atomicity failure)
 * is logged as an error and never counts as applied.
 */
export class DecisionTracker {
  private readonly opts: DecisionTrackerOpts;
  private readonly log: Logger;
  private readonly entries: BoundedMap<string, Entry>;
  /** Transactions listened to, by shard that has not applied their decision yet. */
  private readonly pending = new Map<number, Set<string>>();
  private readonly closing = new AbortController();

  /** @throws RangeError when `capacity` is not a positive integer. */
  constructor(opts: DecisionTrackerOpts) {
    this.opts = opts;
    this.log = opts.logger.child({ module: 'decision-tracker' });
    this.entries = new BoundedMap(opts.capacity ?? 100_000);
  }

  /** Whether every shard of `involved` is known to have applied `decision` on `txHash` (nothing is asked). */
  isApplied(txHash: string, decision: Decision, involved: readonly number[]): boolean {
    const e = this.entry(txHash, decision, involved);
    return this.complete(e);
  }

  /**
   * Asks every shard of `involved` not yet known to have applied `decision` on `txHash` (joining
   * calls in flight), and answers whether all have. Unreachable shards count as not applied.
   * Answers what is known when `signal` aborts.
   */
  async check(txHash: string, decision: Decision, involved: readonly number[], signal: AbortSignal): Promise<boolean> {
    const e = this.entry(txHash, decision, involved);
    if (this.complete(e)) return true;
    const asks = e.involved.filter((s) => !e.appliedOn.has(s)).map((s) => this.ask(txHash, e, s, false));
    if (!signal.aborted) {
      // The asks never reject (failures are logged).
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener('abort', done);
          resolve();
        };
        signal.addEventListener('abort', done, { once: true });
        void Promise.all(asks).then(done);
      });
    }
    return this.complete(e);
  }

  /**
   * Calls `listener` once every shard of `involved` applied `decision` on `txHash` (asynchronously
   * at once when known already). Until then the shards that have not are asked now, and again on
   * each of their blocks (their block streams are followed). Returns the function that stops
   * listening (idempotent); the last listener's stop ends the asking.
   */
  listen(txHash: string, decision: Decision, involved: readonly number[], listener: () => void): () => void {
    const e = this.entry(txHash, decision, involved);
    let active = true;
    const once = () => {
      if (!active) return;
      active = false;
      e.listeners.delete(once);
      listener();
    };
    e.listeners.add(once);
    if (this.complete(e)) queueMicrotask(() => this.notify(txHash, e));
    else {
      for (const s of e.involved) {
        if (e.appliedOn.has(s)) continue;
        let set = this.pending.get(s);
        if (!set) this.pending.set(s, (set = new Set()));
        set.add(txHash);
        this.opts.follow(s);
        void this.ask(txHash, e, s, false);
      }
    }
    return () => {
      if (!active) return;
      active = false;
      e.listeners.delete(once);
      if (e.listeners.size === 0) this.unpend(txHash, e);
    };
  }

  /** A new durable block of shard `shardId` arrived: asks it again about the transactions waiting for it. */
  onBlock(shardId: number): void {
    const set = this.pending.get(shardId);
    if (!set) return;
    for (const txHash of [...set]) {
      const e = this.entries.get(txHash);
      if (!e || e.appliedOn.has(shardId)) set.delete(txHash);
      else void this.ask(txHash, e, shardId, true);
    }
    if (set.size === 0) this.pending.delete(shardId);
  }

  /** Stops calls in flight and forgets the listeners. */
  close(): void {
    this.closing.abort();
    this.pending.clear();
  }

  /** The entry of `txHash` for `decision` (a new one when none, or one of another decision, is held). */
  private entry(txHash: string, decision: Decision, involved: readonly number[]): Entry {
    let e = this.entries.get(txHash);
    if (!e || e.decision !== decision) {
      if (e) this.unpend(txHash, e);
      e = { decision, involved: [...new Set(involved)], appliedOn: new Set(), inFlight: new Map(), again: new Set(), listeners: new Set(), conflict: false };
      this.entries.set(txHash, e);
    }
    return e;
  }

  private complete(e: Entry): boolean {
    return e.involved.length > 0 && e.involved.every((s) => e.appliedOn.has(s));
  }

  /**
   * GetDecision of `txHash` on `shardId`, unless one is in flight (then `afterBlock` asks for one
   * more once it answers: the block may have come after the shard read its answer).
   */
  private ask(txHash: string, e: Entry, shardId: number, afterBlock: boolean): Promise<void> {
    const current = e.inFlight.get(shardId);
    if (current) {
      if (afterBlock) e.again.add(shardId);
      return current;
    }
    const run = async () => {
      do {
        e.again.delete(shardId);
        try {
          const r = await this.opts.ask(shardId, txHash, this.closing.signal);
          this.record(txHash, e, shardId, r);
        } catch (err) {
          if (!this.closing.signal.aborted) this.log.debug({ txHash, shardId, err: (err as Error).message }, 'could not ask a shard for its decision; asking again with its next block');
        }
      } while (e.again.has(shardId) && !e.appliedOn.has(shardId) && !this.closing.signal.aborted);
    };
    const p = run().finally(() => e.inFlight.delete(shardId));
    e.inFlight.set(shardId, p);
    return p;
  }

  private record(txHash: string, e: Entry, shardId: number, r: GetDecisionResponse): void {
    if (r.decision === Decision.DECISION_UNSPECIFIED || e.appliedOn.has(shardId)) return;
    if (r.decision !== e.decision) {
      if (!e.conflict) this.log.error({ txHash, shardId, applied: Decision[r.decision], decision: Decision[e.decision] }, 'a shard applied another decision than the one taken');
      e.conflict = true;
      return;
    }
    e.appliedOn.add(shardId);
    this.pending.get(shardId)?.delete(txHash);
    if (this.complete(e)) this.notify(txHash, e);
  }

  private notify(txHash: string, e: Entry): void {
    this.unpend(txHash, e);
    for (const l of [...e.listeners]) l();
  }

  /** Stops asking the shards about `txHash`. */
  private unpend(txHash: string, e: Entry): void {
    for (const s of e.involved) {
      const set = this.pending.get(s);
      set?.delete(txHash);
      if (set?.size === 0) this.pending.delete(s);
    }
  }
}
