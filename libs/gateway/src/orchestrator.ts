// OrchestratorClient: the gateway's calls to the orchestrator through the peer clients — GetCrossShardStatus (retried once at a moved address) and the SubscribeStatus stream
import type { ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import { ErrorCode, errors, isShardLabError, ShardLabError } from '@shardlab/common';
import type { OrchestratorServiceClient, TransactionStatus } from '@shardlab/proto';
import type { Peer, PeerDirectory, Peers } from '@shardlab/registry';
import { fromServiceError, traceMetadata } from '@shardlab/rpc';
import type { Logger } from '@shardlab/telemetry';

/** What the gateway's orchestrator client needs of the peer clients (a `Peers` from `@shardlab/registry`). */
export type OrchestratorPeers = Pick<Peers<PeerDirectory>, 'orchestrator' | 'directory' | 'callDefaults'>;

/** Options of {@link OrchestratorClient}. */
export interface OrchestratorClientOpts {
  /**
   * Where the orchestrator is found and the client to it; the deadline of unary calls is the
   * `orchestrator` one of `peers` (`callDefaults`). Not closed by {@link OrchestratorClient.close}.
   */
  peers: OrchestratorPeers;
  logger: Logger;
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
 * Calls the orchestrator (`shardlab.v1.OrchestratorService`) for the gateway, through the peer
 * clients: its address comes from the registry (first live `orchestrator` instance), cached
 * until a call finds it unreachable. Every unary call has a deadline and waits for the connection
 * (`waitForReady`), so a restarting orchestrator is waited for up to the deadline.
 *
 * Errors are ShardLabErrors: UNAVAILABLE naming the orchestrator when none is registered, the
 * registry cannot be asked, it cannot be reached or the deadline passes, or it does not implement
 * the call yet; otherwise the orchestrator's own code and message.
 */
export class OrchestratorClient {
  private readonly peers: OrchestratorPeers;
  private readonly log: Logger;
  private closed = false;

  constructor(opts: OrchestratorClientOpts) {
    this.peers = opts.peers;
    this.log = opts.logger.child({ module: 'orchestrator-client' });
  }

  /** Forgets the cached address: the next call asks the registry again. */
  invalidate(): void {
    this.peers.directory.invalidate();
  }

  /**
   * GetCrossShardStatus of `txHash` (lowercase 0x hex). TX_STATUS_UNKNOWN (not an error) when the
   * orchestrator does not know it. When the orchestrator cannot be reached, its address is looked
   * up again and the call retried once if the registry now names another address.
   * @throws ShardLabError as described on the class.
   */
  async getCrossShardStatus(txHash: string, signal?: AbortSignal): Promise<TransactionStatus> {
    const peer = await this.peer();
    try {
      return await this.statusAt(peer, txHash, signal);
    } catch (err) {
      if (!isShardLabError(err, ErrorCode.Unavailable) || signal?.aborted) throw err;
      this.invalidate();
      const again = await this.peer().catch(() => undefined);
      if (!again || again.address === peer.address) throw err;
      this.log.info({ from: peer.address, to: again.address }, 'orchestrator moved; retrying at its new address');
      return this.statusAt(again, txHash, signal);
    }
  }

  /**
   * Opens SubscribeStatus (status changes of every cross-shard transaction, from now on). The
   * stream has no deadline; abort `signal` to close it. A stream that breaks with UNAVAILABLE
   * drops the orchestrator's client (the next stream looks its address up again).
   * @throws ShardLabError UNAVAILABLE when the orchestrator's address cannot be found.
   */
  async subscribeStatus(signal: AbortSignal): Promise<StatusStream> {
    const peer = await this.peer();
    const client = peer.client;
    const target = peer.target;
    const deadlineMs = this.peers.callDefaults('orchestrator').deadlineMs;
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
          client.waitForReady(new Date(Date.now() + deadlineMs), (err) => {
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
    return { target, connected, messages: iterate(call, peer, signal, onAbort) };
  }

  /** Stops using the orchestrator: later calls fail with UNAVAILABLE (the peer clients are the caller's to close). */
  close(): void {
    this.closed = true;
  }

  /** The orchestrator peer. @throws ShardLabError UNAVAILABLE when closed or not found. */
  private peer(): Promise<Peer<OrchestratorServiceClient>> {
    if (this.closed) return Promise.reject(errors.unavailable('the gateway is shutting down'));
    return this.peers.orchestrator();
  }

  private async statusAt(peer: Peer<OrchestratorServiceClient>, txHash: string, signal: AbortSignal | undefined): Promise<TransactionStatus> {
    try {
      return await peer.call<TransactionStatus>((c, md, o, cb) => c.getCrossShardStatus({ txHash }, md, o, cb), signal ? { signal } : {});
    } catch (err) {
      throw notImplementedAsUnavailable(err, peer.target);
    }
  }
}

/** An orchestrator that does not implement a call yet cannot serve it: UNAVAILABLE for clients of the gateway. */
function notImplementedAsUnavailable(err: unknown, target: string): unknown {
  if (!isShardLabError(err, ErrorCode.Unimplemented)) return err;
  return new ShardLabError(ErrorCode.Unavailable, `${target} unavailable: ${err.message}`, { target });
}

async function* iterate(
  call: ClientReadableStream<TransactionStatus>,
  peer: Peer<OrchestratorServiceClient>,
  signal: AbortSignal,
  onAbort: () => void,
): AsyncGenerator<TransactionStatus> {
  try {
    for await (const msg of call) yield msg as TransactionStatus;
  } catch (err) {
    if (signal.aborted) return;
    const e = fromServiceError(err as ServiceError, peer.target);
    if (e.code === ErrorCode.Unavailable) peer.forget();
    throw notImplementedAsUnavailable(e, peer.target);
  } finally {
    signal.removeEventListener('abort', onAbort);
    call.cancel();
  }
}
