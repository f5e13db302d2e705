// The synthetic workload signed: generated accounts and their genesis funding, token funding, router approvals, and the signed transfers, ERC-20 transfers and swaps.
/**
 * The synthetic workload of the main job, signed: generated accounts funded at genesis, the
 * operations of {@link generateSynthetic} (Zipf-popular accounts; native transfers, ERC-20
 * transfers, Uniswap V2 swaps) planned over them, and signed against the contracts deployed first
 * (their set-up on a live network: `deploySyntheticContracts` of @shardlab/contracts).
 */
import type { Common } from '@ethereumjs/common';
import { accountFromKey, nativeKeccak256, shardOf, signTransaction, type DevAccount, type Placement } from '@shardlab/chain';
import { calldata, DEADLINE, E18, MAX_UINT, sortTokens, swapExactTokensForTokens, type SyntheticContracts } from '@shardlab/contracts';
import type { ExperimentTx } from '@shardlab/experiment';
import { DEFAULT_ZIPF_EXPONENT, generateSynthetic, type SyntheticMix, type SyntheticOp } from './synthetic';

/** Gas limits of the synthetic operations. */
export const SYNTHETIC_GAS = { transfer: 21_000n, erc20: 100_000n, swap: 300_000n, approve: 100_000n } as const;
/** Fee cap per gas of every synthetic transaction (the launcher's default), in wei. */
export const SYNTHETIC_MAX_FEE_PER_GAS = 2_000_000_000n;
/** Native balance each synthetic account gets at genesis besides what its operations need: 1 ether. */
const SPARE_WEI = E18;
/** Amounts of ERC-20 transfers: 0.01..100 tokens (small beside the 1,000,000 minted per token). */
const ERC20_RANGE = [E18 / 100n, 100n * E18] as const;

/** A synthetic experiment: its accounts, genesis funding and operations. */
export interface SyntheticPlan {
  /** Generated accounts, index = the operations' account index. */
  accounts: DevAccount[];
  /** Genesis balances (wei) of the accounts: their transfers' values, their maximum fees, plus 1 ether. */
  genesis: Map<string, bigint>;
  ops: SyntheticOp[];
  mix: SyntheticMix;
  /** Zipf exponent of the popularity of accounts and tokens (0 = uniform). */
  zipf: number;
  /** Next nonce per account while signing a transfers-only workload. */
  nextNonce: Map<string, bigint>;
}

/**
 * Generated account `i` of the synthetic workload for `seed`: private key keccak256(utf8
 * "shardlab-synthetic-key" ‖ seed (u32 BE) ‖ i (u32 BE)).
 */
export function syntheticAccount(seed: number, i: number): DevAccount {
  const pre = Buffer.from('shardlab-synthetic-key');
  const buf = Buffer.alloc(pre.length + 8);
  pre.copy(buf);
  buf.writeUInt32BE(seed >>> 0, pre.length);
  buf.writeUInt32BE(i, pre.length + 4);
  return accountFromKey(nativeKeccak256(buf));
}

/**
 * Plans `txs` synthetic operations over `accounts` generated accounts (deterministic per seed):
 * two tokens and one pair, senders, recipients and tokens drawn with Zipf popularity of exponent
 * `zipf` (default {@link DEFAULT_ZIPF_EXPONENT}; 0 = uniform, see {@link generateSynthetic}).
 * @throws ShardLabError INVALID_ARGUMENT as {@link generateSynthetic} (e.g. `zipf` negative or
 *   not finite).
 */
export function planSynthetic(opts: { seed: number; txs: number; accounts: number; mix: SyntheticMix; zipf?: number }): SyntheticPlan {
  const zipf = opts.zipf ?? DEFAULT_ZIPF_EXPONENT;
  const accounts = Array.from({ length: opts.accounts }, (_, i) => syntheticAccount(opts.seed, i));
  const ops = generateSynthetic({ seed: opts.seed, count: opts.txs, accounts: opts.accounts, tokens: 2, pairs: 1, mix: opts.mix, zipfExponent: zipf, ranges: { erc20Amount: ERC20_RANGE } });
  const genesis = new Map(accounts.map((a) => [a.address, SPARE_WEI]));
  // Swaps are remapped to a sender on the input token's shard (see signSynthetic), which pays the
  // fees of its approval and swaps out of its spare ether.
  for (const op of ops) {
    if (op.kind === 'swap') continue;
    const a = accounts[op.from]!.address;
    const fee = SYNTHETIC_GAS[op.kind] * SYNTHETIC_MAX_FEE_PER_GAS;
    genesis.set(a, genesis.get(a)! + fee + (op.kind === 'transfer' ? op.valueWei : 0n));
  }
  return { accounts, genesis, ops, mix: opts.mix, zipf, nextNonce: new Map() };
}

/** A batch of set-up transactions, and the signed workload that follows it. */
export interface SyntheticTxs {
  /** Token transfers from each token's holder to the accounts that spend it (local calls on the token's shard). */
  funding: ExperimentTx[];
  /** Router approvals by the swappers (local calls: a swapper is placed on its input token's shard). */
  approvals: ExperimentTx[];
  /** The workload, in operation order. */
  workload: ExperimentTx[];
}

/**
 * Signs the synthetic operations against the deployed contracts. An ERC-20 transfer calls the
 * token's `transfer`; a swap calls Router02 `swapExactTokensForTokens(amountIn, 0, [in, out],
 * sender, deadline)` from an account placed on the input token's shard (the operation's sender
 * index, moved to the next account placed there), so that its approval is a local call. The
 * generated accounts are funded by the token holders with exactly what their operations spend. Without contracts (a mix of native
 * transfers only) nothing is deployed. `holderNonces` are the token holders'
 * (development accounts') current nonces; generated accounts start at 0.
 */
export function signSynthetic(plan: SyntheticPlan, c: SyntheticContracts | undefined, common: Common, placement: Placement, holderNonces: ReadonlyMap<string, bigint>): SyntheticTxs {
  if (!c) {
    if (plan.ops.some((op) => op.kind !== 'transfer')) throw new Error('ERC-20 transfers and swaps need the contracts deployed first');
    return { funding: [], approvals: [], workload: plan.ops.map((op) => signTransfer(plan, op as Extract<SyntheticOp, { kind: 'transfer' }>, common, placement)) };
  }
  const d = c.uniswap;
  const shard = (a: string) => shardOf(placement, a);
  const nonces = new Map<string, bigint>(holderNonces);
  const next = (a: DevAccount) => {
    const n = nonces.get(a.address) ?? 0n;
    nonces.set(a.address, n + 1n);
    return n;
  };
  const tx = (from: DevAccount, nonce: bigint, kind: string, to: string, data: string, gasLimit: bigint, value: bigint, shards: number[]): ExperimentTx => {
    const raw = signTransaction(common, from, { to, nonce, value, gasLimit, maxFeePerGas: SYNTHETIC_MAX_FEE_PER_GAS, data: Buffer.from(data, 'hex') });
    return { hash: '0x' + Buffer.from(nativeKeccak256(raw)).toString('hex'), from: from.address, raw, kind, shards: [...new Set(shards)] };
  };
  const [token0] = sortTokens(d.tokenA, d.tokenB);
  const byShard = new Map<number, number[]>();
  plan.accounts.forEach((a, i) => byShard.set(shard(a.address), [...(byShard.get(shard(a.address)) ?? []), i]));
  const swapper = (from: number, tokenIn: string): number => {
    const on = byShard.get(shard(tokenIn)) ?? [];
    if (on.length === 0) throw new Error(`no synthetic account is placed on shard ${shard(tokenIn)}; use more --accounts`);
    return on[from % on.length]!;
  };
  /** Amount of each token each account must hold: token address → account index → base units. */
  const needs = new Map<string, Map<number, bigint>>([[d.tokenA, new Map()], [d.tokenB, new Map()]]);
  const swappers = new Map<string, Set<number>>([[d.tokenA, new Set()], [d.tokenB, new Set()]]);
  const resolved = plan.ops.map((op) => {
    if (op.kind === 'erc20') {
      const token = c.tokens[op.token % 2]!;
      const m = needs.get(token)!;
      m.set(op.from, (m.get(op.from) ?? 0n) + op.amount);
      return { op, token, from: op.from };
    }
    if (op.kind === 'swap') {
      const tokenIn = (d.tokenA === token0) === op.zeroForOne ? d.tokenA : d.tokenB;
      const from = swapper(op.from, tokenIn);
      const m = needs.get(tokenIn)!;
      m.set(from, (m.get(from) ?? 0n) + op.amountIn);
      swappers.get(tokenIn)!.add(from);
      return { op, token: tokenIn, from };
    }
    return { op, token: '', from: op.from };
  });

  const funding: ExperimentTx[] = [];
  for (const [token, m] of needs) {
    const holder = token === d.tokenA ? d.holderA : d.holderB;
    for (const [i, amount] of [...m].sort((a, b) => a[0] - b[0])) {
      funding.push(tx(holder, next(holder), 'erc20', token, calldata('transfer(address,uint256)', plan.accounts[i]!.address, amount), SYNTHETIC_GAS.erc20, 0n, [shard(holder.address), shard(token)]));
    }
  }
  const approvals: ExperimentTx[] = [];
  for (const [token, set] of swappers) {
    for (const i of [...set].sort((a, b) => a - b)) {
      const a = plan.accounts[i]!;
      approvals.push(tx(a, next(a), 'approve', token, calldata('approve(address,uint256)', d.router, MAX_UINT), SYNTHETIC_GAS.approve, 0n, [shard(a.address), shard(token)]));
    }
  }
  const workload = resolved.map(({ op, token, from }) => {
    const a = plan.accounts[from]!;
    const home = shard(a.address);
    if (op.kind === 'transfer') {
      const to = plan.accounts[op.to]!.address;
      return tx(a, next(a), 'transfer', to, '', SYNTHETIC_GAS.transfer, op.valueWei, [home, shard(to)]);
    }
    if (op.kind === 'erc20') {
      return tx(a, next(a), 'erc20', token, calldata('transfer(address,uint256)', plan.accounts[op.to]!.address, op.amount), SYNTHETIC_GAS.erc20, 0n, [home, shard(token)]);
    }
    const out = token === d.tokenA ? d.tokenB : d.tokenA;
    return tx(a, next(a), 'swap', d.router, swapExactTokensForTokens(op.amountIn, 0n, [token, out], a.address, DEADLINE), SYNTHETIC_GAS.swap, 0n, [home, shard(d.router), shard(d.pair), shard(d.tokenA), shard(d.tokenB)]);
  });
  return { funding, approvals, workload };
}

/** Signs a native transfer of the synthetic workload (nonces follow the operations' order). */
function signTransfer(plan: SyntheticPlan, op: Extract<SyntheticOp, { kind: 'transfer' }>, common: Common, placement: Placement): ExperimentTx {
  const from = plan.accounts[op.from]!;
  const to = plan.accounts[op.to]!.address;
  const nonce = (plan.nextNonce.get(from.address) ?? 0n);
  plan.nextNonce.set(from.address, nonce + 1n);
  const raw = signTransaction(common, from, { to, nonce, value: op.valueWei, gasLimit: SYNTHETIC_GAS.transfer, maxFeePerGas: SYNTHETIC_MAX_FEE_PER_GAS });
  return { hash: '0x' + Buffer.from(nativeKeccak256(raw)).toString('hex'), from: from.address, raw, kind: 'transfer', shards: [...new Set([shardOf(placement, from.address), shardOf(placement, to)])] };
}
