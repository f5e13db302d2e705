// The simulator process: startSimulator reads the chain id from the registry, serves SimulatorService over shard state sources, and registers with the registry.
import { randomUUID } from 'node:crypto';
import { createChainCommon } from '@shardlab/chain';
import { createPeers, startMembership, type Membership, type RegistryDirectory } from '@shardlab/registry';
import { retryWhileUnavailable, startServer, type RunningServer } from '@shardlab/rpc';
import type { Logger } from '@shardlab/telemetry';
import { CodeCache } from './remote-state';
import { createShardLockClient, createShardStateSource } from './shard-source';
import { simulatorService } from './service';

/** Options of {@link startSimulator}. */
export interface SimulatorOpts {
  port: number;
  host: string;
  /** Address other services use to reach this instance; default the bound `host:port`. */
  advertiseAddress?: string;
  /**
   * Registry directory: chain id, placement, where shards are found, and whose registry client
   * registers this instance. The caller closes it after {@link RunningSimulator.close}.
   */
  directory: RegistryDirectory;
  /** Deadline of each shard call, in ms (default 5000, `PEER_CALL_DEFAULTS` of `@shardlab/registry`). */
  shardDeadlineMs?: number;
  /** Base fee per gas in wei; default 1 gwei. */
  baseFeePerGas?: bigint;
  /** Lifetime of the simulation locks taken on the shards, in ms (default 30,000). */
  lockTtlMs?: number;
  /** Longest a shard queues one lock request of a simulation, in ms (default 20,000). */
  lockWaitMs?: number;
  logger: Logger;
}

/** A running simulator. */
export interface RunningSimulator {
  readonly server: RunningServer;
  readonly membership: Membership;
  /** Contract code cached across simulations. */
  readonly codeCache: CodeCache;
  close(): Promise<void>;
}

/**
 * Starts the simulator: reads the chain id from the registry (waiting for it), serves
 * `shardlab.v1.SimulatorService` (plus health and reflection) reading the state shards through the
 * registry's placement and endpoints, and registers as service `simulator`. Each simulation
 * locks the keys it needs on their shards (`lockTtlMs`, `lockWaitMs`). Logs `simulator listening` with
 * `address` and `port` once registered.
 */
export async function startSimulator(opts: SimulatorOpts): Promise<RunningSimulator> {
  const log = opts.logger;
  const config = await retryWhileUnavailable(() => opts.directory.config(), log, 'the registry');
  const common = createChainCommon({ chainId: config.chainId });
  const peers = createPeers({
    directory: opts.directory,
    logger: log,
    ...(opts.shardDeadlineMs !== undefined ? { calls: { 'state-shard': { deadlineMs: opts.shardDeadlineMs } } } : {}),
  });
  const codeCache = new CodeCache();
  const service = simulatorService({
    logger: log,
    common,
    codeCache,
    ...(opts.baseFeePerGas !== undefined ? { baseFeePerGas: opts.baseFeePerGas } : {}),
    ...(opts.lockTtlMs !== undefined ? { lockTtlMs: opts.lockTtlMs } : {}),
    ...(opts.lockWaitMs !== undefined ? { lockWaitMs: opts.lockWaitMs } : {}),
    sourceFor: (signal) => createShardStateSource({ peers, signal }),
    locksFor: (signal) => createShardLockClient({ peers, signal }),
  });
  const server = await startServer({ port: opts.port, host: opts.host, services: [service], logger: log });
  const membership = startMembership({
    client: opts.directory.registry,
    endpoint: { service: 'simulator', address: opts.advertiseAddress ?? server.address, shardId: 0, instanceId: `simulator-${randomUUID().slice(0, 8)}` },
    logger: log,
    onPlacementEpoch: (epoch) => opts.directory.observeEpoch(epoch),
  });
  try {
    await membership.registered;
  } catch (err) {
    await server.close();
    peers.close();
    throw err;
  }
  log.info({ address: server.address, port: server.port, chainId: config.chainId, shardCount: config.shardCount }, 'simulator listening');
  return {
    server,
    membership,
    codeCache,
    close: async () => {
      await membership.stop();
      await server.close();
      peers.close();
    },
  };
}
