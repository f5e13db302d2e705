// The lock service of block-2PC on one shard: AcquireLocks (validation, the sender's wait, the queue with its wait bound, the values once held), release, and the wake-ups after each durable block.
import { describeLockKey, joinModes, lockKeyId } from '@shardlab/chain';
import { errors, parseAddress, parseHash } from '@shardlab/common';
import { LockField, LockMode, type LockKey } from '@shardlab/proto';
import { requireLocal, type ShardCore } from '../context';
import type { LocksGranted } from '../protocol';
import { KeyLocks, type LockWaiter, type SimulationLock } from './key-locks';

/** Longest wait of an AcquireLocks that names none, in ms. */
export const DEFAULT_LOCK_WAIT_MS = 20_000;
/** Longest wait of an AcquireLocks a shard allows by default, in ms. */
export const MAX_LOCK_WAIT_MS = 60_000;
/** Most keys in one AcquireLocks. */
export const MAX_LOCK_KEYS = 4_096;

/** Options of {@link CallLocks}, all in ms. */
export interface CallLocksOpts {
  /** TTL of a grant whose request names none [key-locks.ts DEFAULT_SIMULATION_LOCK_TTL_MS]. */
  defaultTtlMs?: number;
  /** Longest TTL granted [key-locks.ts MAX_SIMULATION_LOCK_TTL_MS]. */
  maxTtlMs?: number;
  /** Wait bound of a request that names none [{@link DEFAULT_LOCK_WAIT_MS}]. */
  waitDefaultMs?: number;
  /** Longest wait bound allowed [{@link MAX_LOCK_WAIT_MS}]. */
  waitMaxMs?: number;
}

/**
 * The locks of cross-shard contract calls on one shard, as a service around the pure lock table
 * ({@link KeyLocks}, docs/ARCHITECTURE.md §3): requests wait (first come, first served, up to a
 * bound) and are granted between blocks, under the block mutex; waiters are woken by
 * {@link afterBlock} and {@link release}. The table itself is {@link table}: block-2PC pins,
 * releases and checks keys in it as blocks prepare and decide calls.
 */
export class CallLocks {
  /** The lock table (in memory; prepare locks restored from the participant's records). */
  readonly table: KeyLocks;
  /** Requests waiting in the table's queue, with how to wake them. */
  private readonly waiters = new Map<LockWaiter, () => void>();
  /** Requests waiting for the next durable block (their sender's earlier transactions). */
  private blockWaiters: (() => void)[] = [];

  constructor(
    private readonly core: ShardCore,
    private readonly opts: CallLocksOpts = {},
  ) {
    this.table = new KeyLocks({
      now: core.now,
      ...(opts.defaultTtlMs !== undefined ? { defaultTtlMs: opts.defaultTtlMs } : {}),
      ...(opts.maxTtlMs !== undefined ? { maxTtlMs: opts.maxTtlMs } : {}),
    });
  }

  /**
   * Takes `keys` (account fields and storage slots of this shard, each with its mode) for a
   * simulation of `txHash`, all at once, waiting in first-come-first-served order while other
   * transactions hold conflicting keys or local transactions wait for them (key-locks.ts), at
   * most `waitMs` (default {@link DEFAULT_LOCK_WAIT_MS}, capped at the configured maximum). The
   * grant happens between blocks (under the block mutex), so a block planned without the locks
   * never writes a key after it was granted. Asking again adds keys and extends the TTL.
   * @throws ShardLabError INVALID_ARGUMENT for a malformed hash, key, mode, TTL or wait, or more
   *   than {@link MAX_LOCK_KEYS} keys; FAILED_PRECONDITION for a key placed on another shard;
   *   ABORTED when the wait bound passes (`<key> is locked by transaction <hash> (…)`, naming a
   *   holder), or when `txHash` is a call of a sender of this shard whose earlier transactions
   *   are still not in a block when it passes (the request waits for them first: its locks
   *   would keep them from running before it).
   */
  async acquire(txHash: string, keys: readonly LockKey[], ttlMs?: number, waitMs?: number): Promise<LocksGranted> {
    const h = parseHash(txHash, 'tx_hash');
    if (ttlMs !== undefined && (!Number.isSafeInteger(ttlMs) || ttlMs <= 0)) throw errors.invalidArgument(`lock_ttl_ms must be a positive number of milliseconds, got ${ttlMs}`);
    if (waitMs !== undefined && (!Number.isSafeInteger(waitMs) || waitMs < 0)) throw errors.invalidArgument(`wait_ms must be a number of milliseconds, got ${waitMs}`);
    if (keys.length > MAX_LOCK_KEYS) throw errors.invalidArgument(`at most ${MAX_LOCK_KEYS} keys per AcquireLocks, got ${keys.length}`);
    const wanted = new Map<string, LockMode>();
    const described = new Map<string, string>();
    for (const k of keys) {
      const address = parseAddress(k.address, 'lock key address');
      if (![LockField.LOCK_FIELD_BALANCE, LockField.LOCK_FIELD_NONCE, LockField.LOCK_FIELD_CODE, LockField.LOCK_FIELD_SLOT].includes(k.field)) throw errors.invalidArgument(`lock key of ${k.address} has no valid field (${k.field})`);
      if (k.field === LockField.LOCK_FIELD_SLOT ? !/^0x[0-9a-fA-F]{64}$/.test(k.slot) : k.slot !== '') throw errors.invalidArgument(`lock key of ${k.address}: slot must be a 32-byte 0x hex key for a slot and empty otherwise, got ${JSON.stringify(k.slot)}`);
      if (![LockMode.LOCK_MODE_SHARED, LockMode.LOCK_MODE_EXCLUSIVE, LockMode.LOCK_MODE_CREDIT].includes(k.mode)) throw errors.invalidArgument(`lock key of ${k.address} has no valid mode (${k.mode})`);
      if (k.mode === LockMode.LOCK_MODE_CREDIT && k.field !== LockField.LOCK_FIELD_BALANCE) throw errors.invalidArgument(`credit locks are for balances only (${describeLockKey(k)})`);
      requireLocal(this.core, address);
      const id = lockKeyId({ ...k, address });
      wanted.set(id, joinModes(wanted.get(id), k.mode));
      described.set(id, describeLockKey({ ...k, address }));
    }
    const bound = Math.min(waitMs ?? this.opts.waitDefaultMs ?? DEFAULT_LOCK_WAIT_MS, this.opts.waitMaxMs ?? MAX_LOCK_WAIT_MS);
    const started = this.core.now();
    // A call of a sender of this shard whose earlier transactions are not in a block yet waits
    // for them: its locks would keep them from running before it.
    const earlier = () => {
      const own = this.core.mempool.get(h);
      return own?.reservation ? this.core.mempool.earlierPending(own.tx.from, own.tx.nonce) : undefined;
    };
    for (let e = earlier(); e; e = earlier()) {
      if (this.core.now() - started >= bound) {
        throw errors.aborted(`the sender's earlier transaction ${e.tx.hash} (nonce ${e.tx.nonce}) is not in a block yet (waited ${bound} ms)`, { txHash: h });
      }
      await this.nextBlock(bound);
    }
    const store = this.core.opts.store;
    const held = () => ({ held: this.table.heldBy(h), waitedMs: Math.max(0, this.core.now() - started), head: store.head()! });
    // Values of the keys once held: nobody else can change them until they are released.
    const answer = async (g: Omit<LocksGranted, 'values'>): Promise<LocksGranted> => ({ ...g, values: await this.core.admission.run(() => Promise.all(keys.map((k) => this.keyValue(k)))) });
    if (wanted.size === 0) return answer(await this.core.blockMutex.run(async () => held()));
    const first = await this.core.blockMutex.run(async (): Promise<{ granted: Omit<LocksGranted, 'values'> } | { waiter: LockWaiter }> => {
      const got = this.table.acquire(h, wanted, ttlMs);
      if ('granted' in got) return { granted: held() };
      return { waiter: got.waiter };
    });
    if ('granted' in first) return answer(first.granted);
    const waiter = first.waiter;
    const granted = await new Promise<Omit<LocksGranted, 'values'>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        const blocker = this.table.cancel(waiter);
        let key: string | undefined;
        let holder = blocker;
        for (const [k, m] of wanted) {
          const c = this.table.conflictOn(k, m, h);
          if (c !== undefined) {
            [key, holder] = [k, c];
            break;
          }
        }
        const what = key ? described.get(key)! : 'a key';
        reject(
          holder && holder.startsWith('0x')
            ? errors.aborted(`${what} is locked by transaction ${holder} (waited ${bound} ms)`, { holder, txHash: h })
            : errors.aborted(`${what} is wanted by ${holder ?? 'another transaction'} (waited ${bound} ms)`, { txHash: h }),
        );
      }, bound);
      timer.unref?.();
      // Woken under the block mutex by a pump (after a block or a release): the locks are held.
      this.waiters.set(waiter, () => {
        clearTimeout(timer);
        resolve(held());
      });
    });
    return answer(granted);
  }

  /** A key's value at the durable head (see AcquireLocksResponse.values). */
  private async keyValue(k: LockKey): Promise<string> {
    const reader = this.core.reader;
    if (k.field === LockField.LOCK_FIELD_SLOT) return reader.getStorage(k.address.toLowerCase(), k.slot.toLowerCase());
    const acc = await reader.getAccount(k.address.toLowerCase());
    if (k.field === LockField.LOCK_FIELD_BALANCE) return acc.balance.toString();
    if (k.field === LockField.LOCK_FIELD_NONCE) return acc.nonce.toString();
    return acc.codeHash;
  }

  /** Resolves after the next durable block, or after `ms` at most. */
  private nextBlock(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref?.();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.blockWaiters.push(done);
    });
  }

  /** Grants what the lock table can grant now and wakes those waiters. Call under the block mutex. */
  private pump(): void {
    for (const w of this.table.pump()) {
      const wake = this.waiters.get(w);
      this.waiters.delete(w);
      wake?.();
    }
  }

  /**
   * Releases every simulation lock of `txHash` (ReleaseSimulationLocks: its simulation failed or
   * gave up). Locks pinned by its prepare are kept: only the decision releases those. Returns how
   * many keys were released (0 when it held none or they are pinned).
   * @throws ShardLabError INVALID_ARGUMENT for a malformed hash.
   */
  async release(txHash: string): Promise<number> {
    const h = parseHash(txHash, 'tx_hash');
    return this.core.blockMutex.run(async () => {
      if (this.table.pinned(h)) return 0;
      const n = this.table.release(h);
      if (n > 0) this.core.opts.logger.debug({ txHash: h, released: n }, 'simulation locks released');
      this.pump();
      return n;
    });
  }

  /** Every lock in the table (expired ones too until swept; prepare locks with expiry Infinity), for tests and audits. */
  list(): SimulationLock[] {
    return this.table.list();
  }

  /**
   * After a durable block, under the block mutex: records the keys its local transactions waited
   * for (`localWanted`), grants what can be granted and wakes requests waiting for a block.
   */
  afterBlock(localWanted: Set<string>): void {
    this.table.setLocalWanted(localWanted);
    this.pump();
    const waiters = this.blockWaiters;
    this.blockWaiters = [];
    for (const w of waiters) w();
  }
}
