import { EventEmitter, on } from 'node:events';
import type { Common } from '@ethereumjs/common';
import { context, trace as otTrace, type Link } from '@opentelemetry/api';
import { createContractAddress, createAddressFromString, hexToBytes } from '@ethereumjs/util';
import {
  BlockExecutor,
  ZERO_HASH,
  buildBlock,
  checkAgainstSender,
  decodeTransaction,
  shardOf,
  type Placement,
  type SignaturePool,
  type TrieDB,
} from '@shardlab/chain';
import { errors, parseAddress, parseHash, toHex } from '@shardlab/common';
import { TxStatus, type Account, type StateShardBlock, type TransactionStatus } from '@shardlab/proto';
import type { ShardStore } from '@shardlab/storage';
import { tracer, withSpan, type Logger } from '@shardlab/telemetry';
import { Mempool } from './mempool';

const t = tracer('state-shard');

/** Options of {@link createShardNode}. Defaults in brackets. */
export interface ShardNodeOpts {
  shardId: number;
  placement: Placement;
  common: Common;
  store: ShardStore;
  logger: Logger;
  /** Genesis allocation of the whole network (address → wei); the node keeps its own shard's part. */
  genesis: ReadonlyMap<string, bigint>;
  /** Time between blocks, in milliseconds [250]. */
  blockIntervalMs?: number;
  /** Most user transactions in one block [5000]. */
  maxTxsPerBlock?: number;
  /** Most transactions waiting in the mempool [100,000]. */
  mempoolCapacity?: number;
  /** Base fee per gas, in wei, burned [1 gwei]. */
  baseFeePerGas?: bigint;
  /** Block gas limit [30,000,000]. */
  blockGasLimit?: bigint;
  /** Clock in milliseconds [Date.now]. */
  now?: () => number;
  /** Worker threads that recover senders off the main thread [none: recover inline]. */
  signaturePool?: SignaturePool;
}

/** What SubmitTransaction answers. */
export interface SubmitResult {
  txHash: string;
  shardId: number;
  crossShard: boolean;
  status: TxStatus;
}

/** The coinbase of a shard: the address whose last byte is the shard id (receives priority fees). */
export function shardCoinbase(shardId: number): string {
  return '0x' + '00'.repeat(19) + shardId.toString(16).padStart(2, '0');
}

/** Serialises async sections (validation + admission against block commits). */
class Mutex {
  private tail: Promise<void> = Promise.resolve();
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise((r) => (release = r));
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

/**
 * One state shard (DESIGN.md sections 1 and 3): validates and queues signed transactions whose
 * sender lives here, produces a block every `blockIntervalMs` by executing queued transactions
 * with the EVM, persists block, receipts and state in one batch, and serves blocks to
 * subscribers from any height.
 */
export class ShardNode {
  readonly shardId: number;
  readonly blockIntervalMs: number;
  private readonly mempool: Mempool;
  private readonly blocks = new EventEmitter();
  private readonly dropped = new Map<string, { reason: string; atMs: number }>();
  private readonly admission = new Mutex();
  private readonly now: () => number;
  private readonly maxTxsPerBlock: number;
  private timer: NodeJS.Timeout | undefined;
  private producing: Promise<void> | undefined;
  private closed = false;
  private readonly closing = new AbortController();

  private constructor(
    private readonly opts: ShardNodeOpts,
    private readonly executor: BlockExecutor,
    /** Reads account state at the durable head (never mid-block). */
    private readonly reader: BlockExecutor,
  ) {
    this.shardId = opts.shardId;
    this.blockIntervalMs = opts.blockIntervalMs ?? 250;
    this.maxTxsPerBlock = opts.maxTxsPerBlock ?? 5000;
    this.mempool = new Mempool(opts.mempoolCapacity);
    this.now = opts.now ?? Date.now;
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
      const genesis = await buildBlock(opts.common, {
        shardId: opts.shardId,
        height: 0,
        parentHash: ZERO_HASH,
        timestampMs: 0,
        execution: { stateRoot: root, gasUsed: 0n, outcomes: [], touched: [] },
      });
      await opts.store.commitBlock(genesis);
      head = opts.store.head()!;
      opts.logger.info({ height: 0, stateRoot: head.stateRoot, accounts: own.size }, 'genesis written');
    } else {
      executor = await mk(hexToBytes(head.stateRoot as `0x${string}`));
      opts.logger.info({ height: head.height, stateRoot: head.stateRoot }, 'resumed from store');
    }
    const reader = await mk(hexToBytes(head.stateRoot as `0x${string}`));
    return new ShardNode(opts, executor, reader);
  }

  /** Starts producing a block every `blockIntervalMs`. */
  start(): void {
    if (this.timer || this.closed) return;
    const tick = () => {
      this.producing = this.produceBlock()
        .then(() => undefined)
        .catch((err: unknown) => this.opts.logger.error({ err }, 'block production failed'))
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

  /** Durable head: height, hash and state root. */
  head(): { height: number; hash: string; stateRoot: string; mempoolSize: number } {
    const h = this.opts.store.head()!;
    return { ...h, mempoolSize: this.mempool.size };
  }

  /**
   * Validates a raw signed transaction and queues it (DESIGN.md section 3, local transaction).
   * @throws ShardLabError INVALID_ARGUMENT (malformed, wrong chain id, bad signature, gas bounds),
   *   FAILED_PRECONDITION (sender on another shard, nonce too low/high, fee cap below base fee,
   *   insufficient funds), ALREADY_EXISTS (same hash queued or included), UNIMPLEMENTED
   *   (cross-shard: recipient or created contract on another shard), RESOURCE_EXHAUSTED (mempool full).
   */
  async submit(raw: Uint8Array): Promise<SubmitResult> {
    const key = this.opts.signaturePool ? await this.opts.signaturePool.recover(raw) : undefined;
    const d = decodeTransaction(raw, this.opts.common, key);
    return withSpan(t, 'shard.submit', { 'tx.hash': d.hash, 'shard.id': this.shardId }, async () => {
      const home = shardOf(this.opts.placement, d.from);
      if (home !== this.shardId) {
        throw errors.failedPrecondition(`sender ${d.from} is placed on shard ${home}, not shard ${this.shardId}; submit through the gateway`, { txHash: d.hash });
      }
      if (this.mempool.has(d.hash)) throw errors.alreadyExists(`transaction ${d.hash} was already submitted`, { txHash: d.hash });
      const target = d.to ?? toHex(createContractAddress(createAddressFromString(d.from), d.nonce).bytes);
      const targetShard = shardOf(this.opts.placement, target);
      if (targetShard !== this.shardId) {
        throw errors.unimplemented(
          `cross-shard transaction ${d.hash}: ${d.to ? 'recipient' : 'created contract'} ${target} is on shard ${targetShard}, sender on shard ${this.shardId}; cross-shard commit is not implemented yet`,
          { txHash: d.hash },
        );
      }
      await this.admission.run(async () => {
        if (this.mempool.has(d.hash)) throw errors.alreadyExists(`transaction ${d.hash} was already submitted`, { txHash: d.hash });
        const acct = await this.reader.getAccount(d.from);
        const pending = this.mempool.senderView(d.from);
        try {
          checkAgainstSender(d, { stateNonce: acct.nonce, balance: acct.balance, locked: 0n, ...pending }, this.executor.baseFeePerGas);
        } catch (err) {
          // An included transaction necessarily has a nonce below the sender's next one, so the
          // store is only asked on that path (not on every submission).
          if (d.nonce < acct.nonce && (await this.opts.store.txLocation(d.hash))) {
            throw errors.alreadyExists(`transaction ${d.hash} was already submitted (included)`, { txHash: d.hash });
          }
          throw err;
        }
        this.mempool.add(d, this.now(), context.active());
        this.dropped.delete(d.hash);
      });
      this.opts.logger.debug({ txHash: d.hash, from: d.from, nonce: Number(d.nonce) }, 'transaction queued');
      return { txHash: d.hash, shardId: this.shardId, crossShard: false, status: TxStatus.TX_STATUS_QUEUED };
    });
  }

  /**
   * Account state at the durable head.
   * @throws ShardLabError INVALID_ARGUMENT for a malformed address, FAILED_PRECONDITION for an
   *   address placed on another shard.
   */
  async getAccount(address: string): Promise<Account> {
    const a = parseAddress(address);
    const shard = shardOf(this.opts.placement, a);
    if (shard !== this.shardId) throw errors.failedPrecondition(`address ${a} is placed on shard ${shard}, not shard ${this.shardId}`);
    return this.admission.run(async () => {
      const s = await this.reader.getAccount(a);
      return {
        address: a,
        shardId: this.shardId,
        balance: s.balance.toString(),
        nonce: Number(s.nonce),
        locked: '0',
        codeHash: s.codeHash,
        blockHeight: this.opts.store.head()!.height,
      };
    });
  }

  /**
   * Status of a transaction submitted to this shard: QUEUED (in the mempool), INCLUDED (in a
   * block being persisted), FINAL (with its receipt), DROPPED (with the reason), or UNKNOWN.
   * @throws ShardLabError INVALID_ARGUMENT for a malformed hash.
   */
  async getTransaction(hash: string): Promise<TransactionStatus> {
    const h = parseHash(hash, 'tx_hash');
    const base = { txHash: h, homeShard: this.shardId, crossShard: false, blockHeight: 0, reason: '', updatedAtMs: this.now(), receipt: undefined };
    const loc = await this.opts.store.txLocation(h);
    if (loc) {
      const block = await this.opts.store.getBlock(loc.height);
      const receipt = block?.receipts[loc.receiptIndex];
      if (block && receipt) return { ...base, status: TxStatus.TX_STATUS_FINAL, blockHeight: block.height, receipt };
    }
    const e = this.mempool.get(h);
    if (e) return { ...base, status: e.executing ? TxStatus.TX_STATUS_INCLUDED : TxStatus.TX_STATUS_QUEUED, updatedAtMs: e.acceptedAtMs };
    const d = this.dropped.get(h);
    if (d) return { ...base, status: TxStatus.TX_STATUS_DROPPED, reason: d.reason, updatedAtMs: d.atMs };
    return { ...base, status: TxStatus.TX_STATUS_UNKNOWN };
  }

  /**
   * A block by height, or the head block.
   * @throws ShardLabError NOT_FOUND beyond the head.
   */
  async getBlock(height?: number): Promise<StateShardBlock> {
    const h = height ?? this.opts.store.head()!.height;
    const b = await this.opts.store.getBlock(h);
    if (!b) throw errors.notFound(`shard ${this.shardId} has no block at height ${h} (head is ${this.opts.store.head()!.height})`);
    return b;
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
        const head = this.opts.store.head()!.height;
        while (next <= head && !stop.aborted) {
          const b = await this.opts.store.getBlock(next);
          if (!b) throw errors.internal(`block ${next} missing below head ${head}`);
          yield b;
          next += 1;
        }
        if (next > this.opts.store.head()!.height) await events.next();
      }
    } catch (err) {
      if ((err as Error).name === 'AbortError') return;
      throw err;
    } finally {
      await events.return?.();
    }
  }

  /**
   * Produces one block now: executes up to `maxTxsPerBlock` queued transactions (oldest first),
   * persists block, receipts and state atomically, and publishes the block. Blocks are produced
   * even when empty, so heights measure time. Returns the block.
   * @throws Error when persisting fails (the transactions stay queued and state is rolled back).
   */
  async produceBlock(): Promise<StateShardBlock> {
    const head = this.opts.store.head()!;
    const height = head.height + 1;
    const entries = this.mempool.take(this.maxTxsPerBlock, this.executor.blockGasLimit);
    const links: Link[] = entries
      .map((e) => (e.trace ? otTrace.getSpanContext(e.trace) : undefined))
      .filter((c): c is NonNullable<typeof c> => c !== undefined)
      .map((c) => ({ context: c }));
    return withSpan(t, 'shard.block', { 'shard.id': this.shardId, 'block.height': height, 'block.txs': entries.length }, async () => {
      const timestampMs = Math.max(this.now(), 1);
      let block: StateShardBlock;
      try {
        const execution = await this.executor.executeBlock(height, timestampMs, entries.map((e) => e.tx));
        block = await buildBlock(this.opts.common, { shardId: this.shardId, height, parentHash: head.hash, timestampMs, execution });
        await this.opts.store.commitBlock(block);
        const rejected = execution.outcomes.filter((o) => o.kind === 'rejected');
        await this.admission.run(async () => {
          await this.reader.setStateRoot(execution.stateRoot);
          this.mempool.remove(entries.map((e) => e.tx.hash));
        });
        for (const o of rejected) {
          this.dropped.set(o.tx.hash, { reason: o.reason, atMs: timestampMs });
          this.opts.logger.warn({ txHash: o.tx.hash, reason: o.reason }, 'transaction dropped');
        }
        this.trimDropped();
      } catch (err) {
        this.opts.store.discardPending();
        await this.executor.setStateRoot(hexToBytes(head.stateRoot as `0x${string}`));
        this.mempool.untake(entries);
        throw err;
      }
      if (block.transactions.length > 0) {
        this.opts.logger.info({ height, txs: block.transactions.length, gasUsed: block.gasUsed, stateRoot: block.stateRoot }, 'block');
      }
      this.blocks.emit('block', block);
      return block;
    }, links);
  }

  private trimDropped(): void {
    const max = 10_000;
    if (this.dropped.size <= max) return;
    for (const k of this.dropped.keys()) {
      this.dropped.delete(k);
      if (this.dropped.size <= max) break;
    }
  }
}

/** Creates a {@link ShardNode} (ethereumjs-style async factory). */
export function createShardNode(opts: ShardNodeOpts): Promise<ShardNode> {
  return ShardNode.create(opts);
}
