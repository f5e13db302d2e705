// Sender recovery off the main thread: a pool of worker threads recovering signatures in per-turn batches, round-robin, resolving to undefined when a worker is lost
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

/**
 * Recovers transaction senders on worker threads, in batches ("batched signature checks",
 * docs/ARCHITECTURE.md §8): signature recovery is the largest per-transaction cost of admission, and
 * moving it off the main thread leaves that thread to execution and I/O.
 *
 * Requests made in the same event-loop turn go to one worker as one message; workers are used
 * round-robin. A key of `undefined` means recovery failed there: the caller decodes normally and
 * gets the precise error.
 */
export class SignaturePool {
  private workers: Worker[];
  /** The worker each batch still awaiting an answer went to. */
  private readonly sentTo = new Map<number, Worker>();
  private readonly waiting = new Map<number, (keys: (Uint8Array | null)[]) => void>();
  private batch: { raws: Uint8Array[]; resolvers: ((k: Uint8Array | undefined) => void)[] } | undefined;
  private nextId = 0;
  private rr = 0;
  private closed = false;

  /**
   * @param chainId chain id the transactions are signed for.
   * @param size number of worker threads; default one per core but one (at least 1).
   */
  constructor(chainId: number, size = Math.max(1, availableParallelism() - 1)) {
    this.workers = Array.from({ length: size }, () => {
      const w = new Worker(join(__dirname, 'recover-worker.js'), { workerData: { chainId } });
      w.on('message', (m: { id: number; keys: (Uint8Array | null)[] }) => {
        const done = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        this.sentTo.delete(m.id);
        done?.(m.keys);
      });
      // A worker that fails or exits never answers: its batches resolve to undefined (callers
      // then recover on their own thread) and it leaves the rotation, so no submission waits forever.
      const lost = () => {
        this.workers = this.workers.filter((x) => x !== w);
        for (const [id, worker] of this.sentTo) {
          if (worker !== w) continue;
          this.sentTo.delete(id);
          const done = this.waiting.get(id);
          this.waiting.delete(id);
          done?.([]);
        }
      };
      w.on('error', lost);
      w.on('exit', lost);
      return w;
    });
  }

  /** The sender's 64-byte public key, or undefined when the signature cannot be recovered. */
  recover(raw: Uint8Array): Promise<Uint8Array | undefined> {
    return new Promise((resolve) => {
      if (this.closed) return resolve(undefined);
      if (!this.batch) {
        const batch = (this.batch = { raws: [], resolvers: [] });
        setImmediate(() => this.flush(batch));
      }
      this.batch.raws.push(raw);
      this.batch.resolvers.push(resolve);
    });
  }

  private flush(batch: { raws: Uint8Array[]; resolvers: ((k: Uint8Array | undefined) => void)[] }): void {
    if (this.batch === batch) this.batch = undefined;
    if (this.closed) return batch.resolvers.forEach((r) => r(undefined));
    if (this.workers.length === 0) return batch.resolvers.forEach((r) => r(undefined));
    const id = this.nextId++;
    this.waiting.set(id, (keys) => batch.resolvers.forEach((r, i) => r(keys[i] ?? undefined)));
    const worker = this.workers[this.rr++ % this.workers.length]!;
    this.sentTo.set(id, worker);
    worker.postMessage({ id, raws: batch.raws });
  }

  /** Stops the workers; pending recoveries resolve to undefined. */
  async close(): Promise<void> {
    this.closed = true;
    // A batch not yet sent (same event-loop turn) would otherwise go to a terminated worker.
    if (this.batch) this.flush(this.batch);
    for (const done of this.waiting.values()) done([]);
    this.waiting.clear();
    this.sentTo.clear();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
