// The state shard's mempool: pending transactions in arrival order, per-sender pending count and cost, taking them for a block and removing them once durable.
import { errors } from '@shardlab/common';
import type { DecodedTx } from '@shardlab/chain';
import type { Context } from '@opentelemetry/api';

/** A transaction waiting in the mempool. */
export interface MempoolEntry {
  readonly tx: DecodedTx;
  /** Milliseconds since the epoch when it was accepted. */
  readonly acceptedAtMs: number;
  /** Trace context of the submission, linked from the block span that executes it. */
  readonly trace?: Context;
  /** True while a block that holds it is being executed and persisted. */
  executing: boolean;
  /** A cross-shard transaction (accepted on this, its source shard, by the commit protocol). */
  readonly crossShard: boolean;
  /** False until it may go into a block (a cross-shard one once the orchestrator has it). */
  ready: boolean;
  /**
   * A cross-shard contract call or creation: the entry only reserves the sender's nonce and is
   * never taken into a block by itself; the shard accepts the orchestrator's ordered copy (with
   * the RwSet) and then removes it, or removes it on an abort decision.
   */
  readonly reservation?: boolean;
}

/**
 * The pending transactions of a shard, in arrival order (which is nonce order per sender, since
 * a transaction is only accepted with the sender's next nonce). Entries stay, marked executing,
 * until the block that executed them is durable, so that nonce and balance checks of new
 * submissions always see head state plus every transaction not yet in it.
 */
export class Mempool {
  private readonly entries = new Map<string, MempoolEntry>();
  private readonly bySender = new Map<string, { count: number; cost: bigint }>();

  /** @param capacity most transactions held at once (default 100,000). */
  constructor(readonly capacity = 100_000) {}

  get size(): number {
    return this.entries.size;
  }

  has(hash: string): boolean {
    return this.entries.has(hash);
  }

  get(hash: string): MempoolEntry | undefined {
    return this.entries.get(hash);
  }

  /** Count and summed max cost (wei) of the sender's transactions still in the mempool. */
  senderView(from: string): { pendingCount: number; pendingCost: bigint } {
    const s = this.bySender.get(from);
    return { pendingCount: s?.count ?? 0, pendingCost: s?.cost ?? 0n };
  }

  /**
   * The oldest transaction of `from` with a nonce below `nonce` that still has to go into a block
   * by itself (nonce reservations of cross-shard calls excepted), if any.
   */
  earlierPending(from: string, nonce: bigint): MempoolEntry | undefined {
    if (!this.bySender.has(from)) return undefined;
    for (const e of this.entries.values()) if (e.tx.from === from && e.tx.nonce < nonce && !e.reservation) return e;
    return undefined;
  }

  /** The lowest nonce each of `senders` has in the mempool (senders with none are left out); one pass over the entries. */
  lowestNonces(senders: ReadonlySet<string>): Map<string, bigint> {
    const out = new Map<string, bigint>();
    if (senders.size === 0) return out;
    for (const e of this.entries.values()) {
      if (!senders.has(e.tx.from)) continue;
      const n = out.get(e.tx.from);
      if (n === undefined || e.tx.nonce < n) out.set(e.tx.from, e.tx.nonce);
    }
    return out;
  }

  /**
   * Adds a validated transaction.
   * @throws ShardLabError RESOURCE_EXHAUSTED when the mempool is full.
   */
  add(tx: DecodedTx, acceptedAtMs: number, trace?: Context, crossShard = false, reservation = false): MempoolEntry {
    if (this.entries.size >= this.capacity) {
      throw errors.resourceExhausted(`mempool is full (${this.capacity} transactions); retry later`);
    }
    const entry: MempoolEntry = { tx, acceptedAtMs, executing: false, crossShard, ready: !crossShard, ...(reservation ? { reservation } : {}), ...(trace ? { trace } : {}) };
    this.entries.set(tx.hash, entry);
    const s = this.bySender.get(tx.from) ?? { count: 0, cost: 0n };
    s.count += 1;
    s.cost += tx.maxCost;
    this.bySender.set(tx.from, s);
    return entry;
  }

  /**
   * Takes the oldest transactions not yet executing, up to `maxTxs` and a total gas limit of
   * `maxGas`, and marks them executing. They stay in the mempool until {@link remove}. An entry
   * not yet ready holds back its sender's later transactions (nonce order).
   */
  take(maxTxs: number, maxGas: bigint): MempoolEntry[] {
    const out: MempoolEntry[] = [];
    const held = new Set<string>();
    let gas = 0n;
    for (const e of this.entries.values()) {
      if (out.length >= maxTxs) break;
      if (e.executing) continue;
      if (!e.ready || e.reservation || held.has(e.tx.from)) {
        held.add(e.tx.from);
        continue;
      }
      if (gas + e.tx.gasLimit > maxGas) break;
      gas += e.tx.gasLimit;
      e.executing = true;
      out.push(e);
    }
    return out;
  }

  /** Un-marks entries taken for a block that failed, so a later block retries them. */
  untake(entries: readonly MempoolEntry[]): void {
    for (const e of entries) e.executing = false;
  }

  /** Removes transactions (once their block is durable, or when they are dropped). */
  remove(hashes: Iterable<string>): void {
    for (const h of hashes) {
      const e = this.entries.get(h);
      if (!e) continue;
      this.entries.delete(h);
      const s = this.bySender.get(e.tx.from);
      if (!s) continue;
      s.count -= 1;
      s.cost -= e.tx.maxCost;
      if (s.count === 0) this.bySender.delete(e.tx.from);
    }
  }
}
