import fc from 'fast-check';
import { accountFromKey, createChainCommon, createPlacement, decodeTransaction, nativeKeccak256, shardOf } from '@shardlab/chain';
import { ErrorCode, toHex } from '@shardlab/common';
import { REPLAY_MAX_FEE, TRACE_KEY_DOMAIN, planReplay, traceAccount, type TraceRow } from '../src';
import { thrown } from '@shardlab/testing';

const common = createChainCommon();
const addr = (byte: number, fill = 'ab') => '0x' + fill.repeat(19) + byte.toString(16).padStart(2, '0');

/** The counter whose key keccak256(domain ‖ address ‖ counter) is `key`, searched from 0. */
function counterOf(real: string, key: Uint8Array): number | undefined {
  const pre = new Uint8Array([...new TextEncoder().encode(TRACE_KEY_DOMAIN), ...Buffer.from(real.slice(2), 'hex'), 0, 0, 0, 0]);
  const view = new DataView(pre.buffer, pre.length - 4);
  for (let c = 0; c < 10_000; c++) {
    view.setUint32(0, c);
    if (toHex(nativeKeccak256(pre)) === toHex(key)) return c;
  }
  return undefined;
}

describe('traceAccount', () => {
  it('is deterministic, derives the key by the documented rule and the address from the key', () => {
    const real = '0x942C4bc02dc8986215adc1ba2d27723fd4a98a8b';
    const a = traceAccount(real, 4);
    const b = traceAccount(real.toLowerCase(), 4);
    expect(a.address).toBe(b.address);
    expect(toHex(a.privateKey)).toBe(toHex(b.privateKey));
    expect(accountFromKey(a.privateKey).address).toBe(a.address);
    expect(a.address).toMatch(/^0x[0-9a-f]{40}$/);
    // The first counter whose address lands on the real shard.
    const c = counterOf(real.toLowerCase(), a.privateKey);
    expect(c).toBeDefined();
    for (let earlier = 0; earlier < c!; earlier++) {
      const pre = new Uint8Array([...new TextEncoder().encode(TRACE_KEY_DOMAIN), ...Buffer.from(real.slice(2), 'hex'), 0, 0, 0, earlier]);
      const miss = accountFromKey(nativeKeccak256(pre));
      expect(parseInt(miss.address.slice(-2), 16) % 4).not.toBe(0x8b % 4);
    }
    // With one shard every key fits: counter 0.
    expect(counterOf(real.toLowerCase(), traceAccount(real, 1).privateKey)).toBe(0);
    // Different real addresses, different accounts.
    expect(traceAccount(addr(1), 4).address).not.toBe(traceAccount(addr(2), 4).address);
  });

  it('keeps the default placement of the real address (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.integer({ min: 1, max: 16 }), (bytes, shards) => {
        const real = toHex(bytes);
        const placement = createPlacement(shards);
        const generated = traceAccount(real, shards);
        expect(shardOf(placement, generated.address)).toBe(shardOf(placement, real));
        expect(accountFromKey(generated.privateKey).address).toBe(generated.address);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses bad addresses and shard counts', () => {
    expect(thrown(() => traceAccount('0x1234', 4)).code).toBe(ErrorCode.InvalidArgument);
    expect(thrown(() => traceAccount(addr(1), 0)).message).toContain('shard count');
    expect(thrown(() => traceAccount(addr(1), 1.5)).message).toContain('shard count');
  });
});

describe('planReplay', () => {
  const X = addr(0x10);
  const Y = addr(0x21);
  const Z = addr(0x33, 'cd');
  const W = addr(0x42, 'ef');
  let n = 0;
  const row = (from: string, to: string | undefined, value: bigint, extra: Partial<TraceRow> = {}): TraceRow => ({
    line: ++n + 1,
    blockNumber: 100 + n,
    txIndex: 0,
    from,
    ...(to !== undefined ? { to } : {}),
    value,
    hasCalldata: false,
    ...extra,
  });
  const rows: TraceRow[] = [
    row(X, Y, 10n),
    row(Y, X, 3n),
    row(X, Z, 7n, { hasCalldata: true }),
    row(X, undefined, 0n, { createdAddress: W, hasCalldata: true }),
    row(Z, Z, 5n),
    row(X, Y, 1n),
  ];

  it('plans signed transfers: mapped accounts, nonces per sender in trace order, shards', () => {
    const plan = planReplay(rows, { common, shardCount: 4 });
    const placement = createPlacement(4);
    expect(plan.txs).toHaveLength(rows.length);
    const gx = traceAccount(X, 4).address;
    expect(plan.txs.map((t) => t.line)).toEqual(rows.map((r) => r.line));
    expect(plan.txs.filter((t) => t.from === gx).map((t) => t.nonce)).toEqual([0n, 1n, 2n, 3n]);
    expect(plan.txs.filter((t) => t.realFrom === Y).map((t) => t.nonce)).toEqual([0n]);
    expect(plan.txs[3]).toMatchObject({ realFrom: X, realTo: W, to: traceAccount(W, 4).address });
    for (const [i, t] of plan.txs.entries()) {
      const r = rows[i]!;
      expect(t.from).toBe(traceAccount(r.from, 4).address);
      expect(t.to).toBe(traceAccount(r.to ?? r.createdAddress!, 4).address);
      expect(t.homeShard).toBe(shardOf(placement, t.from));
      expect(t.toShard).toBe(shardOf(placement, t.to));
      expect(t.homeShard).toBe(shardOf(placement, r.from)); // real placement preserved
      expect(t.crossShard).toBe(t.homeShard !== t.toShard);
    }
    expect(plan.stats).toEqual({
      rows: 6,
      transfers: 4,
      calldataConverted: 1,
      creationsConverted: 1,
      failedAsZeroValue: 0,
      senders: 3,
      addresses: 4,
      crossShard: plan.txs.filter((t) => t.crossShard).length,
      crossShardRatio: plan.txs.filter((t) => t.crossShard).length / 6,
    });
    // X (0x10 → 0) → Y (0x21 → 1) is cross-shard at S=4; Z → Z is local.
    expect(plan.txs[0]!.crossShard).toBe(true);
    expect(plan.txs[4]!.crossShard).toBe(false);
  });

  it('signs transactions whose decoding gives the hash, sender, recipient, value, nonce and fee defaults', () => {
    const plan = planReplay(rows, { common, shardCount: 4 });
    for (const t of plan.txs) {
      const d = decodeTransaction(t.raw, common);
      expect(d.hash).toBe(t.hash);
      expect(d.from).toBe(t.from);
      expect(d.to).toBe(t.to);
      expect(d.value).toBe(t.value);
      expect(d.nonce).toBe(t.nonce);
      expect(d.gasLimit).toBe(21_000n);
      expect(d.maxFeePerGas).toBe(2_000_000_000n);
      expect(d.tx.type).toBe(2);
      expect('maxPriorityFeePerGas' in d.tx && d.tx.maxPriorityFeePerGas).toBe(1n);
      expect(d.tx.data).toHaveLength(0); // calldata dropped
    }
  });

  it('funds each sender with its outgoing values plus its maximum fees', () => {
    const plan = planReplay(rows, { common, shardCount: 4 });
    const expected = new Map<string, bigint>();
    for (const t of plan.txs) expected.set(t.from, (expected.get(t.from) ?? 0n) + t.value + 21_000n * 2_000_000_000n);
    expect(plan.genesis).toEqual(expected);
    expect(REPLAY_MAX_FEE).toBe(21_000n * 2_000_000_000n);
    const gx = traceAccount(X, 4).address;
    expect(plan.genesis.get(gx)).toBe(10n + 7n + 0n + 1n + 4n * REPLAY_MAX_FEE);
    expect(plan.genesis.has(traceAccount(W, 4).address)).toBe(false); // never sends
    // Whatever the interleaving, a sender's balance covers every maximum cost it can be charged.
    for (const [from, balance] of plan.genesis) {
      const cost = plan.txs.filter((t) => t.from === from).reduce((s, t) => s + t.value + REPLAY_MAX_FEE, 0n);
      expect(balance).toBeGreaterThanOrEqual(cost);
    }
  });

  it('scales values by num/den, rounding down', () => {
    const plan = planReplay(rows, { common, shardCount: 2, valueScale: { num: 1n, den: 3n } });
    expect(plan.txs.map((t) => t.value)).toEqual([3n, 1n, 2n, 0n, 1n, 0n]);
    const big = planReplay([row(X, Y, 10n ** 18n)], { common, shardCount: 2, valueScale: { num: 3n, den: 1000n } });
    expect(big.txs[0]!.value).toBe(3n * 10n ** 15n);
    expect(decodeTransaction(big.txs[0]!.raw, common).value).toBe(3n * 10n ** 15n);
    expect(thrown(() => planReplay(rows, { common, shardCount: 2, valueScale: { num: 1n, den: 0n } })).code).toBe(ErrorCode.InvalidArgument);
  });

  it('is reproducible byte for byte, and the native and pure-JavaScript signers of the Common give the same bytes', () => {
    const a = planReplay(rows, { common, shardCount: 4 });
    const b = planReplay(rows, { common, shardCount: 4 });
    expect(a.txs.map((t) => t.hash)).toEqual(b.txs.map((t) => t.hash));
    expect(common.customCrypto.ecsign).toBeDefined(); // createChainCommon() signs natively
    const jsCommon = createChainCommon({ native: false });
    const js = planReplay(rows.slice(0, 2), { common: jsCommon, shardCount: 4 });
    for (const t of js.txs) expect(decodeTransaction(t.raw, common).hash).toBe(t.hash);
    expect(js.txs.map((t) => Buffer.from(t.raw).toString('hex'))).toEqual(a.txs.slice(0, 2).map((t) => Buffer.from(t.raw).toString('hex')));
  });

  it('reports progress and refuses rows without a recipient', () => {
    const calls: [number, number][] = [];
    planReplay(rows, { common, shardCount: 4, onProgress: (p, total) => calls.push([p, total]) });
    expect(calls).toEqual([[6, 6]]);
    const bad = { ...row(X, undefined, 1n) };
    expect(thrown(() => planReplay([bad], { common, shardCount: 4 })).message).toContain(`line ${bad.line}`);
    expect(planReplay([], { common, shardCount: 4 }).stats.crossShardRatio).toBe(0);
  });
});

describe('planReplay of failed mainnet transactions', () => {
  it('replays a row that failed on mainnet as a zero-value transfer (nonce and fee kept) and counts it', () => {
    const base = { blockNumber: 1, hasCalldata: false, from: addr(1), to: addr(2) } as const;
    const rows: TraceRow[] = [
      { ...base, line: 2, txIndex: 0, value: 7n },
      { ...base, line: 3, txIndex: 1, value: 9n, failed: true },
    ];
    const plan = planReplay(rows, { common, shardCount: 2 });
    expect(plan.txs.map((t) => [t.nonce, t.value])).toEqual([
      [0n, 7n],
      [1n, 0n],
    ]);
    expect(decodeTransaction(plan.txs[1]!.raw, common).value).toBe(0n);
    expect(plan.stats.failedAsZeroValue).toBe(1);
    // Funded for the value that moves and both fees, not for the failed row's value.
    expect(plan.genesis.get(plan.txs[0]!.from)).toBe(7n + 2n * REPLAY_MAX_FEE);
  });
});
