import { ErrorCode } from '@shardlab/common';
import { DEFAULT_SYNTHETIC_RANGES, generateSynthetic, mulberry32, zipfSampler, type SyntheticOp, type SyntheticOpts } from '../src';
import { thrown } from '@shardlab/testing';

const base: SyntheticOpts = { seed: 7, count: 10_000, accounts: 1_000, tokens: 20, pairs: 10 };

const share = (ops: SyntheticOp[], kind: SyntheticOp['kind']) => ops.filter((o) => o.kind === kind).length / ops.length;

describe('generateSynthetic', () => {
  it('is deterministic per seed', () => {
    const a = generateSynthetic(base);
    expect(generateSynthetic(base)).toEqual(a);
    expect(generateSynthetic({ ...base, seed: 8 })).not.toEqual(a);
    expect(a).toHaveLength(10_000);
    expect(generateSynthetic({ ...base, count: 0 })).toEqual([]);
  });

  it('follows the default mix 60/30/10 within tolerance, and a given mix', () => {
    const ops = generateSynthetic(base);
    expect(Math.abs(share(ops, 'transfer') - 0.6)).toBeLessThan(0.02);
    expect(Math.abs(share(ops, 'erc20') - 0.3)).toBeLessThan(0.02);
    expect(Math.abs(share(ops, 'swap') - 0.1)).toBeLessThan(0.02);
    const other = generateSynthetic({ ...base, mix: { transfer: 1, erc20: 0, swap: 3 } });
    expect(share(other, 'erc20')).toBe(0);
    expect(Math.abs(share(other, 'swap') - 0.75)).toBeLessThan(0.02);
    // Tokens and pairs are not needed for a kind with no share.
    expect(generateSynthetic({ ...base, tokens: 0, pairs: 0, mix: { transfer: 1, erc20: 0, swap: 0 } }).every((o) => o.kind === 'transfer')).toBe(true);
  });

  it('has valid indices, from ≠ to, amounts within their ranges and both swap directions', () => {
    const ops = generateSynthetic(base);
    const within = (v: bigint, [min, max]: readonly [bigint, bigint]) => v >= min && v <= max;
    const bad: SyntheticOp[] = [];
    let zeroForOne = 0;
    for (const o of ops) {
      const ok =
        Number.isInteger(o.from) &&
        o.from >= 0 &&
        o.from < base.accounts &&
        (o.kind === 'transfer'
          ? o.to !== o.from && o.to >= 0 && o.to < base.accounts && within(o.valueWei, DEFAULT_SYNTHETIC_RANGES.transferWei)
          : o.kind === 'erc20'
            ? o.to !== o.from && o.to >= 0 && o.to < base.accounts && o.token >= 0 && o.token < base.tokens && within(o.amount, DEFAULT_SYNTHETIC_RANGES.erc20Amount)
            : o.pair >= 0 && o.pair < base.pairs && within(o.amountIn, DEFAULT_SYNTHETIC_RANGES.swapAmountIn));
      if (!ok) bad.push(o);
      if (o.kind === 'swap' && o.zeroForOne) zeroForOne++;
    }
    expect(bad).toEqual([]);
    const swaps = ops.filter((o) => o.kind === 'swap').length;
    expect(Math.abs(zeroForOne / swaps - 0.5)).toBeLessThan(0.06);
    // Log-uniform 0.01..100 ETH: median near 1 ETH.
    const values = ops.flatMap((o) => (o.kind === 'transfer' ? [o.valueWei] : [])).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const median = Number(values[values.length >> 1]!) / 1e18;
    expect(median).toBeGreaterThan(0.7);
    expect(median).toBeLessThan(1.4);
    // from ≠ to even with two accounts and a steep exponent.
    const two = generateSynthetic({ ...base, accounts: 2, count: 500, zipfExponent: 3 });
    expect(two.filter((o) => o.kind !== 'swap' && o.to === o.from)).toEqual([]);
  });

  it('skews senders like Zipf: the top 1% of accounts send far more than the median account', () => {
    const ops = generateSynthetic(base);
    const sent = new Array<number>(base.accounts).fill(0);
    for (const o of ops) sent[o.from]!++;
    const sorted = [...sent].sort((a, b) => b - a);
    const top = sorted.slice(0, base.accounts / 100);
    const median = sorted[base.accounts / 2]!;
    expect(median).toBeGreaterThan(0);
    expect(Math.min(...top)).toBeGreaterThan(20 * median);
    // The top 1% issue about a third of all operations (H(10)/H(1000) ≈ 0.39 for s = 1).
    const topShare = top.reduce((s, v) => s + v, 0) / ops.length;
    expect(topShare).toBeGreaterThan(0.3);
    expect(topShare).toBeLessThan(0.48);
    // Exponent 0 is uniform: no such skew.
    const flat = new Array<number>(base.accounts).fill(0);
    for (const o of generateSynthetic({ ...base, zipfExponent: 0 })) flat[o.from]!++;
    expect(Math.max(...flat)).toBeLessThan(40);
    // Recipients are skewed too, but the busiest recipient is not the busiest sender by construction.
    const received = new Array<number>(base.accounts).fill(0);
    for (const o of ops) if (o.kind !== 'swap') received[o.to]!++;
    expect(Math.max(...received)).toBeGreaterThan(20 * [...received].sort((a, b) => b - a)[base.accounts / 2]!);
    // Token popularity: token 0 most used.
    const tokens = new Array<number>(base.tokens).fill(0);
    for (const o of ops) if (o.kind === 'erc20') tokens[o.token]!++;
    expect(tokens[0]).toBe(Math.max(...tokens));
  });

  it('refuses invalid options', () => {
    expect(thrown(() => generateSynthetic({ ...base, accounts: 1 })).code).toBe(ErrorCode.InvalidArgument);
    expect(thrown(() => generateSynthetic({ ...base, count: -1 })).message).toContain('count');
    expect(thrown(() => generateSynthetic({ ...base, tokens: 0 })).message).toContain('tokens');
    expect(thrown(() => generateSynthetic({ ...base, pairs: 0 })).message).toContain('pairs');
    expect(thrown(() => generateSynthetic({ ...base, mix: { transfer: 0, erc20: 0, swap: 0 } })).message).toContain('sum to 0');
    expect(thrown(() => generateSynthetic({ ...base, mix: { transfer: -1, erc20: 1, swap: 1 } })).message).toContain('mix.transfer');
    expect(thrown(() => generateSynthetic({ ...base, zipfExponent: -1 })).message).toContain('zipfExponent');
    expect(thrown(() => generateSynthetic({ ...base, ranges: { transferWei: [0n, 5n] } })).message).toContain('transferWei');
  });
});

describe('samplers', () => {
  it('mulberry32 is deterministic in [0, 1) and zipfSampler follows 1/k^s', () => {
    const r1 = mulberry32(42);
    const r2 = mulberry32(42);
    for (let i = 0; i < 100; i++) {
      const v = r1();
      expect(v).toBe(r2());
      expect(v >= 0 && v < 1).toBe(true);
    }
    const z = zipfSampler(4, 1, mulberry32(1));
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 25_000; i++) counts[z()]!++;
    const h = 1 + 1 / 2 + 1 / 3 + 1 / 4;
    counts.forEach((c, k) => expect(Math.abs(c / 25_000 - 1 / (k + 1) / h)).toBeLessThan(0.015));
  });
});
