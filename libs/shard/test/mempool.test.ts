import { ROOT_CONTEXT, createContextKey } from '@opentelemetry/api';
import { createChainCommon, decodeTransaction, devAccounts, signTransaction, type DecodedTx, type TxRequest } from '@shardlab/chain';
import { ErrorCode, ShardLabError } from '@shardlab/common';
import { Mempool } from '../src';

const common = createChainCommon();
const accounts = devAccounts();
const alice = accounts[0]!;
const bob = accounts[1]!;
const to = '0x' + '44'.repeat(20);

const tx = (from: typeof alice, nonce: number, req: Partial<TxRequest> = {}): DecodedTx =>
  decodeTransaction(signTransaction(common, from, { to, value: 10n, nonce: BigInt(nonce), ...req }), common);

describe('Mempool', () => {
  it('holds transactions by hash and sums each sender’s pending count and cost', () => {
    const m = new Mempool();
    const a0 = tx(alice, 0);
    const a1 = tx(alice, 1, { gasLimit: 50_000n });
    const b0 = tx(bob, 0);
    m.add(a0, 1);
    m.add(a1, 2);
    m.add(b0, 3);
    expect(m.size).toBe(3);
    expect(m.has(a1.hash)).toBe(true);
    expect(m.has('0x' + '00'.repeat(32))).toBe(false);
    expect(m.get(a0.hash)).toMatchObject({ tx: a0, acceptedAtMs: 1, executing: false });
    expect(m.get(a0.hash)!.trace).toBeUndefined();
    expect(m.senderView(alice.address)).toEqual({ pendingCount: 2, pendingCost: a0.maxCost + a1.maxCost });
    expect(m.senderView(bob.address)).toEqual({ pendingCount: 1, pendingCost: b0.maxCost });
    expect(m.senderView(accounts[5]!.address)).toEqual({ pendingCount: 0, pendingCost: 0n });
  });

  it('keeps the trace context of the submission', () => {
    const m = new Mempool();
    const key = createContextKey('k');
    const ctx = ROOT_CONTEXT.setValue(key, 'v');
    const a0 = tx(alice, 0);
    m.add(a0, 1, ctx);
    expect(m.get(a0.hash)!.trace).toBe(ctx);
  });

  it('refuses transactions beyond its capacity with RESOURCE_EXHAUSTED, and accepts again after a removal', () => {
    const m = new Mempool(2);
    const [t0, t1, t2] = [tx(alice, 0), tx(alice, 1), tx(alice, 2)];
    m.add(t0!, 1);
    m.add(t1!, 1);
    let err: unknown;
    try {
      m.add(t2!, 1);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ShardLabError);
    expect((err as ShardLabError).code).toBe(ErrorCode.ResourceExhausted);
    expect((err as ShardLabError).message).toMatch(/mempool is full \(2 transactions\)/);
    expect(m.size).toBe(2);
    expect(m.senderView(alice.address).pendingCount).toBe(2);
    m.remove([t0!.hash]);
    m.add(t2!, 2);
    expect(m.size).toBe(2);
  });

  it('takes the oldest transactions first, up to maxTxs, marking them executing', () => {
    const m = new Mempool();
    const txs = [tx(alice, 0), tx(bob, 0), tx(alice, 1), tx(bob, 1), tx(alice, 2)];
    txs.forEach((t, i) => m.add(t, i));
    const first = m.take(2, 10n ** 9n);
    expect(first.map((e) => e.tx.hash)).toEqual([txs[0]!.hash, txs[1]!.hash]);
    expect(first.every((e) => e.executing)).toBe(true);
    expect(m.get(txs[2]!.hash)!.executing).toBe(false);
    // Executing entries are skipped by the next take.
    expect(m.take(10, 10n ** 9n).map((e) => e.tx.hash)).toEqual(txs.slice(2).map((t) => t.hash));
    expect(m.take(10, 10n ** 9n)).toEqual([]);
    expect(m.take(0, 10n ** 9n)).toEqual([]);
  });

  it('stops at the first transaction that would exceed maxGas, keeping arrival order', () => {
    const m = new Mempool();
    const small = tx(alice, 0); // 21,000
    const big = tx(alice, 1, { gasLimit: 30_000n });
    const after = tx(bob, 0); // 21,000 would fit, but must not jump the queue
    for (const t of [small, big, after]) m.add(t, 0);
    expect(m.take(10, 50_000n).map((e) => e.tx.hash)).toEqual([small.hash]);
    expect(m.get(big.hash)!.executing).toBe(false);
    expect(m.get(after.hash)!.executing).toBe(false);
    expect(m.take(10, 50_000n).map((e) => e.tx.hash)).toEqual([big.hash]); // 30,000 + 21,000 > 50,000
    expect(m.take(10, 20_999n)).toEqual([]);
    expect(m.take(10, 21_000n).map((e) => e.tx.hash)).toEqual([after.hash]);
  });

  it('takes exactly up to maxGas (inclusive)', () => {
    const m = new Mempool();
    const a = tx(alice, 0);
    const b = tx(bob, 0);
    m.add(a, 0);
    m.add(b, 0);
    expect(m.take(10, 42_000n)).toHaveLength(2);
  });

  it('counts executing entries in senderView until they are removed', () => {
    const m = new Mempool();
    const a0 = tx(alice, 0);
    const a1 = tx(alice, 1);
    m.add(a0, 0);
    m.add(a1, 0);
    m.take(1, 10n ** 9n);
    expect(m.senderView(alice.address)).toEqual({ pendingCount: 2, pendingCost: a0.maxCost + a1.maxCost });
    expect(m.has(a0.hash)).toBe(true);
    m.remove([a0.hash]);
    expect(m.has(a0.hash)).toBe(false);
    expect(m.senderView(alice.address)).toEqual({ pendingCount: 1, pendingCost: a1.maxCost });
    m.remove([a1.hash]);
    expect(m.senderView(alice.address)).toEqual({ pendingCount: 0, pendingCost: 0n });
    expect(m.size).toBe(0);
  });

  it('ignores unknown and repeated removals', () => {
    const m = new Mempool();
    const a0 = tx(alice, 0);
    const a1 = tx(alice, 1);
    m.add(a0, 0);
    m.add(a1, 0);
    m.remove([a0.hash, a0.hash, '0x' + '99'.repeat(32)]);
    m.remove([a0.hash]);
    expect(m.size).toBe(1);
    expect(m.senderView(alice.address)).toEqual({ pendingCount: 1, pendingCost: a1.maxCost });
  });

  it('untake makes entries takeable again, in their original order', () => {
    const m = new Mempool();
    const txs = [tx(alice, 0), tx(alice, 1), tx(alice, 2)];
    txs.forEach((t) => m.add(t, 0));
    const taken = m.take(2, 10n ** 9n);
    m.untake(taken);
    expect(taken.every((e) => !e.executing)).toBe(true);
    expect(m.take(10, 10n ** 9n).map((e) => e.tx.hash)).toEqual(txs.map((t) => t.hash));
    expect(m.size).toBe(3);
    expect(m.senderView(alice.address).pendingCount).toBe(3);
  });
});
