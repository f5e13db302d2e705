// Batch calls: size cap, per-item outcomes and errors on the server side, unpacking them on the client side, and MicroBatcher coalescing single calls into batches.
import { status } from '@grpc/grpc-js';
import { errors, ShardLabError } from '@shardlab/common';
import type { ItemError } from '@shardlab/proto';
import { fromServiceError, toGrpcStatus } from './status';

/**
 * Most items one batch call (SendRawTransactions, SubmitTransactions, ForwardTransactions) may
 * carry. A larger batch is refused as a whole with INVALID_ARGUMENT.
 */
export const MAX_BATCH_ITEMS = 4096;

/** The outcome of one item of a batch call, in the shape of the generated `oneof outcome`. */
export type ItemOutcome<Res> = { $case: 'accepted'; value: Res } | { $case: 'error'; value: ItemError };

/**
 * Translates a thrown value into the per-item error of a batch answer, exactly as
 * {@link toGrpcStatus} does for a unary call (INTERNAL without details for non-ShardLab errors).
 */
export function toItemError(err: unknown): ItemError {
  const s = toGrpcStatus(err);
  return { code: s.code, message: s.details };
}

/**
 * Translates a per-item error of a batch answer into a {@link ShardLabError}, exactly as
 * {@link fromServiceError} does for a failed unary call (`target` names the callee).
 */
export function fromItemError(e: ItemError, target: string): ShardLabError {
  return fromServiceError(Object.assign(new Error(e.message), { code: e.code as status, details: e.message, metadata: undefined as never }), target);
}

/**
 * Server side of a batch call: checks the batch size, starts `handle` on every item in order
 * (synchronously one after the other, so work that queues — admission, a mutex — queues in item
 * order), waits for all and answers one outcome per item, in order. One item's failure never
 * fails another.
 * @throws ShardLabError INVALID_ARGUMENT for more than {@link MAX_BATCH_ITEMS} items.
 */
export async function settleItems<Item, Res>(
  items: readonly Item[],
  handle: (item: Item, index: number) => Promise<Res>,
  onError?: (err: unknown, item: Item) => void,
): Promise<ItemOutcome<Res>[]> {
  checkBatchSize(items.length);
  const pending = items.map((item, i) =>
    handle(item, i).then(
      (value): ItemOutcome<Res> => ({ $case: 'accepted', value }),
      (err: unknown): ItemOutcome<Res> => {
        onError?.(err, item);
        return { $case: 'error', value: toItemError(err) };
      },
    ),
  );
  return Promise.all(pending);
}

/**
 * Refuses a batch of more than {@link MAX_BATCH_ITEMS} items (server side, before handling any).
 * @throws ShardLabError INVALID_ARGUMENT naming the count.
 */
export function checkBatchSize(count: number): void {
  if (count > MAX_BATCH_ITEMS) throw errors.invalidArgument(`a batch holds at most ${MAX_BATCH_ITEMS} items; got ${count}`);
}

/**
 * Server side of a batch call whose handler answers all items at once: one outcome per item, in
 * order — a value, or its Error mapped as {@link toItemError} (reported to `onError` first).
 */
export function itemOutcomes<Res>(results: readonly (Res | Error)[], onError?: (err: Error) => void): ItemOutcome<Res>[] {
  return results.map((r) => {
    if (!(r instanceof Error)) return { $case: 'accepted', value: r };
    onError?.(r);
    return { $case: 'error', value: toItemError(r) };
  });
}

/**
 * Client side of a batch call: the outcomes of a batch answer as values and {@link ShardLabError}s,
 * one per item, checked to be as many as the items sent.
 * @throws ShardLabError INTERNAL when the answer has a different number of results.
 */
export function unpackOutcomes<Res>(
  target: string,
  sent: number,
  results: readonly { outcome?: ItemOutcome<Res> | undefined }[],
): (Res | ShardLabError)[] {
  if (results.length !== sent) {
    throw errors.internal(`${target} answered ${results.length} results for a batch of ${sent}`);
  }
  return results.map((r) =>
    r.outcome?.$case === 'accepted'
      ? r.outcome.value
      : fromItemError(r.outcome?.value ?? { code: status.INTERNAL, message: 'empty result' }, target),
  );
}

/** Options of a {@link MicroBatcher}. */
export interface MicroBatcherOpts<Item, Res> {
  /**
   * Sends one batch and answers one outcome per item, in order: a result, or the item's error. A
   * rejection (the whole call failed) fails every item of the batch with that error.
   */
  send(items: Item[]): Promise<(Res | Error)[]>;
  /** Most items per batch (default and cap {@link MAX_BATCH_ITEMS}); more are sent in further batches. */
  maxItems?: number;
  /** Size of an item in bytes, for {@link maxBytes} (default: every item counts 0). */
  sizeOf?: (item: Item) => number;
  /**
   * Most summed {@link sizeOf} per batch [{@link MAX_BATCH_BYTES}], so a batch stays well below
   * the servers' 64 MiB message limit; a single larger item still goes alone.
   */
  maxBytes?: number;
}

/** Default byte cap of a micro-batch (16 MiB; servers accept messages up to 64 MiB). */
export const MAX_BATCH_BYTES = 16 * 1024 * 1024;

/**
 * Coalesces single calls into batch calls (client-side micro-batching): every {@link call} made
 * in the same turn of the event loop goes out in one batch (several when more than `maxItems` or
 * `maxBytes`), items in call order and batches sent in call order, at the next `setImmediate`;
 * batches in flight at once may be answered (and served) in any order. A lone call therefore waits at most one event-loop
 * turn; under load, one gRPC call carries hundreds of items and its fixed cost (HTTP/2 stream,
 * headers, deadline timer, trace metadata) is paid once.
 */
export class MicroBatcher<Item, Res> {
  private queue: { item: Item; size: number; resolve: (r: Res) => void; reject: (e: Error) => void }[] = [];
  private queuedBytes = 0;
  private scheduled = false;
  private readonly maxItems: number;
  private readonly maxBytes: number;

  constructor(private readonly opts: MicroBatcherOpts<Item, Res>) {
    this.maxItems = Math.max(1, Math.min(opts.maxItems ?? MAX_BATCH_ITEMS, MAX_BATCH_ITEMS));
    this.maxBytes = Math.max(1, opts.maxBytes ?? MAX_BATCH_BYTES);
  }

  /** Queues one item; settles with its own outcome from the batch answer. */
  call(item: Item): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      const size = this.opts.sizeOf?.(item) ?? 0;
      this.queue.push({ item, size, resolve, reject });
      this.queuedBytes += size;
      if (this.queue.length >= this.maxItems || this.queuedBytes >= this.maxBytes) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    while (this.queue.length > 0) {
      let n = 0;
      let bytes = 0;
      while (n < this.queue.length && n < this.maxItems && (n === 0 || bytes + this.queue[n]!.size <= this.maxBytes)) bytes += this.queue[n++]!.size;
      const batch = this.queue.splice(0, n);
      this.queuedBytes -= bytes;
      // A send that throws instead of rejecting fails its batch like a rejection.
      Promise.resolve()
        .then(() => this.opts.send(batch.map((b) => b.item)))
        .then(
          (outcomes) => {
            batch.forEach((b, i) => {
              const o = outcomes[i];
              if (o === undefined) b.reject(errors.internal(`batch answer has no result for item ${i}`));
              else if (o instanceof Error) b.reject(o);
              else b.resolve(o);
            });
          },
          (err: unknown) => {
            const e = err instanceof Error ? err : new Error(String(err));
            for (const b of batch) b.reject(e);
          },
        );
    }
  }
}
