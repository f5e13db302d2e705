import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import fc from 'fast-check';
import type { GatewayServiceClient, SendRawTransactionResponse, SendRawTransactionsResponse } from '@shardlab/proto';
import { submitAll, type Submission } from '../src/submitter';

/**
 * A fake gateway that behaves like a shard's admission: it accepts a sender's transaction only
 * with the sender's next nonce (else FAILED_PRECONDITION "nonce too high"), and answers each
 * request after a delay chosen by the test, so pipelined requests overtake one another.
 */
function fakeGateway(delayOf: (i: number) => number, opts: { unavailableOnce?: Set<string> } = {}) {
  const next = new Map<string, number>();
  const accepted: string[] = [];
  let calls = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const err = (code: status, details: string): ServiceError => Object.assign(new Error(details), { code, details, metadata: new Metadata() });
  const one = (raw: Buffer, cb: (e: ServiceError | null, r?: SendRawTransactionResponse) => void) => {
      const [from, nonceText] = Buffer.from(raw).toString().split(':');
      const nonce = Number(nonceText);
      const i = calls++;
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      setTimeout(() => {
        inFlight -= 1;
        const key = `${from}:${nonce}`;
        if (opts.unavailableOnce?.delete(key)) return cb(err(status.UNAVAILABLE, 'connection reset'));
        const want = next.get(from!) ?? 0;
        if (nonce > want) return cb(err(status.FAILED_PRECONDITION, `nonce too high: transaction nonce ${nonce}, next nonce of ${from} is ${want}`));
        if (nonce < want) return cb(err(status.FAILED_PRECONDITION, `nonce too low: transaction nonce ${nonce}`));
        next.set(from!, want + 1);
        accepted.push(key);
        cb(null, { txHash: key, homeShard: 0, crossShard: false });
      }, delayOf(i));
  };
  let batches = 0;
  const gateway = {
    // Each item of a batch is answered after its own delay (items of different batches overtake
    // one another); the batch is answered when all its items are.
    sendRawTransactions(req: { rawTransactions: Buffer[] }, _md: Metadata, _o: unknown, cb: (e: ServiceError | null, r?: SendRawTransactionsResponse) => void) {
      batches += 1;
      const results: SendRawTransactionsResponse['results'] = new Array(req.rawTransactions.length);
      let left = req.rawTransactions.length;
      req.rawTransactions.forEach((raw, k) =>
        one(raw, (e, r) => {
          results[k] = { outcome: e ? { $case: 'error', value: { code: e.code, message: e.details } } : { $case: 'accepted', value: r! } };
          if (--left === 0) cb(null, { results });
        }),
      );
      return { cancel: () => {} };
    },
  } as unknown as GatewayServiceClient;
  return { gateway, accepted, next, stats: () => ({ calls, maxInFlight, batches }) };
}

const tx = (from: string, nonce: number): Submission => ({ hash: `${from}:${nonce}`, from, raw: Buffer.from(`${from}:${nonce}`) });

describe('submitAll', () => {
  it('pipelines a sender\'s transactions and recovers from overtaking: every one accepted, in nonce order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 30, maxLength: 30 }), fc.integer({ min: 1, max: 8 }), async (delays, window) => {
        const g = fakeGateway((i) => delays[i % delays.length]!);
        const txs = [...Array.from({ length: 10 }, (_, n) => tx('a', n)), ...Array.from({ length: 5 }, (_, n) => tx('b', n))];
        const results = await submitAll(txs, { gateway: g.gateway, senderWindow: window });
        expect(results.every((r) => r.accepted && !r.rejected)).toBe(true);
        expect(g.accepted.filter((k) => k.startsWith('a:'))).toEqual(txs.filter((t) => t.from === 'a').map((t) => t.hash));
        expect(g.next.get('a')).toBe(10);
        expect(g.next.get('b')).toBe(5);
      }),
      { numRuns: 30 },
    );
  });

  it('keeps at most senderWindow of one sender and concurrency overall awaiting an answer', async () => {
    const g = fakeGateway(() => 2);
    const txs = Array.from({ length: 40 }, (_, n) => tx('a', n));
    await submitAll(txs, { gateway: g.gateway, senderWindow: 4, concurrency: 100 });
    expect(g.stats().maxInFlight).toBeLessThanOrEqual(4);
    const h = fakeGateway(() => 2);
    await submitAll(Array.from({ length: 40 }, (_, n) => tx(`s${n}`, 0)), { gateway: h.gateway, concurrency: 3 });
    expect(h.stats().maxInFlight).toBeLessThanOrEqual(3);
    expect(h.accepted).toHaveLength(40);
  });

  it('with a window of one never refuses for a nonce gap (one call per transaction)', async () => {
    const g = fakeGateway((i) => (i * 7) % 5);
    const txs = Array.from({ length: 20 }, (_, n) => tx('a', n));
    const results = await submitAll(txs, { gateway: g.gateway, senderWindow: 1 });
    expect(results.map((r) => r.attempts)).toEqual(txs.map(() => 1));
  });

  it('retries UNAVAILABLE, and reports a real refusal (and what follows it) as rejected', async () => {
    const g = fakeGateway(() => 0, { unavailableOnce: new Set(['a:1']) });
    const results = await submitAll([tx('a', 0), tx('a', 1), tx('b', 5), tx('b', 6)], { gateway: g.gateway, senderWindow: 1 });
    expect(results[1]).toMatchObject({ accepted: { homeShard: 0, crossShard: false }, attempts: 2 });
    expect(results[2]!.rejected).toMatch(/^FAILED_PRECONDITION: nonce too high/);
    // b:6 is refused for the gap left by b:5, also after b:5's answer.
    expect(results[3]!.rejected).toMatch(/nonce too high/);
    expect(g.accepted).toEqual(['a:0', 'a:1']);
  });
});
