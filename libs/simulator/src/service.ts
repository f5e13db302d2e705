import { errors } from '@shardlab/common';
import { SimulatorServiceService, type SimulateRequest, type SimulateResponse, type SimulatorServiceServer } from '@shardlab/proto';
import { unary, type MountedService } from '@shardlab/rpc';
import type { Logger } from '@shardlab/telemetry';

/** Fully qualified gRPC name of the simulator service (also its health-check service name). */
export const SIMULATOR_SERVICE_NAME = 'shardlab.v1.SimulatorService';

/**
 * The gRPC simulator service, contract only: the service is mounted, listed by reflection and
 * reported SERVING by health checks, but `Simulate` answers the gRPC status UNIMPLEMENTED
 * ("cross-shard simulation is not implemented yet ..."). Refusals are logged at debug level with
 * the transaction hash. Pass the result to `startServer` of `@shardlab/rpc`.
 */
export function simulatorService(logger: Logger): MountedService {
  const log = logger.child({ module: 'simulator-service' });
  const implementation: SimulatorServiceServer = {
    simulate: unary<SimulateRequest, SimulateResponse>(log, 'Simulate', async (req) => {
      throw errors.unimplemented('cross-shard simulation is not implemented yet (simulator, a later issue)', {
        txHash: req.tx?.hash,
      });
    }),
  };
  return { name: SIMULATOR_SERVICE_NAME, definition: SimulatorServiceService, implementation };
}
