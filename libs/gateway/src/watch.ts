// WatchTransaction of local transactions from shard block streams (BlockWatchHub, one subscription per shard), plus the status ranking and waiter queue both hubs share
import { ErrorCode, isShardLabError } from '@shardlab/common';
import { TxStatus, type GetHeadResponse, type StateShardBlock, type TransactionStatus } from '@shardlab/proto';
import { backoffDelayMs, sleep, type BackoffOpts } from '@shardlab/rpc';
import type { Logger } from '@shardlab/telemetry';
import type { ShardRouter } from './shards';

/**
 * What a {@link TxWatch} yields: a status from a block, or why waiting stopped (`timeout`, the
 * caller's signal `aborted`, or the watch `closed`, e.g. by the hub shutting down).
 */
export type WatchEvent = { kind: 'status'; status: TransactionStatus } | { kind: 'timeout' } | { kind: 'aborted' } | { kind: 'closed' };

/** One waiter on one transaction, fed by its home shard's block stream. */
export interface TxWatch {
  /**
   * Resolves once the shard's block stream is positioned, with the first block height this watch
   * is guaranteed to see: every block at or above it that holds the transaction is delivered.
   * Resolves with undefined when the watch is closed first. Never rejects; it stays pending
   * while the shard cannot be reached.
   */
  readonly ready: Promise<number | undefined>;
  /** The next status delivered from a block, or `timeout` after `timeoutMs`, `aborted` or `closed`. */
  next(signal: AbortSignal, timeoutMs: number): Promise<WatchEvent>;
  /** Stops watching (idempotent). */
  close(): void;
}

/** Options of {@link BlockWatchHub}. */
export interface BlockWatchHubOpts {
  router: ShardRouter;
  logger: Logger;
  /** Back-off between reconnections of a broken block stream; default 100 ms doubling to 5 s. */
  reconnect?: BackoffOpts;
  /** Clock for `updatedAtMs` when a block has no timestamp; default `Date.now`. */
  now?: () => number;
  /**
   * Whether a transaction is known to be cross-shard. A cross-shard transaction also appears in
   * its home shard's block (its fee is charged there), but that block does not make it final: its
   * outcome comes from the orchestrator. Such transactions are skipped. Default: none is.
   */
  isCrossShard?: (txHash: string) => boolean;
  /**
   * Called with every block received on any shard's stream, in height order per shard, before
   * watchers are served (the gateway's shard-led evidence, see `ReceiptTracker`). Must not throw.
   */
  onBlock?: (shardId: number, block: StateShardBlock) => void;
}

/** Where a shard's block subscription stands (see {@link BlockWatchHub.follow}). */
export interface FeedPosition {
  /**
   * The next height the subscription waits for (last height received + 1): every block at or above
   * it will be delivered; undefined until the shard's head was first read.
   */
  readonly next: number | undefined;
  /** Resolves with the first height delivered once the head was read; pending while the shard cannot be reached. */
  readonly ready: Promise<number>;
}

/**
 * Where a transaction's status stands in its life: statuses only move to a higher rank (queued →
 * included → final for a local transaction; pending → prepared → committed | aborted for a
 * cross-shard one). UNKNOWN and UNSPECIFIED rank lowest, terminal statuses highest.
 */
export function statusRank(s: TxStatus): number {
  switch (s) {
    case TxStatus.TX_STATUS_QUEUED:
      return 1;
    case TxStatus.TX_STATUS_INCLUDED:
      return 2;
    case TxStatus.TX_STATUS_PENDING:
      return 3;
    case TxStatus.TX_STATUS_PREPARED:
      return 4;
    case TxStatus.TX_STATUS_FINAL:
    case TxStatus.TX_STATUS_COMMITTED:
    case TxStatus.TX_STATUS_ABORTED:
    case TxStatus.TX_STATUS_DROPPED:
      return 5;
    default:
      return 0;
  }
}

/** What {@link advancesStatus} compares: a status and whether its decision is applied everywhere. */
export type StatusPoint = Pick<TransactionStatus, 'status'> & { applied?: boolean };

/**
 * Whether `next` moves a watch on from `last`: a different status of a higher rank, or the same
 * status newly `applied` (a cross-shard decision, known first, then applied by every involved
 * shard). A watch sends only such statuses, so it never repeats a status and never goes backwards
 * (no PREPARED after COMMITTED, no PENDING after PREPARED, no applied false after applied true).
 */
export function advancesStatus(last: StatusPoint, next: StatusPoint): boolean {
  if (next.status === last.status) return next.applied === true && last.applied !== true;
  return statusRank(next.status) > statusRank(last.status);
}

/**
 * A queue of statuses for one watcher of one transaction, filled by a hub and read with `next`.
 * Shared by {@link BlockWatchHub} and the cross-shard hub.
 */
export class StatusWaiter {
  private readonly queue: TransactionStatus[] = [];
  private wake: (() => void) | undefined;
  private isClosed = false;

  constructor(
    readonly txHash: string,
    private readonly onClose: (w: StatusWaiter) => void,
  ) {}

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Queues a status for the watcher (ignored once closed). */
  deliver(status: TransactionStatus): void {
    if (this.isClosed) return;
    this.queue.push(status);
    this.wake?.();
  }

  /** The next status delivered, or `timeout` after `timeoutMs`, `aborted` or `closed`. */
  async next(signal: AbortSignal, timeoutMs: number): Promise<WatchEvent> {
    for (;;) {
      const status = this.queue.shift();
      if (status) return { kind: 'status', status };
      if (signal.aborted) return { kind: 'aborted' };
      if (this.isClosed) return { kind: 'closed' };
      const woken = await new Promise<boolean>((resolve) => {
        const done = (v: boolean) => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          this.wake = undefined;
          resolve(v);
        };
        const onAbort = () => done(true);
        const timer = setTimeout(() => done(false), timeoutMs);
        this.wake = () => done(true);
        signal.addEventListener('abort', onAbort, { once: true });
      });
      if (!woken) return { kind: 'timeout' };
    }
  }

  /** Stops watching (idempotent). */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.onCloseHook();
    this.wake?.();
    this.onClose(this);
  }

  /** Called once by {@link close} before the hub forgets the waiter. */
  protected onCloseHook(): void {}
}

class Waiter extends StatusWaiter implements TxWatch {
  readonly ready: Promise<number | undefined>;
  private resolveClosed!: () => void;

  constructor(
    txHash: string,
    readonly shardId: number,
    ready: Promise<number>,
    onClose: (w: Waiter) => void,
  ) {
    super(txHash, onClose as (w: StatusWaiter) => void);
    const closed = new Promise<undefined>((resolve) => (this.resolveClosed = () => resolve(undefined)));
    this.ready = Promise.race([ready, closed]);
  }

  protected override onCloseHook(): void {
    this.resolveClosed();
  }
}

/** One block subscription to one shard, shared by every watcher of that shard. */
class ShardFeed {
  /** Next height to receive; undefined until the first GetHead answered. */
  next: number | undefined;
  readonly ready: Promise<number>;
  private resolveReady!: (h: number) => void;
  private readonly controller = new AbortController();
  private readonly done: Promise<void>;

  constructor(
    readonly shardId: number,
    private readonly router: ShardRouter,
    private readonly log: Logger,
    private readonly reconnect: BackoffOpts | undefined,
    private readonly onBlock: (block: StateShardBlock) => void,
  ) {
    this.ready = new Promise((resolve) => (this.resolveReady = resolve));
    this.done = this.run();
  }

  async stop(): Promise<void> {
    this.controller.abort();
    await this.done;
  }

  private async run(): Promise<void> {
    const signal = this.controller.signal;
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (this.next === undefined) {
          const head = await this.router.call<GetHeadResponse>(this.shardId, (c, md, o, cb) => c.getHead({}, md, o, cb), { signal });
          this.next = head.height + 1;
          this.log.debug({ fromHeight: this.next }, 'subscribing to shard blocks from its head');
          this.resolveReady(this.next);
        }
        for await (const block of this.router.subscribeBlocks(this.shardId, this.next, signal)) {
          if (block.height < this.next) continue; // already seen (a shard replaying history)
          if (block.height > this.next) {
            this.log.warn({ expected: this.next, got: block.height }, 'gap in the shard block stream');
          }
          this.next = block.height + 1;
          if (failures > 0) this.log.info({ failures, height: block.height }, 'shard block stream restored');
          failures = 0;
          this.onBlock(block);
        }
        if (signal.aborted) return;
        this.log.info({ nextHeight: this.next }, 'shard block stream ended; reconnecting');
      } catch (err) {
        if (signal.aborted) return;
        const fields = { err: (err as Error).message, nextHeight: this.next, failures: failures + 1 };
        if (failures === 0) this.log.warn(fields, 'shard block stream failed; reconnecting with back-off');
        else this.log.debug(fields, 'shard block stream failed again');
        if (isShardLabError(err, ErrorCode.Unavailable)) this.router.invalidate();
      }
      await sleep(backoffDelayMs(failures++, this.reconnect), signal);
    }
  }
}

/**
 * Drives WatchTransaction from the shards' block streams rather than by polling each
 * transaction: one `SubscribeBlocks` subscription per shard, started on the first watcher of that
 * shard (from its head height + 1, found with GetHead) and kept, reconnecting with back-off from
 * the last height seen + 1 when it breaks. For each user transaction of a block that a watcher
 * waits for, a FINAL status built from the block's receipt is delivered (blocks on the stream are
 * durable), unless the transaction is known to be cross-shard. Every block also reaches the
 * `onBlock` observer; {@link follow} keeps a shard's subscription without a watcher.
 */
export class BlockWatchHub {
  private readonly router: ShardRouter;
  private readonly log: Logger;
  private readonly reconnect: BackoffOpts | undefined;
  private readonly now: () => number;
  private readonly isCrossShard: (txHash: string) => boolean;
  private readonly observer: ((shardId: number, block: StateShardBlock) => void) | undefined;
  private readonly feeds = new Map<number, ShardFeed>();
  private closed = false;
  private readonly waiters = new Map<string, Set<Waiter>>();
  private watchCount = 0;

  constructor(opts: BlockWatchHubOpts) {
    this.router = opts.router;
    this.log = opts.logger.child({ module: 'watch-hub' });
    this.reconnect = opts.reconnect;
    this.now = opts.now ?? Date.now;
    this.isCrossShard = opts.isCrossShard ?? (() => false);
    this.observer = opts.onBlock;
  }

  /** Number of open watches. */
  get activeWatches(): number {
    return this.watchCount;
  }

  /** Shard ids with a running block subscription. */
  get subscribedShards(): number[] {
    return [...this.feeds.keys()].sort((a, b) => a - b);
  }

  /**
   * The next block height the subscription to `shardId` waits for (last height received + 1);
   * undefined when there is no subscription or it has not found the shard's head yet.
   */
  nextHeight(shardId: number): number | undefined {
    return this.feeds.get(shardId)?.next;
  }

  /**
   * Follows shard `shardId`'s blocks without a watcher (starting its subscription if none runs; it
   * is kept): its blocks reach the `onBlock` observer. Returns where the subscription stands, or
   * undefined once the hub is closed.
   */
  follow(shardId: number): FeedPosition | undefined {
    if (this.closed) return undefined;
    return this.feedFor(shardId);
  }

  /** Starts watching `txHash` (lowercase 0x hex) on its home shard `shardId`; close the watch when done. */
  watch(txHash: string, shardId: number): TxWatch {
    const feed = this.feedFor(shardId);
    const ready = feed.next !== undefined ? Promise.resolve(feed.next) : feed.ready;
    const waiter = new Waiter(txHash, shardId, ready, (w) => this.remove(w));
    let set = this.waiters.get(txHash);
    if (!set) this.waiters.set(txHash, (set = new Set()));
    set.add(waiter);
    this.watchCount++;
    return waiter;
  }

  /** Stops every subscription and closes every watch. */
  async close(): Promise<void> {
    this.closed = true;
    for (const set of [...this.waiters.values()]) for (const w of [...set]) w.close();
    const feeds = [...this.feeds.values()];
    this.feeds.clear();
    await Promise.all(feeds.map((f) => f.stop()));
  }

  private feedFor(shardId: number): ShardFeed {
    let feed = this.feeds.get(shardId);
    if (!feed) {
      const log = this.log.child({ shardId });
      feed = new ShardFeed(shardId, this.router, log, this.reconnect, (b) => this.onBlock(shardId, b));
      this.feeds.set(shardId, feed);
    }
    return feed;
  }

  private remove(w: Waiter): void {
    const set = this.waiters.get(w.txHash);
    if (!set?.delete(w)) return;
    this.watchCount--;
    if (set.size === 0) this.waiters.delete(w.txHash);
  }

  private onBlock(shardId: number, block: StateShardBlock): void {
    this.observer?.(shardId, block);
    if (this.waiters.size === 0) return;
    for (const t of block.transactions) {
      if (t.kind?.$case !== 'user') continue;
      const txHash = t.kind.value.hash.toLowerCase();
      const set = this.waiters.get(txHash);
      if (!set) continue;
      if (this.isCrossShard(txHash)) {
        this.log.debug({ txHash, height: block.height }, 'cross-shard transaction in a shard block: not final until the orchestrator decides');
        continue;
      }
      const receipt = block.receipts.find((r) => r.txHash.toLowerCase() === txHash);
      const status: TransactionStatus = {
        txHash,
        status: TxStatus.TX_STATUS_FINAL,
        homeShard: shardId,
        crossShard: false,
        blockHeight: block.height,
        receipt,
        reason: '',
        updatedAtMs: block.timestampMs > 0 ? block.timestampMs : this.now(),
        applied: false,
        involvedShards: [],
      };
      this.log.debug({ txHash, height: block.height, watchers: set.size }, 'transaction final in a shard block');
      for (const w of set) if (w.shardId === shardId) w.deliver(status);
    }
  }
}
