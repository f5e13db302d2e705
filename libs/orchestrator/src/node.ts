// The orchestrator shard's lifecycle and block production (ordering and decisions in blocks, shard block streams in, its own stream out); forwards, simulations and the store schema are its modules.
import { EventEmitter, on } from 'node:events';
import { context } from '@opentelemetry/api';
import type { DecodedTx } from '@shardlab/chain';
import { errors, parseHash } from '@shardlab/common';
import { TxStatus, type ForwardTransactionRequest, type OrchestratorBlock, type SimulateResponse, type StateShardBlock, type Transaction, type TransactionStatus } from '@shardlab/proto';
import type { KV } from '@shardlab/storage';
import { extractContext, tracer, type Logger } from '@shardlab/telemetry';
import { Coordinator, isDecided, statusOf, type CrossRecord } from './coordinator';
import { ForwardIntake } from './forwards';
import { SimulationScheduler } from './simulations';
import { OrchestratorStore, orchestratorBlockHash, type OrchestratorHead } from './store';

export { checkRwSet } from './rwset-check';

const t = tracer('orchestrator');

/** Options of {@link OrchestratorNode.create}. Defaults in brackets. */
export interface OrchestratorNodeOpts {
  /** This instance's store (LevelDB in production, memory in tests). */
  kv: KV;
  logger: Logger;
  /** Number of state shards (ids 0..shardCount-1). */
  shardCount: number;
  /** Shard of an address under the current placement. */
  shardOf(address: string): number;
  /** Time between orchestrator blocks, in milliseconds [250]. */
  blockIntervalMs?: number;
  /** Orchestrator blocks to wait for votes after ordering before aborting [20]. */
  voteTimeoutBlocks?: number;
  /** Clock in milliseconds [Date.now]. */
  now?: () => number;
  /**
   * Decodes and signature-checks a raw transaction (`decodeTransaction` with the network's
   * chain). When given, a forwarded transaction is rebuilt from its raw bytes, and its hash, home
   * shard and recipient's shard are checked, so a faulty forwarder cannot make the destination
   * credit something the source never debits [none: trust the forwarded fields].
   */
  decode?: (raw: Uint8Array) => DecodedTx;
  /**
   * The simulator (SimulatorService.Simulate). When given, a forwarded contract call or contract
   * creation without an RwSet is simulated in the background after it is stored, and ordered once
   * its RwSet is known (involved shards: the home shard and every shard of the RwSet); a failed
   * simulation aborts it [none: such transactions are ordered without an RwSet, as before].
   */
  simulate?: (tx: Transaction) => Promise<SimulateResponse>;
  /** Simulation attempts when the simulator cannot be reached [4]. */
  simulationAttempts?: number;
  /** Delay before the first retry of a simulation, in ms (doubling) [200]. */
  simulationRetryMs?: number;
  /** Base fee per gas of the network, in wei, for the conservation check of RwSets [1 gwei]. */
  baseFeePerGas?: bigint;
  /**
   * How many orchestrator blocks a decided transaction stays in memory after every state shard
   * has applied its decision; then it is read from the store only [2 × voteTimeoutBlocks, at
   * least 40].
   */
  pruneAfterBlocks?: number;
}

/**
 * The orchestrator shard (docs/ARCHITECTURE.md §1 and §3): accepts cross-shard transactions from
 * home shards ({@link ForwardIntake}), has contract calls simulated ({@link SimulationScheduler}),
 * produces a block every `blockIntervalMs` with `ct_to_order` and `tpc_result`, reads votes from
 * state-shard block streams, and keeps blocks, records and per-shard stream cursors in its store
 * ({@link OrchestratorStore}). A block, the records it changed and the cursors of the shard blocks
 * whose votes it used are written in one batch, so after a crash the orchestrator resumes each
 * shard stream after the last block it durably processed, and nothing is applied twice.
 */
export class OrchestratorNode {
  readonly blockIntervalMs: number;
  private readonly coordinator: Coordinator;
  private readonly store: OrchestratorStore;
  private readonly intake: ForwardIntake;
  private readonly simulations: SimulationScheduler | undefined;
  private readonly events = new EventEmitter();
  private readonly cursors: number[];
  private readonly durableCursors: number[];
  private readonly recent = new Map<number, OrchestratorBlock>();
  /** Per state shard: the highest orchestrator height its blocks say it has applied (-1: none seen). */
  private readonly applied: number[];
  private readonly pruneAfterBlocks: number;
  private head: OrchestratorHead;
  private timer: NodeJS.Timeout | undefined;
  private producing: Promise<unknown> = Promise.resolve();
  private readonly closing = new AbortController();
  private readonly now: () => number;

  private constructor(
    private readonly opts: OrchestratorNodeOpts,
    store: OrchestratorStore,
    head: OrchestratorHead,
    records: CrossRecord[],
    cursors: number[],
  ) {
    this.blockIntervalMs = opts.blockIntervalMs ?? 250;
    this.now = opts.now ?? Date.now;
    this.store = store;
    this.coordinator = new Coordinator({ voteTimeoutBlocks: opts.voteTimeoutBlocks ?? 20, shardOf: opts.shardOf }, records);
    this.applied = Array.from({ length: opts.shardCount }, () => -1);
    this.pruneAfterBlocks = opts.pruneAfterBlocks ?? Math.max(40, 2 * (opts.voteTimeoutBlocks ?? 20));
    this.head = head;
    this.cursors = [...cursors];
    this.durableCursors = [...cursors];
    this.events.setMaxListeners(0);
    this.simulations = opts.simulate
      ? new SimulationScheduler({
          simulate: opts.simulate,
          coordinator: this.coordinator,
          logger: opts.logger,
          shardOf: opts.shardOf,
          now: this.now,
          closing: this.closing.signal,
          onResolved: (r) => this.emitStatus(r),
          ...(opts.simulationAttempts !== undefined ? { attempts: opts.simulationAttempts } : {}),
          ...(opts.simulationRetryMs !== undefined ? { retryMs: opts.simulationRetryMs } : {}),
          ...(opts.baseFeePerGas !== undefined ? { baseFeePerGas: opts.baseFeePerGas } : {}),
        })
      : undefined;
    this.intake = new ForwardIntake({
      coordinator: this.coordinator,
      store,
      logger: opts.logger,
      shardCount: opts.shardCount,
      shardOf: opts.shardOf,
      now: this.now,
      ...(opts.decode ? { decode: opts.decode } : {}),
      ...(this.simulations ? { simulations: this.simulations } : {}),
      onStatus: (r) => this.emitStatus(r),
    });
  }

  /** Opens the orchestrator on its store: writes block 0 on an empty store, else resumes. */
  static async create(opts: OrchestratorNodeOpts): Promise<OrchestratorNode> {
    const store = new OrchestratorStore(opts.kv);
    const { head, records, cursors, genesis } = await store.open(opts.shardCount);
    if (genesis) opts.logger.info({ height: 0 }, 'orchestrator genesis written');
    const open = records.filter((r) => !isDecided(r.phase)).length;
    opts.logger.info({ height: head.height, records: records.length, inFlight: open, cursors }, 'orchestrator opened');
    const node = new OrchestratorNode(opts, store, head, records, cursors);
    node.resumeSimulations();
    return node;
  }

  /** Resolves once no simulation is in progress (including those started meanwhile). */
  async simulationsSettled(): Promise<void> {
    await this.simulations?.settled();
  }

  /** Starts the simulations of stored records still waiting for their RwSet (after a restart). */
  resumeSimulations(): void {
    if (!this.simulations) return;
    for (const r of this.coordinator.simulating()) this.simulations.start(r);
  }

  /** Starts producing a block every `blockIntervalMs`. */
  start(): void {
    if (this.timer || this.closing.signal.aborted) return;
    const tick = () => {
      this.produceBlock()
        .catch((err: unknown) => this.opts.logger.error({ err }, 'orchestrator block production failed'))
        .finally(() => {
          if (!this.closing.signal.aborted) this.timer = setTimeout(tick, this.blockIntervalMs);
        });
    };
    this.timer = setTimeout(tick, this.blockIntervalMs);
  }

  /** Stops block production, waits for a block in progress, and ends every stream. */
  async stop(): Promise<void> {
    this.closing.abort();
    if (this.timer) clearTimeout(this.timer);
    await this.producing;
    await this.simulations?.settled();
  }

  /** Height and hash of the durable head. */
  headInfo(): OrchestratorHead {
    return { ...this.head };
  }

  /** Last state-shard height whose block was read (votes taken), per shard; -1 for none. */
  shardCursor(shardId: number): number {
    return this.cursors[shardId] ?? -1;
  }

  /**
   * Status of a cross-shard transaction, from memory or, for one decided long ago, from the
   * store (GetCrossShardStatus); UNKNOWN when the orchestrator never saw it.
   * @throws ShardLabError INVALID_ARGUMENT for a malformed hash.
   */
  async lookup(txHash: string): Promise<TransactionStatus> {
    const h = parseHash(txHash, 'tx_hash');
    if (this.coordinator.get(h) || !this.coordinator.mayBePruned(h)) return this.status(h);
    const r = await this.store.record(h);
    return r ? statusOf(r) : this.status(h);
  }

  /** Status of a cross-shard transaction held in memory; UNKNOWN when it is not (see {@link lookup}). */
  status(txHash: string): TransactionStatus {
    const h = parseHash(txHash, 'tx_hash');
    const r = this.coordinator.get(h);
    if (!r) return { txHash: h, status: TxStatus.TX_STATUS_UNKNOWN, homeShard: 0, crossShard: true, blockHeight: 0, receipt: undefined, reason: '', updatedAtMs: this.now(), applied: false, involvedShards: [] };
    return statusOf(r);
  }

  /**
   * Reads the votes of the next block of a state shard's stream. Blocks at or below the shard's
   * cursor are ignored (duplicates after a reconnect).
   * @throws ShardLabError FAILED_PRECONDITION on a gap, so the subscriber resubscribes after
   *   {@link shardCursor}.
   */
  onShardBlock(shardId: number, block: StateShardBlock): void {
    const cursor = this.shardCursor(shardId);
    if (block.height <= cursor) return;
    if (block.height !== cursor + 1) throw errors.failedPrecondition(`shard ${shardId} block ${block.height} does not follow ${cursor}`);
    for (const r of this.coordinator.onShardBlock(shardId, block, this.now())) {
      this.opts.logger.debug({ txHash: r.tx.hash }, 'cross-shard transaction prepared');
      this.emitStatus(r);
    }
    this.cursors[shardId] = block.height;
    this.applied[shardId] = Math.max(this.applied[shardId] ?? -1, block.orchestratorHeight);
  }

  /** Produces the next orchestrator block now (serialised with the timer's). */
  produceBlock(): Promise<OrchestratorBlock> {
    const run = this.producing.then(() => this.produceBlockNow());
    this.producing = run.catch(() => undefined);
    return run;
  }

  private async produceBlockNow(): Promise<OrchestratorBlock> {
    const height = this.head.height + 1;
    const now = Math.max(this.now(), 1);
    const plan = this.coordinator.planBlock(height, now);
    const body: Omit<OrchestratorBlock, 'hash'> = { height, parentHash: this.head.hash, timestampMs: now, ctToOrder: plan.ctToOrder, tpcResult: plan.tpcResult };
    const block: OrchestratorBlock = { ...body, hash: orchestratorBlockHash(body) };
    const cursors = [...this.cursors];
    try {
      await this.store.writeBlock(block, plan.changed, cursors, this.durableCursors);
    } catch (err) {
      // Nothing was written: the orderings and decisions are not durable. A restart replays from
      // the store; in this process, undo the plan so the next block orders and decides the same
      // transactions, and keep the records dirty so it writes them.
      this.coordinator.revertPlan(plan);
      throw err;
    }
    const head = { height, hash: block.hash };
    this.head = head;
    cursors.forEach((c, s) => (this.durableCursors[s] = c));
    this.recent.set(height, block);
    this.recent.delete(height - 512);
    for (const d of block.tpcResult) {
      const r = this.coordinator.get(d.txHash)!;
      const parent = extractContext(r.traceContext);
      context.with(parent, () => {
        const span = t.startSpan('orchestrator.decision', { attributes: { 'tx.hash': d.txHash, decision: r.phase, 'orchestrator.height': height, reason: r.reason } });
        span.end();
      });
      this.opts.logger.debug({ txHash: d.txHash, decision: r.phase, reason: r.reason || undefined, height }, 'cross-shard decision');
      this.emitStatus(r);
    }
    if (block.ctToOrder.length > 0 || block.tpcResult.length > 0) {
      this.opts.logger.info({ height, ordered: block.ctToOrder.length, decided: block.tpcResult.length, inMemory: this.coordinator.size }, 'orchestrator block');
    }
    this.events.emit('block', block);
    // Every shard follows every orchestrator block: once the slowest has applied height h, the
    // decisions up to h are done everywhere; keep them in memory a while longer, then drop them.
    const everywhere = Math.min(...this.applied);
    if (everywhere >= 0) this.coordinator.pruneDecided(everywhere - this.pruneAfterBlocks);
    return block;
  }

  /** Cross-shard records held in memory (open and recently decided transactions). */
  recordsInMemory(): number {
    return this.coordinator.size;
  }

  /**
   * An orchestrator block by height, or the head block.
   * @throws ShardLabError NOT_FOUND beyond the head.
   */
  async getBlock(height?: number): Promise<OrchestratorBlock> {
    const h = height ?? this.head.height;
    const cached = this.recent.get(h);
    if (cached) return cached;
    const block = h <= this.head.height ? await this.store.block(h) : undefined;
    if (!block) throw errors.notFound(`the orchestrator has no block at height ${h} (head is ${this.head.height})`);
    return block;
  }

  /** Every block from `fromHeight` on, history first, then live; ends on abort or stop. */
  async *subscribe(fromHeight: number, signal: AbortSignal): AsyncGenerator<OrchestratorBlock> {
    const stop = AbortSignal.any([signal, this.closing.signal]);
    if (stop.aborted) return;
    const events = on(this.events, 'block', { signal: stop });
    let next = fromHeight;
    try {
      while (!stop.aborted) {
        while (next <= this.head.height && !stop.aborted) {
          yield await this.getBlock(next);
          next += 1;
        }
        if (next > this.head.height) await events.next();
      }
    } catch (err) {
      if ((err as Error).name === 'AbortError') return;
      throw err;
    } finally {
      await events.return?.();
    }
  }

  /** Every status change of every cross-shard transaction from now on; ends on abort or stop. */
  async *statusChanges(signal: AbortSignal): AsyncGenerator<TransactionStatus> {
    const stop = AbortSignal.any([signal, this.closing.signal]);
    if (stop.aborted) return;
    const events = on(this.events, 'status', { signal: stop });
    try {
      for await (const [s] of events) yield s as TransactionStatus;
    } catch (err) {
      if ((err as Error).name === 'AbortError') return;
      throw err;
    }
  }

  /** Number of cross-shard transactions not yet decided. */
  inFlight(): number {
    return this.coordinator.inFlight().length;
  }

  private emitStatus(r: CrossRecord): void {
    if (this.events.listenerCount('status') === 0) return; // nobody subscribed: nothing to build
    this.events.emit('status', statusOf(r));
  }

  /** Accepts a forwarded cross-shard transaction; see {@link ForwardIntake.forward}. */
  forward(req: ForwardTransactionRequest): Promise<TxStatus> {
    return this.intake.forward(req);
  }

  /** Accepts many forwarded transactions with one group commit; see {@link ForwardIntake.forwardMany}. */
  forwardMany(reqs: readonly ForwardTransactionRequest[]): Promise<(TxStatus | Error)[]> {
    return this.intake.forwardMany(reqs);
  }
}

/** Creates an {@link OrchestratorNode} on its store (ethereumjs-style async factory, like `createShardNode`). */
export function createOrchestratorNode(opts: OrchestratorNodeOpts): Promise<OrchestratorNode> {
  return OrchestratorNode.create(opts);
}
