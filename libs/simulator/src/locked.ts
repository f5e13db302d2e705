// simulateWithLocks: simulation under simulation locks, all-or-nothing: on a lock conflict release every lock, back off and retry from scratch until a deadline.
/**
 * Simulation under simulation locks (docs/ARCHITECTURE.md §3): every account a simulation reads from a
 * shard is locked there for the transaction, for a TTL, so that nothing else writes it before the
 * transaction's prepare. All-or-nothing with retry avoids deadlocks: a simulation that meets an
 * address locked by another transaction releases every lock it took, waits a short randomised
 * backoff and runs again from scratch (new reference heights), until a deadline.
 */
import { ErrorCode, isShardLabError } from '@shardlab/common';
import { reasonMessage, reasons, type SimulateResponse } from '@shardlab/proto';
import type { StateSource } from './remote-state';
import { lockHolderOf, type SimulationLockSpec } from './shard-source';
import { decodeSimulationInput, simulate, type SimulateOpts, type SimulationInput } from './simulate';

/** Lifetime of a simulation lock the simulator asks for, in ms. */
export const DEFAULT_LOCK_TTL_MS = 10_000;
/** How much longer than the lock TTL a simulation keeps retrying on locked state, in ms. */
export const LOCK_DEADLINE_MARGIN_MS = 2_000;
/** Longest backoff between two attempts, in ms. */
export const MAX_LOCK_BACKOFF_MS = 1_000;

/**
 * Default backoff before attempt `attempt + 1` after `attempt` conflicts (1-based): uniformly
 * 10–50 ms × attempt, at most {@link MAX_LOCK_BACKOFF_MS}.
 */
export function defaultLockBackoff(attempt: number, random: () => number = Math.random): number {
  return Math.min(MAX_LOCK_BACKOFF_MS, Math.round((10 + 40 * random()) * attempt));
}

/** Options of {@link simulateWithLocks} (besides those of {@link simulate}). */
export interface LockedSimulateOpts extends SimulateOpts {
  /** Lifetime of each simulation lock, in ms [{@link DEFAULT_LOCK_TTL_MS}]. */
  lockTtlMs?: number;
  /**
   * How long to keep retrying while state is locked by other transactions, in ms from the start
   * [lock TTL + {@link LOCK_DEADLINE_MARGIN_MS}: a lock that is not turned into a prepare lock
   * expires by then].
   */
  lockDeadlineMs?: number;
  /** Backoff before the next attempt after `attempt` conflicts, in ms [{@link defaultLockBackoff}]. */
  backoffMs?: (attempt: number) => number;
  /** Waits `ms` milliseconds [setTimeout]. */
  sleep?: (ms: number) => Promise<void>;
  /** Clock of the deadline, in ms [Date.now]. */
  clock?: () => number;
  /** Stops retrying when aborted (the Simulate call was cancelled). */
  signal?: AbortSignal;
  /** Called after each conflict, before the backoff (for logs). */
  onConflict?: (info: { attempt: number; holder: string | undefined; message: string; backoffMs: number }) => void;
}

/**
 * Why a simulation gave up: `state locked by another transaction (0x<holder>)` when a shard named
 * a holder (the last one), else `state kept changing while simulating: <shard's message>` (the
 * shards refused the reads as stale every time).
 */
export function lockedFailure(holder: string | undefined, message: string): string {
  return reasonMessage(reasons.simulationLocked(holder, message));
}

const sleepMs = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Simulates `input` like {@link simulate}, with simulation locks on everything it reads: each
 * attempt gets a fresh source from `sourceFor` (new reference heights) that locks the addresses it
 * reads for the transaction (its sender excepted: `lock.unlocked`).
 *
 * - Success: the locks stay on the shards (they become prepare locks at the transaction's
 *   prepare, or expire after `lockTtlMs`).
 * - An address locked by another transaction (the source throws ShardLabError ABORTED): every
 *   lock of the attempt is released ({@link StateSource.releaseLocks}), then after
 *   `backoffMs(attempt)` the simulation runs again from scratch. Past `lockDeadlineMs` (or when
 *   `signal` aborts) it answers `success: false` with `state locked by another transaction
 *   (0x<holder>)`.
 * - Any other outcome that is not a success (`success: false`, or a thrown error): the locks are
 *   released, then the answer is returned or the error rethrown.
 * @throws ShardLabError INVALID_ARGUMENT for a malformed transaction (before any lock); the
 *   source's error (UNAVAILABLE) as {@link simulate}.
 */
export async function simulateWithLocks(input: SimulationInput | undefined, sourceFor: (lock: SimulationLockSpec) => StateSource, opts: LockedSimulateOpts): Promise<SimulateResponse> {
  const d = decodeSimulationInput(input, opts.common);
  const ttlMs = opts.lockTtlMs ?? DEFAULT_LOCK_TTL_MS;
  const clock = opts.clock ?? Date.now;
  const deadline = clock() + (opts.lockDeadlineMs ?? ttlMs + LOCK_DEADLINE_MARGIN_MS);
  const backoff = opts.backoffMs ?? ((attempt: number) => defaultLockBackoff(attempt));
  const sleep = opts.sleep ?? sleepMs;
  const lock: SimulationLockSpec = { txHash: d.hash, ttlMs, unlocked: [d.from] };
  let lastHolder: string | undefined;
  for (let attempt = 1; ; attempt++) {
    const source = sourceFor(lock);
    let res: SimulateResponse;
    try {
      res = await simulate(input, source, opts);
    } catch (err) {
      await source.releaseLocks?.();
      if (!isShardLabError(err, ErrorCode.Aborted)) throw err;
      const holder = typeof err.meta['holder'] === 'string' ? err.meta['holder'] : lockHolderOf(err.message);
      lastHolder = holder ?? lastHolder;
      const wait = backoff(attempt);
      opts.onConflict?.({ attempt, holder, message: err.message, backoffMs: wait });
      if (clock() + wait >= deadline || opts.signal?.aborted) {
        const cause = reasons.simulationLocked(lastHolder, err.message);
        return { success: false, error: reasonMessage(cause), cause, rwSet: undefined };
      }
      await sleep(wait);
      continue;
    }
    if (!res.success) await source.releaseLocks?.();
    return res;
  }
}
