// Starting a gateway: the Gateway over the registry directory, its gRPC server, and its registration with the registry.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { startMembership, type Membership, type RegistryDirectory } from '@shardlab/registry';
import { startServer, type RunningServer } from '@shardlab/rpc';
import { createGateway, type Gateway, type GatewayOpts } from './gateway';
import { gatewayMountedService } from './service';

/** Options of {@link startGateway}: those of the gateway, plus where it serves and how it registers. */
export interface GatewayServerOpts extends Omit<GatewayOpts, 'directory'> {
  /** gRPC port; 0 picks a free one. */
  port: number;
  /** Address to bind; default 127.0.0.1 (`0.0.0.0` in containers). */
  host?: string;
  /** Address announced to the registry; default the bound `host:port`. */
  advertiseAddress?: string;
  /** Unique id of this instance; default `gateway-<hostname>-<random>`. */
  instanceId?: string;
  /**
   * Registry directory: where shards and the orchestrator are found, the placement, and whose
   * registry client registers this instance (placement epochs it reports refresh the directory).
   * The caller closes it after {@link RunningGateway.close}.
   */
  directory: RegistryDirectory;
}

/** A running gateway. */
export interface RunningGateway {
  readonly gateway: Gateway;
  readonly server: RunningServer;
  readonly membership: Membership;
  /**
   * Deregisters, then stops accepting calls while open watches end (UNAVAILABLE: clients watch
   * again elsewhere) and closes the gateway's clients. The directory is the caller's to close.
   */
  close(): Promise<void>;
}

/**
 * Starts a gateway: serves `shardlab.v1.GatewayService` (plus health and reflection) over a
 * {@link Gateway} that finds shards and the orchestrator through `opts.directory`, registers as
 * service `gateway` with the directory's registry client, and logs `gateway listening` (with
 * `address` and `registry`) once registered.
 * @throws ShardLabError INVALID_ARGUMENT when the registry refuses the registration (what was
 *   started is closed first); errors of `startServer` (e.g. the port is taken).
 */
export async function startGateway(opts: GatewayServerOpts): Promise<RunningGateway> {
  const { port, host, advertiseAddress, instanceId, ...gatewayOpts } = opts;
  const log = opts.logger;
  const gateway = createGateway(gatewayOpts);
  let server: RunningServer;
  try {
    server = await startServer({ port, ...(host !== undefined ? { host } : {}), services: [gatewayMountedService(gateway, log)], logger: log });
  } catch (err) {
    await gateway.close();
    throw err;
  }
  const membership = startMembership({
    client: opts.directory.registry,
    endpoint: {
      service: 'gateway',
      address: advertiseAddress ?? server.address,
      shardId: 0,
      instanceId: instanceId ?? `gateway-${hostname()}-${randomUUID().slice(0, 8)}`,
    },
    logger: log,
    onPlacementEpoch: (epoch) => opts.directory.observeEpoch(epoch),
  });
  const close = async () => {
    await membership.stop();
    await Promise.all([server.close(), gateway.close()]);
  };
  try {
    await membership.registered;
  } catch (err) {
    await close();
    throw err;
  }
  log.info({ address: server.address, registry: opts.directory.registry.address }, 'gateway listening');
  return { gateway, server, membership, close };
}
