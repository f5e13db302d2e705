// The cross-shard protocol seam: what a state shard asks of the protocol that commits its cross-shard transactions.
import type { BlockExecution, BlockStep, DecodedTx } from '@shardlab/chain';
import type { CrossShardReceipt, LockKey, OrchestratorBlock, PrepareVote, ReceiptBatch, StateShardBlock, TpcResult } from '@shardlab/proto';
import type { MempoolEntry } from './mempool';
import type { SimulationLock } from './tpc/key-locks';

/** What {@link CrossShardProtocol.acquireLocks} answers. */
export interface LocksGranted {
  /** Keys the transaction holds here after the call. */
  held: number;
  /** How long the request waited for other transactions, in ms. */
  waitedMs: number;
  /** The shard's durable head when the locks were granted. */
  head: { height: number; stateRoot: string };
  /** The value of each requested key once granted, in request order (see AcquireLocksResponse.values). */
  values: string[];
}

/**
 * A cross-shard commit protocol as one state shard runs it (docs/ARCHITECTURE.md §9). Admission,
 * queries and block production call only these methods, so a protocol is added beside the
 * existing one without editing them. Block-based two-phase commit (`tpc/protocol.ts`) and shard-led
 * commit (`shard-led/protocol.ts`, which runs block-2PC beside itself for contract calls) are
 * the implementations.
 */
export interface CrossShardProtocol {
  /** Name recorded in reports and logs, e.g. `block-2pc`. */
  readonly name: string;
  /** Whether cross-shard transactions can be admitted at all (else they are refused UNIMPLEMENTED). */
  readonly carriesCrossShard: boolean;
  /**
   * Client-led: admitted cross-shard transactions wait for their client to coordinate them
   * (Prepare and Decide on every involved shard); submissions say so. Absent: false.
   */
  readonly clientCoordinated?: boolean;
  /** Value of `address` held by cross-shard transactions in flight here, in wei (admission subtracts it). */
  lockedOf(address: string): bigint;
  /**
   * Hands on a cross-shard transaction admitted to the mempool (`entry` reserves its nonce), once
   * admission has answered for it; resolves when the client may be told it is pending.
   * @throws ShardLabError when it was certainly not taken (the entry is then removed; safe to retry).
   */
  dispatch(tx: DecodedTx, entry: MempoolEntry, involvedShards: number[]): Promise<void>;
  /**
   * Shard-led: whether the protocol carries a contract call to a contract on `targetShard` itself
   * (a call receipt executed on that shard) rather than as a nonce reservation whose call the
   * orchestrator orders (block-2PC). Asked at admission, before the sender's checks. Absent: never.
   */
  carriesCall?(tx: DecodedTx, targetShard: number): Promise<boolean>;
  /** The block streams of other services this shard follows, with its cursor in each. */
  readonly follows: readonly FollowedStream[];
  /**
   * Starts the protocol's part of the next block. Called synchronously when block production
   * starts, so that the block takes the stream blocks queued so far (as it takes mempool entries).
   */
  beginBlock(): ProtocolBlock;
  /** A cross-shard transaction's decision as this shard applied it (status queries); undefined while open. */
  decisionOf(txHash: string): Promise<'commit' | 'abort' | undefined>;
  /**
   * Height of the durable block that applied `txHash`'s decision here, when this process applied
   * it (kept in memory, bounded); undefined otherwise (not applied, applied before a restart, or
   * forgotten). Absent: never known (GetDecision then answers height 0).
   */
  decisionHeightOf?(txHash: string): number | undefined;
  /**
   * Takes locks of a cross-shard contract call on keys of this shard (account fields and storage
   * slots, each shared, exclusive or credit), waiting first come first served up to `waitMs`
   * (block-2PC's simulation locks, see tpc/key-locks.ts).
   * @throws ShardLabError INVALID_ARGUMENT for malformed keys; FAILED_PRECONDITION for a key on
   *   another shard; ABORTED when the wait bound passes (naming a holder); UNIMPLEMENTED when the
   *   protocol has no locks.
   */
  acquireLocks(txHash: string, keys: readonly LockKey[], ttlMs?: number, waitMs?: number): Promise<LocksGranted>;
  /** Releases every simulation lock of `txHash` (not those its prepare pinned); returns how many keys. */
  releaseLocks(txHash: string): Promise<number>;
  /** Every lock in the table (expired ones too until swept), for tests and audits. */
  readLocks(): SimulationLock[];
}

/**
 * A stream of another service that a shard's protocol consumes, in height order: the
 * orchestrator's blocks (block-2PC), or another state shard's receipt batches for this shard
 * (shard-led, SubscribeReceipts).
 */
export type FollowedStream =
  | {
      readonly service: 'orchestrator';
      /** Highest height received (queued or durably recorded); subscribe from cursor() + 1. */
      cursor(): number;
      /**
       * Takes the next block of the stream. Heights at or below the cursor are ignored.
       * @throws ShardLabError FAILED_PRECONDITION on a gap (resubscribe from cursor() + 1).
       */
      accept(block: OrchestratorBlock): void;
    }
  | {
      readonly service: 'state-shard';
      /** The source shard whose receipt stream it is. */
      readonly shardId: number;
      /** Highest height received (-1 before genesis); subscribe from cursor() + 1. */
      cursor(): number;
      /**
       * Verifies and takes the next batch. Heights at or below the cursor are ignored.
       * @throws ShardLabError INVALID_ARGUMENT when it fails verification (resubscribe from cursor() + 1).
       */
      accept(batch: ReceiptBatch): Promise<void>;
    };

/** What block production gives the protocol for one block. */
export interface BlockInput {
  height: number;
  timestampMs: number;
  /** Mempool entries taken for the block, oldest first. */
  entries: MempoolEntry[];
  /**
   * Entries another protocol carries in this block (by hash), with the step that stands at their
   * mempool position; block-2PC places them and otherwise leaves them alone.
   */
  external?: ReadonlyMap<string, BlockStep>;
}

/** What {@link ProtocolBlock.finish} gives the block: header fields and store writes. */
export interface BlockFinish {
  orchestratorHeight: number;
  votes: PrepareVote[];
  meta: Map<string, Uint8Array | null>;
  /** Shard-led receipts of value the block debited for other shards, in block order. */
  outgoingReceipts?: CrossShardReceipt[];
  /** Client-led decisions the block applied, each with its involved shards. */
  decisions?: TpcResult[];
}

/** The protocol's part of one block in progress, from plan to durable (or rolled back). */
export interface ProtocolBlock {
  /**
   * Every step of the block in execution order: the protocol's system steps and acceptances
   * around the mempool `entries`. Runs under the block mutex.
   */
  plan(input: BlockInput): Promise<BlockStep[]>;
  /** Value of `address` locked while the block executes, in wei. */
  lockedOf(address: string): bigint;
  /**
   * Whether a local transaction writing `key` (a lock key id of @shardlab/chain: an account
   * field or a storage slot) waits for a later block (records the key).
   */
  holds(key: string): boolean;
  /** Whether any key is locked while the block executes (else local transactions' keys are not tracked at all). */
  locksHeld(): boolean;
  /** Header fields and store writes once the block has executed (votes, stream cursor, protocol records). */
  finish(execution: BlockExecution): Promise<BlockFinish>;
  /**
   * After the block is durable, under the admission mutex: applies the protocol's in-memory state.
   * `deferred` are the hashes the executor deferred to a later block. Returns hashes of mempool
   * entries settled besides the block's own entries (e.g. nonce reservations).
   */
  applyDurable(deferred: ReadonlySet<string>): string[];
  /** After the block is durable and applied: logs and one span per protocol step. */
  trace(block: StateShardBlock): void;
  /** The block failed before it was durable: puts back what it took. */
  rollback(): void;
  /** Called once the block is over, durable or not. */
  end(): void;
}
