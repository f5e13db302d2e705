import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { ErrorCode, errors, ShardLabError } from '@shardlab/common';
import { fromItemError, fromServiceError, MAX_BATCH_ITEMS, MicroBatcher, settleItems, toItemError, unpackOutcomes, type ItemOutcome } from '../src';

const serviceError = (code: status, details: string): ServiceError => Object.assign(new Error(details), { code, details, metadata: new Metadata() });

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** How a promise settled, without throwing. */
function settled<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: Error }> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: Error) => ({ ok: false as const, error }),
  );
}

/** A MicroBatcher whose `send` records every batch and answers each item doubled (or as `answer` says). */
function recording(opts: { maxItems?: number; answer?: (items: number[], batch: number) => Promise<(number | Error)[]> } = {}) {
  const sends: number[][] = [];
  const batcher = new MicroBatcher<number, number>({
    ...(opts.maxItems !== undefined ? { maxItems: opts.maxItems } : {}),
    send: (items) => {
      sends.push([...items]);
      return opts.answer ? opts.answer(items, sends.length - 1) : Promise.resolve(items.map((i) => i * 2));
    },
  });
  return { sends, batcher };
}

describe('MicroBatcher', () => {
  it('sends the calls made in one turn in one batch, in call order, and answers each its own result', async () => {
    const { sends, batcher } = recording();
    const calls = [5, 1, 4, 2, 3].map((i) => batcher.call(i));
    // Nothing goes out before the turn ends.
    expect(sends).toEqual([]);
    expect(await Promise.all(calls)).toEqual([10, 2, 8, 4, 6]);
    expect(sends).toEqual([[5, 1, 4, 2, 3]]);
  });

  it('splits more than maxItems calls into several batches, in order', async () => {
    const { sends, batcher } = recording({ maxItems: 2 });
    const calls = [1, 2, 3, 4, 5].map((i) => batcher.call(i));
    expect(await Promise.all(calls)).toEqual([2, 4, 6, 8, 10]);
    expect(sends).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('caps maxItems at MAX_BATCH_ITEMS', async () => {
    const { sends, batcher } = recording({ maxItems: MAX_BATCH_ITEMS * 2 });
    const calls = Array.from({ length: MAX_BATCH_ITEMS + 1 }, (_, i) => batcher.call(i));
    await Promise.all(calls);
    expect(sends.map((s) => s.length)).toEqual([MAX_BATCH_ITEMS, 1]);
    expect(sends.flat()).toEqual(Array.from({ length: MAX_BATCH_ITEMS + 1 }, (_, i) => i));
  });

  it('rejects only the item whose outcome is an Error', async () => {
    const { sends, batcher } = recording({
      answer: async (items) => items.map((i) => (i === 2 ? errors.failedPrecondition(`nonce of ${i} too low`) : i * 10)),
    });
    const outcomes = await Promise.all([1, 2, 3].map((i) => settled(batcher.call(i))));
    expect(sends).toEqual([[1, 2, 3]]);
    expect(outcomes[0]).toEqual({ ok: true, value: 10 });
    expect(outcomes[2]).toEqual({ ok: true, value: 30 });
    const failed = outcomes[1]!;
    expect(failed.ok).toBe(false);
    expect(!failed.ok && failed.error).toBeInstanceOf(ShardLabError);
    expect(!failed.ok && failed.error).toMatchObject({ code: ErrorCode.FailedPrecondition, message: 'nonce of 2 too low' });
  });

  it('rejects an item the answer has no result for with INTERNAL, and still answers the others', async () => {
    const { batcher } = recording({ answer: async (items) => items.slice(0, 1).map((i) => i * 2) });
    const [a, b] = await Promise.all([settled(batcher.call(1)), settled(batcher.call(2))]);
    expect(a).toEqual({ ok: true, value: 2 });
    expect(b.ok).toBe(false);
    expect(!b.ok && b.error).toMatchObject({ code: ErrorCode.Internal });
  });

  it('rejects every item of a batch whose send fails, but not the items of the next batch', async () => {
    const down = errors.unavailable('shard 1 unavailable: not reachable');
    const { sends, batcher } = recording({
      maxItems: 2,
      answer: async (items, batch) => {
        if (batch === 0) throw down;
        return items.map((i) => i * 2);
      },
    });
    const outcomes = await Promise.all([1, 2, 3, 4].map((i) => settled(batcher.call(i))));
    expect(sends).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(outcomes.slice(0, 2)).toEqual([
      { ok: false, error: down },
      { ok: false, error: down },
    ]);
    expect(outcomes.slice(2)).toEqual([
      { ok: true, value: 6 },
      { ok: true, value: 8 },
    ]);
  });

  it('rejects with an Error even when send rejects with a non-Error', async () => {
    const { batcher } = recording({ answer: () => Promise.reject('socket closed') });
    const r = await settled(batcher.call(1));
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toBeInstanceOf(Error);
    expect(!r.ok && r.error.message).toBe('socket closed');
  });

  it('sends calls made in different turns in different batches; a failed batch does not fail a later one', async () => {
    let fail = true;
    const { sends, batcher } = recording({
      answer: async (items) => {
        if (fail) throw new Error('connection reset');
        return items.map((i) => i * 2);
      },
    });
    const first = await Promise.all([settled(batcher.call(1)), settled(batcher.call(2))]);
    expect(first.map((o) => o.ok)).toEqual([false, false]);
    fail = false;
    expect(await batcher.call(3)).toBe(6);
    expect(await Promise.all([batcher.call(4), batcher.call(5)])).toEqual([8, 10]);
    expect(sends).toEqual([[1, 2], [3], [4, 5]]);
  });

  it('keeps a batch in flight apart from the calls made while it is sent', async () => {
    const gate = deferred<void>();
    const { sends, batcher } = recording({
      answer: async (items, batch) => {
        if (batch === 0) await gate.promise;
        return items.map((i) => i * 2);
      },
    });
    const a = batcher.call(1);
    const b = batcher.call(2);
    // The second turn's calls go out (and are answered) while the first batch still waits.
    await new Promise<void>((r) => setImmediate(r));
    expect(sends).toEqual([[1, 2]]);
    expect(await batcher.call(3)).toBe(6);
    gate.resolve();
    expect(await Promise.all([a, b])).toEqual([2, 4]);
    expect(sends).toEqual([[1, 2], [3]]);
  });
});

describe('MicroBatcher byte cap and faulty send', () => {
  it('closes a batch before it would pass maxBytes; an item larger than the cap goes alone', async () => {
    const sends: number[][] = [];
    const batcher = new MicroBatcher<number, number>({
      sizeOf: (n) => n,
      maxBytes: 100,
      send: async (items) => {
        sends.push([...items]);
        return items;
      },
    });
    const answers = await Promise.all([40, 50, 20, 250, 10].map((n) => batcher.call(n)));
    expect(answers).toEqual([40, 50, 20, 250, 10]);
    expect(sends).toEqual([[40, 50], [20], [250], [10]]);
    for (const batch of sends.filter((b) => b.length > 1)) expect(batch.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(100);
  });

  it('fails every item of a batch whose send throws synchronously', async () => {
    const batcher = new MicroBatcher<number, number>({
      maxItems: 2,
      send: () => {
        throw new Error('no connection');
      },
    });
    const outcomes = await Promise.all([1, 2, 3].map((n) => settled(batcher.call(n))));
    expect(outcomes.map((o) => (o.ok ? 'ok' : o.error.message))).toEqual(['no connection', 'no connection', 'no connection']);
  });
});

describe('settleItems', () => {
  it('starts every handler at once in item order and answers in item order, whatever order they finish in', async () => {
    const started: number[] = [];
    const gates = [deferred<string>(), deferred<string>(), deferred<string>()];
    const p = settleItems(['a', 'b', 'c'], (item, i) => {
      started.push(i);
      return gates[i]!.promise.then((v) => `${item}:${v}`);
    });
    expect(started).toEqual([0, 1, 2]);
    gates[2]!.resolve('third');
    gates[0]!.resolve('first');
    gates[1]!.resolve('second');
    expect(await p).toEqual([
      { $case: 'accepted', value: 'a:first' },
      { $case: 'accepted', value: 'b:second' },
      { $case: 'accepted', value: 'c:third' },
    ]);
  });

  it('answers a failed item with its error without affecting the others, and reports it to onError', async () => {
    const reported: [unknown, string][] = [];
    const refusal = errors.failedPrecondition('nonce too high: transaction nonce 7, next nonce is 1');
    const out = await settleItems(
      ['ok1', 'bad', 'ok2'],
      async (item) => {
        if (item === 'bad') throw refusal;
        return item.toUpperCase();
      },
      (err, item) => reported.push([err, item]),
    );
    expect(out).toEqual([
      { $case: 'accepted', value: 'OK1' },
      { $case: 'error', value: { code: status.FAILED_PRECONDITION, message: 'nonce too high: transaction nonce 7, next nonce is 1' } },
      { $case: 'accepted', value: 'OK2' },
    ]);
    expect(reported).toEqual([[refusal, 'bad']]);
  });

  it('keeps the gRPC code and message of ShardLab errors and hides everything else as INTERNAL', async () => {
    const thrown: unknown[] = [
      errors.invalidArgument('malformed transaction RLP'),
      errors.alreadyExists('transaction 0xab is already known'),
      errors.resourceExhausted('mempool full'),
      errors.internal('block 7 missing below head 9'),
      new TypeError('x is undefined'),
      'a string',
    ];
    const out = await settleItems(thrown, (e) => Promise.reject(e));
    expect(out).toEqual<ItemOutcome<never>[]>([
      { $case: 'error', value: { code: status.INVALID_ARGUMENT, message: 'malformed transaction RLP' } },
      { $case: 'error', value: { code: status.ALREADY_EXISTS, message: 'transaction 0xab is already known' } },
      { $case: 'error', value: { code: status.RESOURCE_EXHAUSTED, message: 'mempool full' } },
      { $case: 'error', value: { code: status.INTERNAL, message: 'internal error' } },
      { $case: 'error', value: { code: status.INTERNAL, message: 'internal error' } },
      { $case: 'error', value: { code: status.INTERNAL, message: 'internal error' } },
    ]);
  });

  it('refuses more than MAX_BATCH_ITEMS items with INVALID_ARGUMENT before handling any', async () => {
    let handled = 0;
    const handle = async () => ++handled;
    const err = await settled(settleItems(new Array<number>(MAX_BATCH_ITEMS + 1).fill(0), handle));
    expect(err.ok).toBe(false);
    expect(!err.ok && err.error).toBeInstanceOf(ShardLabError);
    expect(!err.ok && err.error).toMatchObject({ code: ErrorCode.InvalidArgument });
    expect(!err.ok && err.error.message).toMatch(String(MAX_BATCH_ITEMS));
    expect(handled).toBe(0);
    // Exactly MAX_BATCH_ITEMS is fine.
    expect(await settleItems(new Array<number>(MAX_BATCH_ITEMS).fill(0), handle)).toHaveLength(MAX_BATCH_ITEMS);
    expect(handled).toBe(MAX_BATCH_ITEMS);
  });

  it('answers an empty batch with no results', async () => {
    expect(await settleItems([], async () => 1)).toEqual([]);
  });
});

describe('unpackOutcomes and item errors', () => {
  it('throws INTERNAL when the answer has a different number of results than items sent', () => {
    const results = [{ outcome: { $case: 'accepted' as const, value: 1 } }];
    for (const sent of [0, 2]) {
      let thrown: unknown;
      try {
        unpackOutcomes('shard 1', sent, results);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(ShardLabError);
      expect(thrown).toMatchObject({ code: ErrorCode.Internal, message: `shard 1 answered 1 results for a batch of ${sent}` });
    }
  });

  it('answers accepted values as they are and error items as ShardLabErrors with their code and message', () => {
    const out = unpackOutcomes<{ txHash: string }>('shard 1', 3, [
      { outcome: { $case: 'accepted', value: { txHash: '0x01' } } },
      { outcome: { $case: 'error', value: { code: status.FAILED_PRECONDITION, message: 'insufficient funds' } } },
      { outcome: { $case: 'error', value: { code: status.ALREADY_EXISTS, message: 'already known' } } },
    ]);
    expect(out[0]).toEqual({ txHash: '0x01' });
    expect(out[1]).toBeInstanceOf(ShardLabError);
    expect(out[1]).toMatchObject({ code: ErrorCode.FailedPrecondition, message: 'insufficient funds', meta: { target: 'shard 1' } });
    expect(out[2]).toMatchObject({ code: ErrorCode.AlreadyExists, message: 'already known' });
  });

  it('answers a result without an outcome as an error', () => {
    const [out] = unpackOutcomes('orchestrator', 1, [{ outcome: undefined }]);
    expect(out).toBeInstanceOf(ShardLabError);
    expect(out).toMatchObject({ code: ErrorCode.Unavailable, message: 'orchestrator unavailable: INTERNAL' });
  });

  it('round-trips client-facing errors through toItemError and fromItemError', () => {
    for (const e of [errors.invalidArgument('bad rlp'), errors.failedPrecondition('nonce too low'), errors.notFound('no block 9'), errors.aborted('locked'), errors.unimplemented('cross-shard')]) {
      const back = fromItemError(toItemError(e), 'shard 2');
      expect(back).toBeInstanceOf(ShardLabError);
      expect({ code: back.code, message: back.message }).toEqual({ code: e.code, message: e.message });
    }
  });

  it.each([
    ['UNAVAILABLE', status.UNAVAILABLE, 'connect ECONNREFUSED 127.0.0.1:4242'],
    ['INTERNAL', status.INTERNAL, 'internal error'],
    ['DEADLINE_EXCEEDED', status.DEADLINE_EXCEEDED, 'Deadline exceeded'],
    ['CANCELLED', status.CANCELLED, 'Cancelled on client'],
    ['an unknown status', 99 as status, 'what'],
  ])('maps an item error of %s exactly as fromServiceError maps the same status', (_name, code, message) => {
    const fromItem = fromItemError({ code, message }, 'shard 1');
    const fromCall = fromServiceError(serviceError(code, message), 'shard 1');
    expect(fromItem).toBeInstanceOf(ShardLabError);
    expect({ code: fromItem.code, message: fromItem.message, meta: fromItem.meta }).toEqual({ code: fromCall.code, message: fromCall.message, meta: fromCall.meta });
    expect(fromItem.code).toBe(ErrorCode.Unavailable);
  });

  it('hides the transport details of an UNAVAILABLE item in meta', () => {
    const e = fromItemError({ code: status.UNAVAILABLE, message: 'connect ECONNREFUSED 127.0.0.1:4242' }, 'shard 1');
    expect(e.message).toBe('shard 1 unavailable: not reachable');
    expect(e.meta).toMatchObject({ target: 'shard 1', grpcCode: status.UNAVAILABLE, grpcDetails: 'connect ECONNREFUSED 127.0.0.1:4242' });
  });
});
