// The typed, promise-based gRPC client of the registry (RegistryService): one method per RPC, each with a deadline and an optional abort signal.
import { createClient, unaryCall } from '@shardlab/rpc';
import {
  RegistryServiceClient,
  type GetConfigResponse,
  type HeartbeatResponse,
  type GetPlacementResponse,
  type ListEndpointsResponse,
  type ListShardsResponse,
  type LookupShardResponse,
  type RegisterResponse,
} from '@shardlab/proto';
import type { EndpointRegistration } from './state';

/** Default deadline of a call to the registry, in milliseconds. */
export const DEFAULT_REGISTRY_DEADLINE_MS = 2000;

/**
 * A typed, promise-based client of `shardlab.v1.RegistryService`. Every call has a deadline and
 * an optional abort signal; failures are ShardLabErrors with the registry's code (UNAVAILABLE,
 * naming `registry <address>`, when it cannot be reached or the deadline passes).
 */
export interface RegistryClient {
  /** The registry's `host:port`. */
  readonly address: string;
  /** GetConfig: shard count, chain id, placement epoch, block interval (ms). */
  getConfig(signal?: AbortSignal): Promise<GetConfigResponse>;
  /** LookupShard: the shard of `address`. @throws INVALID_ARGUMENT for a malformed address. */
  lookupShard(address: string, signal?: AbortSignal): Promise<LookupShardResponse>;
  /** GetPlacement: epoch, shard count, rule and explicit overrides. */
  getPlacement(signal?: AbortSignal): Promise<GetPlacementResponse>;
  /** ListShards: every shard with its alive replicas. */
  listShards(signal?: AbortSignal): Promise<ListShardsResponse>;
  /** ListEndpoints: registered instances of `service` (empty for all). @throws INVALID_ARGUMENT for an unknown name. */
  listEndpoints(service: string, signal?: AbortSignal): Promise<ListEndpointsResponse>;
  /** Register (or update) an instance. @throws INVALID_ARGUMENT for a bad endpoint. */
  register(endpoint: EndpointRegistration, signal?: AbortSignal): Promise<RegisterResponse>;
  /** Heartbeat; returns the placement epoch the registry reports. @throws NOT_FOUND for an unknown instance. */
  heartbeat(instanceId: string, signal?: AbortSignal): Promise<number>;
  /** Deregister an instance (idempotent). */
  deregister(instanceId: string, signal?: AbortSignal): Promise<void>;
  /** Closes the underlying channel. */
  close(): void;
}

/** Options of {@link createRegistryClient}. */
export interface RegistryClientOpts {
  /** Deadline of each call, in milliseconds; default {@link DEFAULT_REGISTRY_DEADLINE_MS}. */
  deadlineMs?: number;
}

/** Creates a {@link RegistryClient} for the registry at `address` (`host:port`). */
export function createRegistryClient(address: string, opts: RegistryClientOpts = {}): RegistryClient {
  const client = createClient(RegistryServiceClient, address);
  const target = `registry ${address}`;
  const deadlineMs = opts.deadlineMs ?? DEFAULT_REGISTRY_DEADLINE_MS;
  const o = (signal?: AbortSignal) => (signal ? { deadlineMs, signal } : { deadlineMs });
  return {
    address,
    getConfig: (signal) => unaryCall(target, (md, op, cb) => client.getConfig({}, md, op, cb), o(signal)),
    lookupShard: (a, signal) => unaryCall(target, (md, op, cb) => client.lookupShard({ address: a }, md, op, cb), o(signal)),
    getPlacement: (signal) => unaryCall(target, (md, op, cb) => client.getPlacement({}, md, op, cb), o(signal)),
    listShards: (signal) => unaryCall(target, (md, op, cb) => client.listShards({}, md, op, cb), o(signal)),
    listEndpoints: (service, signal) =>
      unaryCall(target, (md, op, cb) => client.listEndpoints({ service }, md, op, cb), o(signal)),
    register: (endpoint, signal) =>
      unaryCall(
        target,
        (md, op, cb) => client.register({ endpoint: { ...endpoint, lastHeartbeatMs: 0, alive: false } }, md, op, cb),
        o(signal),
      ),
    heartbeat: async (instanceId, signal) =>
      (await unaryCall<HeartbeatResponse>(target, (md, op, cb) => client.heartbeat({ instanceId }, md, op, cb), o(signal))).placementEpoch,
    deregister: async (instanceId, signal) => {
      await unaryCall(target, (md, op, cb) => client.deregister({ instanceId }, md, op, cb), o(signal));
    },
    close: () => client.close(),
  };
}
