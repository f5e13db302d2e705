// The state one shard's modules share (options, mempool, executors, mutexes, drop log) and the shard's options.
import type { Common } from '@ethereumjs/common';
import { shardOf, type BlockExecutor, type Placement, type SignaturePool } from '@shardlab/chain';
import { errors } from '@shardlab/common';
import type { Reason } from '@shardlab/proto';
import type { ShardStore } from '@shardlab/storage';
import type { Logger } from '@shardlab/telemetry';
import type { Mempool } from './mempool';
import type { Forwarder } from './tpc/forwarder';

/** Options of {@link createShardNode}. Defaults in brackets. */
/** The cross-shard protocols a state shard can run. */
export const SHARD_PROTOCOLS = ['block-2pc', 'shard-led', 'client-led'] as const;
/** One of {@link SHARD_PROTOCOLS}. */
export type ShardProtocolName = (typeof SHARD_PROTOCOLS)[number];

export interface ShardNodeOpts {
  shardId: number;
  placement: Placement;
  common: Common;
  store: ShardStore;
  logger: Logger;
  /** Genesis allocation of the whole network (address → wei); the node keeps its own shard's part. */
  genesis: ReadonlyMap<string, bigint>;
  /** Time between blocks, in milliseconds [250]. */
  blockIntervalMs?: number;
  /** Most user transactions in one block [5000]. */
  maxTxsPerBlock?: number;
  /** Most transactions waiting in the mempool [100,000]. */
  mempoolCapacity?: number;
  /** Base fee per gas, in wei, burned [1 gwei]. */
  baseFeePerGas?: bigint;
  /** Block gas limit [30,000,000]. */
  blockGasLimit?: bigint;
  /** Clock in milliseconds [Date.now]. */
  now?: () => number;
  /** Worker threads that recover senders off the main thread [none: recover inline]. */
  signaturePool?: SignaturePool;
  /** Where cross-shard transactions go [none: they are refused with UNIMPLEMENTED]. */
  forwarder?: Forwarder;
  /**
   * The cross-shard commit protocol [`block-2pc`]: `block-2pc` (docs/ARCHITECTURE.md §3) or
   * `shard-led` (docs/ARCHITECTURE.md §3, shard-led commit: receipts for value transfers and for calls whose state lies on one other
   * shard, block-2PC for the other contract calls) or `client-led` (docs/ARCHITECTURE.md §3,
   * client-led commit: the client's coordinator calls Prepare and Decide on each involved shard).
   */
  protocol?: ShardProtocolName;
  /**
   * Client-led: blocks after a vote (or a call's nonce reservation) without a decision before the
   * shard aborts the transaction by itself [40].
   */
  lockTimeoutBlocks?: number;
  /**
   * Shard-led: asks shard `shardId` which other shards a signed contract call reaches
   * (DryRunCall) [none: every cross-shard call goes to block-2PC].
   * @throws ShardLabError UNAVAILABLE when that shard cannot be reached.
   */
  dryRunCallOn?: (shardId: number, raw: Uint8Array) => Promise<number[]>;
  /** Lifetime of a simulation lock whose GetProof names no TTL, in ms [10,000]. */
  simulationLockDefaultTtlMs?: number;
  /** Longest simulation lock granted, in ms; longer requests are capped [60,000]. */
  simulationLockMaxTtlMs?: number;
}

/** Serialises async sections (validation + admission against block commits). */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  /** Runs `fn` once every section queued before it has finished; resolves or rejects with it. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise((r) => (release = r));
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

/** Why a transaction left the mempool without entering a block, and when (ms). */
export interface DropRecord {
  reason: string;
  /** The reason as data (its text is `reason`). */
  cause: Reason;
  atMs: number;
}

/**
 * What the modules of one shard (admission, queries, block production, the cross-shard protocol)
 * share. Created once by the node; every field is owned by the node's lifecycle.
 */
export interface ShardCore {
  readonly opts: ShardNodeOpts;
  readonly shardId: number;
  readonly now: () => number;
  readonly mempool: Mempool;
  /** Executes blocks (state at the block in progress). */
  readonly executor: BlockExecutor;
  /** Reads account state at the durable head (never mid-block). */
  readonly reader: BlockExecutor;
  /** Runs dry runs of submitted calls (own state manager: reads of `reader` never see them). */
  readonly dryRunner: BlockExecutor;
  /** Admission, queries and the in-memory apply of a durable block run under it, one at a time. */
  readonly admission: Mutex;
  /**
   * Held for the whole production of a block, and while GetProof takes a simulation lock: a lock
   * is never taken while a block that was planned without it is being executed.
   */
  readonly blockMutex: Mutex;
  /** Transactions dropped from the mempool (bounded), for status queries. */
  readonly dropped: Map<string, DropRecord>;
  /** Aborts when the node stops (background retries end). */
  readonly closing: AbortSignal;
}

/** The shard an address is placed on, under the shard's placement. */
export function shardOfAddress(core: ShardCore, address: string): number {
  return shardOf(core.opts.placement, address);
}

/** Drops the oldest entries of an insertion-ordered map beyond `max` [100,000]. */
export function trimMap(m: Map<string, unknown>, max = 100_000): void {
  if (m.size <= max) return;
  for (const k of m.keys()) {
    m.delete(k);
    if (m.size <= max) break;
  }
}

/**
 * Checks that `address` is placed on this shard.
 * @throws ShardLabError FAILED_PRECONDITION naming the shard it is placed on.
 */
export function requireLocal(core: ShardCore, address: string): void {
  const shard = shardOfAddress(core, address);
  if (shard !== core.shardId) throw errors.failedPrecondition(`address ${address} is placed on shard ${shard}, not shard ${core.shardId}`);
}
