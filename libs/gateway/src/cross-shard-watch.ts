// CrossShardWatchHub: WatchTransaction of cross-shard transactions from one gateway-wide orchestrator status stream, with reconnection and re-reads of watched transactions
import { ErrorCode, isShardLabError } from '@shardlab/common';
import { TxStatus, type TransactionStatus } from '@shardlab/proto';
import { backoffDelayMs, sleep, type BackoffOpts } from '@shardlab/rpc';
import type { Logger } from '@shardlab/telemetry';
import type { OrchestratorClient } from './orchestrator';
import { StatusWaiter, type WatchEvent } from './watch';

/** One waiter on one cross-shard transaction, fed by the orchestrator's status stream. */
export interface CrossShardWatch {
  /** The next status from the orchestrator (or delivered), or `timeout` after `timeoutMs`, `aborted` or `closed`. */
  next(signal: AbortSignal, timeoutMs: number): Promise<WatchEvent>;
  /** Queues a status from another source (the shard-led evidence of the shards' blocks); ignored once closed. */
  deliver(status: TransactionStatus): void;
  /** Stops watching (idempotent). */
  close(): void;
}

/** What the hub needs from the orchestrator client (fakes welcome). */
export type CrossShardStatusSource = Pick<OrchestratorClient, 'getCrossShardStatus' | 'subscribeStatus' | 'invalidate'>;

/** Options of {@link CrossShardWatchHub}. */
export interface CrossShardWatchHubOpts {
  orchestrator: CrossShardStatusSource;
  logger: Logger;
  /** Back-off between reconnections of a broken status stream; default 100 ms doubling to 5 s. */
  reconnect?: BackoffOpts;
  /** Most GetCrossShardStatus calls in flight when re-reading watched transactions; default 32. */
  refreshConcurrency?: number;
}

/**
 * Drives WatchTransaction for cross-shard transactions from ONE gateway-wide `SubscribeStatus`
 * stream to the orchestrator, fanned out to every watcher of each transaction (no polling per
 * transaction). The stream starts with the first watcher and is kept; when it breaks it is
 * reopened with back-off (the orchestrator's address is looked up again when it was unreachable).
 *
 * The stream carries no history, so whenever it (re)connects the hub re-reads the status of every
 * watched transaction with GetCrossShardStatus, covering changes made while it was disconnected;
 * a watcher added while it is connected gets one such re-read, covering changes between the
 * watcher's first read and its registration. Re-reads are sent after the subscription on the same
 * connection, so the orchestrator sees the subscription first. Statuses (streamed or re-read) are
 * delivered as they come; the watcher drops repeated or older ones (`advancesStatus`).
 */
export class CrossShardWatchHub {
  private readonly orchestrator: CrossShardStatusSource;
  private readonly log: Logger;
  private readonly reconnect: BackoffOpts | undefined;
  private readonly refreshConcurrency: number;
  private readonly waiters = new Map<string, Set<StatusWaiter>>();
  private watchCount = 0;
  private feed: { controller: AbortController; done: Promise<void> } | undefined;
  /** The connection attempt in progress or established; undefined between attempts. */
  private attempt: object | undefined;
  private live = false;
  private connectionCount = 0;
  private closed = false;

  constructor(opts: CrossShardWatchHubOpts) {
    this.orchestrator = opts.orchestrator;
    this.log = opts.logger.child({ module: 'cross-shard-watch-hub' });
    this.reconnect = opts.reconnect;
    this.refreshConcurrency = Math.max(1, opts.refreshConcurrency ?? 32);
  }

  /** Number of open cross-shard watches. */
  get activeWatches(): number {
    return this.watchCount;
  }

  /** Whether the status stream to the orchestrator is currently connected. */
  get streaming(): boolean {
    return this.live;
  }

  /** How many times the status stream has connected (1 after the first connection, +1 per reconnection). */
  get connections(): number {
    return this.connectionCount;
  }

  /** Starts watching the cross-shard transaction `txHash` (lowercase 0x hex); close the watch when done. */
  watch(txHash: string): CrossShardWatch {
    const waiter = new StatusWaiter(txHash, (w) => this.remove(w));
    if (this.closed) {
      waiter.close();
      return waiter;
    }
    let set = this.waiters.get(txHash);
    if (!set) this.waiters.set(txHash, (set = new Set()));
    set.add(waiter);
    this.watchCount++;
    const feed = this.ensureFeed();
    if (this.live) void this.refresh([txHash], feed.controller.signal);
    return waiter;
  }

  /** Stops the status stream and closes every watch. */
  async close(): Promise<void> {
    this.closed = true;
    for (const set of [...this.waiters.values()]) for (const w of [...set]) w.close();
    const feed = this.feed;
    this.feed = undefined;
    if (feed) {
      feed.controller.abort();
      await feed.done;
    }
  }

  private ensureFeed(): { controller: AbortController; done: Promise<void> } {
    if (!this.feed) {
      const controller = new AbortController();
      this.feed = { controller, done: this.run(controller.signal) };
    }
    return this.feed;
  }

  private remove(w: StatusWaiter): void {
    const set = this.waiters.get(w.txHash);
    if (!set?.delete(w)) return;
    this.watchCount--;
    if (set.size === 0) this.waiters.delete(w.txHash);
  }

  private async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      const attempt = {};
      this.attempt = attempt;
      let received = false;
      try {
        const stream = await this.orchestrator.subscribeStatus(signal);
        void stream.connected.then((ok) => {
          if (!ok || signal.aborted || this.attempt !== attempt) return;
          this.live = true;
          this.connectionCount++;
          const watched = [...this.waiters.keys()];
          if (failures > 0) this.log.info({ failures, watched: watched.length, target: stream.target }, 'orchestrator status stream restored; re-reading watched transactions');
          else this.log.debug({ watched: watched.length, target: stream.target }, 'orchestrator status stream connected');
          void this.refresh(watched, signal);
        });
        for await (const status of stream.messages) {
          received = true;
          this.onStatus(status);
        }
        if (signal.aborted) return;
        this.log.info({ target: stream.target }, 'orchestrator status stream ended; reconnecting');
      } catch (err) {
        if (signal.aborted) return;
        const fields = { err: (err as Error).message, failures: failures + 1 };
        if (failures === 0) this.log.warn(fields, 'orchestrator status stream failed; reconnecting with back-off');
        else this.log.debug(fields, 'orchestrator status stream failed again');
        if (isShardLabError(err, ErrorCode.Unavailable)) this.orchestrator.invalidate();
      } finally {
        this.attempt = undefined;
        this.live = false;
      }
      // A stream that delivered something was healthy: start the back-off again.
      if (received) failures = 0;
      await sleep(backoffDelayMs(failures++, this.reconnect), signal);
    }
  }

  private onStatus(status: TransactionStatus): void {
    const txHash = status.txHash.toLowerCase();
    const set = this.waiters.get(txHash);
    if (!set) return;
    const s: TransactionStatus = { ...status, txHash, crossShard: true };
    for (const w of set) w.deliver(s);
  }

  /** Re-reads the status of `hashes` still watched, a few at a time, and delivers what is known. */
  private async refresh(hashes: string[], signal: AbortSignal): Promise<void> {
    let i = 0;
    const worker = async () => {
      while (i < hashes.length && !signal.aborted) {
        const txHash = hashes[i++]!;
        if (!this.waiters.has(txHash)) continue;
        try {
          const s = await this.orchestrator.getCrossShardStatus(txHash, signal);
          if (s.status !== TxStatus.TX_STATUS_UNKNOWN && s.status !== TxStatus.TX_STATUS_UNSPECIFIED) this.onStatus({ ...s, txHash });
        } catch (err) {
          if (!signal.aborted) this.log.debug({ txHash, err: (err as Error).message }, 'could not re-read a cross-shard status');
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.refreshConcurrency, hashes.length) }, worker));
  }
}
