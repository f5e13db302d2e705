// generateSynthetic: the unsigned synthetic workload model (mix of transfers, ERC-20 transfers and swaps; Zipf-popular accounts; log-uniform amounts), with its seeded PRNG and samplers.
import { errors } from '@shardlab/common';

/** One operation of the synthetic workload. Accounts, tokens and pairs are indices from 0. */
export type SyntheticOp =
  /** Native ETH transfer; `valueWei` in wei. */
  | { kind: 'transfer'; from: number; to: number; valueWei: bigint }
  /** ERC-20 `transfer` of `token`; `amount` in the token's base units (18 decimals assumed). */
  | { kind: 'erc20'; from: number; to: number; token: number; amount: bigint }
  /** Uniswap V2 swap on `pair`: token0 → token1 when `zeroForOne`; `amountIn` in base units. */
  | { kind: 'swap'; from: number; pair: number; zeroForOne: boolean; amountIn: bigint };

/** Relative weights of the three kinds of operations (any non-negative numbers, not all 0). */
export interface SyntheticMix {
  transfer: number;
  erc20: number;
  swap: number;
}

/** An inclusive range [min, max] sampled log-uniformly; min ≥ 1. */
export type LogRange = readonly [bigint, bigint];

/** Options of {@link generateSynthetic}. */
export interface SyntheticOpts {
  /** Seed of the pseudo-random generator (any 32-bit integer; same seed → same workload). */
  seed: number;
  /** Number of operations. */
  count: number;
  /** Number of accounts (≥ 2), indices 0..accounts-1. */
  accounts: number;
  /** Number of ERC-20 tokens (≥ 1 when the mix has ERC-20 transfers). */
  tokens: number;
  /** Number of Uniswap V2 pairs (≥ 1 when the mix has swaps). */
  pairs: number;
  /** Default {@link DEFAULT_SYNTHETIC_MIX}: 60% transfers, 30% ERC-20 transfers, 10% swaps. */
  mix?: SyntheticMix;
  /** Exponent s of the Zipf popularity (weight of rank k ∝ 1/k^s) of accounts, tokens and
   *  pairs; default {@link DEFAULT_ZIPF_EXPONENT}. 0 is uniform. */
  zipfExponent?: number;
  /** Ranges of amounts; defaults {@link DEFAULT_SYNTHETIC_RANGES}. */
  ranges?: Partial<SyntheticRanges>;
}

/** Ranges of the amounts of {@link SyntheticOp}s, each sampled log-uniformly. */
export interface SyntheticRanges {
  /** Native transfer values, wei. */
  transferWei: LogRange;
  /** ERC-20 transfer amounts, base units. */
  erc20Amount: LogRange;
  /** Swap inputs, base units. */
  swapAmountIn: LogRange;
}

/** Default mix: 60% native transfers, 30% ERC-20 transfers, 10% Uniswap V2 swaps. */
export const DEFAULT_SYNTHETIC_MIX: Readonly<SyntheticMix> = { transfer: 0.6, erc20: 0.3, swap: 0.1 };

/** Default Zipf exponent of account, token and pair popularity. */
export const DEFAULT_ZIPF_EXPONENT = 1.0;

const E18 = 10n ** 18n;
/**
 * Default amount ranges: transfers 0.01..100 ETH (median 1 ETH), ERC-20 transfers 0.01..10,000
 * tokens, swaps 0.001..10 tokens (small beside a pool's liquidity, so prices move but do not
 * collapse).
 */
export const DEFAULT_SYNTHETIC_RANGES: Readonly<SyntheticRanges> = {
  transferWei: [E18 / 100n, 100n * E18],
  erc20Amount: [E18 / 100n, 10_000n * E18],
  swapAmountIn: [E18 / 1_000n, 10n * E18],
};

/** mulberry32: a small deterministic pseudo-random generator of floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A sampler of ranks 0..n-1 with P(k) ∝ 1/(k+1)^s (Zipf), by binary search over the cumulative
 * weights (O(n) set-up, O(log n) per draw).
 */
export function zipfSampler(n: number, s: number, rand: () => number): () => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let k = 0; k < n; k++) cdf[k] = total += 1 / Math.pow(k + 1, s);
  return () => {
    const u = rand() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
}

function logUniform(range: LogRange, rand: () => number): bigint {
  const [min, max] = range;
  if (min === max) return min;
  const lo = Math.log(Number(min));
  const hi = Math.log(Number(max));
  const v = BigInt(Math.floor(Math.exp(lo + rand() * (hi - lo))));
  return v < min ? min : v > max ? max : v;
}

function checkCount(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw errors.invalidArgument(`synthetic workload: ${name} must be an integer ≥ ${min}, got ${v}`);
}

/**
 * Generates the default synthetic workload: `count` operations, deterministic for a `seed`.
 * Pure: no signing, no IO; the caller maps indices to accounts, token and pair contracts.
 *
 * Model. Each operation's kind is drawn from `mix`. Senders are drawn from a Zipf popularity
 * over the accounts (account 0 the most active); recipients from a Zipf popularity over a
 * seeded permutation of the accounts (the busiest receivers are not the busiest senders), redrawn
 * until different from the sender. Tokens and pairs are drawn by Zipf popularity too; a swap's
 * direction is a fair coin; amounts are log-uniform in {@link SyntheticRanges}.
 *
 * Calibration (approximate, not a fit of current mainnet):
 * - Popularity exponent 1.0. In the 20k-transaction mainnet sample of blocks 3,300,000–3,302,204
 *   (`../shared/data/eth-mainnet-3.3M-20k.csv.gz`) the rank–frequency slope over the 1,000 most
 *   active addresses is ≈ 0.82 for senders and ≈ 0.90 for recipients, the top 1% of senders issue
 *   59% of the transactions and the median sender one; measurement studies of the whole chain
 *   (Chen et al., "Understanding Ethereum via Graph Analysis", INFOCOM 2018; Lee et al.,
 *   "Measurements, Analyses, and Insights on the Entire Ethereum Blockchain Network", WWW 2020)
 *   report heavy-tailed, power-law-like degree distributions. Classic Zipf (s = 1) is a round
 *   figure in that range; token and pair popularity (a few stablecoins and WETH pairs dominate)
 *   use the same exponent for want of a better-sourced one.
 * - Mix 60/30/10. A round approximation between the 2017 sample (83% plain transfers, 17% with
 *   calldata) and commonly quoted recent dashboard figures (plain ETH transfers a third to a half
 *   of transactions, token transfers most of the rest, DEX swaps around a tenth), not re-measured
 *   here.
 * - Transfer values 0.01..100 ETH log-uniform: median 1 ETH as in the 2017 sample (plain
 *   transfers: p10 0.10, median 1.0, p90 25.7 ETH), with somewhat wider tails.
 *
 * @throws ShardLabError INVALID_ARGUMENT when counts are not integers (count ≥ 0, accounts ≥ 2,
 *   tokens/pairs ≥ 1 when their share is positive), the mix has a negative or non-finite weight
 *   or sums to 0, the exponent is negative or non-finite, or a range is not 1 ≤ min ≤ max.
 */
export function generateSynthetic(opts: SyntheticOpts): SyntheticOp[] {
  const mix = opts.mix ?? DEFAULT_SYNTHETIC_MIX;
  const s = opts.zipfExponent ?? DEFAULT_ZIPF_EXPONENT;
  const ranges: SyntheticRanges = { ...DEFAULT_SYNTHETIC_RANGES, ...opts.ranges };
  checkCount('count', opts.count, 0);
  checkCount('accounts', opts.accounts, 2);
  for (const k of ['transfer', 'erc20', 'swap'] as const) {
    if (!Number.isFinite(mix[k]) || mix[k] < 0) throw errors.invalidArgument(`synthetic workload: mix.${k} must be a non-negative number, got ${mix[k]}`);
  }
  const total = mix.transfer + mix.erc20 + mix.swap;
  if (!(total > 0)) throw errors.invalidArgument('synthetic workload: the mix weights sum to 0');
  if (mix.erc20 > 0) checkCount('tokens', opts.tokens, 1);
  if (mix.swap > 0) checkCount('pairs', opts.pairs, 1);
  if (!Number.isFinite(s) || s < 0) throw errors.invalidArgument(`synthetic workload: zipfExponent must be a non-negative number, got ${s}`);
  for (const [name, [min, max]] of Object.entries(ranges) as [string, LogRange][]) {
    if (min < 1n || max < min) throw errors.invalidArgument(`synthetic workload: range ${name} must satisfy 1 ≤ min ≤ max, got [${min}, ${max}]`);
  }

  const rand = mulberry32(opts.seed);
  const sender = zipfSampler(opts.accounts, s, rand);
  const recipientRank = zipfSampler(opts.accounts, s, rand);
  // Seeded permutation (Fisher–Yates): recipient rank → account index.
  const byRecipientRank = Array.from({ length: opts.accounts }, (_, i) => i);
  for (let i = opts.accounts - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [byRecipientRank[i], byRecipientRank[j]] = [byRecipientRank[j]!, byRecipientRank[i]!];
  }
  const token = mix.erc20 > 0 ? zipfSampler(opts.tokens, s, rand) : () => 0;
  const pair = mix.swap > 0 ? zipfSampler(opts.pairs, s, rand) : () => 0;
  const recipientOtherThan = (from: number): number => {
    for (let tries = 0; tries < 64; tries++) {
      const to = byRecipientRank[recipientRank()]!;
      if (to !== from) return to;
    }
    // Only with an extreme exponent: fall back to a uniform other account.
    return (from + 1 + Math.floor(rand() * (opts.accounts - 1))) % opts.accounts;
  };

  const ops: SyntheticOp[] = [];
  for (let i = 0; i < opts.count; i++) {
    const u = rand() * total;
    const from = sender();
    if (u < mix.transfer) {
      ops.push({ kind: 'transfer', from, to: recipientOtherThan(from), valueWei: logUniform(ranges.transferWei, rand) });
    } else if (u < mix.transfer + mix.erc20) {
      ops.push({ kind: 'erc20', from, to: recipientOtherThan(from), token: token(), amount: logUniform(ranges.erc20Amount, rand) });
    } else {
      ops.push({ kind: 'swap', from, pair: pair(), zeroForOne: rand() < 0.5, amountIn: logUniform(ranges.swapAmountIn, rand) });
    }
  }
  return ops;
}
