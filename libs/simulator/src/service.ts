// The gRPC implementation of SimulatorService: Simulate runs simulateWithLocks over per-attempt shard state sources and logs each simulation.
import type { Common } from '@ethereumjs/common';
import { errors } from '@shardlab/common';
import { SimulatorServiceService, type SimulateRequest, type SimulateResponse, type SimulatorServiceServer } from '@shardlab/proto';
import { unary, type MountedService } from '@shardlab/rpc';
import type { Logger } from '@shardlab/telemetry';
import { simulateWithLocks } from './locked';
import { CodeCache, type StateSource } from './remote-state';
import type { SimulationLockSpec } from './shard-source';

/** Fully qualified gRPC name of the simulator service (also its health-check service name). */
export const SIMULATOR_SERVICE_NAME = 'shardlab.v1.SimulatorService';

/** Options of {@link simulatorService}. */
export interface SimulatorServiceOpts {
  logger: Logger;
  /** The chain's Common (network chain id). */
  common: Common;
  /**
   * A fresh {@link StateSource} for one attempt of a simulation (it pins the reference blocks of
   * that attempt, and takes the simulation locks of `lock` with every read); `signal` is aborted
   * when the call is cancelled or its deadline passes.
   */
  sourceFor(signal: AbortSignal, lock: SimulationLockSpec): StateSource;
  /** Code cache shared by every simulation; default a new one. */
  codeCache?: CodeCache;
  /** Base fee per gas in wei; default 1 gwei. */
  baseFeePerGas?: bigint;
  /** Lifetime of the simulation locks taken on the shards, in ms [10,000]. */
  lockTtlMs?: number;
  /** How long a simulation retries while state is locked by other transactions, in ms [lock TTL + 2,000]. */
  lockDeadlineMs?: number;
}

/**
 * The gRPC simulator service (`shardlab.v1.SimulatorService`): `Simulate` runs
 * {@link simulateWithLocks} over the state sources of the call (every read locks the address on its
 * shard for the transaction; on locked state it releases everything and retries from scratch).
 * Answers: OK with `success` and the RwSet, or `success: false` with the reason of a failed
 * execution (revert reason, EVM error, refused transaction, violated invariant, or `state locked
 * by another transaction (0x…)` past the lock deadline); gRPC INVALID_ARGUMENT for a missing or
 * malformed transaction; UNAVAILABLE when a shard cannot be read (or answers an invalid proof).
 * Pass the result to `startServer` of `@shardlab/rpc`.
 * @throws ShardLabError INVALID_ARGUMENT for a lock TTL that is not a positive integer.
 */
export function simulatorService(opts: SimulatorServiceOpts): MountedService {
  const log = opts.logger.child({ module: 'simulator-service' });
  if (opts.lockTtlMs !== undefined && !(Number.isSafeInteger(opts.lockTtlMs) && opts.lockTtlMs > 0)) throw errors.invalidArgument(`lock TTL must be a positive number of ms, got ${opts.lockTtlMs}`);
  const codeCache = opts.codeCache ?? new CodeCache();
  const implementation: SimulatorServiceServer = {
    simulate: unary<SimulateRequest, SimulateResponse>(log, 'Simulate', async (req, ctx) => {
      const started = performance.now();
      let conflicts = 0;
      const res = await simulateWithLocks(req.tx, (lock) => opts.sourceFor(ctx.signal, lock), {
        common: opts.common,
        codeCache,
        signal: ctx.signal,
        ...(opts.baseFeePerGas !== undefined ? { baseFeePerGas: opts.baseFeePerGas } : {}),
        ...(opts.lockTtlMs !== undefined ? { lockTtlMs: opts.lockTtlMs } : {}),
        ...(opts.lockDeadlineMs !== undefined ? { lockDeadlineMs: opts.lockDeadlineMs } : {}),
        onConflict: (c) => {
          conflicts = c.attempt;
          log.debug({ txHash: req.tx?.hash, attempt: c.attempt, holder: c.holder, reason: c.message, backoffMs: c.backoffMs }, 'simulation met locked state; retrying');
        },
      });
      log.debug(
        {
          txHash: req.tx?.hash,
          success: res.success,
          error: res.error || undefined,
          addresses: res.rwSet?.addresses.length,
          shards: res.rwSet?.referenceBlocks.map((r) => r.shardId),
          gasUsed: res.rwSet?.gasUsed,
          lockConflicts: conflicts,
          ms: Math.round(performance.now() - started),
        },
        'simulated',
      );
      return res;
    }),
  };
  return { name: SIMULATOR_SERVICE_NAME, definition: SimulatorServiceService, implementation };
}
