// The block executor of a state shard: state at a root, block execution with the EVM (transactions, acceptances, system steps), reads, dry runs.
import type { Common } from '@ethereumjs/common';
import { createBlock, type Block } from '@ethereumjs/block';
import { MerklePatriciaTrie } from '@ethereumjs/mpt';
import { Caches } from '@ethereumjs/statemanager';
import { createVM, runTx, type VM } from '@ethereumjs/vm';
import { Account, Address, ValueEncoding, createAddressFromString, hexToBytes, setLengthLeft, unpadBytes, type DB, KECCAK256_NULL } from '@ethereumjs/util';
import { toHex } from '@shardlab/common';
import { reasons } from '@shardlab/proto';
import { addressOfKeyId } from './lock-keys';
import { NONCE_SLOT, rejected, type BlockExecution, type BlockStep, type StepOutcome, type SystemOp, type TxOutcome } from './block-steps';
import { TrackingStateManager } from './tracking-state';
import { executeReceiptCall } from './receipt-call';
import { executedOutcome } from './run-outcome';
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

/** Most account states a reader remembers (see {@link BlockExecutor.enableAccountStateCache}). */
const ACCOUNT_STATE_CACHE_SIZE = 200_000;

/** Balance (wei), nonce and code hash of an account. */
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
 * hashed once per block rather than once per transaction (docs/ARCHITECTURE.md §8).
 */
export class BlockExecutor {
  readonly common: Common;
  readonly baseFeePerGas: bigint;
  readonly blockGasLimit: bigint;
  readonly coinbase: Address;
  private readonly vm: VM;
  private readonly sm: TrackingStateManager;
  /** Remembered account states (readers only, see {@link enableAccountStateCache}), by lowercase address. */
  private accountStates: Map<string, AccountState> | undefined;
  /** The state root a reader was last moved to (0x hex), for {@link advanceTo}'s check. */
  private rootHex: string | undefined;

  private constructor(common: Common, vm: VM, sm: TrackingStateManager, opts: ExecutorOpts) {
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
    const sm = new TrackingStateManager({ trie, common: opts.common, caches: new Caches() });
    const vm = await createVM({ common: opts.common, stateManager: sm });
    const ex = new BlockExecutor(opts.common, vm, sm, opts);
    if (opts.stateRoot) ex.rootHex = toHex(opts.stateRoot);
    return ex;
  }

  /** Current state root (flushes caches into the trie). */
  async stateRoot(): Promise<Uint8Array> {
    return this.sm.getStateRoot();
  }

  /** Moves to another (already stored) state root, dropping caches (remembered account states too). */
  async setStateRoot(root: Uint8Array): Promise<void> {
    await this.sm.setStateRoot(root, true);
    this.rootHex = toHex(root);
    this.accountStates?.clear();
  }

  /**
   * Credits the genesis allocation (address → wei) and returns the genesis state root.
   * @throws Error when called on a non-empty executor mid-block.
   */
  async applyGenesis(alloc: ReadonlyMap<string, bigint>): Promise<Uint8Array> {
    this.sm.touched.clear();
    await this.sm.checkpoint();
    for (const [address, balance] of [...alloc.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
      await this.sm.putAccount(createAddressFromString(address), new Account(0n, balance));
    }
    await this.sm.commit();
    return this.sm.getStateRoot();
  }

  /**
   * Balance, nonce and code hash of an address at the executor's current state. On a reader
   * (see {@link advanceTo}) answers are remembered until the account changes; the returned object
   * is shared and must not be modified.
   */
  async getAccount(address: string): Promise<AccountState> {
    const key = address.toLowerCase();
    // During a dry run (touchedBy) the state holds its uncommitted writes: neither read from nor
    // remember into the cache then.
    const cache = this.sm.reads === undefined ? this.accountStates : undefined;
    const hit = cache?.get(key);
    if (hit) return hit;
    const acc = await this.sm.getAccount(createAddressFromString(address));
    const state: AccountState = {
      balance: acc?.balance ?? 0n,
      nonce: acc?.nonce ?? 0n,
      codeHash: toHex(acc?.codeHash ?? KECCAK256_NULL),
    };
    if (cache) {
      if (cache.size >= ACCOUNT_STATE_CACHE_SIZE) cache.clear();
      cache.set(key, state);
    }
    return state;
  }

  /**
   * Makes this executor a read-only view of the head that remembers account states between blocks
   * (a shard's admission reader): {@link getAccount} answers from memory until {@link advanceTo}
   * says the account changed, instead of walking the state trie for every submission. Only for an
   * executor that never executes blocks itself.
   */
  enableAccountStateCache(): void {
    this.accountStates ??= new Map();
  }

  /**
   * Moves a reader from the state of block N-1 (`parentRoot`, 0x hex) to that of block N
   * (`root`), where `changed` are the accounts block N wrote (its execution's `touched`):
   * remembered states of other accounts stay valid. When the reader was not at `parentRoot` (it
   * missed a block), every remembered state is dropped instead. Caches of the state manager are
   * dropped as by {@link setStateRoot}.
   */
  async advanceTo(root: Uint8Array, changed: Iterable<string>, parentRoot: string): Promise<void> {
    const from = this.rootHex;
    await this.sm.setStateRoot(root, true);
    this.rootHex = toHex(root);
    if (!this.accountStates) return;
    if (from === undefined || from !== parentRoot.toLowerCase()) this.accountStates.clear();
    else for (const a of changed) this.accountStates.delete(a.toLowerCase());
  }

  /** Whether the account exists in the state (0x hex address). */
  async accountExists(address: string): Promise<boolean> {
    return (await this.sm.getAccount(createAddressFromString(address))) !== undefined;
  }

  /** A storage slot's value as a 32-byte 0x hex word (zero when unwritten). */
  async getStorage(address: string, slot: string): Promise<string> {
    const v = await this.sm.getStorage(createAddressFromString(address), setLengthLeft(hexToBytes(slot as `0x${string}`), 32));
    return '0x' + (v.length === 0 ? 0n : BigInt(toHex(v))).toString(16).padStart(64, '0');
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
   * Executes a block's steps in order as block `height` and returns each outcome, the gas used and
   * the new state root. The order is the caller's (the cross-shard protocol's, docs/ARCHITECTURE.md
   * §9: for block-2PC, finalize and unlock, then acceptances each followed by its lock, then the
   * mempool's transactions).
   *
   * - A user transaction (a {@link DecodedTx}) runs with `runTx`. One that `runTx` refuses (nonce,
   *   balance, block gas) is `rejected` and changes nothing; one that reverts is `executed` with
   *   `success: false`. One whose sender could only pay by spending locked funds
   *   (`lockedOf(sender)`, wei) is rejected.
   * - An `accept` step is a cross-shard transaction accepted on its source shard: it consumes the
   *   sender's nonce and charges the intrinsic gas (base fee burned, tip to the coinbase); its
   *   value is not moved here: with `lock` it is locked (a `lock` system outcome follows), then
   *   debited or released by the commit protocol (lock-only prepare); with `debit` (shard-led) it
   *   is debited at once and a `receipt-debit` system outcome follows.
   * - A `receipt-call` step (shard-led) runs a call arriving from the sender's shard: see
   *   {@link executeReceiptCall}.
   * - A `system` step applies a commit-protocol operation: `credit` and `receipt-credit` add to a
   *   balance, `debit` takes from one, `write-set` deploys code, sets the nonce and writes storage
   *   ({@link SystemOp.writes}); lock, unlock and abort change no EVM state (locks are protocol
   *   metadata).
   * - A local transaction that writes an account for which `isLocal` is false (placed on another
   *   shard) is undone and rejected: only the simulator's read/write sets may reach across shards.
   * - A local transaction that writes a key (a storage slot, or a changed balance, nonce or code:
   *   lock key ids of lock-keys.ts) for which `isLockedKey` is true is undone and deferred
   *   (`deferred: true`, `state locked`) with its sender's later transactions: a cross-shard
   *   contract call holds the key [none: not checked, and keys are not tracked].
   * - A transaction that does not fit in the block gas limit is rejected with `deferred: true`
   *   (it waits for a later block), and so are its sender's later transactions in the block.
   * @throws Error when a debit exceeds the balance: a broken invariant (locked funds are always
   *   there), and the block is rolled back.
   */
  async executeBlock(
    height: number,
    timestampMs: number,
    steps: readonly BlockStep[],
    lockedOf: (address: string) => bigint = () => 0n,
    isLocal: (address: string) => boolean = () => true,
    isLockedKey?: (key: string) => boolean,
  ): Promise<BlockExecution> {
    const block = this.blockEnv(height, timestampMs);
    const outcomes: StepOutcome[] = [];
    let gasUsed = 0n;
    // Locks taken and released within this block, on top of `lockedOf` (wei by address).
    const lockDelta = new Map<string, bigint>();
    const locked = (a: string) => lockedOf(a) + (lockDelta.get(a) ?? 0n);
    const deferred = new Set<string>();
    const moveLock = (a: string, by: bigint) => lockDelta.set(a, (lockDelta.get(a) ?? 0n) + by);
    this.sm.touched.clear();
    await this.sm.checkpoint();
    try {
      for (const step of steps) {
        if ('kind' in step) {
          if (step.kind === 'receipt-call') {
            // A sender's calls run in the order they arrived: behind one that waits, the later ones
            // wait too; so does one that does not fit in the block's gas.
            if (deferred.has(step.tx.from) || gasUsed + step.tx.gasLimit > this.blockGasLimit) {
              deferred.add(step.tx.from);
              step.result = { success: false, gasUsed: 0n, returned: 0n, deferred: true };
              continue;
            }
            const env = { vm: this.vm, sm: this.sm, block, blockGasUsed: gasUsed, isLocal, ...(isLockedKey ? { isLockedKey } : {}) };
            const done = await executeReceiptCall(env, step);
            if (step.result?.deferred) deferred.add(step.tx.from);
            outcomes.push(...done.outcomes);
            gasUsed += done.gasUsed;
            continue;
          }
          if (step.kind === 'system') {
            await this.applySystem(step.op);
            if (step.op.kind === 'lock') moveLock(step.op.address, step.op.amount);
            if (step.op.kind === 'unlock' || step.op.kind === 'debit') moveLock(step.op.address, -step.op.amount);
            outcomes.push({ kind: 'system', op: step.op });
            continue;
          }
          const d = step.tx;
          if (gasUsed + d.gasLimit > this.blockGasLimit) {
            // It waits for a later block (as a local transaction that does not fit does).
            outcomes.push(rejected(d, reasons.gasLimit(), { crossShard: true, deferred: true }));
            continue;
          }
          if (step.refuse !== undefined) {
            outcomes.push(rejected(d, step.refuse, { crossShard: true }));
            continue;
          }
          const amount = step.lockAmount ?? d.value;
          const o = await this.accept(d, locked(d.from), gasUsed, step.gasUsed, amount, step.logs);
          outcomes.push(o);
          if (o.kind === 'executed') {
            gasUsed = o.cumulativeGasUsed;
            if (step.debit) {
              const op: SystemOp = { kind: 'receipt-debit', txHash: d.hash, address: d.from, amount };
              await this.applySystem(op);
              outcomes.push({ kind: 'system', op });
            } else if (step.lock) {
              moveLock(d.from, amount);
              outcomes.push({ kind: 'system', op: { kind: 'lock', txHash: d.hash, address: d.from, amount } });
            }
          }
          continue;
        }
        const d = step;
        if (deferred.has(d.from) || gasUsed + d.gasLimit > this.blockGasLimit) {
          // It waits for a later block, and so do the sender's later transactions (nonce order).
          deferred.add(d.from);
          outcomes.push(rejected(d, reasons.gasLimit(), { deferred: true }));
          continue;
        }
        const held = locked(d.from);
        if (held > 0n) {
          const acc = await this.sm.getAccount(createAddressFromString(d.from));
          if ((acc?.balance ?? 0n) - held < d.maxCost) {
            outcomes.push(rejected(d, reasons.insufficientFunds(`would spend funds locked by cross-shard transactions (${held} wei locked)`)));
            continue;
          }
        }
        try {
          // Each local transaction in its own checkpoint, so that one writing an account placed
          // on another shard (a contract call reaching across shards) is undone entirely.
          this.sm.beginTx();
          this.sm.trackTxKeys = isLockedKey !== undefined;
          await this.sm.checkpoint();
          let r: Awaited<ReturnType<typeof runTx>>;
          try {
            r = await runTx(this.vm, { tx: d.tx, block, blockGasUsed: gasUsed, skipHardForkValidation: true });
          } catch (e) {
            await this.sm.revert();
            throw e;
          }
          const foreign = [...this.sm.txTouched].find((a) => !isLocal(a));
          if (foreign) {
            await this.sm.revert();
            outcomes.push(rejected(d, reasons.needsSimulation(foreign, 'write')));
            continue;
          }
          const held = isLockedKey ? (await this.sm.txWrittenKeys()).find((k) => isLockedKey(k)) : undefined;
          if (held) {
            // Writes a key (slot or account field) locked by a cross-shard contract call: it waits
            // for the decision, and so do its sender's later transactions (nonce order).
            await this.sm.revert();
            deferred.add(d.from);
            outcomes.push(rejected(d, reasons.writesLocked(addressOfKeyId(held)), { deferred: true }));
            continue;
          }
          await this.sm.commit();
          gasUsed += r.totalGasSpent;
          outcomes.push(executedOutcome(d, r, gasUsed));
        } catch (e) {
          outcomes.push(rejected(d, reasons.other((e as Error).message)));
        }
      }
      await this.sm.commit();
    } catch (e) {
      await this.sm.revert();
      throw e;
    }
    return { stateRoot: await this.sm.getStateRoot(), gasUsed, outcomes, touched: [...this.sm.touched].sort() };
  }

  /**
   * Runs a transaction against the current state without keeping any effect, and returns every
   * account it read or wrote (docs/ARCHITECTURE.md §3: detection of a call that reaches other shards,
   * with a tracking state). The nonce is not checked (earlier transactions of the sender may still
   * be queued), nor the balance with `skipBalance` (the sender's account lives on another shard:
   * shard-led DryRunCall). `refused` is set when `runTx` refuses the transaction (e.g. insufficient funds),
   * `error` when the EVM stops with an exception (e.g. a revert).
   */
  async touchedBy(d: DecodedTx, height: number, timestampMs: number, opts: { skipBalance?: boolean } = {}): Promise<{ touched: string[]; refused?: string; error?: string }> {
    const reads = new Set<string>();
    this.sm.txTouched.clear();
    this.sm.reads = reads;
    await this.sm.checkpoint();
    try {
      const r = await runTx(this.vm, { tx: d.tx, block: this.blockEnv(height, timestampMs), skipHardForkValidation: true, skipNonce: true, skipBlockGasLimitValidation: true, ...(opts.skipBalance ? { skipBalance: true } : {}) });
      const err = r.execResult.exceptionError;
      return { touched: [...new Set([...reads, ...this.sm.txTouched])], ...(err ? { error: err.error } : {}) };
    } catch (e) {
      return { touched: [...new Set([...reads, ...this.sm.txTouched])], refused: (e as Error).message };
    } finally {
      await this.sm.revert();
      this.sm.reads = undefined;
    }
  }

  /** Price per gas a transaction pays in a block, in wei: min(maxFee, baseFee + tip) or gasPrice. */
  effectiveGasPrice(d: DecodedTx): bigint {
    const tx = d.tx;
    if ('maxPriorityFeePerGas' in tx) {
      const viaTip = this.baseFeePerGas + tx.maxPriorityFeePerGas;
      return viaTip < tx.maxFeePerGas ? viaTip : tx.maxFeePerGas;
    }
    return d.maxFeePerGas;
  }

  private async accept(
    d: DecodedTx,
    locked: bigint,
    gasBefore: bigint,
    simulatedGas?: bigint,
    amount: bigint = d.value,
    logs: { address: string; topics: string[]; data: Uint8Array }[] = [],
  ): Promise<TxOutcome> {
    const sender = createAddressFromString(d.from);
    const acc = (await this.sm.getAccount(sender)) ?? new Account(0n, 0n);
    const price = this.effectiveGasPrice(d);
    const gas = simulatedGas ?? d.tx.getIntrinsicGas();
    if (gas > d.gasLimit) {
      return rejected(d, reasons.gasLimit(`${simulatedGas !== undefined ? 'simulated' : 'intrinsic'} gas ${gas} exceeds the gas limit ${d.gasLimit}`), { crossShard: true });
    }
    const fee = gas * price;
    if (acc.nonce < d.nonce) {
      // The sender's earlier transactions are not in a block yet: it waits for a later block.
      return rejected(d, reasons.nonceMismatch(`waits for the sender's transactions before nonce ${d.nonce}`), { crossShard: true, deferred: true });
    }
    if (acc.nonce !== d.nonce) {
      return rejected(d, reasons.nonceMismatch(`nonce ${d.nonce} does not match the account nonce ${acc.nonce}`), { crossShard: true });
    }
    if (acc.balance - locked < fee + amount || price < this.baseFeePerGas) {
      return rejected(d, reasons.insufficientFunds(`insufficient funds for fee and value (${acc.balance - locked} wei available)`), { crossShard: true });
    }
    acc.nonce += 1n;
    acc.balance -= fee;
    await this.sm.putAccount(sender, acc);
    const tip = (price - this.baseFeePerGas) * gas;
    if (tip > 0n) {
      const cb = (await this.sm.getAccount(this.coinbase)) ?? new Account(0n, 0n);
      cb.balance += tip;
      await this.sm.putAccount(this.coinbase, cb);
    }
    return {
      kind: 'executed',
      tx: d,
      success: true,
      gasUsed: gas,
      cumulativeGasUsed: gasBefore + gas,
      effectiveGasPrice: price,
      logs,
      crossShard: true,
    };
  }

  private async applySystem(op: SystemOp): Promise<void> {
    if (op.kind === 'write-set') {
      const address = createAddressFromString(op.address);
      for (const w of op.writes ?? []) {
        if (w.slot === '') {
          await this.sm.putCode(address, hexToBytes(w.newValue as `0x${string}`));
          const acc = (await this.sm.getAccount(address)) ?? new Account(0n, 0n);
          acc.nonce = 1n;
          await this.sm.putAccount(address, acc);
          continue;
        }
        if (w.slot === NONCE_SLOT) {
          const acc = (await this.sm.getAccount(address)) ?? new Account(0n, 0n);
          acc.nonce = BigInt(w.newValue);
          await this.sm.putAccount(address, acc);
          continue;
        }
        await this.sm.putStorage(address, setLengthLeft(hexToBytes(w.slot as `0x${string}`), 32), unpadBytes(hexToBytes(w.newValue as `0x${string}`)));
      }
      return;
    }
    if (op.kind !== 'credit' && op.kind !== 'debit' && op.kind !== 'receipt-debit' && op.kind !== 'receipt-credit') return;
    const address = createAddressFromString(op.address);
    const acc = (await this.sm.getAccount(address)) ?? new Account(0n, 0n);
    if (op.kind === 'debit' || op.kind === 'receipt-debit') {
      if (acc.balance < op.amount) throw new Error(`debit of ${op.amount} wei from ${op.address} exceeds its balance ${acc.balance} (tx ${op.txHash})`);
      acc.balance -= op.amount;
    } else {
      acc.balance += op.amount;
    }
    await this.sm.putAccount(address, acc);
  }
}

/** Creates a {@link BlockExecutor} (ethereumjs-style async factory). */
export function createBlockExecutor(opts: ExecutorOpts): Promise<BlockExecutor> {
  return BlockExecutor.create(opts);
}
