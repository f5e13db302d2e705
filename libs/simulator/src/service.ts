import type { Common } from '@ethereumjs/common';
import { SimulatorServiceService, type SimulateRequest, type SimulateResponse, type SimulatorServiceServer } from '@shardlab/proto';
import { unary, type MountedService } from '@shardlab/rpc';
import type { Logger } from '@shardlab/telemetry';
import { CodeCache, type StateSource } from './remote-state';
import { simulate } from './simulate';

/** Fully qualified gRPC name of the simulator service (also its health-check service name). */
export const SIMULATOR_SERVICE_NAME = 'shardlab.v1.SimulatorService';

/** Options of {@link simulatorService}. */
export interface SimulatorServiceOpts {
  logger: Logger;
  /** The chain's Common (network chain id). */
  common: Common;
  /**
   * A fresh {@link StateSource} for one simulation (it pins the reference blocks of that
   * simulation); `signal` is aborted when the call is cancelled or its deadline passes.
   */
  sourceFor(signal: AbortSignal): StateSource;
  /** Code cache shared by every simulation; default a new one. */
  codeCache?: CodeCache;
  /** Base fee per gas in wei; default 1 gwei. */
  baseFeePerGas?: bigint;
}

/**
 * The gRPC simulator service (`shardlab.v1.SimulatorService`): `Simulate` runs {@link simulate}
 * over the state source of the call. Answers: OK with `success` and the RwSet, or `success:
 * false` with the reason of a failed execution (revert reason, EVM error, refused transaction,
 * violated invariant); gRPC INVALID_ARGUMENT for a missing or malformed transaction; UNAVAILABLE
 * when a shard cannot be read (or answers an invalid proof). Pass the result to `startServer` of
 * `@shardlab/rpc`.
 */
export function simulatorService(opts: SimulatorServiceOpts): MountedService {
  const log = opts.logger.child({ module: 'simulator-service' });
  const codeCache = opts.codeCache ?? new CodeCache();
  const implementation: SimulatorServiceServer = {
    simulate: unary<SimulateRequest, SimulateResponse>(log, 'Simulate', async (req, ctx) => {
      const started = performance.now();
      const res = await simulate(req.tx, opts.sourceFor(ctx.signal), {
        common: opts.common,
        codeCache,
        ...(opts.baseFeePerGas !== undefined ? { baseFeePerGas: opts.baseFeePerGas } : {}),
      });
      log.debug(
        {
          txHash: req.tx?.hash,
          success: res.success,
          error: res.error || undefined,
          addresses: res.rwSet?.addresses.length,
          shards: res.rwSet?.referenceBlocks.map((r) => r.shardId),
          gasUsed: res.rwSet?.gasUsed,
          ms: Math.round(performance.now() - started),
        },
        'simulated',
      );
      return res;
    }),
  };
  return { name: SIMULATOR_SERVICE_NAME, definition: SimulatorServiceService, implementation };
}
