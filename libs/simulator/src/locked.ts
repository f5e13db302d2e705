// simulateWithLocks: a reconnaissance run, ordered acquisition of slot/field locks on the shards (waiting, first come first served), then the simulation that counts, under those locks.
/**
 * Simulation under locks (docs/ARCHITECTURE.md §3), at storage-slot and account-field
 * granularity:
 * 1. reconnaissance: the transaction runs once without locks, to learn what it reads and writes;
 * 2. acquisition: once the sender's earlier transactions are in a block on its home shard, the
 *    keys it needs (`lockKeysOf` of @shardlab/chain: slots read shared, slots written exclusive,
 *    balances read shared or exclusive, balances only credited in credit mode) are asked of
 *    their shards in ascending shard order, each shard granting all of its keys at once and
 *    queueing the request first come first served while conflicting keys are held: a waits-for
 *    edge always points to a request that holds keys of the same or a higher shard, so waits
 *    never form a cycle (deadlock freedom without aborts);
 * 3. the answer: when the values the shards give for the held keys all equal what the
 *    reconnaissance read, the reconnaissance is the answer (one run in the common case); else
 *    the simulation that counts runs again from fresh heads with every lock held: nothing it
 *    reads can change while it runs, so it sees one consistent state across shards, never a
 *    commit applied on one shard and not yet on another. If it needs keys the reconnaissance did
 *    not predict, everything is released and the union is acquired again (bounded attempts).
 *
 * On success the locks stay on the shards: the transaction's prepare pins them, or they expire
 * after their TTL. On any other outcome they are released.
 */
import { joinModes, lockKeyId, lockKeysOf, modeCovers } from '@shardlab/chain';
import { ErrorCode, errors, isShardLabError } from '@shardlab/common';
import { KECCAK256_NULL, bytesToHex, createAccountFromRLP, hexToBytes } from '@ethereumjs/util';
import { LockField, LockMode, reasonMessage, reasons, type LockKey, type RwSet, type SimulateResponse } from '@shardlab/proto';
import type { RemoteStateManager, StateSource, TouchedAccount } from './remote-state';
import { decodeSimulationInput, simulate, type SimulateOpts, type SimulationInput } from './simulate';

/** Lifetime of the locks the simulator asks for, in ms. */
export const DEFAULT_LOCK_TTL_MS = 30_000;
/** Longest a shard queues one lock request of the simulator, in ms. */
export const DEFAULT_LOCK_WAIT_MS = 20_000;
/** Longest wait for the sender's earlier transactions to be in a block on its home shard, in ms. */
export const DEFAULT_SENDER_WAIT_MS = 20_000;
/** Most acquisitions of one simulation (a reconnaissance that missed keys costs one more). */
export const DEFAULT_LOCK_ATTEMPTS = 4;

/** Lock calls of the simulator to the shards (AcquireLocks, ReleaseSimulationLocks). */
export interface LockClient {
  /**
   * Takes `keys` (all of shard `shardId`) for `txHash`, for `ttlMs`, waiting at most `waitMs`.
   * Resolves with the value of each key once held, in key order (AcquireLocksResponse.values;
   * an empty list when the shard gives none).
   * @throws ShardLabError ABORTED when the wait bound passed (`meta.holder`: a holder, when named);
   *   UNAVAILABLE when the shard cannot be reached.
   */
  acquire(shardId: number, txHash: string, keys: LockKey[], ttlMs: number, waitMs: number): Promise<string[]>;
  /**
   * Resolves once the sender's transactions before `txHash` are in a block on its home shard
   * `shardId` (an AcquireLocks without keys), waiting at most `waitMs`.
   * @throws ShardLabError ABORTED when they are still not in a block after `waitMs`; UNAVAILABLE
   *   when the shard cannot be reached.
   */
  senderReady(shardId: number, txHash: string, waitMs: number): Promise<void>;
  /** Releases every simulation lock of `txHash` on shard `shardId`; never throws (a lock left expires with its TTL). */
  release(shardId: number, txHash: string): Promise<void>;
}

/** Options of {@link simulateWithLocks} (besides those of {@link simulate}). */
export interface LockedSimulateOpts extends SimulateOpts {
  /** Lifetime of each lock, in ms [{@link DEFAULT_LOCK_TTL_MS}]. */
  lockTtlMs?: number;
  /** Longest wait of one acquisition on one shard, in ms [{@link DEFAULT_LOCK_WAIT_MS}]. */
  lockWaitMs?: number;
  /** Longest wait for the sender's earlier transactions to be in a block, in ms [{@link DEFAULT_SENDER_WAIT_MS}]. */
  senderWaitMs?: number;
  /** Most acquisitions [{@link DEFAULT_LOCK_ATTEMPTS}]. */
  lockAttempts?: number;
  /** Stops when aborted (the Simulate call was cancelled). */
  signal?: AbortSignal;
  /** Called once with where the time went, in ms (reconnaissance, waiting for the sender and for locks, runs under locks), for logs. */
  onTimings?: (t: { reconMs: number; senderMs: number; lockMs: number; runMs: number; attempts: number }) => void;
  /** Called when an attempt ends without a result (missed keys, or a wait bound passed), for logs. */
  onConflict?: (info: { attempt: number; holder: string | undefined; message: string; backoffMs: number }) => void;
}

/**
 * Why a simulation gave up: `state locked by another transaction (0x<holder>)` when a shard named
 * a holder, else `state kept changing while simulating: <message>`.
 */
export function lockedFailure(holder: string | undefined, message: string): string {
  return reasonMessage(reasons.simulationLocked(holder, message));
}

/** A key with its shard, as {@link lockKeysOf} gives it. */
type ShardKey = LockKey & { shardId: number };

/** One run of the simulation, with what it touched (for runs that answer no RwSet). */
async function runOnce(input: SimulationInput | undefined, source: StateSource, opts: SimulateOpts, sender: string): Promise<{ res: SimulateResponse; home: number | undefined; failedKeys: () => Promise<ShardKey[]> }> {
  let state: RemoteStateManager | undefined;
  const res = await simulate(input, source, { ...opts, onState: (s) => (state = s) });
  const touched = async (): Promise<TouchedAccount[]> => {
    try {
      return state ? await state.touched() : [];
    } catch {
      return [];
    }
  };
  const home = res.rwSet ? Number(res.rwSet.addresses.find((a) => a.address.toLowerCase() === sender)?.shardId) : (await touched()).find((t) => t.address === sender)?.shardId;
  return { res, home: Number.isFinite(home) ? home : undefined, failedKeys: async () => keysOfTouched(await touched(), sender) };
}

/**
 * Keys for a run that answered no RwSet (it reverted, perhaps on torn state): every slot it read
 * or wrote exclusive (slots of accounts without storage included: they are read from the account
 * proof alone), every balance it touched shared (the sender's excepted).
 */
function keysOfTouched(touched: readonly TouchedAccount[], sender: string): ShardKey[] {
  const out: ShardKey[] = [];
  for (const t of touched) {
    if (t.address === sender) continue;
    out.push({ shardId: t.shardId, address: t.address, field: LockField.LOCK_FIELD_BALANCE, slot: '', mode: LockMode.LOCK_MODE_SHARED });
    const slots = new Set([...t.reads.map((r) => r.slot.toLowerCase()), ...t.writes.map((w) => w.slot.toLowerCase())]);
    for (const slot of slots) out.push({ shardId: t.shardId, address: t.address, field: LockField.LOCK_FIELD_SLOT, slot, mode: LockMode.LOCK_MODE_EXCLUSIVE });
  }
  return out;
}

/**
 * Whether every locked key's value, as the shards answered it once granted (`values`, by key id),
 * equals what the RwSet read: slots read, balances read, nonces and code hashes of accounts the
 * call changes (keys the RwSet did not read, like a slot only written or a balance only
 * credited, need no check). False when a value is missing.
 */
function stillTrue(rwSet: RwSet, keys: readonly ShardKey[], values: ReadonlyMap<string, string>): boolean {
  const items = new Map(rwSet.addresses.map((a) => [a.address.toLowerCase(), a]));
  for (const k of keys) {
    const item = items.get(k.address.toLowerCase());
    const got = values.get(lockKeyId(k));
    if (!item || got === undefined) return false;
    if (k.field === LockField.LOCK_FIELD_SLOT) {
      const read = item.reads.find((r) => r.slot !== '' && r.slot.toLowerCase() === k.slot.toLowerCase());
      if (read && read.value.toLowerCase() !== got.toLowerCase()) return false;
      continue;
    }
    if (k.field === LockField.LOCK_FIELD_BALANCE && !item.balanceRead) continue;
    const raw = item.reads.find((r) => r.slot === '')?.value ?? '0x';
    const acc = raw === '0x' || raw === '' ? undefined : createAccountFromRLP(hexToBytes(raw as `0x${string}`));
    const expected =
      k.field === LockField.LOCK_FIELD_BALANCE ? (acc?.balance ?? 0n).toString() : k.field === LockField.LOCK_FIELD_NONCE ? (acc?.nonce ?? 0n).toString() : bytesToHex(acc?.codeHash ?? KECCAK256_NULL);
    if (expected !== got.toLowerCase()) return false;
  }
  return true;
}

/**
 * Simulates `input` like {@link simulate}, under locks: reconnaissance, ordered acquisition,
 * then the run that counts with every key held (see the module docstring). Each run gets a fresh
 * source from `sourceFor` (fresh reference heights); `locks` takes and releases the keys.
 *
 * - Success: the reconnaissance's answer when every held key still has the value it read, else
 *   the answer of the run under locks; the locks stay on the shards.
 * - That run needed keys not held: all locks are released and the union is acquired again, at
 *   most `lockAttempts` times; then `success: false` with `state kept changing while simulating`.
 * - A shard's wait bound passed (ABORTED): the locks are released and the answer is
 *   `success: false`, `state locked by another transaction (0x<holder>)`.
 * - Any other failed outcome of the run under locks: the locks are released and it is returned.
 * A reconnaissance that fails (a revert, perhaps on state torn between shards) still leads to the
 * run under locks, with every slot it read, so that only the run on consistent state decides.
 * @throws ShardLabError INVALID_ARGUMENT for a malformed transaction (before any lock); the
 *   source's or the lock client's UNAVAILABLE (the locks are released first).
 */
export async function simulateWithLocks(input: SimulationInput | undefined, sourceFor: () => StateSource, locks: LockClient, opts: LockedSimulateOpts): Promise<SimulateResponse> {
  const d = decodeSimulationInput(input, opts.common);
  const sender = d.from.toLowerCase();
  const ttlMs = opts.lockTtlMs ?? DEFAULT_LOCK_TTL_MS;
  const waitMs = opts.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS;
  const attempts = opts.lockAttempts ?? DEFAULT_LOCK_ATTEMPTS;

  const timings = { reconMs: 0, senderMs: 0, lockMs: 0, runMs: 0, attempts: 0 };
  let mark = performance.now();
  const lap = (k: 'reconMs' | 'senderMs' | 'lockMs' | 'runMs') => {
    const now = performance.now();
    timings[k] += Math.round(now - mark);
    mark = now;
  };
  try {
    return await locked();
  } finally {
    opts.onTimings?.(timings);
  }

  async function locked(): Promise<SimulateResponse> {
    const recon = await runOnce(input, sourceFor(), opts, sender);
    lap('reconMs');
    const first = recon.res;
    const want = new Map<string, ShardKey>();
    const add = (keys: readonly ShardKey[]) => {
      for (const k of keys) {
        const id = lockKeyId(k);
        const cur = want.get(id);
        want.set(id, { ...k, mode: joinModes(cur?.mode, k.mode) });
      }
    };
    if (first.rwSet) add(lockKeysOf(first.rwSet, sender));
    else if (isRefusal(first)) return first; // refused before executing: no state decides it
    else add(await recon.failedKeys());

    // The sender's home shard first answers once the sender's earlier transactions are in a block
    // (an AcquireLocks without keys): until then they could wait for keys this call would hold,
    // while its acceptance waits for them (nonce order).
    const home = recon.home;
    const held = new Set<number>();
    const releaseAll = async () => {
      await Promise.all([...held].map((s) => locks.release(s, d.hash)));
      held.clear();
    };
    let lastMessage = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      // Ascending shard order, all of one shard's keys in one request.
      const byShard = new Map<number, LockKey[]>();
      for (const k of [...want.values()].sort((a, b) => a.shardId - b.shardId)) {
        let list = byShard.get(k.shardId);
        if (!list) byShard.set(k.shardId, (list = []));
        list.push({ address: k.address, field: k.field, slot: k.slot, mode: k.mode });
      }
      const values = new Map<string, string>();
      try {
        timings.attempts = attempt;
        if (attempt === 1 && home !== undefined && [...byShard.keys()][0] !== home) await locks.senderReady(home, d.hash, opts.senderWaitMs ?? DEFAULT_SENDER_WAIT_MS);
        lap('senderMs');
        for (const [shardId, keys] of byShard) {
          if (opts.signal?.aborted) throw errors.unavailable('the Simulate call was cancelled before its locks were taken');
          held.add(shardId);
          const got = await locks.acquire(shardId, d.hash, keys, ttlMs, waitMs);
          got.forEach((v, i) => values.set(lockKeyId(keys[i]!), v));
        }
      } catch (err) {
        await releaseAll();
        if (!isShardLabError(err, ErrorCode.Aborted)) throw err;
        const holder = typeof err.meta['holder'] === 'string' ? err.meta['holder'] : undefined;
        opts.onConflict?.({ attempt, holder, message: err.message, backoffMs: 0 });
        const cause = reasons.simulationLocked(holder, err.message);
        return { success: false, error: reasonMessage(cause), cause, rwSet: undefined };
      }
      lap('lockMs');
      // Everything the reconnaissance read still holds with the locks held: it is the answer (its
      // reads are one consistent state, the locks keep them true until the prepare).
      if (attempt === 1 && first.success && first.rwSet && stillTrue(first.rwSet, [...want.values()], values)) return first;
      let run: Awaited<ReturnType<typeof runOnce>>;
      try {
        run = await runOnce(input, sourceFor(), opts, sender);
        lap('runMs');
      } catch (err) {
        await releaseAll();
        throw err;
      }
      const res = run.res;
      const missing = res.rwSet ? lockKeysOf(res.rwSet, sender).filter((k) => !modeCovers(want.get(lockKeyId(k))?.mode, k.mode)) : (await run.failedKeys()).filter((k) => k.field === LockField.LOCK_FIELD_SLOT && !want.has(lockKeyId(k)));
      if (missing.length === 0) {
        if (!res.success) await releaseAll();
        return res;
      }
      lastMessage = `the run under locks needed ${missing.length} key(s) the previous run did not (e.g. ${lockKeyId(missing[0]!)})`;
      opts.onConflict?.({ attempt, holder: undefined, message: lastMessage, backoffMs: 0 });
      await releaseAll();
      add(missing);
    }
    const cause = reasons.simulationLocked(undefined, lastMessage);
    return { success: false, error: reasonMessage(cause), cause, rwSet: undefined };
  }
}

/** Whether a failed simulation was refused before execution (nonce, balance, fee cap), not reverted. */
function isRefusal(res: SimulateResponse): boolean {
  return !res.success && !res.rwSet && res.error.startsWith('transaction refused');
}
