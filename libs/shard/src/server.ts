// The state shard process: genesis file and allocation, startStateShard (store, node, gRPC server, the block streams its protocol follows, membership), the batched forwarder to the orchestrator.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import { createChainCommon, DEV_ACCOUNT_BALANCE, devAccounts, SignaturePool, toProtoTransaction, type Placement } from '@shardlab/chain';
import { errors, parseAddress, parseWei } from '@shardlab/common';
import { StateShardServiceService, type ForwardTransactionRequest, type ForwardTransactionsResponse, type DryRunCallResponse, type OrchestratorBlock, type ReceiptBatch, type TxStatus } from '@shardlab/proto';
import { createPeers, peerStream, startMembership, type Membership, type Peers, type RegistryDirectory } from '@shardlab/registry';
import { followStream, MicroBatcher, retryWhileUnavailable, startServer, withSharedResponseEncoding, unpackOutcomes, type RunningServer } from '@shardlab/rpc';
import { LevelKV, ShardStore } from '@shardlab/storage';
import { injectContext, type Logger } from '@shardlab/telemetry';
import { createShardNode, type Forwarder, type ShardNode } from './node';
import { stateShardService } from './service';
import type { ShardProtocolName } from './context';

/** Fully qualified name of the state-shard gRPC service (for health checks). */
export const STATE_SHARD_SERVICE_NAME = 'shardlab.v1.StateShardService';

/**
 * Reads a genesis file: JSON `{ "alloc": { "0xaddress": "wei as decimal string", ... } }`.
 * @throws ShardLabError INVALID_ARGUMENT naming the file and the bad entry.
 */
export async function readGenesisFile(path: string): Promise<Map<string, bigint>> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw errors.invalidArgument(`cannot read genesis file ${path}: ${(err as Error).message}`);
  }
  const alloc = (json as { alloc?: unknown }).alloc;
  if (typeof alloc !== 'object' || alloc === null) throw errors.invalidArgument(`genesis file ${path} has no "alloc" object`);
  const out = new Map<string, bigint>();
  for (const [address, wei] of Object.entries(alloc as Record<string, unknown>)) {
    // A JSON number above 2^53 has already lost precision in JSON.parse: insist on a string.
    if (typeof wei === 'number' && !Number.isSafeInteger(wei)) {
      throw errors.invalidArgument(`genesis alloc of ${address} in ${path} must be a decimal string of wei: ${wei} is not exact as a JSON number`);
    }
    out.set(parseAddress(address, `genesis alloc address`), parseWei(String(wei), `genesis alloc of ${address}`));
  }
  return out;
}

/**
 * The genesis allocation of a network: the ten development accounts with
 * {@link DEV_ACCOUNT_BALANCE} each, plus (overriding) the entries of `extra`.
 */
export function genesisAllocation(extra: ReadonlyMap<string, bigint> = new Map()): Map<string, bigint> {
  const alloc = new Map(devAccounts().map((a) => [a.address, DEV_ACCOUNT_BALANCE]));
  for (const [a, v] of extra) alloc.set(a, v);
  return alloc;
}

/** Options of {@link startStateShard}. */
export interface StateShardOpts {
  shardId: number;
  /** Directory of this instance's LevelDB store (created if missing). */
  dataDir: string;
  port: number;
  host: string;
  /** Address other services use to reach this instance; default the bound `host:port`. */
  advertiseAddress?: string;
  /**
   * Registry directory: the source of shard count, chain id, placement and block interval, where
   * the orchestrator is found, and whose registry client registers this instance. The caller
   * closes it after {@link RunningStateShard.close}.
   */
  directory: RegistryDirectory;
  /** Block interval in milliseconds; default the registry's. */
  blockIntervalMs?: number;
  maxTxsPerBlock?: number;
  /** Extra genesis allocation besides the development accounts. */
  genesisExtra?: ReadonlyMap<string, bigint>;
  /** Longest simulation lock granted, in ms; longer requests are capped [60,000]. */
  simulationLockMaxTtlMs?: number;
  /** The cross-shard commit protocol [`block-2pc`]; every shard of a network must run the same one. */
  protocol?: ShardProtocolName;
  /** Client-led: blocks after a vote without a decision before the shard aborts by itself [40]. */
  lockTimeoutBlocks?: number;
  logger: Logger;
}

/** A running state shard process. */
export interface RunningStateShard {
  readonly node: ShardNode;
  readonly server: RunningServer;
  readonly membership: Membership;
  close(): Promise<void>;
}

/**
 * Starts a state shard: reads the network configuration from the registry, opens (or creates)
 * the LevelDB store, writes genesis or resumes at the stored head, serves
 * `shardlab.v1.StateShardService` (plus health and reflection), registers with the registry and
 * produces blocks.
 * @throws ShardLabError INVALID_ARGUMENT when the shard id is outside the registry's shard count;
 *   UNAVAILABLE when the registry cannot be reached.
 */
export async function startStateShard(opts: StateShardOpts): Promise<RunningStateShard> {
  const log = opts.logger.child({ shardId: opts.shardId });
  const config = await retryWhileUnavailable(() => opts.directory.config(), log, 'the registry');
  const placement: Placement = await opts.directory.placement();
  if (opts.shardId >= config.shardCount) {
    throw errors.invalidArgument(`shard id ${opts.shardId} is outside the registry's ${config.shardCount} shards (0..${config.shardCount - 1})`);
  }
  mkdirSync(opts.dataDir, { recursive: true });
  const store = await ShardStore.open(await LevelKV.open(opts.dataDir));
  const signaturePool = new SignaturePool(config.chainId);
  const peers = createPeers({ directory: opts.directory, logger: log });
  const node = await createShardNode({
    shardId: opts.shardId,
    placement,
    common: createChainCommon({ chainId: config.chainId }),
    store,
    logger: log,
    genesis: genesisAllocation(opts.genesisExtra),
    blockIntervalMs: opts.blockIntervalMs ?? config.blockIntervalMs,
    ...(opts.maxTxsPerBlock !== undefined ? { maxTxsPerBlock: opts.maxTxsPerBlock } : {}),
    ...(opts.simulationLockMaxTtlMs !== undefined ? { simulationLockMaxTtlMs: opts.simulationLockMaxTtlMs } : {}),
    signaturePool,
    forwarder: orchestratorForwarder(peers),
    ...(opts.protocol ? { protocol: opts.protocol } : {}),
    ...(opts.lockTimeoutBlocks !== undefined ? { lockTimeoutBlocks: opts.lockTimeoutBlocks } : {}),
    dryRunCallOn: async (shardId, raw) => {
      const shard = await peers.shard(shardId);
      const res = await shard.call<DryRunCallResponse>((c, md, o, cb) => c.dryRunCall({ rawTransaction: Buffer.from(raw) }, md, o, cb));
      return res.reachedShards;
    },
  });
  const server = await startServer({
    port: opts.port,
    host: opts.host,
    // Every subscriber (orchestrator, gateways, experiment runners) gets the same block: encode it once.
    services: [{ name: STATE_SHARD_SERVICE_NAME, definition: withSharedResponseEncoding(StateShardServiceService, 'subscribeBlocks'), implementation: stateShardService(node, log) }],
    logger: log,
  });
  node.start();
  const stop = new AbortController();
  // The streams the shard's cross-shard protocol follows (block-2PC: the orchestrator's blocks;
  // shard-led besides: every other shard's receipt batches), each resumed after its cursor.
  const following = Promise.all(
    node.protocol.follows.map((f) =>
      f.service === 'orchestrator'
        ? followStream<OrchestratorBlock>({
            name: 'orchestrator blocks',
            signal: stop.signal,
            logger: log,
            open: (signal) => peerStream(() => peers.orchestrator(), (c, md, o) => c.subscribeBlocks({ fromHeight: f.cursor() + 1 }, md, o), signal),
            handle: (b) => f.accept(b),
          })
        : followStream<ReceiptBatch>({
            name: `shard ${f.shardId} receipts`,
            signal: stop.signal,
            logger: log,
            open: (signal) => peerStream(() => peers.shard(f.shardId), (c, md, o) => c.subscribeReceipts({ destShard: opts.shardId, fromHeight: f.cursor() + 1 }, md, o), signal),
            handle: (b) => f.accept(b),
          }),
    ),
  );
  const membership = startMembership({
    client: opts.directory.registry,
    endpoint: { service: 'state-shard', address: opts.advertiseAddress ?? server.address, shardId: opts.shardId, instanceId: `state-shard-${opts.shardId}-${randomUUID().slice(0, 8)}` },
    logger: log,
  });
  await membership.registered;
  const head = node.head();
  log.info({ address: server.address, height: head.height, stateRoot: head.stateRoot, blockIntervalMs: node.blockIntervalMs }, 'state shard serving');
  return {
    node,
    server,
    membership,
    close: async () => {
      await membership.stop();
      stop.abort();
      await following;
      await server.close();
      await node.stop();
      peers.close();
      await store.close();
      await signaturePool.close();
    },
  };
}

/**
 * The {@link Forwarder} that hands cross-shard transactions over to the orchestrator (found
 * through `peers`). Forwards made close together travel in one ForwardTransactions call (the
 * orchestrator makes them durable in one write); each keeps its own outcome and trace context.
 */
function orchestratorForwarder(peers: Peers): Forwarder {
  const batcher = new MicroBatcher<ForwardTransactionRequest, { status: TxStatus }>({
    // The raw transaction twice (raw and decoded fields) plus the envelope, roughly.
    sizeOf: (item) => 2 * (item.tx?.raw.length ?? 0) + 512,
    send: async (items) => {
      const orchestrator = await peers.orchestrator();
      const res = await orchestrator.call<ForwardTransactionsResponse>((c, md, o, cb) => c.forwardTransactions({ transactions: items }, md, o, cb));
      return unpackOutcomes('orchestrator', items.length, res.results);
    },
  });
  return {
    forward: async (d, homeShard, involvedShards) => {
      await batcher.call({ tx: toProtoTransaction(d), homeShard, involvedShards, rwSet: undefined, traceContext: injectContext() });
    },
  };
}
