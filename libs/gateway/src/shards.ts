import { status as grpcStatus, type CallOptions, type Metadata, type ServiceError } from '@grpc/grpc-js';
import { ErrorCode, isShardLabError, ShardLabError } from '@shardlab/common';
import { StateShardServiceClient, type StateShardBlock, type SubmitTransactionRequest, type SubmitTransactionResponse, type SubmitTransactionsResponse } from '@shardlab/proto';
import type { RegistryDirectory } from '@shardlab/registry';
import { createClient, MicroBatcher, streamCall, unaryCall, unpackOutcomes } from '@shardlab/rpc';
import { injectContext, type Logger } from '@shardlab/telemetry';

/** What the gateway needs from the registry: a subset of `RegistryDirectory` (fakes welcome). */
export type ShardDirectory = Pick<RegistryDirectory, 'config' | 'placement' | 'shardEndpoint' | 'listShards' | 'invalidate'>;

/** Default deadline of a unary call to a shard, in milliseconds. */
export const DEFAULT_SHARD_DEADLINE_MS = 5000;

/** A unary call on a shard client, in the shape `unaryCall` from `@shardlab/rpc` expects. */
export type ShardInvoke<Res> = (
  client: StateShardServiceClient,
  md: Metadata,
  options: CallOptions,
  cb: (err: ServiceError | null, res?: Res) => void,
) => { cancel(): void };

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
  directory: ShardDirectory;
  logger: Logger;
  /** Deadline of each unary call, in milliseconds; default {@link DEFAULT_SHARD_DEADLINE_MS}. */
  deadlineMs?: number;
}

/**
 * Calls state shards by shard id: resolves the shard's endpoint through the registry directory,
 * keeps one gRPC client per endpoint address, puts a deadline on every unary call, and when a
 * shard answers UNAVAILABLE invalidates the cached endpoints once and retries once (the shard may
 * have moved). Errors are ShardLabErrors with the shard's code and message; an unreachable
 * shard is UNAVAILABLE naming it (`shard 1 (host:port) unavailable: ...`).
 */
export class ShardRouter {
  private readonly directory: ShardDirectory;
  private readonly log: Logger;
  private readonly deadlineMs: number;
  private readonly clients = new Map<string, StateShardServiceClient>();
  private readonly submitters = new Map<number, MicroBatcher<SubmitTransactionRequest, SubmitTransactionResponse>>();

  constructor(opts: ShardRouterOpts) {
    this.directory = opts.directory;
    this.log = opts.logger.child({ module: 'shard-router' });
    this.deadlineMs = opts.deadlineMs ?? DEFAULT_SHARD_DEADLINE_MS;
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
      this.directory.invalidate();
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
  async *subscribeBlocks(shardId: number, fromHeight: number, signal: AbortSignal): AsyncGenerator<StateShardBlock> {
    const ep = await this.directory.shardEndpoint(shardId);
    const client = this.clientFor(ep.address);
    yield* streamCall<StateShardBlock>(
      `shard ${shardId} (${ep.address})`,
      (md, options) => client.subscribeBlocks({ fromHeight }, md, options),
      signal,
    );
  }

  /** Drops cached shard endpoints (after a broken stream). */
  invalidate(): void {
    this.directory.invalidate();
  }

  /** Closes every shard client. */
  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private async attempt<Res>(shardId: number, invoke: ShardInvoke<Res>, signal: AbortSignal | undefined): Promise<Res> {
    const ep = await this.directory.shardEndpoint(shardId);
    const client = this.clientFor(ep.address);
    let neverSent = false;
    try {
      return await unaryCall<Res>(
        `shard ${shardId} (${ep.address})`,
        (md, options, cb) =>
          invoke(client, md, options, (err, res) => {
            // grpc-js says so when the deadline passed while the call still waited for a connection.
            if (err?.code === grpcStatus.DEADLINE_EXCEEDED && /waiting for LB pick/i.test(err.details)) neverSent = true;
            cb(err, res);
          }),
        {
          deadlineMs: this.deadlineMs,
          // A restarting shard comes back at the same address: wait for the connection (bounded by
          // the deadline) rather than failing while the channel is in reconnect back-off.
          waitForReady: true,
          ...(signal ? { signal } : {}),
        },
      );
    } catch (err) {
      if (neverSent && err instanceof ShardLabError) throw new ShardLabError(err.code, err.message, { ...err.meta, neverSent: true });
      throw err;
    }
  }

  private clientFor(address: string): StateShardServiceClient {
    let c = this.clients.get(address);
    if (!c) {
      c = createClient(StateShardServiceClient, address);
      this.clients.set(address, c);
    }
    return c;
  }
}
