// startTestRegistry: a real registry on a free port for tests, with fake services served and registered with it.
import { RegistryState, registryMountedService, startMembership, type Membership } from '@shardlab/registry';
import { startServer, type MountedService, type RunningServer } from '@shardlab/rpc';
import type { Logger } from '@shardlab/telemetry';

/** A real registry on a free local port, with fake services registered with it (see {@link startTestRegistry}). */
export interface TestRegistry {
  readonly address: string;
  /**
   * Serves `service` on a free port (no reflection) and registers it as `endpoint` (service name,
   * shard id, instance id); resolves once the registry has it.
   */
  join(service: MountedService, endpoint: { service: string; shardId: number; instanceId: string }): Promise<{ server: RunningServer; membership: Membership }>;
  /** Deregisters every joined service and closes every server (the registry's too). */
  stop(): Promise<void>;
}

/**
 * Starts a real registry (`RegistryState` and its gRPC service) for a network of `shardCount`
 * shards (chain id 1337, 250 ms blocks), for tests that put fake shards or orchestrators behind
 * it. The caller stops it; if start-up fails, whatever was started is closed.
 */
export async function startTestRegistry(shardCount: number, logger: Logger): Promise<TestRegistry> {
  const servers: RunningServer[] = [];
  const members: Membership[] = [];
  const stop = async () => {
    await Promise.all(members.map((m) => m.stop()));
    await Promise.all(servers.map((s) => s.close(100)));
  };
  const registry = await startServer({
    port: 0,
    logger,
    services: [registryMountedService(new RegistryState({ shardCount, chainId: 1337, blockIntervalMs: 250 }), logger)],
  });
  servers.push(registry);
  return {
    address: registry.address,
    stop,
    join: async (service, endpoint) => {
      const server = await startServer({ port: 0, logger, services: [service], reflection: false });
      servers.push(server);
      const membership = startMembership({ registryAddress: registry.address, endpoint: { ...endpoint, address: server.address }, logger });
      members.push(membership);
      await membership.registered;
      return { server, membership };
    },
  };
}
