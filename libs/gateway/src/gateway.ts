// The gateway service's logic: decoding and forwarding signed transactions to their home shard, reads routed to shards, and WatchTransaction driven by block and orchestrator streams.
import type { Common } from '@ethereumjs/common';
import { errors, parseAddress, parseHash } from '@shardlab/common';
import { createChainCommon, decodeTransaction, shardOf } from '@shardlab/chain';
import {
  TERMINAL_STATUSES,
  TxStatus,
  reasons,
  withReason,
  type Account,
  type ListShardsResponse,
  type SendRawTransactionResponse,
  type StateShardBlock,
  type DecideResponse,
  type GetDecisionResponse,
  type PrepareResponse,
  type SimulateResponse,
  type SubmitTransactionResponse,
  type TransactionStatus,
} from '@shardlab/proto';
import { createPeers, type RegistryDirectory, type Peers } from '@shardlab/registry';
import type { BackoffOpts } from '@shardlab/rpc';
import { injectContext, tracer, withSpan, type Logger } from '@shardlab/telemetry';
import { ClientLedCoordinator } from './client-led-coordinator';
import { ClientLedSessions } from './client-led-sessions';
import { CrossShardWatchHub } from './cross-shard-watch';
import { shuttingDown, watchCrossShardTransaction } from './cross-shard-watcher';
import { DecisionTracker } from './decision-tracker';
import { OrchestratorClient } from './orchestrator';
import { ReceiptTracker } from './receipt-tracker';
import { ShardRouter } from './shards';
import { TxLocator, raceAbort } from './tx-locator';
import { BlockWatchHub, advancesStatus } from './watch';

/** Largest raw transaction accepted, in bytes (the txpool limit of geth). */
export const MAX_RAW_TX_BYTES = 128 * 1024;

/** What the gateway needs of the registry directory: a subset of `RegistryDirectory` (fakes welcome). */
export type GatewayDirectory = Pick<RegistryDirectory, 'config' | 'placement' | 'shardEndpoint' | 'endpoints' | 'listShards' | 'invalidate'>;

/** Options of {@link createGateway}. */
export interface GatewayOpts {
  /**
   * Where shards and the orchestrator are found and how accounts are placed (a
   * `RegistryDirectory`, or a fake). Not closed by the gateway.
   */
  directory: GatewayDirectory;
  logger: Logger;
  /** Deadline of each call to a shard, in milliseconds; default 5000. */
  shardDeadlineMs?: number;
  /** Deadline of each unary call to the orchestrator, in milliseconds; default 5000. */
  orchestratorDeadlineMs?: number;
  /** How many transaction → (home shard, cross-shard) entries to remember; default 100 000. */
  txIndexCapacity?: number;
  /** Most concurrent WatchTransaction streams; more are refused with RESOURCE_EXHAUSTED. Default 10 000. */
  maxWatches?: number;
  /**
   * A watched transaction's status is also re-read this often, in milliseconds, from its shard
   * (to notice changes that no block shows, such as a drop from the mempool) or, for a
   * cross-shard transaction, from the orchestrator (a safety net). Default 10 000. Block streams
   * and the orchestrator's status stream, not this, drive watches.
   */
  watchRecheckMs?: number;
  /**
   * Back-off between reconnections of a broken shard block stream or orchestrator status stream,
   * and of the channels to shards and the orchestrator; default 100 ms doubling to 5 s.
   */
  reconnect?: BackoffOpts;
  /**
   * How long the gateway waits, in milliseconds, for the home shard's receipt of a cross-shard
   * transaction when its terminal status (COMMITTED or ABORTED) is known, and for the shard-led
   * evidence of one the orchestrator does not know (see {@link ReceiptTracker.settle}); without an
   * answer by then the status is answered (or streamed) without the receipt, or as not final yet.
   * Default 2000.
   */
  receiptTimeoutMs?: number;
}

const tr = tracer('gateway');

/**
 * The gateway's logic (docs/ARCHITECTURE.md §1 and §3): the only public entry. It decodes and
 * verifies signed transactions, forwards them to the sender's home shard, routes reads, and
 * tracks transaction status. A local transaction's status comes from its home shard
 * (WatchTransaction is driven by the shards' block streams). A cross-shard transaction's home
 * block does not make it final; it ends with whichever evidence comes first, without the gateway
 * knowing the network's protocol: the orchestrator's decision (block-2PC; its status stream), or
 * the shard-led credits in shard blocks (a transfer's credit on its destination, a call's result
 * credited on its home; the home and destination block streams, see {@link ReceiptTracker}), or,
 * when the home shard answers that the transaction is `client_coordinated` (client-led), the
 * gateway's own coordination of it ({@link ClientLedSessions}). A decision is followed until every
 * involved shard has applied it (`TransactionStatus.applied`, {@link DecisionTracker}). Every
 * method throws ShardLabErrors that the gRPC edge turns into statuses.
 */
export class Gateway {
  private readonly directory: GatewayDirectory;
  private readonly peers: Peers<GatewayDirectory>;
  private readonly log: Logger;
  private readonly router: ShardRouter;
  private readonly hub: BlockWatchHub;
  private readonly orchestrator: OrchestratorClient;
  private readonly crossHub: CrossShardWatchHub;
  /** Shard-led evidence of cross-shard transactions, from the block streams of `hub`. */
  private readonly receipts: ReceiptTracker;
  /** Where cross-shard decisions are applied (GetDecision of the involved shards, asked again on their blocks). */
  private readonly decisions: DecisionTracker;
  /** The transaction index, status look-ups and home-shard receipts of cross-shard transactions. */
  private readonly locator: TxLocator;
  private readonly maxWatches: number;
  private readonly watchRecheckMs: number;
  private common: { chainId: number; common: Common } | undefined;
  /** Client-led coordinations run for clients (created with the first client-coordinated transaction). */
  private sessions: ClientLedSessions | undefined;

  constructor(opts: GatewayOpts) {
    this.directory = opts.directory;
    this.log = opts.logger.child({ module: 'gateway' });
    const reconnect = opts.reconnect ? { reconnect: opts.reconnect } : {};
    const deadline = (ms: number | undefined) => (ms !== undefined ? { deadlineMs: ms } : {});
    const calls = { 'state-shard': deadline(opts.shardDeadlineMs), orchestrator: deadline(opts.orchestratorDeadlineMs) };
    this.peers = createPeers({ directory: opts.directory, logger: opts.logger, calls, ...reconnect });
    this.router = new ShardRouter({ peers: this.peers, logger: opts.logger });
    this.orchestrator = new OrchestratorClient({ peers: this.peers, logger: opts.logger });
    this.receipts = new ReceiptTracker({
      follow: (shardId) => this.hub.follow(shardId),
      position: (shardId) => this.hub.nextHeight(shardId),
      router: this.router,
      placement: () => opts.directory.placement(),
      logger: opts.logger,
      capacity: opts.txIndexCapacity,
    });
    this.decisions = new DecisionTracker({
      ask: (shardId, txHash, signal) => this.router.call<GetDecisionResponse>(shardId, (c, md, o, cb) => c.getDecision({ txHash }, md, o, cb), { signal }),
      follow: (shardId) => this.hub.follow(shardId),
      logger: opts.logger,
      capacity: opts.txIndexCapacity,
    });
    this.locator = new TxLocator({
      directory: opts.directory,
      router: this.router,
      orchestrator: this.orchestrator,
      logger: this.log,
      txIndexCapacity: opts.txIndexCapacity,
      receiptTimeoutMs: opts.receiptTimeoutMs,
      receipts: this.receipts,
      decisions: this.decisions,
    });
    this.hub = new BlockWatchHub({
      router: this.router,
      logger: opts.logger,
      isCrossShard: (h) => this.locator.isCrossShard(h),
      onBlock: (shardId, block) => {
        this.receipts.onBlock(shardId, block);
        this.decisions.onBlock(shardId);
      },
      ...reconnect,
    });
    this.crossHub = new CrossShardWatchHub({ orchestrator: this.orchestrator, logger: opts.logger, ...reconnect });
    this.maxWatches = opts.maxWatches ?? 10_000;
    this.watchRecheckMs = opts.watchRecheckMs ?? 10_000;
  }

  /** Number of open WatchTransaction streams (local and cross-shard). */
  get activeWatches(): number {
    return this.hub.activeWatches + this.crossHub.activeWatches;
  }

  /** Number of open WatchTransaction streams of cross-shard transactions. */
  get activeCrossShardWatches(): number {
    return this.crossHub.activeWatches;
  }

  /**
   * The gateway's subscription to the orchestrator's status stream: whether it is connected now,
   * and how many times it has connected (it starts with the first cross-shard watch).
   */
  get statusStream(): { connected: boolean; connections: number } {
    return { connected: this.crossHub.streaming, connections: this.crossHub.connections };
  }

  /** Shards whose block stream the gateway follows (started by the first watcher of each). */
  get subscribedShards(): number[] {
    return this.hub.subscribedShards;
  }

  /**
   * The next block height the gateway's subscription to shard `shardId` waits for (last height
   * received + 1); undefined without a subscription.
   */
  nextStreamHeight(shardId: number): number | undefined {
    return this.hub.nextHeight(shardId);
  }

  /**
   * SendRawTransaction: decodes and verifies `raw` with the network's chain id, forwards it to
   * the sender's home shard (SubmitTransaction), and remembers its home shard and whether the
   * shard found it cross-shard (the orchestrator or shard-led receipts then decide it). A
   * transaction to an account placed on another shard is tracked before it is submitted, and the
   * gateway follows its home and destination block streams (see {@link ReceiptTracker}).
   * @returns the transaction hash, home shard and whether the shard found it cross-shard.
   * @throws ShardLabError INVALID_ARGUMENT (empty or oversized input, malformed RLP, unsupported
   *   type, wrong chain id, bad signature, gas limit out of bounds); the home shard's error
   *   unchanged (FAILED_PRECONDITION for nonce or funds, ALREADY_EXISTS for a duplicate,
   *   UNIMPLEMENTED from a shard that does not support cross-shard transactions); UNAVAILABLE
   *   naming the shard when it cannot be reached.
   */
  async sendRawTransaction(raw: Uint8Array): Promise<SendRawTransactionResponse> {
    if (raw.length > MAX_RAW_TX_BYTES) {
      throw errors.invalidArgument(`raw transaction is ${raw.length} bytes, more than the ${MAX_RAW_TX_BYTES} accepted`);
    }
    const tx = decodeTransaction(raw, await this.chainCommon());
    const placement = await this.directory.placement();
    const homeShard = shardOf(placement, tx.from);
    const destShard = tx.to !== undefined ? shardOf(placement, tx.to) : homeShard;
    return withSpan(tr, 'gateway.send_raw_transaction', { 'tx.hash': tx.hash, 'tx.from': tx.from, 'shard.home': homeShard }, async (span) => {
      // Tracked before the shard can put it in a block: its receipt's credit cannot be missed.
      const tracking = destShard !== homeShard && this.receipts.track(tx.hash, homeShard, destShard, { beforeSubmit: true });
      let res: SubmitTransactionResponse;
      try {
        res = await this.router.submit(homeShard, raw);
      } catch (err) {
        if (tracking) this.receipts.untrack(tx.hash);
        this.log.debug({ txHash: tx.hash, homeShard, err: (err as Error).message }, 'transaction refused');
        throw err;
      }
      if (tracking && !res.crossShard) this.receipts.untrack(tx.hash);
      else if (tracking) this.receipts.track(tx.hash, homeShard, destShard);
      // Client-led: the home shard reserved the nonce; the gateway coordinates for its client.
      // Started without an await when the coordinator exists, so a sender's calls start in order.
      if (res.crossShard && res.clientCoordinated) (this.sessions ?? (await this.clientLed())).start(tx, homeShard, injectContext());
      const txHash = res.txHash !== '' ? res.txHash.toLowerCase() : tx.hash;
      this.locator.remember(txHash, { shardId: homeShard, crossShard: res.crossShard });
      span.setAttribute('tx.cross_shard', res.crossShard);
      this.log.debug({ txHash, homeShard, crossShard: res.crossShard, nonce: Number(tx.nonce) }, 'transaction accepted');
      return { txHash, homeShard, crossShard: res.crossShard };
    });
  }

  /**
   * GetAccount: the account's state on its shard under the current placement.
   * @throws ShardLabError INVALID_ARGUMENT for a malformed address; the shard's error; UNAVAILABLE.
   */
  async getAccount(address: string, signal?: AbortSignal): Promise<Account> {
    const a = parseAddress(address);
    const shardId = shardOf(await this.directory.placement(), a);
    return this.router.call<Account>(shardId, (c, md, o, cb) => c.getAccount({ address: a }, md, o, cb), signal ? { signal } : {});
  }

  /**
   * GetTransaction: asks the transaction's known home shard, or else every shard in parallel,
   * and answers the status of the shard that knows it (its home's answer preferred). For a
   * cross-shard transaction (known as such, or one its home shard reports with `crossShard`), or
   * one no shard knows, the status is COMMITTED when the shard-led evidence of the gateway's block
   * streams shows its end (a transfer credited on its destination, a call's result credited on its
   * home; a reverted call is COMMITTED with `receipt.success` false and its error); else the
   * orchestrator's (GetCrossShardStatus: PENDING, PREPARED, COMMITTED or ABORTED); else, when the
   * orchestrator does not know it (a shard-led transaction), the shard-led evidence completed from
   * the home shard and the destination's recent blocks (see {@link ReceiptTracker.settle}), or
   * the home shard's view, PENDING (the fee receipt attached) until some evidence ends it. A
   * COMMITTED or ABORTED one carries a receipt once known: a shard-led call's outcome on its
   * contract's shard (gas used, logs, error), otherwise its home shard's (fee, gas used, logs; see
   * {@link TxLocator.withHomeReceipt}), and says whether every involved shard has applied the
   * decision (`applied`; `involved_shards` names them): true for a shard-led end (the credit is
   * the application) and a client-led one whose Decide every shard answered; for the
   * orchestrator's decision, true once every involved shard answers GetDecision with it (asked
   * now when not known, within `receiptTimeoutMs`), else false.
   * @throws ShardLabError INVALID_ARGUMENT for a malformed hash; NOT_FOUND when neither the shards
   *   nor the orchestrator know the transaction (or no shard knows it and the orchestrator cannot
   *   be asked); UNAVAILABLE when no shard knows it but some could not be asked, or when it is
   *   cross-shard, no shard-led evidence ends it and the orchestrator is not registered or cannot
   *   be reached.
   */
  async getTransaction(txHash: string, signal?: AbortSignal): Promise<TransactionStatus> {
    const hash = parseHash(txHash, 'tx hash');
    const coordinated = this.sessions?.statusOf(hash);
    if (coordinated) return this.locator.withApplied(await this.locator.withReceipt(coordinated, coordinated.homeShard, signal), signal);
    return (await this.locator.locate(hash, signal)).status;
  }

  /**
   * WatchTransaction: sends the current status (as {@link getTransaction}), then every change
   * until the last status (`isLastWatchStatus`: FINAL, DROPPED, or a cross-shard COMMITTED or
   * ABORTED applied by every involved shard), then returns. Never sends the same status twice in a
   * row nor an older one (`advancesStatus`; the same decision newly applied is a change). For a local transaction FINAL comes from the
   * home shard's block stream; after subscribing, the status is read again so that a transaction
   * that became final in between is not missed. For a cross-shard transaction the changes
   * (PENDING → PREPARED → COMMITTED | ABORTED) come from the orchestrator's status stream, shared
   * by every watch (see {@link CrossShardWatchHub}), and its end may also come from the shard-led
   * evidence of the home and destination block streams (COMMITTED once the destination credited a
   * transfer, or the home credited a call's result; {@link ReceiptTracker}); its home shard's
   * block does not end the watch. The orchestrator's decision is sent at once with `applied`
   * false, then again with `applied` true once every involved shard applied it (GetDecision,
   * asked on each of their blocks; see {@link watchCrossShardTransaction}); only then does the
   * watch end, so that a read right after sees the outcome on every shard. The terminal COMMITTED
   * or ABORTED carries its receipt (see {@link getTransaction}), read once when the end arrives
   * (without it when the shard has not included the transaction, e.g. one aborted before its
   * acceptance). Returns early when `signal` aborts (the client cancelled).
   * @throws ShardLabError as {@link getTransaction} for the first status; RESOURCE_EXHAUSTED when
   *   too many watches are open; UNAVAILABLE when the gateway shuts down during the watch.
   */
  async watchTransaction(txHash: string, send: (status: TransactionStatus) => Promise<void>, signal: AbortSignal): Promise<void> {
    const hash = parseHash(txHash, 'tx hash');
    if (this.activeWatches >= this.maxWatches) {
      throw errors.resourceExhausted(`too many transactions are being watched (${this.maxWatches}); try again later`);
    }
    const first = await this.locator.locate(hash, signal);
    if (first.crossShard) {
      const deps = { hub: this.crossHub, receipts: this.receipts, sessions: () => this.sessions, decisions: this.decisions, locator: this.locator, logger: this.log, recheckMs: this.watchRecheckMs };
      return watchCrossShardTransaction(deps, hash, first, send, signal);
    }
    await send(first.status);
    let last = first.status;
    if (TERMINAL_STATUSES.has(last.status) || signal.aborted) return;

    const log = this.log.child({ txHash: hash, homeShard: first.shardId });
    const watch = this.hub.watch(hash, first.shardId);
    try {
      const firstStreamHeight = await raceAbort(watch.ready, signal);
      if (signal.aborted) return;
      if (firstStreamHeight === undefined) throw shuttingDown();

      /** Sends `s` when it changes the status; true when the watch is over. */
      const emit = async (s: TransactionStatus): Promise<boolean> => {
        if (advancesStatus(last, s)) {
          await send(s);
          last = s;
        }
        return TERMINAL_STATUSES.has(last.status);
      };
      /** Reads the status from the home shard again; a transaction it forgot was dropped. */
      const reread = async (): Promise<TransactionStatus | undefined> => {
        try {
          const s = await this.locator.shardStatus(first.shardId, hash, signal);
          if (s.status !== TxStatus.TX_STATUS_UNKNOWN) return s;
          return { ...last, status: TxStatus.TX_STATUS_DROPPED, ...withReason(reasons.other('the home shard no longer knows the transaction')), updatedAtMs: Date.now() };
        } catch (err) {
          if (!signal.aborted) log.debug({ err: (err as Error).message }, 'could not re-read the transaction status');
          return undefined;
        }
      };

      const again = await reread();
      if (again && (await emit(again))) return;
      const cfg = await this.directory.config().catch(() => undefined);
      const blockIntervalMs = Math.max(50, cfg?.blockIntervalMs ?? 250);
      while (!signal.aborted) {
        // A transaction included below the first height the stream delivers is not on it: re-read
        // its status each block interval until it is final. Otherwise blocks drive the watch.
        const missedByStream = last.status === TxStatus.TX_STATUS_INCLUDED && last.blockHeight < firstStreamHeight;
        const ev = await watch.next(signal, missedByStream ? Math.min(blockIntervalMs, this.watchRecheckMs) : this.watchRecheckMs);
        if (ev.kind === 'aborted') return;
        if (ev.kind === 'closed') throw shuttingDown();
        const s = ev.kind === 'status' ? ev.status : await reread();
        if (s && (await emit(s))) return;
      }
    } finally {
      watch.close();
    }
  }

  /**
   * GetShardBlock: a block of a shard (its head when `height` is undefined).
   * @throws ShardLabError INVALID_ARGUMENT when shardId ≥ shardCount; the shard's NOT_FOUND for a
   *   height it does not have; UNAVAILABLE.
   */
  async getShardBlock(shardId: number, height: number | undefined, signal?: AbortSignal): Promise<StateShardBlock> {
    const { shardCount } = await this.directory.config();
    if (!Number.isInteger(shardId) || shardId < 0 || shardId >= shardCount) {
      throw errors.invalidArgument(`shard ${shardId} does not exist: this network has shards 0..${shardCount - 1}`);
    }
    return this.router.call<StateShardBlock>(
      shardId,
      (c, md, o, cb) => c.getBlock(height === undefined ? {} : { height }, md, o, cb),
      signal ? { signal } : {},
    );
  }

  /**
   * ListShards: the registry's ListShards.
   * @throws ShardLabError UNAVAILABLE when the registry cannot be reached.
   */
  listShards(): Promise<ListShardsResponse> {
    return this.directory.listShards();
  }

  /**
   * Ends open watches (with UNAVAILABLE, so that clients watch again elsewhere), stops the shard
   * block subscriptions and the orchestrator status stream, and closes shard and orchestrator
   * clients. The directory is the caller's to close.
   */
  async close(): Promise<void> {
    this.receipts.close();
    this.decisions.close();
    await Promise.all([this.hub.close(), this.crossHub.close()]);
    this.orchestrator.close();
    this.peers.close();
  }

  /** The gateway's client-led coordinator (see {@link ClientLedSessions}), created on first use. */
  private async clientLed(): Promise<ClientLedSessions> {
    if (this.sessions) return this.sessions;
    const { blockIntervalMs } = await this.directory.config();
    const placement = await this.directory.placement();
    // A Prepare or Decide answers once its block is durable (up to 30 s on the shard).
    const blockWait = { deadlineMs: 35_000 };
    const coordinator = new ClientLedCoordinator({
      transport: {
        prepare: async (s, x) => (await this.peers.shard(s)).call<PrepareResponse>((c, md, o, cb) => c.prepare({ transaction: x }, md, o, cb), blockWait),
        decide: async (s, r) => (await this.peers.shard(s)).call<DecideResponse>((c, md, o, cb) => c.decide({ result: r }, md, o, cb), blockWait),
        simulate: async (tx) => (await this.peers.simulator()).call<SimulateResponse>((c, md, o, cb) => c.simulate({ tx }, md, o, cb)),
      },
      shardOf: (a) => shardOf(placement, a),
      blockIntervalMs,
      logger: this.log.child({ module: 'client-led' }),
    });
    this.sessions ??= new ClientLedSessions(coordinator, this.log);
    return this.sessions;
  }

  private async chainCommon(): Promise<Common> {
    const { chainId } = await this.directory.config();
    if (this.common?.chainId !== chainId) this.common = { chainId, common: createChainCommon({ chainId }) };
    return this.common.common;
  }
}

/** Creates a {@link Gateway}; nothing is fetched until the first request. */
export function createGateway(opts: GatewayOpts): Gateway {
  return new Gateway(opts);
}
