// The state shard's table of simulation locks (address to transaction with expiry): acquire, extend, release, sweep, and GetProof lock-field validation.
/**
 * Simulation locks of a state shard (cross-shard contract calls, docs/ARCHITECTURE.md §3).
 *
 * While the simulator pre-executes a cross-shard call it reads accounts from the shards with
 * GetProof; with the transaction's hash in the request, the shard locks each address it serves
 * for that transaction, for a TTL. Until the lock is released or expires:
 * - GetProof with another transaction's hash on that address answers ABORTED (the simulator
 *   releases everything it holds and tries again from scratch: all-or-nothing, so two
 *   simulations reading the same addresses in opposite orders cannot deadlock);
 * - local transactions that write the address wait for a later block;
 * - the transaction's prepare on this shard needs the lock held and unexpired, else it votes NO
 *   (`simulation lock expired` / `simulation lock not held`). On YES the simulation lock turns
 *   into the prepare lock (an address-level lock of the 2PC participant, held until the
 *   decision); on NO it is released.
 *
 * Locks are released on the decision, on a refused prepare, on ReleaseSimulationLocks, or when
 * they expire. They live in memory only: after a restart of the shard they are gone, so the
 * prepares of simulations in flight are refused (`simulation lock not held`) and those
 * transactions abort. That is safe: nothing was written, and the lock only ever protected reads
 * that the prepare validates again.
 *
 * Pure bookkeeping over an injected clock (no timers): expired entries stay in the table (so
 * that a prepare can tell "expired" from "never held") until they are taken over, released, or
 * swept well after their expiry.
 */
import { errors, parseHash } from '@shardlab/common';

/** Lifetime of a simulation lock when the request names none, in ms. */
export const DEFAULT_SIMULATION_LOCK_TTL_MS = 10_000;
/** Longest simulation lock a shard grants by default, in ms (longer requests are capped). */
export const MAX_SIMULATION_LOCK_TTL_MS = 60_000;

/** One simulation lock. */
export interface SimulationLock {
  /** Locked address, 0x lowercase hex. */
  address: string;
  /** Transaction holding it, 0x lowercase hex. */
  txHash: string;
  /** When it expires, in ms of the table's clock (it is held while `now < expiresAtMs`). */
  expiresAtMs: number;
}

/** Options of {@link SimulationLocks}. */
export interface SimulationLocksOpts {
  /** Clock in ms [Date.now]. */
  now?: () => number;
  /** TTL when a request names none, in ms [{@link DEFAULT_SIMULATION_LOCK_TTL_MS}]. */
  defaultTtlMs?: number;
  /** Longest TTL granted, in ms; longer requests are capped [{@link MAX_SIMULATION_LOCK_TTL_MS}]. */
  maxTtlMs?: number;
}

/** State of a transaction's simulation lock on an address at some time. */
export type SimulationLockState = 'held' | 'expired' | 'not held';

/**
 * Validates the lock fields of a GetProof request: `txHash` a 32-byte 0x hex hash (returned
 * lowercased), `ttlMs` a positive integer when given and only with a hash. Returns undefined when
 * no lock is asked.
 * @throws ShardLabError INVALID_ARGUMENT for a malformed hash, a TTL of 0 or not an integer, or a
 *   TTL without a hash.
 */
export function parseLockRequest(txHash: string | undefined, ttlMs: number | undefined): { txHash: string; ttlMs: number | undefined } | undefined {
  if (txHash === undefined || txHash === '') {
    if (ttlMs !== undefined) throw errors.invalidArgument('lock_ttl_ms is only valid with tx_hash');
    return undefined;
  }
  const h = parseHash(txHash, 'tx_hash');
  if (ttlMs !== undefined && (!Number.isSafeInteger(ttlMs) || ttlMs <= 0)) throw errors.invalidArgument(`lock_ttl_ms must be a positive number of milliseconds, got ${ttlMs}`);
  return { txHash: h, ttlMs };
}

/**
 * The table of simulation locks of one shard: address → (transaction, expiry), with an index by
 * transaction. Addresses and hashes are expected lowercase (see {@link parseLockRequest}).
 */
export class SimulationLocks {
  private readonly byAddress = new Map<string, SimulationLock>();
  private readonly byTx = new Map<string, Set<string>>();
  private readonly now: () => number;
  /** TTL when a request names none, in ms. */
  readonly defaultTtlMs: number;
  /** Longest TTL granted, in ms. */
  readonly maxTtlMs: number;

  constructor(opts: SimulationLocksOpts = {}) {
    this.now = opts.now ?? Date.now;
    this.maxTtlMs = opts.maxTtlMs ?? MAX_SIMULATION_LOCK_TTL_MS;
    this.defaultTtlMs = Math.min(opts.defaultTtlMs ?? DEFAULT_SIMULATION_LOCK_TTL_MS, this.maxTtlMs);
    if (!(this.maxTtlMs > 0) || !(this.defaultTtlMs > 0)) throw errors.invalidArgument(`simulation lock TTLs must be positive (default ${this.defaultTtlMs} ms, max ${this.maxTtlMs} ms)`);
  }

  /** The TTL granted for a request of `ttlMs` (absent: the default), in ms: capped at {@link maxTtlMs}. */
  grantedTtl(ttlMs?: number): number {
    return Math.min(ttlMs ?? this.defaultTtlMs, this.maxTtlMs);
  }

  /** The unexpired lock on `address` at `atMs` (default now), if any. */
  holder(address: string, atMs = this.now()): SimulationLock | undefined {
    const l = this.byAddress.get(address);
    return l && atMs < l.expiresAtMs ? { ...l } : undefined;
  }

  /** Whether `address` is under an unexpired simulation lock at `atMs` (default now). */
  isLocked(address: string, atMs = this.now()): boolean {
    return this.holder(address, atMs) !== undefined;
  }

  /** State of `txHash`'s lock on `address` at `atMs` (default now). */
  state(address: string, txHash: string, atMs = this.now()): SimulationLockState {
    const l = this.byAddress.get(address);
    if (!l || l.txHash !== txHash) return 'not held';
    return atMs < l.expiresAtMs ? 'held' : 'expired';
  }

  /**
   * Locks `address` for `txHash` for `ttlMs` from now (capped; default {@link defaultTtlMs}). A
   * lock of the same transaction is extended (never shortened); an expired lock of another one
   * is taken over. Returns the lock, or `{ conflict }` with the unexpired lock of another
   * transaction (nothing changes then).
   */
  acquire(address: string, txHash: string, ttlMs?: number): { lock: SimulationLock } | { conflict: SimulationLock } {
    const now = this.now();
    const cur = this.byAddress.get(address);
    if (cur && cur.txHash !== txHash && now < cur.expiresAtMs) return { conflict: { ...cur } };
    if (cur && cur.txHash !== txHash) this.unindex(cur);
    const expiresAtMs = Math.max(now + this.grantedTtl(ttlMs), cur && cur.txHash === txHash ? cur.expiresAtMs : 0);
    const lock = { address, txHash, expiresAtMs };
    this.byAddress.set(address, lock);
    let set = this.byTx.get(txHash);
    if (!set) this.byTx.set(txHash, (set = new Set()));
    set.add(address);
    return { lock: { ...lock } };
  }

  /** Releases every lock of `txHash` (expired or not); returns how many addresses were released. */
  release(txHash: string): number {
    const set = this.byTx.get(txHash);
    if (!set) return 0;
    for (const a of set) this.byAddress.delete(a);
    this.byTx.delete(txHash);
    return set.size;
  }

  /** Forgets locks that expired more than `graceMs` ago (default {@link maxTtlMs}); returns how many. */
  sweep(graceMs = this.maxTtlMs): number {
    const limit = this.now() - graceMs;
    let n = 0;
    for (const l of [...this.byAddress.values()]) {
      if (l.expiresAtMs <= limit) {
        this.byAddress.delete(l.address);
        this.unindex(l);
        n++;
      }
    }
    return n;
  }

  /** Every lock in the table (expired ones too), by address. */
  list(): SimulationLock[] {
    return [...this.byAddress.values()].map((l) => ({ ...l })).sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  }

  /** Number of entries (expired ones too). */
  get size(): number {
    return this.byAddress.size;
  }

  private unindex(l: SimulationLock): void {
    const set = this.byTx.get(l.txHash);
    set?.delete(l.address);
    if (set && set.size === 0) this.byTx.delete(l.txHash);
  }
}
