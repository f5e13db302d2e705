import { credentials, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { ErrorCode, errors, isShardLabError, ShardLabError } from '@shardlab/common';
import { OrchestratorServiceClient, type ListEndpointsResponse, type TransactionStatus } from '@shardlab/proto';
import type { BackoffOpts } from '@shardlab/registry';
import { fromServiceError, traceMetadata, unaryCall } from '@shardlab/rpc';
import type { Logger } from '@shardlab/telemetry';

/**
 * What the gateway needs to find the orchestrator: the registry's ListEndpoints (a
 * `RegistryClient` from `@shardlab/registry`, or a fake).
 */
export interface ServiceLocator {
  listEndpoints(service: string, signal?: AbortSignal): Promise<ListEndpointsResponse>;
}

/** Service name the orchestrator registers under with the registry. */
export const ORCHESTRATOR_SERVICE = 'orchestrator';

/** Default deadline of a unary call to the orchestrator, in milliseconds. */
export const DEFAULT_ORCHESTRATOR_DEADLINE_MS = 5000;

/** Options of {@link OrchestratorClient}. */
export interface OrchestratorClientOpts {
  /** Where the orchestrator is registered. */
  registry: ServiceLocator;
  logger: Logger;
  /** Deadline of each unary call, in milliseconds; default {@link DEFAULT_ORCHESTRATOR_DEADLINE_MS}. */
  deadlineMs?: number;
  /**
   * Back-off of the gRPC channel's reconnection attempts to an orchestrator that went away;
   * default 100 ms doubling to 5 s (rather than gRPC's 1 s to 120 s), so that calls reach a
   * restarted orchestrator soon.
   */
  reconnect?: BackoffOpts;
}

/**
 * An open SubscribeStatus stream. `connected` resolves with true once the call is on a ready
 * connection to the orchestrator (calls made on this client from then on reach the orchestrator
 * after the subscription request), with false when the stream ends or fails first. `messages`
 * yields the status changes; it throws a ShardLabError (UNAVAILABLE naming the orchestrator) when
 * the stream breaks, and returns when it ends or `signal` aborts.
 */
export interface StatusStream {
  /** `orchestrator (host:port)`. */
  readonly target: string;
  readonly connected: Promise<boolean>;
  readonly messages: AsyncIterable<TransactionStatus>;
}

/**
 * Calls the orchestrator (`shardlab.v1.OrchestratorService`) for the gateway. Its address comes
 * from the registry (`ListEndpoints("orchestrator")`, first live instance), cached until a call
 * finds it unreachable. Every unary call has a deadline and waits for the connection
 * (`waitForReady`), so a restarting orchestrator is waited for up to the deadline.
 *
 * Errors are ShardLabErrors: UNAVAILABLE naming the orchestrator when none is registered, the
 * registry cannot be asked, it cannot be reached or the deadline passes, or it does not implement
 * the call yet; otherwise the orchestrator's own code and message.
 */
export class OrchestratorClient {
  private readonly registry: ServiceLocator;
  private readonly log: Logger;
  private readonly deadlineMs: number;
  private readonly reconnect: BackoffOpts;
  private readonly clients = new Map<string, OrchestratorServiceClient>();
  private cached: Promise<string> | undefined;
  private closed = false;

  constructor(opts: OrchestratorClientOpts) {
    this.registry = opts.registry;
    this.log = opts.logger.child({ module: 'orchestrator-client' });
    this.deadlineMs = opts.deadlineMs ?? DEFAULT_ORCHESTRATOR_DEADLINE_MS;
    this.reconnect = opts.reconnect ?? {};
  }

  /**
   * The orchestrator's `host:port`: the cached one, else the first live `orchestrator` endpoint
   * the registry lists.
   * @throws ShardLabError UNAVAILABLE when none is registered or the registry cannot be asked.
   */
  address(signal?: AbortSignal): Promise<string> {
    if (this.cached) return this.cached;
    const lookup = this.lookup(signal);
    this.cached = lookup;
    lookup.catch(() => {
      if (this.cached === lookup) this.cached = undefined;
    });
    return lookup;
  }

  /** Forgets the cached address: the next call asks the registry again. */
  invalidate(): void {
    this.cached = undefined;
  }

  /**
   * GetCrossShardStatus of `txHash` (lowercase 0x hex). TX_STATUS_UNKNOWN (not an error) when the
   * orchestrator does not know it. When the orchestrator cannot be reached, its address is looked
   * up again and the call retried once if the registry now names another address.
   * @throws ShardLabError as described on the class.
   */
  async getCrossShardStatus(txHash: string, signal?: AbortSignal): Promise<TransactionStatus> {
    const address = await this.address(signal);
    try {
      return await this.statusAt(address, txHash, signal);
    } catch (err) {
      if (!isShardLabError(err, ErrorCode.Unavailable) || signal?.aborted) throw err;
      this.invalidate();
      const again = await this.address(signal).catch(() => address);
      if (again === address) throw err;
      this.log.info({ from: address, to: again }, 'orchestrator moved; retrying at its new address');
      return this.statusAt(again, txHash, signal);
    }
  }

  /**
   * Opens SubscribeStatus (status changes of every cross-shard transaction, from now on). The
   * stream has no deadline; abort `signal` to close it.
   * @throws ShardLabError UNAVAILABLE when the orchestrator's address cannot be found.
   */
  async subscribeStatus(signal: AbortSignal): Promise<StatusStream> {
    const address = await this.address(signal);
    const client = this.clientFor(address);
    const target = `orchestrator (${address})`;
    const call = client.subscribeStatus({}, traceMetadata(), {});
    const onAbort = () => call.cancel();
    if (signal.aborted) call.cancel();
    else signal.addEventListener('abort', onAbort, { once: true });

    const connected = new Promise<boolean>((resolve) => {
      let settled = false;
      const settle = (v: boolean) => {
        if (settled) return;
        settled = true;
        resolve(v);
      };
      call.once('metadata', () => settle(true));
      call.once('error', () => settle(false));
      call.once('close', () => settle(false));
      // The channel becomes ready only after the call was handed to it (calls are started in
      // order), so calls made after this point reach the orchestrator after the subscription.
      const wait = (): void => {
        if (settled) return;
        if (this.closed) return settle(false);
        try {
          client.waitForReady(new Date(Date.now() + this.deadlineMs), (err) => {
            if (!err && !this.closed) settle(true);
            else if (err && /closed/.test(err.message)) settle(false);
            else wait();
          });
        } catch {
          settle(false); // the client was closed
        }
      };
      wait();
    });
    return { target, connected, messages: iterate(call, target, signal, onAbort) };
  }

  /** Closes every orchestrator client. */
  close(): void {
    this.closed = true;
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private async lookup(signal?: AbortSignal): Promise<string> {
    let res: ListEndpointsResponse;
    try {
      res = await this.registry.listEndpoints(ORCHESTRATOR_SERVICE, signal);
    } catch (err) {
      throw errors.unavailable(`orchestrator unavailable: the registry could not be asked where it is: ${(err as Error).message}`);
    }
    const live = res.endpoints.filter((e) => e.service === ORCHESTRATOR_SERVICE && e.alive && e.address !== '');
    const ep = live[0];
    if (!ep) throw errors.unavailable('orchestrator unavailable: no live orchestrator is registered with the registry');
    if (live.length > 1) this.log.debug({ addresses: live.map((e) => e.address) }, 'several orchestrators are registered; using the first');
    return ep.address;
  }

  private async statusAt(address: string, txHash: string, signal: AbortSignal | undefined): Promise<TransactionStatus> {
    const client = this.clientFor(address);
    const target = `orchestrator (${address})`;
    try {
      return await unaryCall<TransactionStatus>(target, (md, o, cb) => client.getCrossShardStatus({ txHash }, md, o, cb), {
        deadlineMs: this.deadlineMs,
        waitForReady: true,
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      throw notImplementedAsUnavailable(err, target);
    }
  }

  private clientFor(address: string): OrchestratorServiceClient {
    if (this.closed) throw errors.unavailable('the gateway is shutting down');
    let c = this.clients.get(address);
    if (!c) {
      c = new OrchestratorServiceClient(address, credentials.createInsecure(), {
        'grpc.max_receive_message_length': 64 * 1024 * 1024,
        'grpc.keepalive_time_ms': 30_000,
        'grpc.initial_reconnect_backoff_ms': this.reconnect.initialMs ?? 100,
        'grpc.max_reconnect_backoff_ms': this.reconnect.maxMs ?? 5000,
      });
      this.clients.set(address, c);
    }
    return c;
  }
}

/** An orchestrator that does not implement a call yet cannot serve it: UNAVAILABLE for clients of the gateway. */
function notImplementedAsUnavailable(err: unknown, target: string): unknown {
  if (!isShardLabError(err, ErrorCode.Unimplemented)) return err;
  return new ShardLabError(ErrorCode.Unavailable, `${target} unavailable: ${err.message}`, { target });
}

async function* iterate(
  call: ClientReadableStream<TransactionStatus>,
  target: string,
  signal: AbortSignal,
  onAbort: () => void,
): AsyncGenerator<TransactionStatus> {
  try {
    for await (const msg of call) yield msg as TransactionStatus;
  } catch (err) {
    if (signal.aborted) return;
    throw notImplementedAsUnavailable(fromServiceError(err as ServiceError, target), target);
  } finally {
    signal.removeEventListener('abort', onAbort);
    call.cancel();
  }
}
