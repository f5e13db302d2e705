// The gRPC implementation of RegistryService over a RegistryState, and its MountedService for startServer.
import { errors } from '@shardlab/common';
import { unary, type MountedService } from '@shardlab/rpc';
import { RegistryServiceService, type RegistryServiceServer } from '@shardlab/proto';
import type { Logger } from '@shardlab/telemetry';
import type { RegistryState } from './state';

/** Fully qualified gRPC name of the registry service (also its health-check service name). */
export const REGISTRY_SERVICE_NAME = 'shardlab.v1.RegistryService';

/**
 * The gRPC implementation of `shardlab.v1.RegistryService` over a {@link RegistryState}.
 * Every input is validated; errors reach clients as gRPC statuses: INVALID_ARGUMENT (bad address,
 * unknown service name, state shard id ≥ shardCount, missing endpoint or instance id), NOT_FOUND
 * (heartbeat of an unknown instance).
 */
export function registryService(state: RegistryState, logger: Logger): RegistryServiceServer {
  const log = logger.child({ module: 'registry-service' });
  return {
    getConfig: unary(log, 'GetConfig', async () => state.config()),
    lookupShard: unary(log, 'LookupShard', async (req) => state.lookupShard(req.address)),
    getPlacement: unary(log, 'GetPlacement', async () => state.placementInfo()),
    listShards: unary(log, 'ListShards', async () => state.listShards()),
    listEndpoints: unary(log, 'ListEndpoints', async (req) => ({ endpoints: state.listEndpoints(req.service) })),
    register: unary(log, 'Register', async (req) => {
      if (!req.endpoint) throw errors.invalidArgument('endpoint is required');
      const { service, address, shardId, instanceId } = req.endpoint;
      const res = state.register({ service, address, shardId, instanceId });
      log.info({ endpoint: { service, address, shardId, instanceId } }, 'instance registered');
      return res;
    }),
    heartbeat: unary(log, 'Heartbeat', async (req) => ({ placementEpoch: state.heartbeat(req.instanceId) })),
    deregister: unary(log, 'Deregister', async (req) => {
      if (state.deregister(req.instanceId)) log.info({ instanceId: req.instanceId }, 'instance deregistered');
      return {};
    }),
  };
}

/** The registry service ready to pass to `startServer` from `@shardlab/rpc`. */
export function registryMountedService(state: RegistryState, logger: Logger): MountedService {
  return { name: REGISTRY_SERVICE_NAME, definition: RegistryServiceService, implementation: registryService(state, logger) };
}
