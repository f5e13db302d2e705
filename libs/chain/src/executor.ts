import type { Common } from '@ethereumjs/common';
import { createBlock, type Block } from '@ethereumjs/block';
import { MerklePatriciaTrie } from '@ethereumjs/mpt';
import { MerkleStateManager, Caches } from '@ethereumjs/statemanager';
import { createVM, runTx, type VM } from '@ethereumjs/vm';
import { Account, Address, ValueEncoding, createAddressFromString, type DB, KECCAK256_NULL } from '@ethereumjs/util';
import { toHex } from '@shardlab/common';
import type { DecodedTx } from './tx';
import { MAX_GAS_LIMIT } from './tx';

/** Trie-node store the executor reads and writes (hex string keys, raw node bytes). */
export type TrieDB = DB<string, Uint8Array>;

/** Options of {@link createBlockExecutor}. */
export interface ExecutorOpts {
  common: Common;
  /** Where trie nodes live. The state shard passes a write-buffered LevelDB view. */
  db: TrieDB;
  /** State root to start from; omitted for an empty state (before genesis). */
  stateRoot?: Uint8Array;
  /** Base fee per gas of every block, in wei (burned, EIP-1559). Default 1 gwei. */
  baseFeePerGas?: bigint;
  /** Gas limit of a block. Default 30,000,000. */
  blockGasLimit?: bigint;
  /** Account that receives priority fees. Default the zero address. */
  coinbase?: string;
  /** Trie nodes kept in memory (LRU) in front of `db`. Default 100,000. */
  trieCacheSize?: number;
}

/** The outcome of one transaction in a block. */
export type TxOutcome =
  | {
      kind: 'executed';
      tx: DecodedTx;
      /** False when the EVM reverted or ran out of gas (fees are still charged). */
      success: boolean;
      gasUsed: bigint;
      cumulativeGasUsed: bigint;
      /** Wei per gas actually paid (base fee + effective tip). */
      effectiveGasPrice: bigint;
      contractAddress?: string;
      logs: { address: string; topics: string[]; data: Uint8Array }[];
      error?: string;
    }
  | {
      /** The transaction could not be executed at all (e.g. its nonce no longer matches); no state changed. */
      kind: 'rejected';
      tx: DecodedTx;
      reason: string;
    };

/** Result of executing a block's transactions. */
export interface BlockExecution {
  stateRoot: Uint8Array;
  gasUsed: bigint;
  outcomes: TxOutcome[];
}

/** Balance and nonce of an account. */
export interface AccountState {
  balance: bigint;
  nonce: bigint;
  codeHash: string;
}

/**
 * Executes user transactions block by block with `@ethereumjs/vm` over a Merkle state trie.
 *
 * Per-transaction snapshot and rollback come from `runTx` (checkpoint, revert on error). The whole
 * block runs inside one outer checkpoint with account/storage caches, so the trie is written and
 * hashed once per block rather than once per transaction (DESIGN.md section 8).
 */
export class BlockExecutor {
  readonly common: Common;
  readonly baseFeePerGas: bigint;
  readonly blockGasLimit: bigint;
  readonly coinbase: Address;
  private readonly vm: VM;
  private readonly sm: MerkleStateManager;

  private constructor(common: Common, vm: VM, sm: MerkleStateManager, opts: ExecutorOpts) {
    this.common = common;
    this.vm = vm;
    this.sm = sm;
    this.baseFeePerGas = opts.baseFeePerGas ?? 1_000_000_000n;
    this.blockGasLimit = opts.blockGasLimit ?? MAX_GAS_LIMIT;
    this.coinbase = createAddressFromString(opts.coinbase ?? '0x0000000000000000000000000000000000000000');
  }

  /** Creates an executor over `opts.db`, at `opts.stateRoot` when given. */
  static async create(opts: ExecutorOpts): Promise<BlockExecutor> {
    const trie = new MerklePatriciaTrie({
      db: opts.db,
      useKeyHashing: true,
      common: opts.common,
      valueEncoding: ValueEncoding.Bytes,
      cacheSize: opts.trieCacheSize ?? 100_000,
      ...(opts.stateRoot ? { root: opts.stateRoot } : {}),
    });
    const sm = new MerkleStateManager({ trie, common: opts.common, caches: new Caches() });
    const vm = await createVM({ common: opts.common, stateManager: sm });
    return new BlockExecutor(opts.common, vm, sm, opts);
  }

  /** Current state root (flushes caches into the trie). */
  async stateRoot(): Promise<Uint8Array> {
    return this.sm.getStateRoot();
  }

  /** Moves to another (already stored) state root, dropping caches. */
  async setStateRoot(root: Uint8Array): Promise<void> {
    await this.sm.setStateRoot(root, true);
  }

  /**
   * Credits the genesis allocation (address → wei) and returns the genesis state root.
   * @throws Error when called on a non-empty executor mid-block.
   */
  async applyGenesis(alloc: ReadonlyMap<string, bigint>): Promise<Uint8Array> {
    await this.sm.checkpoint();
    for (const [address, balance] of [...alloc.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
      await this.sm.putAccount(createAddressFromString(address), new Account(0n, balance));
    }
    await this.sm.commit();
    return this.sm.getStateRoot();
  }

  /** Balance, nonce and code hash of an address at the executor's current state. */
  async getAccount(address: string): Promise<AccountState> {
    const acc = await this.sm.getAccount(createAddressFromString(address));
    return {
      balance: acc?.balance ?? 0n,
      nonce: acc?.nonce ?? 0n,
      codeHash: toHex(acc?.codeHash ?? KECCAK256_NULL),
    };
  }

  /** The ethereumjs block environment of a shard block (number, timestamp, base fee, coinbase). */
  blockEnv(height: number, timestampMs: number): Block {
    return createBlock(
      {
        header: {
          number: BigInt(height),
          timestamp: BigInt(Math.floor(timestampMs / 1000)),
          gasLimit: this.blockGasLimit,
          baseFeePerGas: this.baseFeePerGas,
          coinbase: this.coinbase,
        },
      },
      { common: this.common, freeze: false },
    );
  }

  /**
   * Executes `txs` in order as block `height` and returns each outcome and the new state root.
   * A transaction that `runTx` refuses (nonce, balance, block gas) is `rejected` and changes
   * nothing; one that reverts is `executed` with `success: false`. Transactions that would
   * exceed the block gas limit are rejected with a reason (the caller re-queues them).
   */
  async executeBlock(height: number, timestampMs: number, txs: readonly DecodedTx[]): Promise<BlockExecution> {
    const block = this.blockEnv(height, timestampMs);
    const outcomes: TxOutcome[] = [];
    let gasUsed = 0n;
    await this.sm.checkpoint();
    try {
      for (const d of txs) {
        if (gasUsed + d.gasLimit > this.blockGasLimit) {
          outcomes.push({ kind: 'rejected', tx: d, reason: 'block gas limit reached' });
          continue;
        }
        try {
          const r = await runTx(this.vm, { tx: d.tx, block, blockGasUsed: gasUsed, skipHardForkValidation: true });
          gasUsed += r.totalGasSpent;
          const err = r.execResult.exceptionError;
          outcomes.push({
            kind: 'executed',
            tx: d,
            success: err === undefined,
            gasUsed: r.totalGasSpent,
            cumulativeGasUsed: gasUsed,
            effectiveGasPrice: r.totalGasSpent === 0n ? 0n : r.amountSpent / r.totalGasSpent,
            ...(r.createdAddress ? { contractAddress: r.createdAddress.toString() } : {}),
            logs: r.receipt.logs.map(([address, topics, data]) => ({
              address: toHex(address),
              topics: topics.map(toHex),
              data,
            })),
            ...(err ? { error: err.error } : {}),
          });
        } catch (e) {
          outcomes.push({ kind: 'rejected', tx: d, reason: (e as Error).message });
        }
      }
      await this.sm.commit();
    } catch (e) {
      await this.sm.revert();
      throw e;
    }
    return { stateRoot: await this.sm.getStateRoot(), gasUsed, outcomes };
  }
}

/** Creates a {@link BlockExecutor} (ethereumjs-style async factory). */
export function createBlockExecutor(opts: ExecutorOpts): Promise<BlockExecutor> {
  return BlockExecutor.create(opts);
}
