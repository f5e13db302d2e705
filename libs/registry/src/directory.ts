// RegistryDirectory: the client-side cache of the registry's answers (config, placement, shard replicas, service endpoints), refreshed when the placement epoch changes.
import { errors } from '@shardlab/common';
import { createPlacement, type Placement } from '@shardlab/chain';
import type { Endpoint, GetConfigResponse, ListShardsResponse } from '@shardlab/proto';
import type { Logger } from '@shardlab/telemetry';
import { createRegistryClient, DEFAULT_REGISTRY_DEADLINE_MS, type RegistryClient } from './client';
import type { ServiceName } from './state';

/**
 * A client-side cache of what the registry knows (docs/ARCHITECTURE.md §2: services cache the
 * placement tagged with its epoch and refresh when the epoch changes). Each cached answer is kept
 * while the placement epoch it was fetched at is the latest epoch observed; an answer or
 * heartbeat carrying another epoch makes the others stale. Failures of the registry are thrown
 * as ShardLabErrors (UNAVAILABLE when it cannot be reached) and are not cached.
 */
export interface RegistryDirectory {
  /**
   * The registry client the directory asks (e.g. for a membership loop, so that a service opens
   * one registry client only). Closed by {@link close} when the directory created it.
   */
  readonly registry: RegistryClient;
  /** GetConfig (shard count, chain id, block interval, placement epoch), cached. */
  config(): Promise<GetConfigResponse>;
  /** The placement (from GetPlacement), cached per epoch; use with `shardOf` from `@shardlab/chain`. */
  placement(): Promise<Placement>;
  /**
   * The endpoint of a live replica of `shardId` (from ListShards, cached). When the cached list
   * shows no live replica, the list is fetched again once.
   * @throws ShardLabError INVALID_ARGUMENT when shardId is not in 0..shardCount-1; UNAVAILABLE
   *   when no live replica of the shard is registered, or the registry cannot be reached.
   */
  shardEndpoint(shardId: number): Promise<Endpoint>;
  /** ListShards fetched from the registry now (and cached for {@link shardEndpoint}). */
  listShards(): Promise<ListShardsResponse>;
  /**
   * The registered instances of `service`, alive or not (ListEndpoints, cached until
   * {@link invalidate} or a new placement epoch). When the cached list shows no live instance, the
   * list is fetched again once.
   * @throws ShardLabError UNAVAILABLE when the registry cannot be reached.
   */
  endpoints(service: ServiceName): Promise<Endpoint[]>;
  /** Drops the cached shard endpoints and service endpoints, e.g. after a peer did not answer. */
  invalidate(): void;
  /**
   * Records a placement epoch seen elsewhere (a heartbeat, a lookup); when it differs from the
   * latest one, every cached answer is refreshed on next use.
   */
  observeEpoch(epoch: number): void;
  /** The latest placement epoch observed; undefined before the first answer. */
  epoch(): number | undefined;
  /** Closes the registry client (when the directory created it). */
  close(): void;
}

/** Options of {@link createRegistryDirectory}. */
export interface RegistryDirectoryOpts {
  /** `host:port` of the registry. */
  registryAddress: string;
  logger: Logger;
  /** Deadline of each registry call, in milliseconds; default {@link DEFAULT_REGISTRY_DEADLINE_MS}. */
  deadlineMs?: number;
  /** A client to use instead of creating one (tests); not closed by `close`. */
  client?: RegistryClient;
}

interface Cached<T> {
  /** Placement epoch the answer was fetched at; undefined while the fetch is in flight. */
  epoch: number | undefined;
  value: Promise<T>;
}

interface CachedList {
  /** Latest placement epoch observed when the list was fetched. */
  epoch: number | undefined;
  /** Whether the answer had arrived (a cached answer, not a fetch in flight). */
  settled: boolean;
  value: Promise<Endpoint[]>;
}

/** Creates a {@link RegistryDirectory}; nothing is fetched until first asked. */
export function createRegistryDirectory(opts: RegistryDirectoryOpts): RegistryDirectory {
  const log = opts.logger.child({ module: 'registry-directory', registry: opts.registryAddress });
  const client = opts.client ?? createRegistryClient(opts.registryAddress, { deadlineMs: opts.deadlineMs ?? DEFAULT_REGISTRY_DEADLINE_MS });
  let latestEpoch: number | undefined;
  let configCache: Cached<GetConfigResponse> | undefined;
  let placementCache: Cached<Placement> | undefined;
  let shardsCache: Cached<ListShardsResponse> | undefined;
  /** ListEndpoints per service, tagged with the latest epoch observed when fetched (the answer carries none). */
  const endpointsCache = new Map<ServiceName, CachedList>();

  const observeEpoch = (epoch: number) => {
    if (latestEpoch !== undefined && epoch !== latestEpoch) {
      log.info({ from: latestEpoch, to: epoch }, 'placement epoch changed; refreshing cached registry answers');
    }
    latestEpoch = epoch;
  };

  /** Returns the cached answer when fresh, else fetches it (one fetch at a time). */
  function cached<T>(
    get: () => Cached<T> | undefined,
    set: (c: Cached<T> | undefined) => void,
    fetch: () => Promise<T>,
    epochOf: (v: T) => number,
  ): Promise<T> {
    const c = get();
    if (c && (c.epoch === undefined || c.epoch === latestEpoch)) return c.value;
    const entry: Cached<T> = { epoch: undefined, value: fetch() };
    set(entry);
    entry.value.then(
      (v) => {
        entry.epoch = epochOf(v);
        observeEpoch(entry.epoch);
      },
      () => {
        if (get() === entry) set(undefined);
      },
    );
    return entry.value;
  }

  const config = () =>
    cached(
      () => configCache,
      (c) => (configCache = c),
      () => client.getConfig(),
      (v) => v.placementEpoch,
    );

  const placement = () =>
    cached(
      () => placementCache,
      (c) => (placementCache = c),
      async () => {
        const p = await client.getPlacement();
        return createPlacement(
          p.shardCount,
          p.epoch,
          p.overrides.map((o) => [o.address, o.shardId] as [string, number]),
        );
      },
      (v) => v.epoch,
    );

  const shards = () =>
    cached(
      () => shardsCache,
      (c) => (shardsCache = c),
      () => client.listShards(),
      (v) => v.placementEpoch,
    );

  /** Fetches ListEndpoints of `service` into the cache (tagged with the latest epoch observed). */
  const fetchEndpoints = (service: ServiceName): Promise<Endpoint[]> => {
    const entry: CachedList = { epoch: latestEpoch, settled: false, value: client.listEndpoints(service).then((r) => r.endpoints) };
    endpointsCache.set(service, entry);
    entry.value.then(
      () => (entry.settled = true),
      () => {
        if (endpointsCache.get(service) === entry) endpointsCache.delete(service);
      },
    );
    return entry.value;
  };

  const liveReplica = (list: ListShardsResponse, shardId: number) =>
    list.shards.find((s) => s.shardId === shardId)?.replicas.find((r) => r.alive);

  return {
    registry: client,
    config,
    placement,
    shardEndpoint: async (shardId) => {
      const cfg = await config();
      if (!Number.isInteger(shardId) || shardId < 0 || shardId >= cfg.shardCount) {
        throw errors.invalidArgument(`shard ${shardId} does not exist: this network has shards 0..${cfg.shardCount - 1}`);
      }
      const wasCached = shardsCache !== undefined && shardsCache.epoch !== undefined && shardsCache.epoch === latestEpoch;
      let replica = liveReplica(await shards(), shardId);
      if (!replica && wasCached) {
        shardsCache = undefined;
        replica = liveReplica(await shards(), shardId);
      }
      if (!replica) throw errors.unavailable(`shard ${shardId} unavailable: no live replica is registered with the registry`, { shardId });
      return replica;
    },
    listShards: () => {
      shardsCache = undefined;
      return shards();
    },
    endpoints: async (service) => {
      const c = endpointsCache.get(service);
      const fresh = c !== undefined && c.epoch === latestEpoch;
      const wasAnswered = fresh && c.settled;
      const list = await (fresh ? c.value : fetchEndpoints(service));
      // A cached answer without a live instance may be stale: ask once more.
      if (wasAnswered && !list.some((e) => e.alive)) return fetchEndpoints(service);
      return list;
    },
    invalidate: () => {
      shardsCache = undefined;
      endpointsCache.clear();
    },
    observeEpoch,
    epoch: () => latestEpoch,
    close: () => {
      if (!opts.client) client.close();
    },
  };
}

/**
 * Starts a service on a registry directory of its own: opens the directory for the registry at
 * `registryAddress`, calls `start` with it, and returns a handle whose `close` closes the service,
 * then the directory (what every app's `main.ts` needs).
 * @throws what `start` throws, after closing the directory.
 */
export async function startOnDirectory(registryAddress: string, logger: Logger, start: (directory: RegistryDirectory) => Promise<{ close(): Promise<void> }>): Promise<{ close(): Promise<void> }> {
  const directory = createRegistryDirectory({ registryAddress, logger });
  try {
    const service = await start(directory);
    return {
      close: async () => {
        await service.close();
        directory.close();
      },
    };
  } catch (err) {
    directory.close();
    throw err;
  }
}
