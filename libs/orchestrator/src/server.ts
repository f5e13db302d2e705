// startOrchestrator: the orchestrator process — registry config, LevelDB store, node, gRPC server, shard block stream follows, simulator calls, registry membership
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createChainCommon, decodeTransaction, shardOf } from '@shardlab/chain';
import type { SimulateResponse, StateShardBlock, Transaction } from '@shardlab/proto';
import { createPeers, peerStream, startMembership, type Membership, type RegistryDirectory } from '@shardlab/registry';
import { followStream, retryWhileUnavailable, startServer, type RunningServer } from '@shardlab/rpc';
import { LevelKV } from '@shardlab/storage';
import type { Logger } from '@shardlab/telemetry';
import { createOrchestratorNode, type OrchestratorNode } from './node';
import { orchestratorService } from './service';

/** Options of {@link startOrchestrator}. */
export interface OrchestratorOpts {
  port: number;
  host: string;
  /** Address other services use to reach this instance; default the bound `host:port`. */
  advertiseAddress?: string;
  /** Directory of this instance's LevelDB store (created if missing). */
  dataDir: string;
  /**
   * Registry directory: shard count, placement, block interval, where shards and simulators are
   * found, and whose registry client registers this instance. The caller closes it after
   * {@link RunningOrchestrator.close}.
   */
  directory: RegistryDirectory;
  /** Orchestrator block interval in milliseconds; default the registry's block interval. */
  blockIntervalMs?: number;
  /** Orchestrator blocks to wait for votes before aborting [20]. */
  voteTimeoutBlocks?: number;
  /**
   * Whether it follows the state shards' block streams (their votes) [true]. Off when the shards
   * run client-led two-phase commit: their clients coordinate, and a vote in a shard block is not
   * the orchestrator's to tally (it would learn the transaction from it and time it out).
   */
  followShards?: boolean;
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
  const peers = createPeers({ directory: opts.directory, logger: log });
  // The simulator of cross-shard contract calls, found through the registry (service `simulator`).
  const simulate = async (tx: Transaction): Promise<SimulateResponse> => {
    const simulator = await peers.simulator();
    return simulator.call<SimulateResponse>((c, md, o, cb) => c.simulate({ tx }, md, o, cb));
  };
  const node = await createOrchestratorNode({
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
  const follows = Array.from({ length: opts.followShards === false ? 0 : config.shardCount }, (_, shardId) =>
    followStream<StateShardBlock>({
      name: `shard ${shardId} blocks`,
      signal: stop.signal,
      logger: log,
      open: (signal) => peerStream(() => peers.shard(shardId), (c, md, o) => c.subscribeBlocks({ fromHeight: node.shardCursor(shardId) + 1 }, md, o), signal),
      handle: (b) => node.onShardBlock(shardId, b),
    }),
  );

  const membership = startMembership({
    client: opts.directory.registry,
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
      peers.close();
      await kv.close();
    },
  };
}
