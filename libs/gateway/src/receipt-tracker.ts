// ReceiptTracker: the gateway's shard-led evidence of cross-shard transactions, gathered from the home and destination block streams it follows, with a one-time read of recent blocks when a stream may have started too late
import { shardOf, type Placement } from '@shardlab/chain';
import { errors } from '@shardlab/common';
import { TxStatus, type StateShardBlock, type TransactionStatus } from '@shardlab/proto';
import type { Logger } from '@shardlab/telemetry';
import { BoundedMap } from './bounded-map';
import { blockFacts, mergeFacts, shardLedEnd, shardLedStatus, type ReceiptEvidence } from './receipt-evidence';
import type { ShardRouter } from './shards';
import { raceAbort } from './tx-locator';
import type { FeedPosition } from './watch';

/** Options of {@link ReceiptTracker}. */
export interface ReceiptTrackerOpts {
  /** Starts (or finds) the gateway's block subscription to a shard (`BlockWatchHub.follow`). */
  follow: (shardId: number) => FeedPosition | undefined;
  /** The next height of the running subscription to a shard, without starting one (`BlockWatchHub.nextHeight`). */
  position: (shardId: number) => number | undefined;
  /** Shard calls: GetTransaction of the home shard, GetBlock of the destination's history. */
  router: Pick<ShardRouter, 'call'>;
  /** The current placement (the destination of a transfer is the shard of its `to`). */
  placement: () => Promise<Placement>;
  logger: Logger;
  /** How many cross-shard transactions to track (least recently tracked forgotten first); default 100 000. */
  capacity?: number;
  /** Most blocks of a destination read back when its stream may have started after the credit; default 512. */
  historyLimit?: number;
  /**
   * How far apart two shards' clocks may be, in milliseconds: the history read stops at the first
   * destination block older than the home's debit block by more than this. Default 2000.
   */
  clockSkewMs?: number;
  /** Clock for statuses whose end has no block timestamp; default `Date.now`. */
  now?: () => number;
}

/** One tracked cross-shard transaction. */
interface Tracked {
  homeShard: number;
  /** The shard of its recipient (the destination of a transfer, the contract's shard of a call), once known. */
  destShard?: number;
  /** The first destination height whose block reached {@link ReceiptTracker.onBlock} while tracked. */
  destFrom?: number;
  /** Whether every destination block that can hold its credit or call result has been seen. */
  complete: boolean;
  ev: ReceiptEvidence;
  /** The home shard answered COMMITTED (it credited a call's result before its stream was followed). */
  homeCommitted: boolean;
  listeners: Set<() => void>;
  /** The history read in flight, shared. */
  covering?: Promise<void>;
}

/**
 * What the gateway knows of cross-shard transactions from shard blocks, whatever the protocol:
 * the shard-led protocol ends a transfer with its destination's RECEIPT_CREDIT and a call with its
 * home's credit of the CALL_RESULT that the contract's shard sent back (docs/ARCHITECTURE.md §3);
 * block-2PC leaves no such evidence (the orchestrator decides). No polling per transaction: the
 * gateway's block subscriptions to the home and destination shards (`BlockWatchHub`, started on
 * the first tracked transaction of each shard and kept) feed {@link onBlock}.
 *
 * A stream delivers blocks from the height it started at. The credit can only follow the home's
 * debit block, so evidence is complete when the destination's subscription was positioned before
 * the debit was durable: a transaction tracked before its submission, or one whose home still holds
 * it outside a durable block when read after positioning. Otherwise ({@link settle}) the
 * destination's blocks below the subscription's start are read back once, down to the home's debit
 * block's time (less `clockSkewMs`), at most `historyLimit` blocks.
 */
export class ReceiptTracker {
  private readonly follow: ReceiptTrackerOpts['follow'];
  private readonly position: ReceiptTrackerOpts['position'];
  private readonly router: Pick<ShardRouter, 'call'>;
  private readonly placement: () => Promise<Placement>;
  private readonly log: Logger;
  private readonly tracked: BoundedMap<string, Tracked>;
  private readonly historyLimit: number;
  private readonly clockSkewMs: number;
  private readonly now: () => number;
  private readonly closing = new AbortController();

  /** @throws RangeError when `capacity` is not a positive integer. */
  constructor(opts: ReceiptTrackerOpts) {
    this.follow = opts.follow;
    this.position = opts.position;
    this.router = opts.router;
    this.placement = opts.placement;
    this.log = opts.logger.child({ module: 'receipt-tracker' });
    this.tracked = new BoundedMap(opts.capacity ?? 100_000);
    this.historyLimit = Math.max(0, opts.historyLimit ?? 512);
    this.clockSkewMs = Math.max(0, opts.clockSkewMs ?? 2000);
    this.now = opts.now ?? Date.now;
  }

  /**
   * Tracks the cross-shard transaction `txHash` (lowercase 0x hex) of home shard `homeShard`, with
   * its destination `destShard` when known, and follows both shards' blocks. `beforeSubmit`: the
   * transaction has not been submitted yet, so nothing of it can be in a block: its evidence is
   * complete from now on if the destination's subscription is running; no subscription is started
   * (a refused submission leaves none behind) — track it again once accepted. Idempotent; a later
   * call may add the destination.
   * @returns whether this call started tracking it (false when it was tracked already).
   */
  track(txHash: string, homeShard: number, destShard?: number, opts: { beforeSubmit?: boolean } = {}): boolean {
    let rec = this.tracked.get(txHash);
    const fresh = rec === undefined;
    if (!rec) {
      rec = { homeShard, complete: false, ev: {}, homeCommitted: false, listeners: new Set() };
      this.tracked.set(txHash, rec);
    }
    if (destShard !== undefined && rec.destShard === undefined) {
      rec.destShard = destShard;
      rec.destFrom = this.position(destShard);
      if (fresh && opts.beforeSubmit && rec.destFrom !== undefined) rec.complete = true;
    }
    if (!opts.beforeSubmit) {
      this.follow(rec.homeShard);
      if (rec.destShard !== undefined) this.setDestination(rec, rec.destShard);
    }
    return fresh;
  }

  /** Stops tracking `txHash` (a submission that failed). */
  untrack(txHash: string): void {
    this.tracked.delete(txHash);
  }

  /**
   * Calls `listener` whenever the evidence of `txHash` changes (a block showed something of it, a
   * history read completed). Returns the function that stops listening.
   */
  listen(txHash: string, listener: () => void): () => void {
    const rec = this.tracked.get(txHash);
    if (!rec) return () => {};
    rec.listeners.add(listener);
    return () => rec.listeners.delete(listener);
  }

  /**
   * The COMMITTED status the evidence of `txHash` shows (`shardLedStatus`), or undefined while it
   * shows no end (or the transaction is not tracked). Its receipt may be missing (see
   * `shardLedStatus`); {@link settle} reads what the streams may have missed.
   */
  statusOf(txHash: string): TransactionStatus | undefined {
    const rec = this.tracked.get(txHash);
    if (!rec) return undefined;
    return shardLedStatus(txHash, rec.homeShard, rec.ev, { homeCommitted: rec.homeCommitted, nowMs: this.now() });
  }

  /**
   * Makes the evidence of the tracked `txHash` complete (see the class comment: learns its
   * destination from its home block if needed, positions the destination's subscription, and reads
   * back the destination's recent blocks when the stream may have missed them), then answers
   * {@link statusOf}. `homeView` is the home shard's answer, if just read (a COMMITTED one ends a
   * call). A call that ended without its result known waits for it: the contract shard's block
   * holding it came before the end, but that shard's stream may deliver it after the home's.
   * Gives up, answering what is known, when `signal` aborts; a history read goes on in the
   * background and notifies listeners when done.
   */
  async settle(txHash: string, homeView: TransactionStatus | undefined, signal: AbortSignal): Promise<TransactionStatus | undefined> {
    const rec = this.tracked.get(txHash);
    if (!rec) return undefined;
    if (homeView?.status === TxStatus.TX_STATUS_COMMITTED && homeView.homeShard === rec.homeShard) rec.homeCommitted = true;
    const end = () => shardLedEnd(rec.ev, rec.homeShard, rec.homeCommitted);
    // A transfer's credit is its end; a call's end also needs its result, from the destination.
    const known = () => end()?.kind === 'transfer' || (end() !== undefined && rec.ev.callResult !== undefined);
    if (!rec.complete && !known()) await raceAbort(this.cover(txHash, rec), signal);
    if (end()?.kind === 'call' && !rec.ev.callResult) await this.callResult(rec, signal);
    return this.statusOf(txHash);
  }

  /**
   * Whether the tracked `txHash` ended as a shard-led call: its home's block credited its result
   * (as opposed to a home that only answers COMMITTED, which block-2PC's homes do too).
   */
  creditedAtHome(txHash: string): boolean {
    const rec = this.tracked.get(txHash);
    return rec?.ev.credit !== undefined && rec.ev.credit.shardId === rec.homeShard;
  }

  /** The gateway's block stream delivered `block` of shard `shardId`: records what it shows of tracked transactions. */
  onBlock(shardId: number, block: StateShardBlock): void {
    if (this.tracked.size === 0) return;
    const facts = blockFacts(block, (h) => this.tracked.get(h) !== undefined);
    for (const [h, f] of facts) {
      const rec = this.tracked.get(h)!;
      const ev = mergeFacts(rec.ev, f, rec.homeShard);
      const learnsDest = f.included && shardId === rec.homeShard && rec.destShard === undefined && f.included.to !== '';
      if (ev === rec.ev && !learnsDest) continue;
      rec.ev = ev;
      if (learnsDest) void this.learnDestination(h, rec, f.included!.to);
      this.notify(rec);
    }
  }

  /** Stops background history reads. */
  close(): void {
    this.closing.abort();
  }

  /**
   * Sets the destination of `rec` and follows it; the first height seen while tracked is where its
   * subscription stands now (undefined until positioned), unless known already.
   */
  private setDestination(rec: Tracked, destShard: number): void {
    rec.destShard = destShard;
    const next = this.follow(destShard)?.next;
    rec.destFrom ??= next;
  }

  /** Resolves once `rec`'s call result is known, or `signal` aborts. */
  private callResult(rec: Tracked, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        rec.listeners.delete(check);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const check = () => {
        if (rec.ev.callResult) done();
      };
      rec.listeners.add(check);
      signal.addEventListener('abort', done, { once: true });
      if (signal.aborted) done();
      else check();
    });
  }

  private notify(rec: Tracked): void {
    for (const l of [...rec.listeners]) l();
  }

  /** The home block showed the transaction and its recipient: follow the destination, and complete the evidence. */
  private async learnDestination(txHash: string, rec: Tracked, to: string): Promise<void> {
    try {
      const dest = shardOf(await this.placement(), to);
      if (rec.destShard !== undefined || dest === rec.homeShard) return;
      this.setDestination(rec, dest);
      await this.cover(txHash, rec);
    } catch (err) {
      if (!this.closing.signal.aborted) this.log.debug({ txHash, err: (err as Error).message }, 'could not follow the destination of a cross-shard transaction');
    }
  }

  /** Completes `rec`'s evidence (shared by concurrent callers); notifies listeners when it did. */
  private cover(txHash: string, rec: Tracked): Promise<void> {
    if (rec.complete) return Promise.resolve();
    if (!rec.covering) {
      rec.covering = this.coverOnce(txHash, rec)
        .then((done) => {
          if (done) {
            rec.complete = true;
            this.notify(rec);
          }
        })
        .catch((err: Error) => {
          if (!this.closing.signal.aborted) this.log.debug({ txHash, err: err.message }, 'could not complete the shard-led evidence of a transaction; will try again');
        })
        .finally(() => (rec.covering = undefined));
    }
    return rec.covering;
  }

  /** One attempt at completing the evidence; true when complete. @throws ShardLabError of a shard call. */
  private async coverOnce(txHash: string, rec: Tracked): Promise<boolean> {
    const signal = this.closing.signal;
    const home = rec.homeShard;
    const homeStatus = () => this.router.call<TransactionStatus>(home, (c, md, o, cb) => c.getTransaction({ txHash }, md, o, cb), { signal });
    if (rec.destShard === undefined) {
      const view = await homeStatus();
      if (!view.receipt || view.receipt.txHash.toLowerCase() !== txHash) return false; // the home block will show it
      const f = blockFacts(await this.block(home, view.receipt.blockHeight, signal), (x) => x === txHash).get(txHash);
      if (f) rec.ev = mergeFacts(rec.ev, f, home);
      const to = rec.ev.home?.to;
      if (!to) return true; // not a shard-led transaction (a contract creation)
      const dest = shardOf(await this.placement(), to);
      if (dest === home) return true;
      if (rec.destShard === undefined) this.setDestination(rec, dest);
    }
    const dest = rec.destShard!;
    if (rec.destFrom === undefined) {
      const feed = this.follow(dest);
      if (!feed) return false;
      rec.destFrom = feed.next ?? (await raceAbort(feed.ready, signal));
      if (rec.destFrom === undefined) return false;
    }
    // Read after the destination's subscription was positioned: a transaction its home holds
    // outside a durable block (mempool, block in progress) cannot have been credited before it.
    const view = await homeStatus();
    if (!view.receipt) return true;
    const debitAtMs = rec.ev.home?.timestampMs ?? (await this.block(home, view.receipt.blockHeight, signal)).timestampMs;
    const floor = debitAtMs - this.clockSkewMs;
    const lowest = Math.max(0, rec.destFrom - this.historyLimit);
    let h = rec.destFrom - 1;
    for (; h >= lowest; h--) {
      const b = await this.block(dest, h, signal);
      if (b.timestampMs < floor) break;
      const f = blockFacts(b, (x) => x === txHash).get(txHash);
      if (f) rec.ev = mergeFacts(rec.ev, f, home);
    }
    if (h < lowest && lowest > 0) {
      this.log.warn({ txHash, destShard: dest, from: rec.destFrom, blocks: this.historyLimit }, 'read back the most destination blocks allowed without reaching the debit: evidence before them is not looked for');
    }
    return true;
  }

  private async block(shardId: number, height: number, signal: AbortSignal): Promise<StateShardBlock> {
    const b = await this.router.call<StateShardBlock>(shardId, (c, md, o, cb) => c.getBlock({ height }, md, o, cb), { signal });
    if (Number(b.height) !== height) throw errors.internal(`shard ${shardId} answered block ${b.height} for height ${height}`);
    return b;
  }
}
