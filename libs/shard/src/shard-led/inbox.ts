// The destination side of the shard-led protocol: verified receipt batches of every other shard, queued for the next block, with per-source cursors and the set of receipts already credited
import type { Common } from '@ethereumjs/common';
import { verifyReceiptBatch, type SourceCursor } from '@shardlab/chain';
import type { CrossShardReceipt, ReceiptBatch } from '@shardlab/proto';

/** What one block takes from the inbox: receipts to credit and the cursors they advance to. */
export interface InboxTake {
  /** Receipts to credit, each not credited before, in (source shard, height, index) order. */
  receipts: CrossShardReceipt[];
  /** Source shard → the last block of that source whose receipts this block records. */
  cursors: Map<number, SourceCursor>;
}

/**
 * Receipts arriving from other shards' receipt streams (SubscribeReceipts), per source shard
 * (docs/ARCHITECTURE.md §3, shard-led commit). A batch is verified against the chain of the source held so far
 * (header hash, parent link, Merkle proof of each receipt: `verifyReceiptBatch`) and queued; a
 * block takes everything queued, and once it is durable the taken cursors become durable and the
 * taken receipts count as credited. Exactly once: batches at or below a source's cursor are
 * ignored (duplicates after a reconnect), a gap is refused (the stream resumes after the
 * cursor), and a receipt whose transaction was credited before is never taken again — checked in
 * memory and, for receipts older than this process, in the store (`wasCredited`).
 */
export class ReceiptInbox {
  /** Per source: the last cursor durably recorded in a block. */
  private readonly durable = new Map<number, SourceCursor>();
  /** Per source: the batches taken by the block in progress (its last cursor is the source's). */
  private readonly taken = new Map<number, { cursor: SourceCursor; receipts: CrossShardReceipt[] }[]>();
  /** Per source: verified batches not yet taken, in height order. */
  private readonly queued = new Map<number, { cursor: SourceCursor; receipts: CrossShardReceipt[] }[]>();
  /** Transactions credited by durable blocks of this process (and taken by the block in progress). */
  private readonly credited = new Set<string>();
  private readonly inFlight = new Set<string>();

  /**
   * @param durableCursors the cursors recorded by the head block's history (from the store).
   * @param wasCredited whether a durable block credited `txHash` (the store's record).
   */
  constructor(
    private readonly common: Common,
    private readonly shardId: number,
    durableCursors: ReadonlyMap<number, SourceCursor>,
    private readonly wasCredited: (txHash: string) => Promise<boolean>,
  ) {
    for (const [s, c] of durableCursors) this.durable.set(s, c);
  }

  /** The last height of `source` received (queued, taken or durable); -1 before its genesis. */
  cursor(source: number): number {
    return this.latest(source)?.height ?? -1;
  }

  private latest(source: number): SourceCursor | undefined {
    return this.queued.get(source)?.at(-1)?.cursor ?? this.taken.get(source)?.at(-1)?.cursor ?? this.durable.get(source);
  }

  /**
   * Verifies and queues one batch of shard `source`. Heights at or below the cursor are ignored.
   * @throws ShardLabError INVALID_ARGUMENT when the batch fails verification (forged or wrongly
   *   proven receipt, a header that does not extend the source's chain, a gap): nothing is queued.
   */
  async accept(source: number, batch: ReceiptBatch): Promise<void> {
    if (batch.header && batch.header.height <= this.cursor(source)) return;
    const { cursor, receipts } = await verifyReceiptBatch(this.common, batch, source, this.shardId, this.latest(source));
    // Verification awaited: a duplicate of the same height may have been queued meanwhile.
    if (cursor.height <= this.cursor(source)) return;
    const q = this.queued.get(source) ?? [];
    q.push({ cursor, receipts });
    this.queued.set(source, q);
  }

  /**
   * Takes every queued batch for the block in progress, leaving out receipts already credited.
   * The batches move to the taken ones before the first store read, so that a batch delivered
   * meanwhile (a reconnect, a duplicate) meets the cursor they hold.
   */
  async take(): Promise<InboxTake> {
    const receipts: CrossShardReceipt[] = [];
    const cursors = new Map<number, SourceCursor>();
    const batches: { cursor: SourceCursor; receipts: CrossShardReceipt[] }[] = [];
    for (const source of [...this.queued.keys()].sort((a, b) => a - b)) {
      const q = this.queued.get(source)!;
      this.queued.delete(source);
      if (q.length === 0) continue;
      cursors.set(source, q.at(-1)!.cursor);
      this.taken.set(source, q);
      batches.push(...q);
    }
    try {
      for (const b of batches) {
        for (const r of b.receipts) {
          const h = r.txHash.toLowerCase();
          if (this.credited.has(h) || this.inFlight.has(h) || (await this.wasCredited(h))) continue;
          this.inFlight.add(h);
          receipts.push(r);
        }
      }
    } catch (err) {
      // A store read failed: everything taken goes back, and the block fails.
      this.putBack({ receipts, cursors });
      throw err;
    }
    return { receipts, cursors };
  }

  /** The block that took `t` is durable: its cursors and credits count. */
  settle(t: InboxTake): void {
    for (const [s, c] of t.cursors) {
      this.durable.set(s, c);
      this.taken.delete(s);
    }
    for (const r of t.receipts) {
      const h = r.txHash.toLowerCase();
      this.inFlight.delete(h);
      this.credited.add(h);
    }
  }

  /** The block that took `t` failed: its batches go back in front of the queues. */
  putBack(t: InboxTake): void {
    for (const r of t.receipts) this.inFlight.delete(r.txHash.toLowerCase());
    for (const s of t.cursors.keys()) {
      const back = this.taken.get(s) ?? [];
      this.taken.delete(s);
      this.queued.set(s, [...back, ...(this.queued.get(s) ?? [])]);
    }
  }

  /** Whether a durable block of this process credited `txHash` (memory only). */
  creditedHere(txHash: string): boolean {
    return this.credited.has(txHash.toLowerCase());
  }
}
