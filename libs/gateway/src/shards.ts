// ShardRouter: the gateway's calls to state shards by id through the peer clients — unary calls retried once, micro-batched submissions, block subscriptions
import { status as grpcStatus } from '@grpc/grpc-js';
import { ErrorCode, isShardLabError, ShardLabError } from '@shardlab/common';
import type { StateShardBlock, StateShardServiceClient, SubmitTransactionRequest, SubmitTransactionResponse, SubmitTransactionsResponse } from '@shardlab/proto';
import { peerStream, type PeerDirectory, type PeerInvoke, type Peers } from '@shardlab/registry';
import { MicroBatcher, unpackOutcomes } from '@shardlab/rpc';
import { injectContext, type Logger } from '@shardlab/telemetry';

/** What the shard router needs of the peer clients (a `Peers` from `@shardlab/registry`). */
export type ShardPeers = Pick<Peers<PeerDirectory>, 'shard' | 'directory'>;

/** A unary call on a shard client, in the shape `unaryCall` from `@shardlab/rpc` expects, with the client first. */
export type ShardInvoke<Res> = PeerInvoke<StateShardServiceClient, Res>;

/** Options of one {@link ShardRouter.call}. */
export interface ShardCallOpts {
  /** Cancels the call (propagates the caller's cancellation). */
  signal?: AbortSignal;
  /**
   * Whether repeating the call is harmless. Non-idempotent calls (SubmitTransaction) are not
   * retried after a deadline expiry, when the shard may have acted on the first attempt (they are
   * when the deadline passed before the call could be sent, e.g. waiting for a connection to a
   * shard that moved). Default true.
   */
  idempotent?: boolean;
}

/** Options of {@link ShardRouter}. */
export interface ShardRouterOpts {
  /**
   * Where shards are found and the clients to them; the deadline of unary calls is the
   * `state-shard` one of `peers`. Not closed by {@link ShardRouter.close}.
   */
  peers: ShardPeers;
  logger: Logger;
}

/**
 * Calls state shards by shard id through the peer clients (the shard's endpoint from the
 * registry directory, one gRPC client per endpoint, a deadline on every unary call), and when a
 * shard answers UNAVAILABLE (its client and the cached endpoints are then dropped) retries once
 * (the shard may have moved). Errors are ShardLabErrors with the shard's code and message; an
 * unreachable shard is UNAVAILABLE naming it (`shard 1 (host:port) unavailable: ...`).
 */
export class ShardRouter {
  private readonly peers: ShardPeers;
  private readonly log: Logger;
  private readonly submitters = new Map<number, MicroBatcher<SubmitTransactionRequest, SubmitTransactionResponse>>();

  constructor(opts: ShardRouterOpts) {
    this.peers = opts.peers;
    this.log = opts.logger.child({ module: 'shard-router' });
  }

  /**
   * Makes a unary call on shard `shardId`.
   * @throws ShardLabError: the shard's own code and message; UNAVAILABLE when it cannot be
   *   reached, has no live replica, or the deadline passes; INVALID_ARGUMENT for a shard id
   *   outside the network.
   */
  async call<Res>(shardId: number, invoke: ShardInvoke<Res>, opts: ShardCallOpts = {}): Promise<Res> {
    try {
      return await this.attempt(shardId, invoke, opts.signal);
    } catch (err) {
      if (!isShardLabError(err, ErrorCode.Unavailable) || opts.signal?.aborted) throw err;
      if (opts.idempotent === false && err.meta['grpcCode'] === grpcStatus.DEADLINE_EXCEEDED && err.meta['neverSent'] !== true) throw err;
      this.log.debug({ shardId, err: err.message }, 'shard unavailable; refreshing its endpoint and retrying once');
      this.peers.directory.invalidate();
      return this.attempt(shardId, invoke, opts.signal);
    }
  }

  /**
   * Submits a raw signed transaction to shard `shardId` (SubmitTransaction). Submissions made close
   * together travel in one SubmitTransactions call per shard, in call order (the shard admits
   * them in that order), each with its own trace context and outcome. The batch call is retried
   * as {@link call} retries a non-idempotent call. Not cancellable once made.
   * @throws ShardLabError as {@link call}: the shard's refusal of this transaction, or the batch's
   *   failure.
   */
  submit(shardId: number, raw: Uint8Array): Promise<SubmitTransactionResponse> {
    let b = this.submitters.get(shardId);
    if (!b) {
      b = new MicroBatcher<SubmitTransactionRequest, SubmitTransactionResponse>({
        sizeOf: (item) => item.rawTransaction.length,
        send: async (items) => {
          const res = await this.call<SubmitTransactionsResponse>(shardId, (c, md, o, cb) => c.submitTransactions({ transactions: items }, md, o, cb), { idempotent: false });
          return unpackOutcomes(`shard ${shardId}`, items.length, res.results);
        },
      });
      this.submitters.set(shardId, b);
    }
    return b.call({ rawTransaction: Buffer.from(raw), traceContext: injectContext() });
  }

  /**
   * Streams shard `shardId`'s blocks from `fromHeight` on (SubscribeBlocks), until `signal`
   * aborts or the stream fails.
   * @throws ShardLabError as {@link call} when the stream cannot be opened or breaks.
   */
  subscribeBlocks(shardId: number, fromHeight: number, signal: AbortSignal): AsyncGenerator<StateShardBlock> {
    return peerStream(() => this.peers.shard(shardId), (c, md, options) => c.subscribeBlocks({ fromHeight }, md, options), signal);
  }

  /** Drops cached shard endpoints (after a broken stream). */
  invalidate(): void {
    this.peers.directory.invalidate();
  }

  private async attempt<Res>(shardId: number, invoke: ShardInvoke<Res>, signal: AbortSignal | undefined): Promise<Res> {
    const shard = await this.peers.shard(shardId);
    let neverSent = false;
    try {
      // The peers' shard calls wait for the connection (bounded by the deadline): a restarting
      // shard comes back at the same address.
      return await shard.call<Res>(
        (client, md, options, cb) =>
          invoke(client, md, options, (err, res) => {
            // grpc-js says so when the deadline passed while the call still waited for a connection.
            if (err?.code === grpcStatus.DEADLINE_EXCEEDED && /waiting for LB pick/i.test(err.details)) neverSent = true;
            cb(err, res);
          }),
        signal ? { signal } : {},
      );
    } catch (err) {
      if (neverSent && err instanceof ShardLabError) throw new ShardLabError(err.code, err.message, { ...err.meta, neverSent: true });
      throw err;
    }
  }
}
