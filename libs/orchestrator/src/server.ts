import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createChainCommon, decodeTransaction, shardOf } from '@shardlab/chain';
import { errors } from '@shardlab/common';
import { SimulatorServiceClient, StateShardServiceClient, type SimulateResponse, type StateShardBlock, type Transaction } from '@shardlab/proto';
import { createRegistryClient, retryWhileUnavailable, startMembership, type Membership, type RegistryDirectory } from '@shardlab/registry';
import { createClient, followStream, startServer, streamCall, unaryCall, type RunningServer } from '@shardlab/rpc';
import { LevelKV } from '@shardlab/storage';
import type { Logger } from '@shardlab/telemetry';
import { OrchestratorNode } from './node';
import { orchestratorService } from './service';

/** Options of {@link startOrchestrator}. */
export interface OrchestratorOpts {
  port: number;
  host: string;
  /** Address other services use to reach this instance; default the bound `host:port`. */
  advertiseAddress?: string;
  /** Directory of this instance's LevelDB store (created if missing). */
  dataDir: string;
  /** Registry directory: shard count, placement, block interval, shard endpoints. */
  directory: RegistryDirectory;
  registryAddress: string;
  /** Orchestrator block interval in milliseconds; default the registry's block interval. */
  blockIntervalMs?: number;
  /** Orchestrator blocks to wait for votes before aborting [20]. */
  voteTimeoutBlocks?: number;
  logger: Logger;
}

/** A running orchestrator process. */
export interface RunningOrchestrator {
  readonly node: OrchestratorNode;
  readonly server: RunningServer;
  readonly membership: Membership;
  close(): Promise<void>;
}

/**
 * Starts the orchestrator shard: reads shard count and placement from the registry, opens its
 * LevelDB store (resuming blocks, records and per-shard cursors), serves
 * `shardlab.v1.OrchestratorService` (plus health and reflection), follows every state shard's
 * block stream from its durable cursor, produces blocks and registers with the registry.
 * @throws ShardLabError UNAVAILABLE when the registry cannot be reached.
 */
export async function startOrchestrator(opts: OrchestratorOpts): Promise<RunningOrchestrator> {
  const log = opts.logger;
  const config = await retryWhileUnavailable(() => opts.directory.config(), log, 'the registry');
  const placement = await opts.directory.placement();
  mkdirSync(opts.dataDir, { recursive: true });
  const kv = await LevelKV.open(opts.dataDir);
  // The simulator of cross-shard contract calls, found through the registry (service `simulator`).
  const registry = createRegistryClient(opts.registryAddress);
  const simClients = new Map<string, SimulatorServiceClient>();
  const simulate = async (tx: Transaction): Promise<SimulateResponse> => {
    const { endpoints } = await registry.listEndpoints('simulator');
    const live = endpoints.filter((e) => e.alive);
    if (live.length === 0) throw errors.unavailable('no simulator is registered');
    const ep = live[Math.floor(Math.random() * live.length)]!;
    let c = simClients.get(ep.address);
    if (!c) simClients.set(ep.address, (c = createClient(SimulatorServiceClient, ep.address)));
    const client = c;
    return unaryCall<SimulateResponse>(`simulator ${ep.address}`, (md, o, cb) => client.simulate({ tx }, md, o, cb), { deadlineMs: 30_000 });
  };
  const node = await OrchestratorNode.create({
    simulate,
    kv,
    logger: log,
    shardCount: config.shardCount,
    shardOf: (a) => shardOf(placement, a),
    decode: ((common) => (raw: Uint8Array) => decodeTransaction(raw, common))(createChainCommon({ chainId: config.chainId })),
    blockIntervalMs: opts.blockIntervalMs ?? config.blockIntervalMs,
    ...(opts.voteTimeoutBlocks !== undefined ? { voteTimeoutBlocks: opts.voteTimeoutBlocks } : {}),
  });
  const server = await startServer({ port: opts.port, host: opts.host, services: [orchestratorService(node, log)], logger: log });
  node.start();

  const stop = new AbortController();
  const clients = new Map<string, StateShardServiceClient>();
  const follows = Array.from({ length: config.shardCount }, (_, shardId) =>
    followStream<StateShardBlock>({
      name: `shard ${shardId} blocks`,
      signal: stop.signal,
      logger: log,
      open: (signal) =>
        (async function* () {
          const ep = await opts.directory.shardEndpoint(shardId).catch((err: unknown) => {
            opts.directory.invalidate();
            throw err;
          });
          let client = clients.get(ep.address);
          if (!client) clients.set(ep.address, (client = createClient(StateShardServiceClient, ep.address)));
          const c = client;
          yield* streamCall(`shard ${shardId}`, (md, o) => c.subscribeBlocks({ fromHeight: node.shardCursor(shardId) + 1 }, md, o), signal);
        })(),
      handle: (b) => node.onShardBlock(shardId, b),
    }),
  );

  const membership = startMembership({
    registryAddress: opts.registryAddress,
    endpoint: { service: 'orchestrator', address: opts.advertiseAddress ?? server.address, shardId: 0, instanceId: `orchestrator-${randomUUID().slice(0, 8)}` },
    logger: log,
  });
  await membership.registered;
  log.info({ address: server.address, height: node.headInfo().height, inFlight: node.inFlight(), blockIntervalMs: node.blockIntervalMs }, 'orchestrator serving');
  return {
    node,
    server,
    membership,
    close: async () => {
      await membership.stop();
      stop.abort();
      await server.close();
      await node.stop();
      await Promise.all(follows);
      for (const c of clients.values()) c.close();
      for (const c of simClients.values()) c.close();
      registry.close();
      await kv.close();
    },
  };
}
