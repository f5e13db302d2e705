// The state shard's lock table of cross-shard contract calls: keys (account fields, storage slots) held shared, exclusive or credit, with TTLs, prepare pins and a first-come-first-served wait queue.
/**
 * Locks of cross-shard contract calls on one shard (docs/ARCHITECTURE.md §3), at storage-slot
 * and account-field granularity (keys and modes: `lockKeyId` and `compatibleModes` of
 * @shardlab/chain).
 *
 * A simulation asks for every key of its transaction on this shard at once (AcquireLocks). The
 * request is granted when every key is free of conflicting holders (other transactions,
 * unexpired), no key is wanted by a local transaction that waited for it in the last block
 * (starvation freedom for local transactions), and no earlier request still waiting conflicts
 * with it (first come, first served); else it queues. Granted locks have a TTL (simulation
 * locks); the transaction's prepare pins them (no expiry) until its decision. All of a request
 * is granted at once, and simulators ask shards in ascending shard order, so waits never form
 * a cycle (deadlock freedom).
 *
 * Pure bookkeeping over an injected clock (no timers, no promises): the caller wakes waiters
 * with what {@link KeyLocks.pump} returns. Expired entries stay until they are taken over,
 * released, or swept well after their expiry, so that a prepare can tell "expired" from "never
 * held".
 */
import { compatibleModes, joinModes, localWriteAllowed, modeCovers } from '@shardlab/chain';
import { errors } from '@shardlab/common';
import { LockMode } from '@shardlab/proto';

/** Lifetime of a simulation lock when the request names none, in ms. */
export const DEFAULT_SIMULATION_LOCK_TTL_MS = 30_000;
/** Longest simulation lock a shard grants by default, in ms (longer requests are capped). */
export const MAX_SIMULATION_LOCK_TTL_MS = 60_000;

/** The locks of one transaction. */
export interface TxLocks {
  txHash: string;
  /** Key id → mode. */
  keys: Map<string, LockMode>;
  /** When its simulation locks expire, in ms of the table's clock (Infinity once pinned by a prepare). */
  expiresAtMs: number;
}

/** One lock, for listings: a key id, its mode, its holder and expiry. */
export interface SimulationLock {
  /** Key id (`lockKeyId`): `0xaddress|b`, `0xaddress|s|0xslot`, … */
  key: string;
  mode: LockMode;
  txHash: string;
  /** Expiry in ms of the table's clock; Infinity for a prepare lock. */
  expiresAtMs: number;
}

/** A request waiting in the queue. */
export interface LockWaiter {
  /** Arrival order (first come, first served: lower goes first). */
  seq: number;
  txHash: string;
  /** Key id → mode asked. */
  keys: Map<string, LockMode>;
  /** TTL of the grant, in ms, already capped at the table's maximum. */
  ttlMs: number;
}

/** State of a transaction's lock on a key at some time. */
export type SimulationLockState = 'held' | 'expired' | 'not held';

/** Options of {@link KeyLocks}. */
export interface KeyLocksOpts {
  /** Clock in ms [Date.now]. */
  now?: () => number;
  /** TTL when a request names none, in ms [{@link DEFAULT_SIMULATION_LOCK_TTL_MS}]. */
  defaultTtlMs?: number;
  /** Longest TTL granted, in ms; longer requests are capped [{@link MAX_SIMULATION_LOCK_TTL_MS}]. */
  maxTtlMs?: number;
}

/** The lock table of one shard; see the module's docstring. Key ids and hashes lowercase. */
export class KeyLocks {
  private readonly txs = new Map<string, TxLocks>();
  /** Key id → holders (tx hash → mode). */
  private readonly holders = new Map<string, Map<string, LockMode>>();
  private queue: LockWaiter[] = [];
  private nextSeq = 1;
  /** Keys local transactions waited for in the last block: new grants on them wait a block. */
  private localWanted = new Set<string>();
  private readonly now: () => number;
  /** TTL when a request names none, in ms. */
  readonly defaultTtlMs: number;
  /** Longest TTL granted, in ms. */
  readonly maxTtlMs: number;

  constructor(opts: KeyLocksOpts = {}) {
    this.now = opts.now ?? Date.now;
    this.maxTtlMs = opts.maxTtlMs ?? MAX_SIMULATION_LOCK_TTL_MS;
    this.defaultTtlMs = Math.min(opts.defaultTtlMs ?? DEFAULT_SIMULATION_LOCK_TTL_MS, this.maxTtlMs);
    if (!(this.maxTtlMs > 0) || !(this.defaultTtlMs > 0)) throw errors.invalidArgument(`simulation lock TTLs must be positive (default ${this.defaultTtlMs} ms, max ${this.maxTtlMs} ms)`);
  }

  /** The TTL granted for a request of `ttlMs` (absent: the default), in ms: capped at {@link maxTtlMs}. */
  grantedTtl(ttlMs?: number): number {
    return Math.min(ttlMs ?? this.defaultTtlMs, this.maxTtlMs);
  }

  private live(t: TxLocks | undefined, atMs: number): boolean {
    return t !== undefined && atMs < t.expiresAtMs;
  }

  /** Another transaction holding `key` (unexpired) in a mode that conflicts with `mode`, if any. */
  conflictOn(key: string, mode: LockMode, txHash: string, atMs = this.now()): string | undefined {
    const hs = this.holders.get(key);
    if (!hs) return undefined;
    for (const [h, m] of hs) if (h !== txHash && !compatibleModes(m, mode) && this.live(this.txs.get(h), atMs)) return h;
    return undefined;
  }

  /**
   * Whether a local transaction must wait before writing `key`: a call holds it (unexpired) in a
   * mode other than credit. (The caller records the keys local transactions waited for, see
   * {@link setLocalWanted}.)
   */
  blocksLocalWrite(key: string, atMs = this.now()): boolean {
    const hs = this.holders.get(key);
    if (!hs) return false;
    for (const [h, m] of hs) if (!localWriteAllowed(m) && this.live(this.txs.get(h), atMs)) return true;
    return false;
  }

  /** Sets the keys local transactions waited for in the last block (see the module docstring). */
  setLocalWanted(keys: Set<string>): void {
    this.localWanted = keys;
  }

  /** State of `txHash`'s lock on `key` in a mode covering `mode` at `atMs` (default now). */
  state(key: string, txHash: string, mode: LockMode, atMs = this.now()): SimulationLockState {
    const m = this.holders.get(key)?.get(txHash);
    if (m === undefined || !modeCovers(m, mode)) return 'not held';
    return this.live(this.txs.get(txHash), atMs) ? 'held' : 'expired';
  }

  /** Whether any transaction holds an unexpired lock at `atMs` (default now). */
  anyLive(atMs = this.now()): boolean {
    for (const t of this.txs.values()) if (this.live(t, atMs)) return true;
    return false;
  }

  /** How many keys `txHash` holds here (expired ones included). */
  heldBy(txHash: string): number {
    return this.txs.get(txHash)?.keys.size ?? 0;
  }

  /** Whether `txHash` holds locks here (expired ones included). */
  has(txHash: string): boolean {
    return this.txs.has(txHash);
  }

  private blockedBy(txHash: string, keys: ReadonlyMap<string, LockMode>, atMs: number, before: number): string | undefined {
    const own = this.txs.get(txHash);
    for (const [k, m] of keys) {
      if (own?.keys.has(k) && modeCovers(own.keys.get(k), m)) continue;
      const c = this.conflictOn(k, m, txHash, atMs);
      if (c !== undefined) return c;
      if (m !== LockMode.LOCK_MODE_CREDIT && this.localWanted.has(k)) return 'a local transaction';
    }
    // First come, first served: an earlier waiter that conflicts goes first.
    for (const w of this.queue) {
      if (w.seq >= before) break;
      if (w.txHash === txHash) continue;
      for (const [k, m] of keys) {
        const wm = w.keys.get(k);
        if (wm !== undefined && !compatibleModes(wm, m)) return w.txHash;
      }
    }
    return undefined;
  }

  private grant(txHash: string, keys: ReadonlyMap<string, LockMode>, ttlMs: number, atMs: number): void {
    let t = this.txs.get(txHash);
    if (!t) this.txs.set(txHash, (t = { txHash, keys: new Map(), expiresAtMs: 0 }));
    if (t.expiresAtMs !== Infinity) t.expiresAtMs = Math.max(t.expiresAtMs, atMs + this.grantedTtl(ttlMs));
    for (const [k, m] of keys) {
      const joined = joinModes(t.keys.get(k), m);
      // Expired holders of a conflicting mode are taken over (first: dropping the last one
      // removes the key's holder map).
      for (const [h, hm] of [...(this.holders.get(k) ?? [])]) {
        if (h !== txHash && !compatibleModes(hm, joined)) this.dropKey(h, k);
      }
      t.keys.set(k, joined);
      let hs = this.holders.get(k);
      if (!hs) this.holders.set(k, (hs = new Map()));
      hs.set(txHash, joined);
    }
  }

  /**
   * Asks for `keys` (key id → mode) for `txHash`, with a TTL of `ttlMs` (default
   * {@link defaultTtlMs}, capped). Granted at once when nothing blocks it (see the module
   * docstring), else queued. Asking again adds keys and extends the TTL.
   * @returns `{ granted: true }` or `{ waiter, blocker }` (the queued request and what blocks it now).
   */
  acquire(txHash: string, keys: ReadonlyMap<string, LockMode>, ttlMs?: number): { granted: true } | { waiter: LockWaiter; blocker: string } {
    const now = this.now();
    const seq = this.nextSeq++;
    const blocker = this.blockedBy(txHash, keys, now, seq);
    const ttl = this.grantedTtl(ttlMs);
    if (blocker === undefined) {
      this.grant(txHash, keys, ttl, now);
      return { granted: true };
    }
    const waiter = { seq, txHash, keys: new Map(keys), ttlMs: ttl };
    this.queue.push(waiter);
    return { waiter, blocker };
  }

  /** Removes a waiter from the queue (its wait bound passed); returns what blocks it now. */
  cancel(waiter: LockWaiter): string | undefined {
    this.queue = this.queue.filter((w) => w !== waiter);
    return this.blockedBy(waiter.txHash, waiter.keys, this.now(), Number.MAX_SAFE_INTEGER);
  }

  /** Grants every waiter that nothing blocks any more, in queue order; returns them. */
  pump(): LockWaiter[] {
    const now = this.now();
    const granted: LockWaiter[] = [];
    for (const w of [...this.queue]) {
      if (this.blockedBy(w.txHash, w.keys, now, w.seq) !== undefined) continue;
      this.queue = this.queue.filter((x) => x !== w);
      this.grant(w.txHash, w.keys, w.ttlMs, now);
      granted.push(w);
    }
    return granted;
  }

  /** Pins `txHash`'s locks (no expiry) with `keys` added: its prepare lock, held until its decision. */
  pin(txHash: string, keys: ReadonlyMap<string, LockMode>): void {
    this.grant(txHash, keys, this.maxTtlMs, this.now());
    this.txs.get(txHash)!.expiresAtMs = Infinity;
  }

  /** Whether `txHash`'s locks are pinned by a prepare. */
  pinned(txHash: string): boolean {
    return this.txs.get(txHash)?.expiresAtMs === Infinity;
  }

  /** Releases every lock of `txHash` (expired or not); returns how many keys were released. */
  release(txHash: string): number {
    const t = this.txs.get(txHash);
    if (!t) return 0;
    const n = t.keys.size;
    for (const k of [...t.keys.keys()]) this.dropKey(txHash, k);
    this.txs.delete(txHash);
    return n;
  }

  private dropKey(txHash: string, key: string): void {
    const hs = this.holders.get(key);
    hs?.delete(txHash);
    if (hs && hs.size === 0) this.holders.delete(key);
    const t = this.txs.get(txHash);
    if (t) {
      t.keys.delete(key);
      if (t.keys.size === 0) this.txs.delete(txHash);
    }
  }

  /** Forgets locks that expired more than `graceMs` ago (default {@link maxTtlMs}); returns how many transactions. */
  sweep(graceMs = this.maxTtlMs): number {
    const limit = this.now() - graceMs;
    let n = 0;
    for (const t of [...this.txs.values()]) {
      if (t.expiresAtMs <= limit) {
        this.release(t.txHash);
        n++;
      }
    }
    return n;
  }

  /** Every lock in the table (expired ones too), by key then holder. */
  list(): SimulationLock[] {
    const out: SimulationLock[] = [];
    for (const [key, hs] of this.holders) for (const [h, mode] of hs) out.push({ key, mode, txHash: h, expiresAtMs: this.txs.get(h)?.expiresAtMs ?? 0 });
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.txHash < b.txHash ? -1 : 1));
  }

  /** Number of transactions holding locks (expired ones too). */
  get size(): number {
    return this.txs.size;
  }

  /** Number of requests waiting. */
  get waiting(): number {
    return this.queue.length;
  }
}
