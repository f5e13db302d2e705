// planLocalTransfers: the benchmarks' and tests' signed plain transfers, round-robin over senders, a chosen share cross-shard, deterministic per seed.
/**
 * The benchmarks' and tests' plain transfer workload: signed transfers round-robin over given
 * senders, a chosen share of them to another shard (pure, deterministic per seed).
 */
import type { Common } from '@ethereumjs/common';
import { nativeKeccak256, shardOf, signTransaction, type DevAccount, type Placement } from '@shardlab/chain';
import { toHex } from '@shardlab/common';
import type { ExperimentTx } from '@shardlab/experiment';
import { mulberry32 } from './synthetic';

/** One signed transfer of a workload, ready for `runExperiment` (kind `transfer`). */
export interface PlannedTransfer extends ExperimentTx {
  readonly to: string;
  /** Wei. */
  readonly value: bigint;
  readonly nonce: bigint;
  /** The sender's shard. */
  readonly homeShard: number;
  /** Whether the recipient is on another shard. */
  readonly crossShard: boolean;
}

/** A random address whose default placement is `shard`. */
function addressOnShard(rand: () => number, shard: number, shardCount: number): string {
  const bytes = Array.from({ length: 19 }, () => Math.floor(rand() * 256));
  let last = Math.floor(rand() * 256);
  last = last - (last % shardCount) + shard;
  if (last > 255) last -= shardCount;
  return '0x' + [...bytes, last].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Options of {@link planLocalTransfers}. */
export interface LocalTransferOpts {
  common: Common;
  placement: Placement;
  /** Senders (funded at genesis). */
  accounts: readonly DevAccount[];
  /** Number of transfers in all. */
  count: number;
  /** Seed of the deterministic choice of recipients and values. */
  seed: number;
  /** First nonce of each sender (its current nonce); default 0. */
  startNonces?: ReadonlyMap<string, bigint>;
  /** Share of transfers whose recipient is on another shard, 0..1 [0]. */
  crossShardRatio?: number;
}

/**
 * Plans `count` signed transfers, round-robin over the senders, in that order (each sender's in
 * nonce order). A share `crossShardRatio` goes to an account on another shard (cross-shard); the
 * rest to another account on the sender's own shard (local). Recipients are development accounts
 * or fresh addresses placed on the chosen shard. Values are 1..1000 gwei. Deterministic for a seed.
 */
export function planLocalTransfers(opts: LocalTransferOpts): PlannedTransfer[] {
  const rand = mulberry32(opts.seed);
  const n = opts.placement.shardCount;
  const nonces = new Map(opts.accounts.map((a) => [a.address, opts.startNonces?.get(a.address) ?? 0n]));
  const out: PlannedTransfer[] = [];
  for (let i = 0; i < opts.count; i++) {
    const from = opts.accounts[i % opts.accounts.length]!;
    const home = shardOf(opts.placement, from.address);
    const cross = n > 1 && rand() < (opts.crossShardRatio ?? 0);
    const shard = cross ? (home + 1 + Math.floor(rand() * (n - 1))) % n : home;
    const peers = opts.accounts.filter((a) => a !== from && shardOf(opts.placement, a.address) === shard);
    const to = peers.length > 0 && rand() < 0.5 ? peers[Math.floor(rand() * peers.length)]!.address : addressOnShard(rand, shard, n);
    const value = BigInt(1 + Math.floor(rand() * 1000)) * 1_000_000_000n;
    const nonce = nonces.get(from.address)!;
    nonces.set(from.address, nonce + 1n);
    const raw = signTransaction(opts.common, from, { to, value, nonce });
    out.push({ hash: toHex(nativeKeccak256(raw)), from: from.address, raw, kind: 'transfer', shards: [...new Set([home, shard])], to, value, nonce, homeShard: home, crossShard: cross });
  }
  return out;
}
