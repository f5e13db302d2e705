import { createHash } from 'node:crypto';
import { createChainCommon, createPlacement, devAccounts } from '@shardlab/chain';
import { ErrorCode } from '@shardlab/common';
import type { SyntheticContracts } from '@shardlab/contracts';
import { thrown } from '@shardlab/testing';
import { planSynthetic, signSynthetic, type SyntheticMix, type SyntheticPlan } from '../src';

const DEFAULT_MIX: SyntheticMix = { transfer: 0.6, erc20: 0.3, swap: 0.1 };
const ERC20_ONLY: SyntheticMix = { transfer: 0, erc20: 1, swap: 0 };

/** Contracts at fixed made-up addresses (signing needs only their addresses and the holders). */
function fakeContracts(): SyntheticContracts {
  const dev = devAccounts();
  const a = (digit: string) => '0x' + digit.repeat(40);
  const uniswap = { holderA: dev[0]!, holderB: dev[1]!, factoryDeployer: dev[2]!, routerDeployer: dev[3]!, factory: a('1'), weth: a('2'), router: a('3'), tokenA: a('4'), tokenB: a('5'), pair: a('6') };
  return { uniswap, tokens: [uniswap.tokenA, uniswap.tokenB] };
}

/** SHA-256 digests of a plan's operations and genesis, and of its signed set-up and workload on 4 shards. */
function digests(plan: SyntheticPlan): { ops: string; genesis: string; signed: string } {
  const signed = signSynthetic(plan, fakeContracts(), createChainCommon(), createPlacement(4), new Map());
  const raw = createHash('sha256');
  for (const t of [...signed.funding, ...signed.approvals, ...signed.workload]) raw.update(t.raw);
  const genesis = createHash('sha256');
  for (const [address, wei] of plan.genesis) genesis.update(`${address}=${wei};`);
  const ops = createHash('sha256').update(JSON.stringify(plan.ops, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
  return { ops: ops.digest('hex'), genesis: genesis.digest('hex'), signed: raw.digest('hex') };
}

/** Operations sent per account index, and ERC-20 transfers per token index. */
function counts(plan: SyntheticPlan): { sent: number[]; perToken: number[] } {
  const sent = new Array<number>(plan.accounts.length).fill(0);
  const perToken = [0, 0];
  for (const op of plan.ops) {
    sent[op.from]!++;
    if (op.kind === 'erc20') perToken[op.token]!++;
  }
  return { sent, perToken };
}

describe('planSynthetic: the popularity exponent (--zipf)', () => {
  it('by default plans exactly the workload of the code before --zipf (same seed: same operations, genesis and signed transactions)', () => {
    const base = { seed: 1, txs: 400, accounts: 120, mix: DEFAULT_MIX };
    const byDefault = planSynthetic(base);
    const explicit = planSynthetic({ ...base, zipf: 1 });
    expect(byDefault.zipf).toBe(1);
    expect(explicit.ops).toEqual(byDefault.ops);
    expect(digests(explicit)).toEqual(digests(byDefault));
    // Regression pin: computed once from planSynthetic/signSynthetic at commit b0e7e29 (main, before
    // the exponent was a parameter), with this test's fakeContracts and digests.
    expect(digests(byDefault)).toEqual({
      ops: '6eb7e62e5501a04370c4c4fb3361661553d99d0808bdb95e1182727e655e1912',
      genesis: '28cc5e4e708dbb72fb410acaf7c28d2f5f22b70f575e180bf0943aa312e09bef',
      signed: '2ddb5e2b7e03e9147b4fdd83dd69e8ea227168057c5b887c15a0d6b84b31931f',
    });
  });

  it('is deterministic per seed for any exponent, and the exponent changes the workload', () => {
    const base = { seed: 9, txs: 300, accounts: 50, mix: DEFAULT_MIX, zipf: 0.5 };
    expect(planSynthetic(base).ops).toEqual(planSynthetic(base).ops);
    expect(planSynthetic(base).zipf).toBe(0.5);
    expect(planSynthetic({ ...base, seed: 10 }).ops).not.toEqual(planSynthetic(base).ops);
    expect(planSynthetic({ ...base, zipf: 0 }).ops).not.toEqual(planSynthetic(base).ops);
  });

  it('--mix 0,1,0 --zipf 0: ERC-20 transfers only, spread uniformly over the senders and the two tokens', () => {
    const plan = planSynthetic({ seed: 3, txs: 4000, accounts: 40, mix: ERC20_ONLY, zipf: 0 });
    expect(plan.ops.every((op) => op.kind === 'erc20')).toBe(true);
    const { sent, perToken } = counts(plan);
    // 100 expected per account (binomial, sd ≈ 10): every account well inside [50, 170].
    expect(Math.min(...sent)).toBeGreaterThan(50);
    expect(Math.max(...sent)).toBeLessThan(170);
    // 2,000 expected per token (sd ≈ 32).
    expect(Math.abs(perToken[0]! / 4000 - 0.5)).toBeLessThan(0.05);
    // Recipients are uniform too.
    const received = new Array<number>(40).fill(0);
    for (const op of plan.ops) if (op.kind === 'erc20') received[op.to]!++;
    expect(Math.min(...received)).toBeGreaterThan(50);
    expect(Math.max(...received)).toBeLessThan(170);
  });

  it('a larger exponent concentrates the operations on the most popular account and token', () => {
    const share = (zipf: number) => {
      const { sent, perToken } = counts(planSynthetic({ seed: 3, txs: 4000, accounts: 40, mix: ERC20_ONLY, zipf }));
      return { topAccount: Math.max(...sent) / 4000, token0: perToken[0]! / 4000 };
    };
    const s0 = share(0);
    const s1 = share(1);
    const s2 = share(2);
    // Expected top-account shares: 1/40 = 0.025; 1/H(40) ≈ 0.23; 1/H(40, 2) ≈ 0.62.
    expect(s0.topAccount).toBeLessThan(0.05);
    expect(s1.topAccount).toBeGreaterThan(0.18);
    expect(s1.topAccount).toBeLessThan(0.3);
    expect(s2.topAccount).toBeGreaterThan(0.5);
    // Token 0 (rank 1) of two: 1/2, 2/3, 4/5.
    expect(Math.abs(s0.token0 - 0.5)).toBeLessThan(0.05);
    expect(Math.abs(s1.token0 - 2 / 3)).toBeLessThan(0.05);
    expect(Math.abs(s2.token0 - 0.8)).toBeLessThan(0.05);
  });

  it('refuses a negative or non-finite exponent with INVALID_ARGUMENT', () => {
    for (const zipf of [-0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      const err = thrown(() => planSynthetic({ seed: 1, txs: 10, accounts: 10, mix: DEFAULT_MIX, zipf }));
      expect(err).toMatchObject({ code: ErrorCode.InvalidArgument });
      expect(err.message).toMatch(/zipf/i);
    }
  });
});
