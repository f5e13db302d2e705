// The peer-client layer: typed gRPC clients of state shards, the orchestrator, simulators and gateways, found through the registry directory, cached per endpoint and dropped when unreachable.
import type { CallOptions, Client, ClientReadableStream, Metadata, ServiceError } from '@grpc/grpc-js';
import { ErrorCode, errors, isShardLabError } from '@shardlab/common';
import { GatewayServiceClient, OrchestratorServiceClient, SimulatorServiceClient, StateShardServiceClient, type Endpoint } from '@shardlab/proto';
import { createClient, streamCall, unaryCall, type BackoffOpts, type CallOpts, type ClientCtor } from '@shardlab/rpc';
import { silentLogger, type Logger } from '@shardlab/telemetry';
import { createRegistryDirectory, type RegistryDirectory } from './directory';

/** The gRPC client type of each service a {@link Peers} reaches (by registry service name). */
export interface PeerClients {
  'state-shard': StateShardServiceClient;
  orchestrator: OrchestratorServiceClient;
  simulator: SimulatorServiceClient;
  gateway: GatewayServiceClient;
}

/** A service a {@link Peers} reaches: its registry service name. */
export type PeerService = keyof PeerClients;

/** Deadline and connection wait of unary calls to one service. */
export interface PeerCallDefaults {
  /** Deadline of each unary call, in milliseconds. */
  deadlineMs: number;
  /**
   * Wait (up to the deadline) for a connection instead of failing at once while the channel
   * reconnects, e.g. to a service restarting at the same address.
   */
  waitForReady: boolean;
}

/**
 * Default deadline and connection wait of unary calls, per service: 5 s waiting for the
 * connection, except a simulation (30 s, failing at once when the simulator cannot be reached, so
 * that the orchestrator retries another one).
 */
export const PEER_CALL_DEFAULTS: Readonly<Record<PeerService, Readonly<PeerCallDefaults>>> = {
  'state-shard': { deadlineMs: 5000, waitForReady: true },
  orchestrator: { deadlineMs: 5000, waitForReady: true },
  simulator: { deadlineMs: 90_000, waitForReady: false },
  gateway: { deadlineMs: 5000, waitForReady: true },
};

const CLIENT_CTORS: { readonly [S in PeerService]: ClientCtor<PeerClients[S]> } = {
  'state-shard': StateShardServiceClient,
  orchestrator: OrchestratorServiceClient,
  simulator: SimulatorServiceClient,
  gateway: GatewayServiceClient,
};

/** A unary call on a peer's client, in the shape `unaryCall` from `@shardlab/rpc` expects, with the client first. */
export type PeerInvoke<C, Res> = (client: C, md: Metadata, options: CallOptions, cb: (err: ServiceError | null, res?: Res) => void) => { cancel(): void };

/** Opens a server stream on a peer's client. */
export type PeerOpen<C, Res> = (client: C, md: Metadata, options: CallOptions) => ClientReadableStream<Res>;

/**
 * One resolved peer: an endpoint found through the registry and the cached gRPC client to it.
 * A call made through it that fails with UNAVAILABLE drops that client and the directory's
 * cached endpoints (as {@link forget}), so that the next resolution asks the registry again; the
 * peer itself stays usable (a later call connects to the same address anew).
 */
export interface Peer<C extends Client> {
  /** The registry service name. */
  readonly service: PeerService;
  /** The peer's `host:port`. */
  readonly address: string;
  /** Names the peer in errors and logs: `shard 1 (host:port)`, `orchestrator (host:port)`, ... */
  readonly target: string;
  /**
   * The cached gRPC client of this endpoint (shared by every user of it; do not close it),
   * created again when it was dropped. Use it at once rather than keeping it.
   * @throws ShardLabError UNAVAILABLE once the {@link Peers} is closed.
   */
  readonly client: C;
  /**
   * A unary call with the service's deadline and connection wait ({@link PeerCallDefaults}, which
   * `opts` override), the trace context and cancellation by `opts.signal`.
   * @throws ShardLabError with the peer's code and message; UNAVAILABLE naming {@link target}
   *   when it cannot be reached or the deadline passes (the peer is then forgotten, unless
   *   `opts.signal` aborted: a cancelled call is UNAVAILABLE too).
   */
  call<Res>(invoke: PeerInvoke<C, Res>, opts?: CallOpts): Promise<Res>;
  /**
   * A server stream (no deadline) until `signal` aborts.
   * @throws ShardLabError as {@link call} when it cannot be opened or breaks (UNAVAILABLE forgets the peer).
   */
  stream<Res>(open: PeerOpen<C, Res>, signal?: AbortSignal): AsyncGenerator<Res>;
  /**
   * Drops the client this peer last handed out (when still cached; calls already sent on it go
   * on) and the directory's cached endpoints: the next resolution asks the registry again.
   */
  forget(): void;
}

/** What {@link Peers} needs of the registry directory (a `RegistryDirectory`, or a fake). */
export type PeerDirectory = Pick<RegistryDirectory, 'shardEndpoint' | 'endpoints' | 'invalidate'>;

/** Options of {@link createPeers}. */
export interface PeersOpts<D extends PeerDirectory = RegistryDirectory> {
  /** Where peers are found. Not closed by {@link Peers.close}. */
  directory: D;
  /** Overrides of {@link PEER_CALL_DEFAULTS}, per service. */
  calls?: { [S in PeerService]?: Partial<PeerCallDefaults> };
  /** Back-off of the channels' reconnection attempts; default 100 ms doubling to 5 s. */
  reconnect?: BackoffOpts;
  /** Logs (debug) each client created and dropped; default silent. */
  logger?: Logger;
}

/**
 * Typed gRPC clients of the network's services, found through the registry directory (docs/ARCHITECTURE.md
 * §1). One client is kept per endpoint and shared; a call failing with UNAVAILABLE drops
 * it and the directory's cached endpoints, so the next call resolves the peer again.
 * Resolution errors are ShardLabErrors: a shard's come from the directory (INVALID_ARGUMENT for a
 * shard outside the network; UNAVAILABLE `shard N unavailable: no live replica ...` or naming the
 * registry); a service's are UNAVAILABLE `<service> unavailable: no live <service> is registered
 * with the registry` or `<service> unavailable: the registry could not be asked where it is: ...`.
 */
export interface Peers<D extends PeerDirectory = RegistryDirectory> {
  /** The directory peers are found through. */
  readonly directory: D;
  /** State shard `shardId` (a live replica). @throws ShardLabError as described on {@link Peers}. */
  shard(shardId: number): Promise<Peer<StateShardServiceClient>>;
  /** The orchestrator (the first live instance). @throws ShardLabError UNAVAILABLE as described on {@link Peers}. */
  orchestrator(): Promise<Peer<OrchestratorServiceClient>>;
  /** A simulator (a live instance picked at random per call, spreading simulations). @throws ShardLabError UNAVAILABLE. */
  simulator(): Promise<Peer<SimulatorServiceClient>>;
  /** A gateway (the first live instance). @throws ShardLabError UNAVAILABLE. */
  gateway(): Promise<Peer<GatewayServiceClient>>;
  /** The deadline and connection wait of unary calls to `service` (defaults with this instance's overrides). */
  callDefaults(service: PeerService): PeerCallDefaults;
  /** Closes every client; later resolutions fail with UNAVAILABLE. The directory is the caller's. */
  close(): void;
}

/** Names a peer in errors: `shard 1 (host:port)`, `orchestrator (host:port)`. */
function targetOf(service: PeerService, address: string, shardId?: number): string {
  return service === 'state-shard' ? `shard ${shardId} (${address})` : `${service} (${address})`;
}

/** Creates a {@link Peers} over `opts.directory`; nothing is resolved until first asked. */
export function createPeers<D extends PeerDirectory = RegistryDirectory>(opts: PeersOpts<D>): Peers<D> {
  const directory = opts.directory;
  const log = (opts.logger ?? silentLogger()).child({ module: 'peers' });
  const clients = new Map<string, Client>();
  let closed = false;

  const callDefaults = (service: PeerService): PeerCallDefaults => ({ ...PEER_CALL_DEFAULTS[service], ...opts.calls?.[service] });

  const clientFor = <S extends PeerService>(service: S, address: string): PeerClients[S] => {
    const key = `${service} ${address}`;
    let c = clients.get(key) as PeerClients[S] | undefined;
    if (!c) {
      c = createClient(CLIENT_CTORS[service] as ClientCtor<PeerClients[S]>, address, opts.reconnect ? { reconnect: opts.reconnect } : {});
      clients.set(key, c);
      log.debug({ service, address }, 'peer client created');
    }
    return c;
  };

  /** Calls and streams in flight per client; a dropped client closes once it has none. */
  const busy = new Map<Client, number>();
  const dropped = new Set<Client>();
  const begin = (client: Client) => busy.set(client, (busy.get(client) ?? 0) + 1);
  const end = (client: Client) => {
    const n = (busy.get(client) ?? 1) - 1;
    if (n > 0) return void busy.set(client, n);
    busy.delete(client);
    if (dropped.delete(client)) client.close();
  };

  /**
   * Drops `client` when it is still the cached client of `key`, and the directory's cached
   * endpoints. The client closes once its calls in flight are over: one call's failure (a deadline
   * passed, an error the peer answered as UNAVAILABLE) must not cancel the others on the channel.
   */
  const drop = (key: string, client: Client | undefined) => {
    if (client && clients.get(key) === client) {
      clients.delete(key);
      if ((busy.get(client) ?? 0) > 0) dropped.add(client);
      else client.close();
      log.debug({ peer: key }, 'peer client dropped');
    }
    directory.invalidate();
  };

  const peerOf = <S extends PeerService>(service: S, endpoint: Endpoint): Peer<PeerClients[S]> => {
    const address = endpoint.address;
    const key = `${service} ${address}`;
    const target = targetOf(service, address, endpoint.shardId);
    /** The last client this peer handed out: the one {@link Peer.forget} drops. */
    let last: PeerClients[S] | undefined;
    /** The cached client of this endpoint, created again when it was dropped. */
    const current = (): PeerClients[S] => {
      ensureOpen(target);
      return (last = clientFor(service, address));
    };
    /** A call the caller cancelled says nothing about the peer; any other UNAVAILABLE drops it. */
    const dropOnUnavailable = (client: Client, err: unknown, signal: AbortSignal | undefined) => {
      if (isShardLabError(err, ErrorCode.Unavailable) && !signal?.aborted) drop(key, client);
      return err;
    };
    return {
      service,
      address,
      target,
      get client() {
        return current();
      },
      forget: () => drop(key, last),
      call: async <Res>(invoke: PeerInvoke<PeerClients[S], Res>, callOpts: CallOpts = {}) => {
        const client = current();
        begin(client);
        try {
          return await unaryCall<Res>(target, (md, o, cb) => invoke(client, md, o, cb), { ...callDefaults(service), ...callOpts });
        } catch (err) {
          throw dropOnUnavailable(client, err, callOpts.signal);
        } finally {
          end(client);
        }
      },
      stream: async function* <Res>(open: PeerOpen<PeerClients[S], Res>, signal?: AbortSignal) {
        const client = current();
        begin(client);
        try {
          yield* streamCall<Res>(target, (md, o) => open(client, md, o), signal);
        } catch (err) {
          throw dropOnUnavailable(client, err, signal);
        } finally {
          end(client);
        }
      },
    };
  };

  const ensureOpen = (what: string) => {
    if (closed) throw errors.unavailable(`${what} unavailable: the peer clients are closed`);
  };

  /** A live endpoint of `service` from the directory: the first, or one at random. */
  const resolve = async <S extends Exclude<PeerService, 'state-shard'>>(service: S, pick: 'first' | 'random'): Promise<Peer<PeerClients[S]>> => {
    ensureOpen(service);
    let endpoints: Endpoint[];
    try {
      endpoints = await directory.endpoints(service);
    } catch (err) {
      throw errors.unavailable(`${service} unavailable: the registry could not be asked where it is: ${(err as Error).message}`);
    }
    const live = endpoints.filter((e) => e.service === service && e.alive && e.address !== '');
    if (live.length === 0) throw errors.unavailable(`${service} unavailable: no live ${service} is registered with the registry`);
    const ep = pick === 'first' ? live[0]! : live[Math.floor(Math.random() * live.length)]!;
    ensureOpen(service);
    return peerOf(service, ep);
  };

  return {
    directory,
    shard: async (shardId) => {
      ensureOpen(`shard ${shardId}`);
      const ep = await directory.shardEndpoint(shardId);
      ensureOpen(`shard ${shardId}`);
      return peerOf('state-shard', ep);
    },
    orchestrator: () => resolve('orchestrator', 'first'),
    simulator: () => resolve('simulator', 'random'),
    gateway: () => resolve('gateway', 'first'),
    callDefaults,
    close: () => {
      closed = true;
      for (const c of clients.values()) c.close();
      for (const c of dropped) c.close();
      clients.clear();
      dropped.clear();
    },
  };
}

/**
 * A server stream on the peer `resolve` finds when the stream is iterated (e.g.
 * `() => peers.shard(2)`): what `followStream` from `@shardlab/rpc` opens again after each failure,
 * so that every reconnection resolves the peer anew.
 * @throws ShardLabError as {@link Peers} resolution and {@link Peer.stream}.
 */
export async function* peerStream<C extends Client, Res>(resolve: () => Promise<Peer<C>>, open: PeerOpen<C, Res>, signal?: AbortSignal): AsyncGenerator<Res> {
  const peer = await resolve();
  yield* peer.stream(open, signal);
}

/** Options of {@link connectPeers}. */
export interface ConnectPeersOpts extends Omit<PeersOpts, 'directory' | 'logger'> {
  /** `host:port` of the registry. */
  registryAddress: string;
  logger: Logger;
  /** Deadline of each registry call, in milliseconds; default that of `createRegistryDirectory`. */
  registryDeadlineMs?: number;
}

/**
 * A {@link Peers} over a registry directory of its own for the registry at `registryAddress`
 * (for tools and clients outside a service); `close` closes both.
 */
export function connectPeers(opts: ConnectPeersOpts): Peers {
  const directory = createRegistryDirectory({
    registryAddress: opts.registryAddress,
    logger: opts.logger,
    ...(opts.registryDeadlineMs !== undefined ? { deadlineMs: opts.registryDeadlineMs } : {}),
  });
  const { registryAddress: _a, registryDeadlineMs: _d, ...rest } = opts;
  const peers = createPeers({ ...rest, directory });
  return {
    ...peers,
    close: () => {
      peers.close();
      directory.close();
    },
  };
}
