// The state shard's lifecycle (create, start/stop, head, block stream, inputs from followed streams); admission, queries, block production and the cross-shard protocol are its modules.
import { EventEmitter, on } from 'node:events';
import { hexToBytes } from '@ethereumjs/util';
import { BlockExecutor, ZERO_HASH, buildBlock, shardOf, type TrieDB } from '@shardlab/chain';
import { errors } from '@shardlab/common';
import type { Account, CrossShardTx, DecideResponse, GetDecisionResponse, GetProofResponse, LockKey, OrchestratorBlock, PrepareResponse, StateShardBlock, TpcResult, TransactionStatus } from '@shardlab/proto';
import { Admission, type SubmitResult } from './admission';
import { BlockProducer } from './block-production';
import { Mutex, type DropRecord, type ShardCore, type ShardNodeOpts } from './context';
import { Mempool } from './mempool';
import { StateViewCache } from './proofs';
import type { CrossShardProtocol, FollowedStream, LocksGranted } from './protocol';
import { ShardQueries } from './queries';
import { BlockTwoPhaseCommit } from './tpc/protocol';
import { ShardLedProtocol } from './shard-led/protocol';
import { ClientLedProtocol } from './client-led/protocol';
import type { SimulationLock } from './tpc/key-locks';

export type { ShardNodeOpts } from './context';
export type { SubmitResult } from './admission';
export type { Forwarder } from './tpc/forwarding';

/** The coinbase of a shard: the address whose last byte is the shard id (receives priority fees). */
export function shardCoinbase(shardId: number): string {
  return '0x' + '00'.repeat(19) + shardId.toString(16).padStart(2, '0');
}

/**
 * One state shard (docs/ARCHITECTURE.md §1 and §3): validates and queues signed transactions whose
 * sender lives here ({@link Admission}), produces a block every `blockIntervalMs` by executing
 * queued transactions with the EVM and persisting block, receipts and state in one batch
 * ({@link BlockProducer}), answers queries ({@link ShardQueries}) and serves blocks to subscribers
 * from any height. Cross-shard transactions are committed by the shard's
 * {@link CrossShardProtocol} (block-based two-phase commit). This class owns the lifecycle only;
 * its other methods delegate.
 */
export class ShardNode {
  readonly shardId: number;
  readonly blockIntervalMs: number;
  /** The cross-shard commit protocol this shard runs. */
  readonly protocol: CrossShardProtocol;
  private timer: NodeJS.Timeout | undefined;
  private producing: Promise<void> | undefined;
  private closed = false;

  private constructor(
    private readonly core: ShardCore,
    private readonly closing: AbortController,
    /** Emits `block` with each durable block (wakes subscribers). */
    private readonly blocks: EventEmitter,
    protocol: CrossShardProtocol,
    private readonly admission: Admission,
    private readonly queries: ShardQueries,
    private readonly producer: BlockProducer,
  ) {
    this.shardId = core.shardId;
    this.blockIntervalMs = core.opts.blockIntervalMs ?? 250;
    this.protocol = protocol;
    this.blocks.setMaxListeners(0);
  }

  /**
   * Opens a shard node on its store: writes the genesis block (height 0) on an empty store,
   * else resumes at the stored head height and state root.
   * @throws ShardLabError INVALID_ARGUMENT when the shard id is outside the placement.
   */
  static async create(opts: ShardNodeOpts): Promise<ShardNode> {
    if (!Number.isInteger(opts.shardId) || opts.shardId < 0 || opts.shardId >= opts.placement.shardCount) {
      throw errors.invalidArgument(`shard id ${opts.shardId} outside 0..${opts.placement.shardCount - 1}`);
    }
    const mk = (root?: Uint8Array) =>
      BlockExecutor.create({
        common: opts.common,
        db: opts.store.trie as TrieDB,
        ...(root ? { stateRoot: root } : {}),
        coinbase: shardCoinbase(opts.shardId),
        ...(opts.baseFeePerGas !== undefined ? { baseFeePerGas: opts.baseFeePerGas } : {}),
        ...(opts.blockGasLimit !== undefined ? { blockGasLimit: opts.blockGasLimit } : {}),
      });
    let head = opts.store.head();
    let executor: BlockExecutor;
    if (!head) {
      executor = await mk();
      const own = new Map([...opts.genesis].filter(([a]) => shardOf(opts.placement, a) === opts.shardId));
      const root = await executor.applyGenesis(own);
      // The allocation is recorded as credits, so that every state change is in a block.
      const credits = [...own].sort(([a], [b]) => (a < b ? -1 : 1)).map(([address, amount]) => ({ kind: 'system' as const, op: { kind: 'credit' as const, txHash: ZERO_HASH, address, amount } }));
      const genesis = await buildBlock(opts.common, {
        shardId: opts.shardId,
        height: 0,
        parentHash: ZERO_HASH,
        timestampMs: 0,
        execution: { stateRoot: root, gasUsed: 0n, outcomes: credits, touched: [...own.keys()].sort() },
        baseFeePerGas: executor.baseFeePerGas,
      });
      await opts.store.commitBlock(genesis, [...own.keys()]);
      head = opts.store.head()!;
      opts.logger.info({ height: 0, stateRoot: head.stateRoot, accounts: own.size }, 'genesis written');
    } else {
      executor = await mk(hexToBytes(head.stateRoot as `0x${string}`));
      opts.logger.info({ height: head.height, stateRoot: head.stateRoot }, 'resumed from store');
    }
    const reader = await mk(hexToBytes(head.stateRoot as `0x${string}`));
    // Admission reads the sender of every submission: remember account states between blocks.
    reader.enableAccountStateCache();
    const dryRunner = await mk(hexToBytes(head.stateRoot as `0x${string}`));
    return ShardNode.assemble(opts, executor, reader, dryRunner);
  }

  /** Wires the modules of a node around its executors (after genesis or resume). */
  private static async assemble(opts: ShardNodeOpts, executor: BlockExecutor, reader: BlockExecutor, dryRunner: BlockExecutor): Promise<ShardNode> {
    const closing = new AbortController();
    const core: ShardCore = {
      opts,
      shardId: opts.shardId,
      now: opts.now ?? Date.now,
      mempool: new Mempool(opts.mempoolCapacity),
      executor,
      reader,
      dryRunner,
      admission: new Mutex(),
      blockMutex: new Mutex(),
      dropped: new Map<string, DropRecord>(),
      closing: closing.signal,
    };
    const views = new StateViewCache(opts.store.trie as TrieDB, opts.common);
    const tpc = await BlockTwoPhaseCommit.open(core, {
      views,
      // Client-led forwards nothing: the client's coordinator prepares and decides.
      ...(opts.forwarder && opts.protocol !== 'client-led' ? { forwarder: opts.forwarder } : {}),
      ...(opts.simulationLockDefaultTtlMs !== undefined ? { simulationLockDefaultTtlMs: opts.simulationLockDefaultTtlMs } : {}),
      ...(opts.simulationLockMaxTtlMs !== undefined ? { simulationLockMaxTtlMs: opts.simulationLockMaxTtlMs } : {}),
    });
    const protocol: CrossShardProtocol =
      opts.protocol === 'shard-led'
        ? await ShardLedProtocol.open(core, tpc)
        : opts.protocol === 'client-led'
          ? await ClientLedProtocol.open(core, tpc, opts.lockTimeoutBlocks !== undefined ? { lockTimeoutBlocks: opts.lockTimeoutBlocks } : {})
          : tpc;
    const blocks = new EventEmitter();
    return new ShardNode(
      core,
      closing,
      blocks,
      protocol,
      new Admission(core, protocol),
      new ShardQueries(core, protocol, views),
      new BlockProducer(core, protocol, blocks, opts.maxTxsPerBlock ?? 5000),
    );
  }

  /** Starts producing a block every `blockIntervalMs`. */
  start(): void {
    if (this.timer || this.closed) return;
    const tick = () => {
      this.producing = this.produceBlock()
        .then(() => undefined)
        .catch((err: unknown) => this.core.opts.logger.error({ err }, 'block production failed'))
        .finally(() => {
          this.producing = undefined;
          if (!this.closed) this.timer = setTimeout(tick, this.blockIntervalMs);
        });
    };
    this.timer = setTimeout(tick, this.blockIntervalMs);
  }

  /** Stops block production and waits for a block in progress. */
  async stop(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.producing;
    this.closing.abort();
  }

  /** Number of shards of the network (the placement's). */
  get shardCount(): number {
    return this.core.opts.placement.shardCount;
  }

  /** Durable head: height, hash and state root. */
  head(): { height: number; hash: string; stateRoot: string; mempoolSize: number } {
    const h = this.core.opts.store.head()!;
    return { ...h, mempoolSize: this.core.mempool.size };
  }

  /**
   * Every block from `fromHeight` on, in order and without gaps: stored history first, then new
   * blocks as they become durable. Ends when `signal` aborts or the node stops.
   */
  async *subscribe(fromHeight: number, signal: AbortSignal): AsyncGenerator<StateShardBlock> {
    let next = fromHeight;
    const stop = AbortSignal.any([signal, this.closing.signal]);
    // `on` throws at once on an aborted signal; an aborted subscription simply ends.
    if (stop.aborted) return;
    // Subscribed before reading the head, so no block published meanwhile is missed; the events
    // only wake the loop, the store is the source of truth.
    const events = on(this.blocks, 'block', { signal: stop });
    try {
      while (!stop.aborted) {
        const head = this.core.opts.store.head()!.height;
        while (next <= head && !stop.aborted) {
          const b = await this.core.opts.store.getBlock(next);
          if (!b) throw errors.internal(`block ${next} missing below head ${head}`);
          yield b;
          next += 1;
        }
        if (next > this.core.opts.store.head()!.height) await events.next();
      }
    } catch (err) {
      if ((err as Error).name === 'AbortError') return;
      throw err;
    } finally {
      await events.return?.();
    }
  }

  // ---- admission, queries, inputs and block production (see their modules) ----

  /** Validates a raw signed transaction and queues it; see {@link Admission.submit} for the errors. */
  submit(raw: Uint8Array): Promise<SubmitResult> {
    return this.admission.submit(raw);
  }

  /** Account state at the durable head; see {@link ShardQueries.getAccount}. */
  getAccount(address: string): Promise<Account> {
    return this.queries.getAccount(address);
  }

  /** EIP-1186 proof of an account and slots; see {@link ShardQueries.getProof}. */
  getProof(address: string, slots: readonly string[], height?: number): Promise<GetProofResponse> {
    return this.queries.getProof(address, slots, height);
  }

  /** Takes locks of a cross-shard contract call on keys of this shard; see {@link ShardQueries.acquireLocks}. */
  acquireLocks(txHash: string, keys: readonly LockKey[], ttlMs?: number, waitMs?: number): Promise<LocksGranted> {
    return this.queries.acquireLocks(txHash, keys, ttlMs, waitMs);
  }

  /** Releases every simulation lock of a transaction; see {@link ShardQueries.releaseSimulationLocks}. */
  releaseSimulationLocks(txHash: string): Promise<number> {
    return this.queries.releaseSimulationLocks(txHash);
  }

  /** Every simulation lock in the table (expired ones too, until swept), for tests and audits. */
  simulationLocks(): SimulationLock[] {
    return this.queries.simulationLocks();
  }

  /**
   * Client-led: this shard's vote on a cross-shard transaction once recorded; see {@link ClientLedProtocol.prepare}.
   * @throws ShardLabError FAILED_PRECONDITION when the shard does not run client-led; else as ClientLedProtocol.prepare.
   */
  async prepare(x: CrossShardTx | undefined): Promise<PrepareResponse> {
    return this.clientLed('Prepare').prepare(x);
  }

  /**
   * Client-led: applies a coordinator's decision; see {@link ClientLedProtocol.decide}.
   * @throws ShardLabError FAILED_PRECONDITION when the shard does not run client-led; else as ClientLedProtocol.decide.
   */
  async decide(r: TpcResult | undefined): Promise<DecideResponse> {
    return this.clientLed('Decide').decide(r);
  }

  private clientLed(call: string): ClientLedProtocol {
    if (!(this.protocol instanceof ClientLedProtocol)) {
      throw errors.failedPrecondition(`${call}: shard ${this.shardId} runs ${this.protocol.name}, not client-led two-phase commit`);
    }
    return this.protocol;
  }

  /** Shard-led: the other shards a call to a contract here reaches; see {@link ShardQueries.dryRunCall}. */
  dryRunCall(raw: Uint8Array): Promise<{ reachedShards: number[]; error: string }> {
    return this.queries.dryRunCall(raw);
  }

  /** Contract code at the durable head; see {@link ShardQueries.getCode}. */
  getCode(address: string): Promise<{ code: Buffer }> {
    return this.queries.getCode(address);
  }

  /** A page of the accounts this shard holds; see {@link ShardQueries.listAccounts}. */
  listAccounts(pageToken: string, pageSize: number): Promise<{ accounts: Account[]; nextPageToken: string; blockHeight: number }> {
    return this.queries.listAccounts(pageToken, pageSize);
  }

  /** Status of a transaction submitted to this shard; see {@link ShardQueries.getTransaction}. */
  getTransaction(hash: string): Promise<TransactionStatus> {
    return this.queries.getTransaction(hash);
  }

  /** The decision on a cross-shard transaction applied here; see {@link ShardQueries.getDecision}. */
  getDecision(hash: string): Promise<GetDecisionResponse> {
    return this.queries.getDecision(hash);
  }

  /** A block by height, or the head block; see {@link ShardQueries.getBlock}. */
  getBlock(height?: number): Promise<StateShardBlock> {
    return this.queries.getBlock(height);
  }

  /** The orchestrator's block stream as this shard's protocol follows it. */
  private orchestratorStream(): Extract<FollowedStream, { service: 'orchestrator' }> {
    const s = this.protocol.follows.find((f): f is Extract<FollowedStream, { service: 'orchestrator' }> => f.service === 'orchestrator');
    if (!s) throw errors.failedPrecondition(`protocol ${this.protocol.name} does not follow the orchestrator`);
    return s;
  }

  /**
   * Queues an orchestrator block for the next shard block (blocks arrive by subscription, in
   * height order). Blocks at or below the last queued height are ignored (duplicates after a
   * reconnect); a gap throws, so that the subscriber restarts from {@link orchestratorCursor} + 1.
   * @throws ShardLabError FAILED_PRECONDITION on a gap in heights.
   */
  enqueueOrchestratorBlock(block: OrchestratorBlock): void {
    this.orchestratorStream().accept(block);
  }

  /** Highest orchestrator height received (queued or durably recorded). */
  orchestratorCursor(): number {
    return this.orchestratorStream().cursor();
  }

  /** Produces one block now; see {@link BlockProducer.produceBlock}. */
  produceBlock(): Promise<StateShardBlock> {
    return this.producer.produceBlock();
  }
}

/** Creates a {@link ShardNode} (ethereumjs-style async factory). */
export function createShardNode(opts: ShardNodeOpts): Promise<ShardNode> {
  return ShardNode.create(opts);
}
