// The gRPC implementation of SimulatorService: Simulate runs simulateWithLocks over per-attempt shard state sources and logs each simulation.
import type { Common } from '@ethereumjs/common';
import { errors } from '@shardlab/common';
import { SimulatorServiceService, type SimulateRequest, type SimulateResponse, type SimulatorServiceServer } from '@shardlab/proto';
import { unary, type MountedService } from '@shardlab/rpc';
import type { Logger } from '@shardlab/telemetry';
import { simulateWithLocks, type LockClient } from './locked';
import { CodeCache, type StateSource } from './remote-state';

/** Fully qualified gRPC name of the simulator service (also its health-check service name). */
export const SIMULATOR_SERVICE_NAME = 'shardlab.v1.SimulatorService';

/** Options of {@link simulatorService}. */
export interface SimulatorServiceOpts {
  logger: Logger;
  /** The chain's Common (network chain id). */
  common: Common;
  /**
   * A fresh {@link StateSource} for one run of a simulation (it pins the reference blocks of
   * that run); `signal` is aborted when the call is cancelled or its deadline passes.
   */
  sourceFor(signal: AbortSignal): StateSource;
  /** The lock calls of one simulation; `signal` as for {@link sourceFor}. */
  locksFor(signal: AbortSignal): LockClient;
  /** Code cache shared by every simulation; default a new one. */
  codeCache?: CodeCache;
  /** Base fee per gas in wei; default 1 gwei. */
  baseFeePerGas?: bigint;
  /** Lifetime of the simulation locks taken on the shards, in ms [30,000]. */
  lockTtlMs?: number;
  /** Longest a shard queues one lock request of a simulation, in ms [20,000]. */
  lockWaitMs?: number;
}

/**
 * The gRPC simulator service (`shardlab.v1.SimulatorService`): `Simulate` runs
 * {@link simulateWithLocks} over the state sources of the call (a reconnaissance run, then the
 * keys it needs locked on their shards in shard order, waiting first come first served, then the
 * run under those locks). Answers: OK with `success` and the RwSet, or `success: false` with the
 * reason of a failed execution (revert reason, EVM error, refused transaction, violated
 * invariant, or `state locked by another transaction (0x…)` past a shard's wait bound); gRPC
 * INVALID_ARGUMENT for a missing or
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
      let timings: Record<string, number> = {};
      const res = await simulateWithLocks(req.tx, () => opts.sourceFor(ctx.signal), opts.locksFor(ctx.signal), {
        common: opts.common,
        codeCache,
        signal: ctx.signal,
        ...(opts.baseFeePerGas !== undefined ? { baseFeePerGas: opts.baseFeePerGas } : {}),
        ...(opts.lockTtlMs !== undefined ? { lockTtlMs: opts.lockTtlMs } : {}),
        ...(opts.lockWaitMs !== undefined ? { lockWaitMs: opts.lockWaitMs } : {}),
        onTimings: (t) => (timings = t),
        onConflict: (c) => {
          conflicts = c.attempt;
          log.debug({ txHash: req.tx?.hash, attempt: c.attempt, holder: c.holder, reason: c.message }, 'simulation attempt ended without a result');
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
          ...timings,
          ms: Math.round(performance.now() - started),
        },
        'simulated',
      );
      return res;
    }),
  };
  return { name: SIMULATOR_SERVICE_NAME, definition: SimulatorServiceService, implementation };
}
