// RegistryState, the registry's pure state: network config, placement with its epoch, registered instances and their liveness; plus validation of service names and host:port.
import { errors, parseAddress } from '@shardlab/common';
import { createPlacement, shardOf, type Placement } from '@shardlab/chain';
import type {
  Endpoint,
  GetConfigResponse,
  GetPlacementResponse,
  ListShardsResponse,
  LookupShardResponse,
  RegisterResponse,
} from '@shardlab/proto';

/** Names of the services that may register (the `Endpoint.service` field). */
export const SERVICE_NAMES = ['registry', 'gateway', 'state-shard', 'orchestrator', 'simulator'] as const;

/** One of {@link SERVICE_NAMES}. */
export type ServiceName = (typeof SERVICE_NAMES)[number];

/** The default placement rule's name, as reported by GetPlacement. */
export const PLACEMENT_RULE = 'last-byte-mod';

/** Default interval at which registered instances are asked to heartbeat, in milliseconds. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 1000;

/** What an instance announces when it registers (the registry fills in liveness). */
export interface EndpointRegistration {
  /** One of {@link SERVICE_NAMES}. */
  service: string;
  /** `host:port` of the instance's gRPC server. */
  address: string;
  /** Shard id; meaningful for `state-shard` only (must be < shardCount there; stored as 0 for other services). */
  shardId: number;
  /** Unique id of the instance; registering it again updates the entry. */
  instanceId: string;
}

/** Options of {@link RegistryState}. */
export interface RegistryStateOpts {
  /** Number of state shards (shards 0..shardCount-1); a positive integer. */
  shardCount: number;
  /** EIP-155 chain id of the network. */
  chainId: number;
  /** Block interval of state shards, in milliseconds (reported by GetConfig). */
  blockIntervalMs: number;
  /** How often instances must heartbeat, in milliseconds; default {@link DEFAULT_HEARTBEAT_INTERVAL_MS}. */
  heartbeatIntervalMs?: number;
  /** An instance is alive while its last heartbeat is at most this old, in milliseconds; default 3 × heartbeatIntervalMs. */
  livenessMs?: number;
  /**
   * A dead instance is forgotten (removed; its next heartbeat answers NOT_FOUND) once its last
   * heartbeat is this old, in milliseconds; default 10 × livenessMs.
   */
  forgetAfterMs?: number;
  /** Explicit placements (address → shard) overriding the default rule; default none. */
  overrides?: Iterable<[string, number]>;
  /** Clock in milliseconds since the Unix epoch; default `Date.now`. Tests inject a fake one. */
  now?: () => number;
}

interface Entry {
  registration: EndpointRegistration;
  lastHeartbeatMs: number;
}

/**
 * The registry's state (docs/ARCHITECTURE.md §1): network configuration, the account-to-shard
 * placement tagged with an epoch (starting at 1), and the registered service instances with their
 * liveness. Pure: no I/O, time comes from the injected clock. Every method validates its input and
 * throws {@link ShardLabError}s (INVALID_ARGUMENT, NOT_FOUND) that the gRPC edge maps to statuses.
 */
export class RegistryState {
  /** Number of state shards. */
  readonly shardCount: number;
  /** EIP-155 chain id. */
  readonly chainId: number;
  /** Block interval of state shards, in milliseconds. */
  readonly blockIntervalMs: number;
  /** Heartbeat interval asked of instances, in milliseconds. */
  readonly heartbeatIntervalMs: number;
  /** Liveness window, in milliseconds. */
  readonly livenessMs: number;
  /** Age of the last heartbeat after which an instance is forgotten, in milliseconds. */
  readonly forgetAfterMs: number;
  private readonly now: () => number;
  private currentPlacement: Placement;
  private readonly entries = new Map<string, Entry>();

  /**
   * @throws ShardLabError INVALID_ARGUMENT when shardCount is not a positive integer, an override
   *   is invalid, or an interval is not a positive integer.
   */
  constructor(opts: RegistryStateOpts) {
    this.heartbeatIntervalMs = opts.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
    this.livenessMs = opts.livenessMs ?? 3 * this.heartbeatIntervalMs;
    this.forgetAfterMs = opts.forgetAfterMs ?? 10 * this.livenessMs;
    for (const [name, value] of [
      ['heartbeatIntervalMs', this.heartbeatIntervalMs],
      ['livenessMs', this.livenessMs],
      ['forgetAfterMs', this.forgetAfterMs],
      ['blockIntervalMs', opts.blockIntervalMs],
    ] as const) {
      if (!Number.isInteger(value) || value <= 0) throw errors.invalidArgument(`${name} must be a positive integer, got ${value}`);
    }
    if (!Number.isInteger(opts.chainId) || opts.chainId <= 0) {
      throw errors.invalidArgument(`chainId must be a positive integer, got ${opts.chainId}`);
    }
    this.currentPlacement = createPlacement(opts.shardCount, 1, opts.overrides ?? []);
    this.shardCount = opts.shardCount;
    this.chainId = opts.chainId;
    this.blockIntervalMs = opts.blockIntervalMs;
    this.now = opts.now ?? Date.now;
  }

  /** The current placement (usable with `shardOf` from `@shardlab/chain`). */
  get placement(): Placement {
    return this.currentPlacement;
  }

  /** GetConfig: shard count, chain id, placement epoch, block interval. */
  config(): GetConfigResponse {
    return {
      shardCount: this.shardCount,
      chainId: this.chainId,
      placementEpoch: this.currentPlacement.epoch,
      blockIntervalMs: this.blockIntervalMs,
    };
  }

  /** GetPlacement: epoch, shard count, rule name and explicit overrides (sorted by address). */
  placementInfo(): GetPlacementResponse {
    return {
      epoch: this.currentPlacement.epoch,
      shardCount: this.shardCount,
      rule: PLACEMENT_RULE,
      overrides: [...this.currentPlacement.overrides]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([address, shardId]) => ({ address, shardId })),
    };
  }

  /**
   * Replaces the explicit placement overrides and increments the placement epoch, so that
   * services caching the placement refresh it.
   * @returns the new epoch.
   * @throws ShardLabError INVALID_ARGUMENT when an override has a bad address or shard.
   */
  updatePlacement(overrides: Iterable<[string, number]>): number {
    this.currentPlacement = createPlacement(this.shardCount, this.currentPlacement.epoch + 1, overrides);
    return this.currentPlacement.epoch;
  }

  /**
   * LookupShard: the shard of `address` under the current placement.
   * @throws ShardLabError INVALID_ARGUMENT when `address` is not a 0x 20-byte hex address.
   */
  lookupShard(address: string): LookupShardResponse {
    const a = parseAddress(address);
    return { address: a, shardId: shardOf(this.currentPlacement, a), placementEpoch: this.currentPlacement.epoch };
  }

  /**
   * Register: adds an instance, or updates it when its instance id is already registered; counts
   * as a heartbeat. An instance of the same service already registered at the same address under
   * another instance id (the previous process, restarted) is removed.
   * @throws ShardLabError INVALID_ARGUMENT when the service name is unknown, the address is not
   *   `host:port`, the instance id is empty, or a state shard names a shard ≥ shardCount.
   */
  register(registration: EndpointRegistration): RegisterResponse {
    const r = this.validateRegistration(registration);
    this.prune();
    // One process serves an address: a new instance there (a restart) replaces the old one.
    for (const [id, e] of this.entries) {
      if (id !== r.instanceId && e.registration.service === r.service && e.registration.address === r.address) this.entries.delete(id);
    }
    this.entries.set(r.instanceId, { registration: r, lastHeartbeatMs: this.now() });
    return { heartbeatIntervalMs: this.heartbeatIntervalMs, placementEpoch: this.currentPlacement.epoch };
  }

  /**
   * Heartbeat: marks the instance alive now.
   * @returns the current placement epoch (so callers notice placement changes).
   * @throws ShardLabError INVALID_ARGUMENT when the instance id is empty; NOT_FOUND when it is not
   *   registered (never registered, deregistered, or forgotten after being dead for
   *   `forgetAfterMs`): the caller should register again.
   */
  heartbeat(instanceId: string): number {
    const id = requireInstanceId(instanceId);
    this.prune();
    const entry = this.entries.get(id);
    if (!entry) throw errors.notFound(`instance ${JSON.stringify(id)} is not registered; register again`, { instanceId: id });
    entry.lastHeartbeatMs = this.now();
    return this.currentPlacement.epoch;
  }

  /**
   * Deregister: removes an instance. Idempotent: removing an unknown instance succeeds.
   * @returns whether the instance was registered.
   * @throws ShardLabError INVALID_ARGUMENT when the instance id is empty.
   */
  deregister(instanceId: string): boolean {
    return this.entries.delete(requireInstanceId(instanceId));
  }

  /**
   * ListEndpoints: every registered instance (alive or not, with its `alive` flag), optionally
   * only those of one service, ordered by service, shard, then instance id.
   * @throws ShardLabError INVALID_ARGUMENT when `service` is neither empty nor a known name.
   */
  listEndpoints(service = ''): Endpoint[] {
    if (service !== '') requireServiceName(service);
    this.prune();
    const now = this.now();
    return [...this.entries.values()]
      .filter((e) => service === '' || e.registration.service === service)
      .map((e) => this.toEndpoint(e, now))
      .sort(compareEndpoints);
  }

  /** ListShards: every shard 0..shardCount-1 with its alive state-shard replicas. */
  listShards(): ListShardsResponse {
    const replicas = this.listEndpoints('state-shard').filter((e) => e.alive);
    return {
      shardCount: this.shardCount,
      placementEpoch: this.currentPlacement.epoch,
      shards: Array.from({ length: this.shardCount }, (_, shardId) => ({
        shardId,
        replicas: replicas.filter((e) => e.shardId === shardId),
      })),
    };
  }

  private toEndpoint(e: Entry, now: number): Endpoint {
    return {
      ...e.registration,
      lastHeartbeatMs: e.lastHeartbeatMs,
      alive: now - e.lastHeartbeatMs <= this.livenessMs,
    };
  }

  /** Forgets instances whose last heartbeat is older than `forgetAfterMs`. */
  private prune(): void {
    const now = this.now();
    for (const [id, e] of this.entries) if (now - e.lastHeartbeatMs > this.forgetAfterMs) this.entries.delete(id);
  }

  private validateRegistration(r: EndpointRegistration): EndpointRegistration {
    const service = requireServiceName(r.service);
    const address = parseHostPort(r.address);
    const instanceId = requireInstanceId(r.instanceId);
    if (!Number.isInteger(r.shardId) || r.shardId < 0) throw errors.invalidArgument(`shard id must be a non-negative integer, got ${r.shardId}`);
    if (service === 'state-shard' && r.shardId >= this.shardCount) {
      throw errors.invalidArgument(`state shard ${r.shardId} does not exist: this network has shards 0..${this.shardCount - 1}`, { instanceId });
    }
    return { service, address, shardId: service === 'state-shard' ? r.shardId : 0, instanceId };
  }
}

function compareEndpoints(a: Endpoint, b: Endpoint): number {
  if (a.service !== b.service) return a.service < b.service ? -1 : 1;
  if (a.shardId !== b.shardId) return a.shardId - b.shardId;
  return a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0;
}

/**
 * Checks a service name against {@link SERVICE_NAMES}.
 * @throws ShardLabError INVALID_ARGUMENT naming the accepted names.
 */
export function requireServiceName(service: string): ServiceName {
  if (!(SERVICE_NAMES as readonly string[]).includes(service)) {
    throw errors.invalidArgument(`unknown service ${JSON.stringify(service)}: expected one of ${SERVICE_NAMES.join(', ')}`);
  }
  return service as ServiceName;
}

const HOST_PORT_RE = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/;

/**
 * Checks a `host:port` address (hostname, IPv4, or bracketed IPv6; port 1..65535).
 * @throws ShardLabError INVALID_ARGUMENT when it is empty or not of that form.
 */
export function parseHostPort(address: string): string {
  if (address === '') throw errors.invalidArgument('endpoint address is empty: expected host:port');
  const m = HOST_PORT_RE.exec(address);
  const port = m ? Number(m[1]) : 0;
  if (!m || port < 1 || port > 65535) {
    throw errors.invalidArgument(`endpoint address must be host:port with a port in 1..65535, got ${JSON.stringify(address)}`);
  }
  return address;
}

function requireInstanceId(instanceId: string): string {
  if (instanceId === '') throw errors.invalidArgument('instance id is empty');
  if (instanceId.length > 256) throw errors.invalidArgument('instance id is longer than 256 characters');
  return instanceId;
}
