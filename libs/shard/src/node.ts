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
  type BlockStep,
  type DecodedTx,
  type Placement,
  type SignaturePool,
  type StepOutcome,
  type SystemOp,
  type TrieDB,
} from '@shardlab/chain';
import { ErrorCode, errors, isShardLabError, parseAddress, parseHash, toHex } from '@shardlab/common';
import { TxStatus, Vote, type Account, type GetProofResponse, type OrchestratorBlock, type PrepareVote, type StateShardBlock, type Transaction, type TransactionStatus } from '@shardlab/proto';
import type { ShardStore } from '@shardlab/storage';
import { extractContext, tracer, withSpan, type Logger } from '@shardlab/telemetry';
import { Mempool, type MempoolEntry } from './mempool';
import { Participant, decodeRecord, encodeRecord, type CallAcceptance, type TpcRecord } from './participant';
import { StateViewCache, parseProofRequest } from './proofs';
import { SimulationLocks, parseLockRequest, type SimulationLock } from './simulation-locks';

/**
 * Reorders block steps so that each sender's transactions come in nonce order, keeping the
 * positions at which senders first appear (other steps stay where they are).
 */
function inNonceOrder(steps: BlockStep[]): BlockStep[] {
  const txOf = (st: BlockStep) => ('kind' in st ? (st.kind === 'accept' ? st.tx : undefined) : st);
  const bySender = new Map<string, BlockStep[]>();
  for (const st of steps) {
    const tx = txOf(st);
    if (tx) bySender.set(tx.from, [...(bySender.get(tx.from) ?? []), st]);
  }
  for (const list of bySender.values()) list.sort((a, b) => Number(txOf(a)!.nonce - txOf(b)!.nonce));
  const next = new Map<string, number>();
  return steps.map((st) => {
    const tx = txOf(st);
    if (!tx) return st;
    const i = next.get(tx.from) ?? 0;
    next.set(tx.from, i + 1);
    return bySender.get(tx.from)![i]!;
  });
}

/** Forward attempts after a first forward whose outcome is unknown (about 2 minutes in all). */
const FORWARD_RETRIES = 30;

/** True for a failure after which the callee may or may not have acted (deadline exceeded). */
function isOutcomeUnknown(err: unknown): boolean {
  return isShardLabError(err, ErrorCode.Unavailable) && err.meta['grpcCode'] === 4; // DEADLINE_EXCEEDED
}

/** Record keys of the two-phase-commit participant in the shard store's metadata. */
const TPC_PREFIX = 'tpc:';
/** Keys of applied decisions (tx hash → commit/abort), for status queries. */
const DECIDED_PREFIX = 'tpcd:';

/**
 * Hands a cross-shard transaction accepted by its home shard to the orchestrator
 * (ForwardTransaction). Resolves once the orchestrator has it durably.
 * @throws ShardLabError UNAVAILABLE when the orchestrator cannot be reached.
 */
export interface Forwarder {
  forward(tx: DecodedTx, homeShard: number, involvedShards: number[]): Promise<void>;
}

const t = tracer('state-shard');

/** keccak256 of empty code: the code hash of an account without code. */
const EMPTY_CODE_HASH = '0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470';

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
  /** Where cross-shard transactions go [none: they are refused with UNIMPLEMENTED]. */
  forwarder?: Forwarder;
  /** Lifetime of a simulation lock whose GetProof names no TTL, in ms [10,000]. */
  simulationLockDefaultTtlMs?: number;
  /** Longest simulation lock granted, in ms; longer requests are capped [60,000]. */
  simulationLockMaxTtlMs?: number;
}

/** The simulation lock a GetProof asks for (see simulation-locks.ts). */
export interface ProofLockRequest {
  /** Transaction the lock is for (0x + 32-byte hex). */
  txHash?: string;
  /** Lifetime in ms from now [the shard's default, 10,000]; capped by the shard's maximum. */
  ttlMs?: number;
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
  /** Settles when the latest submission so far is decoded (see {@link submit}). */
  private arrivals: Promise<void> = Promise.resolve();
  private readonly now: () => number;
  private readonly maxTxsPerBlock: number;
  private timer: NodeJS.Timeout | undefined;
  private producing: Promise<void> | undefined;
  private closed = false;
  private readonly closing = new AbortController();
  private readonly participant: Participant;
  /** Orchestrator blocks received and not yet recorded in a shard block, in height order. */
  private orchQueue: OrchestratorBlock[] = [];
  /** Highest orchestrator height taken by the block in progress (0: none). */
  private orchTaken = 0;
  /** Last orchestrator height recorded in a durable block. */
  private orchDurable: number;
  /** Decisions seen on cross-shard transactions (bounded), for status queries. */
  private readonly decided = new Map<string, 'commit' | 'abort'>();
  private chain: Promise<unknown> = Promise.resolve();
  private blocksInProgress = 0;
  /** Ordered copies whose acceptance waits for the sender's earlier transactions. */
  private readonly waitingCopies = new Map<string, { tx: Transaction; call?: CallAcceptance }>();
  /** Read-only state views at recent state roots (GetProof, GetCode). */
  private readonly views: StateViewCache;
  /** Simulation locks of cross-shard contract calls (in memory only, see simulation-locks.ts). */
  private readonly simLocks: SimulationLocks;
  /**
   * Held for the whole production of a block, and while GetProof takes a simulation lock: a lock
   * is never taken while a block that was planned without it is being executed.
   */
  private readonly blockMutex = new Mutex();
  /**
   * Addresses that local transactions of the last block waited for (they write them and a call
   * held them): no new simulation lock is granted on them until those transactions have run, so
   * that a stream of simulations cannot starve local writers.
   */
  private localWaiters = new Set<string>();

  private constructor(
    private readonly opts: ShardNodeOpts,
    private readonly executor: BlockExecutor,
    /** Reads account state at the durable head (never mid-block). */
    private readonly reader: BlockExecutor,
    /** Runs dry runs of submitted calls (own state manager: reads of `reader` never see them). */
    private readonly dryRunner: BlockExecutor,
    records: TpcRecord[],
    orchestratorHeight: number,
  ) {
    this.participant = new Participant(records);
    this.orchDurable = orchestratorHeight;
    this.shardId = opts.shardId;
    this.blockIntervalMs = opts.blockIntervalMs ?? 250;
    this.maxTxsPerBlock = opts.maxTxsPerBlock ?? 5000;
    this.mempool = new Mempool(opts.mempoolCapacity);
    this.now = opts.now ?? Date.now;
    this.blocks.setMaxListeners(0);
    this.views = new StateViewCache(opts.store.trie as TrieDB, opts.common);
    this.simLocks = new SimulationLocks({
      now: this.now,
      ...(opts.simulationLockDefaultTtlMs !== undefined ? { defaultTtlMs: opts.simulationLockDefaultTtlMs } : {}),
      ...(opts.simulationLockMaxTtlMs !== undefined ? { maxTtlMs: opts.simulationLockMaxTtlMs } : {}),
    });
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
    const records = (await opts.store.metaEntries(TPC_PREFIX)).map(([, v]) => decodeRecord(v));
    const headBlock = await opts.store.getBlock(head.height);
    return new ShardNode(opts, executor, reader, dryRunner, records, headBlock?.orchestratorHeight ?? 0);
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
    // Submissions reach admission in arrival order even though their signatures are recovered in
    // batches on several workers (which may finish out of order): each waits for the one before
    // it to be decoded. A sender's pipelined transactions thus keep their nonce order.
    const before = this.arrivals;
    let decoded!: () => void;
    this.arrivals = new Promise<void>((r) => (decoded = r));
    let d: DecodedTx;
    try {
      const key = this.opts.signaturePool ? await this.opts.signaturePool.recover(raw) : undefined;
      await before;
      d = decodeTransaction(raw, this.opts.common, key);
    } finally {
      decoded();
    }
    return withSpan(t, 'shard.submit', { 'tx.hash': d.hash, 'shard.id': this.shardId }, async () => {
      const home = shardOf(this.opts.placement, d.from);
      if (home !== this.shardId) {
        throw errors.failedPrecondition(`sender ${d.from} is placed on shard ${home}, not shard ${this.shardId}; submit through the gateway`, { txHash: d.hash });
      }
      if (this.mempool.has(d.hash)) throw errors.alreadyExists(`transaction ${d.hash} was already submitted`, { txHash: d.hash });
      const target = d.to ?? toHex(createContractAddress(createAddressFromString(d.from), d.nonce).bytes);
      const targetShard = shardOf(this.opts.placement, target);
      // Everything from here to the mempool runs in one admission slot, in arrival order, so a
      // sender's next transaction never slips in between (nonce order).
      const { entry, crossShard, involvedShards } = await this.admission.run(async () => {
        // A call to a local contract is run first with a tracking state: if it reads or writes an
        // account placed on another shard, it is a cross-shard call (DESIGN.md section 3).
        const reached = !this.opts.forwarder || targetShard !== this.shardId || d.tx.data.length === 0 ? [] : await this.foreignShardsReached(d);
        const crossShard = targetShard !== this.shardId || reached.length > 0;
        // A cross-shard contract call or creation: forwarded for simulation; its mempool entry
        // only reserves the nonce (the ordered copy with the RwSet is what gets accepted).
        const isCall = crossShard && (!d.to || d.tx.data.length > 0);
        const involvedShards = reached.length > 0 ? [this.shardId, ...reached] : [targetShard];
        if (crossShard) {
          const why = !this.opts.forwarder
            ? !d.to
              ? `creates a contract at ${target}, placed on shard ${targetShard}, and this shard has no orchestrator`
              : d.tx.data.length > 0
                ? `calls ${target} on shard ${targetShard} with calldata, and this shard has no orchestrator`
                : `sends value to ${target} on shard ${targetShard}, and this shard has no orchestrator`
            : '';
          if (why) {
            throw errors.unimplemented(`cross-shard transaction ${d.hash} ${why}: only cross-shard value transfers are implemented (contract calls need the simulator)`, { txHash: d.hash });
          }
        }
        if (this.mempool.has(d.hash)) throw errors.alreadyExists(`transaction ${d.hash} was already submitted`, { txHash: d.hash });
        const acct = await this.reader.getAccount(d.from);
        const pending = this.mempool.senderView(d.from);
        try {
          checkAgainstSender(d, { stateNonce: acct.nonce, balance: acct.balance, locked: this.participant.lockedOf(d.from), ...pending }, this.executor.baseFeePerGas);
        } catch (err) {
          // An included transaction necessarily has a nonce below the sender's next one, so the
          // store is only asked on that path (not on every submission).
          if (d.nonce < acct.nonce && (await this.opts.store.txLocation(d.hash))) {
            throw errors.alreadyExists(`transaction ${d.hash} was already submitted (included)`, { txHash: d.hash });
          }
          throw err;
        }
        this.dropped.delete(d.hash);
        return { entry: this.mempool.add(d, this.now(), context.active(), crossShard, isCall), crossShard, involvedShards };
      });
      if (crossShard) {
        // The nonce is reserved in the mempool; the entry enters a block only once the
        // orchestrator holds the transaction, so a signed transaction is never half-accepted.
        try {
          await this.opts.forwarder!.forward(d, this.shardId, involvedShards);
        } catch (err) {
          if (!isOutcomeUnknown(err)) {
            // The orchestrator refused it or was never reached: nothing happened; safe to retry.
            this.mempool.remove([d.hash]);
            throw err;
          }
          // The orchestrator may have stored it (the deadline passed after the request left):
          // keep the nonce reserved and forward again in the background (idempotent by hash),
          // rather than tell the client it failed when it may still commit.
          this.opts.logger.warn({ txHash: d.hash, err: (err as Error).message }, 'forward outcome unknown; retrying in the background');
          void this.retryForward(d, involvedShards, entry);
          return { txHash: d.hash, shardId: this.shardId, crossShard: true, status: TxStatus.TX_STATUS_PENDING };
        }
        entry.ready = true;
        this.opts.logger.debug({ txHash: d.hash, from: d.from, to: d.to, toShard: targetShard }, 'cross-shard transaction forwarded');
        return { txHash: d.hash, shardId: this.shardId, crossShard: true, status: TxStatus.TX_STATUS_PENDING };
      }
      this.opts.logger.debug({ txHash: d.hash, from: d.from, nonce: Number(d.nonce) }, 'transaction queued');
      return { txHash: d.hash, shardId: this.shardId, crossShard: false, status: TxStatus.TX_STATUS_QUEUED };
    });
  }

  /**
   * Shards other than this one whose accounts a call to a local contract reads or writes, from a
   * dry run at the head (sorted; empty for a purely local call). A transaction the EVM refuses is
   * left to the normal checks (its error comes from admission or execution). Call under the
   * admission mutex.
   */
  private async foreignShardsReached(d: DecodedTx): Promise<number[]> {
    const head = this.opts.store.head()!;
    const run = await this.dryRunner.touchedBy(d, head.height + 1, Math.max(this.now(), 1));
    const shards = new Set(run.touched.map((a) => shardOf(this.opts.placement, a)).filter((s) => s !== this.shardId));
    return [...shards].sort((a, b) => a - b);
  }

  /**
   * Forwards again, with back-off, a cross-shard transaction whose first forward timed out, until
   * the orchestrator answers (it deduplicates by hash); then lets it into a block. After
   * `FORWARD_RETRIES` failures it is dropped — if the orchestrator did store it, the source still
   * accepts it from the ordered copy, so it is never lost half-way.
   */
  private async retryForward(d: DecodedTx, involvedShards: number[], entry: MempoolEntry): Promise<void> {
    for (let attempt = 1; attempt <= FORWARD_RETRIES && !this.closing.signal.aborted; attempt++) {
      await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
      try {
        await this.opts.forwarder!.forward(d, this.shardId, involvedShards);
        entry.ready = true;
        this.opts.logger.info({ txHash: d.hash, attempt }, 'cross-shard transaction forwarded after retry');
        return;
      } catch (err) {
        if (!isOutcomeUnknown(err) && !isShardLabError(err, ErrorCode.Unavailable)) {
          // The orchestrator answered (e.g. already decided): keep it out of blocks; its status
          // comes from the orchestrator, and the source accepts an ordered copy if there is one.
          await this.admission.run(async () => {
            this.dropped.set(d.hash, { reason: (err as Error).message, atMs: this.now() });
            this.mempool.remove([d.hash]);
          });
          return;
        }
      }
    }
    await this.admission.run(async () => {
      this.dropped.set(d.hash, { reason: 'the orchestrator could not be reached to forward it', atMs: this.now() });
      this.mempool.remove([d.hash]);
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
        locked: this.participant.lockedOf(a).toString(),
        codeHash: s.codeHash,
        blockHeight: this.opts.store.head()!.height,
      };
    });
  }

  /**
   * EIP-1186 proof of an account and some of its storage slots at block `height` (default: the
   * durable head), for the simulator of cross-shard contract calls. `slots` are 32-byte 0x hex
   * keys (at most 256). The answer holds the account (balance in wei, nonce, code hash; `locked`
   * is the amount locked now, at the durable head: locks are protocol metadata, not part of the
   * proven state), the account proof from the block's state root, one storage item per slot in
   * request order (`value` a zero-padded 32-byte word, `proof` from the account's storage root,
   * see proofs.ts), and the reference block (shard, height, state root) the proofs are against.
   * Older heights are served from their state root (trie nodes are never pruned).
   *
   * With `lock.txHash` (a simulation of that transaction), the address is also locked for it for
   * `lock.ttlMs` (default 10,000 ms, capped at the shard's maximum, 60,000 ms by default; the same
   * transaction asking again extends its lock), see simulation-locks.ts. The lock is taken between
   * blocks, and only when the address is the same at the durable head as at `height`, so a locked
   * read stays valid until the lock is gone.
   * @throws ShardLabError INVALID_ARGUMENT for a malformed address, slot, height, tx hash or TTL
   *   (0, or without a tx hash), or more than 256 slots; FAILED_PRECONDITION for an address placed
   *   on another shard; NOT_FOUND for a height beyond the durable head; ABORTED (with a lock) when
   *   another transaction holds the address — an unexpired simulation lock or the prepare lock of
   *   a cross-shard call — (`<address> is locked by transaction <hash> (…)`), or when the address
   *   changed after `height` (the read would be stale; simulate again at the new head).
   */
  async getProof(address: string, slots: readonly string[], height?: number, lock?: ProofLockRequest): Promise<GetProofResponse> {
    const req = parseProofRequest(address, slots, height);
    const lockReq = parseLockRequest(lock?.txHash, lock?.ttlMs);
    const a = req.address;
    const shard = shardOf(this.opts.placement, a);
    if (shard !== this.shardId) throw errors.failedPrecondition(`address ${a} is placed on shard ${shard}, not shard ${this.shardId}`);
    // The head and the locked amount are read together, under admission like the other reads
    // (with a lock: between blocks, see lockForSimulation); the proof itself is built outside it,
    // from a read-only view at the reference root (trie nodes are content-addressed and never
    // pruned, so blocks produced meanwhile cannot change it).
    if (lockReq) this.checkSimulationLock(a, lockReq.txHash); // fails fast, without waiting for a block
    const snap = lockReq
      ? await this.blockMutex.run(() => this.lockForSimulation(a, lockReq.txHash, lockReq.ttlMs, height))
      : await this.admission.run(async () => ({ head: this.opts.store.head()!, locked: this.participant.lockedOf(a) }));
    const h = height ?? snap.head.height;
    if (h > snap.head.height) throw errors.notFound(`shard ${this.shardId} has no block at height ${h} (head is ${snap.head.height})`);
    const stateRoot = h === snap.head.height ? snap.head.stateRoot : (await this.opts.store.getBlock(h))?.stateRoot;
    if (!stateRoot) throw errors.internal(`block ${h} missing below head ${snap.head.height}`);
    const p = await this.views.at(stateRoot).prove(a, req.slots);
    const buf = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    return {
      account: {
        address: a,
        shardId: this.shardId,
        balance: p.account.balance.toString(),
        nonce: Number(p.account.nonce),
        locked: snap.locked.toString(),
        codeHash: p.account.codeHash,
        blockHeight: h,
      },
      accountProof: p.accountProof.map(buf),
      storage: p.storage.map((s) => ({ slot: s.slot, value: s.value, proof: s.proof.map(buf) })),
      reference: { shardId: this.shardId, height: h, stateRoot: p.stateRoot },
    };
  }

  /**
   * Takes (or extends) `txHash`'s simulation lock on `address` for a GetProof at `height`
   * (default the head). Runs between blocks (under the block mutex), so no block planned without
   * the lock is in progress, and every later block sees it. Returns the durable head and the
   * address's locked amount, as GetProof reports them.
   * @throws ShardLabError NOT_FOUND for a height beyond the head; ABORTED when another
   *   transaction holds the address, or the address changed between `height` and the head.
   */
  private async lockForSimulation(address: string, txHash: string, ttlMs: number | undefined, height: number | undefined): Promise<{ head: { height: number; stateRoot: string }; locked: bigint }> {
    const head = this.opts.store.head()!;
    if (height !== undefined && height > head.height) throw errors.notFound(`shard ${this.shardId} has no block at height ${height} (head is ${head.height})`);
    this.checkSimulationLock(address, txHash);
    if (height !== undefined && height < head.height) {
      // The simulation reads this shard at `height`: the lock protects the read only if the
      // address is still the same at the head (the account leaf covers its storage root).
      const root = (await this.opts.store.getBlock(height))?.stateRoot;
      if (!root) throw errors.internal(`block ${height} missing below head ${head.height}`);
      const [then, now] = await Promise.all([this.views.at(root).accountRlp(address), this.views.at(head.stateRoot).accountRlp(address)]);
      if (Buffer.compare(Buffer.from(then), Buffer.from(now)) !== 0) {
        throw errors.aborted(`${address} changed after height ${height} (head is ${head.height}): the read would be stale, simulate again at the head`, { address, txHash });
      }
    }
    const got = this.simLocks.acquire(address, txHash, ttlMs);
    if ('conflict' in got) throw errors.internal(`simulation lock of ${address} taken concurrently by ${got.conflict.txHash}`);
    return { head, locked: this.participant.lockedOf(address) };
  }

  /**
   * Whether `txHash` may take a simulation lock on `address` now.
   * @throws ShardLabError ABORTED when another transaction holds it (a prepare lock or an
   *   unexpired simulation lock: `<address> is locked by transaction <hash> (…)`), when a local
   *   transaction waits to write it (and `txHash` does not hold it already), or when `txHash` is a
   *   call of a sender of this shard whose earlier transactions are not in a block yet (its
   *   simulation would read state they are about to change, and lock what they need: they could
   *   never run before it, so both would wait for its vote timeout).
   */
  private checkSimulationLock(address: string, txHash: string): void {
    const prepared = this.callLockHolder(address);
    if (prepared !== undefined && prepared !== txHash) {
      throw errors.aborted(`${address} is locked by transaction ${prepared} (a prepared cross-shard call, until its decision)`, { address, holder: prepared, txHash });
    }
    const held = this.simLocks.holder(address);
    if (held && held.txHash !== txHash) {
      throw errors.aborted(`${address} is locked by transaction ${held.txHash} (simulation lock, expires in ${held.expiresAtMs - this.now()} ms)`, { address, holder: held.txHash, txHash });
    }
    if (!held && prepared === undefined && this.localWaiters.has(address)) {
      throw errors.aborted(`${address} is wanted by a local transaction waiting to write it: simulate again once it has run`, { address, txHash });
    }
    const own = this.mempool.get(txHash);
    const earlier = own?.reservation ? this.mempool.earlierPending(own.tx.from, own.tx.nonce) : undefined;
    if (earlier) {
      throw errors.aborted(`the sender's earlier transaction ${earlier.tx.hash} (nonce ${earlier.tx.nonce}) is not in a block yet: simulate again once it is`, { address, txHash });
    }
  }

  /**
   * The cross-shard call holding `address` with a prepare lock: a prepared (or accepted) call, or
   * an ordered copy waiting on this shard for its sender's earlier transactions.
   */
  private callLockHolder(address: string): string | undefined {
    const h = this.participant.lockHolder(address);
    if (h !== undefined) return h;
    for (const [hash, w] of this.waitingCopies) if (w.call && !w.call.refuse && w.call.locks.includes(address)) return hash;
    return undefined;
  }

  /**
   * Releases every simulation lock of a transaction on this shard (its simulation failed or gave
   * up; ReleaseSimulationLocks). Prepare locks are not touched. Returns how many addresses were
   * released (0 when it held none).
   * @throws ShardLabError INVALID_ARGUMENT for a malformed hash.
   */
  releaseSimulationLocks(txHash: string): number {
    const h = parseHash(txHash, 'tx_hash');
    const n = this.simLocks.release(h);
    if (n > 0) this.opts.logger.debug({ txHash: h, released: n }, 'simulation locks released');
    return n;
  }

  /** Every simulation lock in the table (expired ones too, until swept), for tests and audits. */
  simulationLocks(): SimulationLock[] {
    return this.simLocks.list();
  }

  /**
   * Contract code of an address at the durable head; empty for an externally owned account or an
   * address without state.
   * @throws ShardLabError INVALID_ARGUMENT for a malformed address, FAILED_PRECONDITION for an
   *   address placed on another shard.
   */
  async getCode(address: string): Promise<{ code: Buffer }> {
    const a = parseAddress(address);
    const shard = shardOf(this.opts.placement, a);
    if (shard !== this.shardId) throw errors.failedPrecondition(`address ${a} is placed on shard ${shard}, not shard ${this.shardId}`);
    const head = await this.admission.run(async () => this.opts.store.head()!);
    const code = await this.views.at(head.stateRoot).code(a);
    return { code: Buffer.from(code.buffer, code.byteOffset, code.byteLength) };
  }

  /**
   * A page of the accounts this shard holds (every account ever written here), at the durable
   * head, in address order. `pageToken` is the last address of the previous page ('' for the
   * first); `pageSize` 1..10,000 (0 means 1,000).
   * @throws ShardLabError INVALID_ARGUMENT for a bad token or page size.
   */
  async listAccounts(pageToken: string, pageSize: number): Promise<{ accounts: Account[]; nextPageToken: string; blockHeight: number }> {
    const after = pageToken === '' ? undefined : parseAddress(pageToken, 'page_token');
    const size = pageSize === 0 ? 1000 : pageSize;
    if (!Number.isInteger(size) || size < 1 || size > 10_000) throw errors.invalidArgument(`page_size must be 1..10000, got ${pageSize}`);
    return this.admission.run(async () => {
      const addresses = await this.opts.store.accounts(after, size);
      const blockHeight = this.opts.store.head()!.height;
      const accounts: Account[] = [];
      for (const a of addresses) {
        const st = await this.reader.getAccount(a);
        accounts.push({ address: a, shardId: this.shardId, balance: st.balance.toString(), nonce: Number(st.nonce), locked: this.participant.lockedOf(a).toString(), codeHash: st.codeHash, blockHeight });
      }
      return { accounts, nextPageToken: addresses.length === size ? addresses.at(-1)! : '', blockHeight };
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
    // The mempool first: a transaction leaves it only after its block is durable, so one not
    // found there is already in the store (or dropped) by the time the store is read.
    const e = this.mempool.get(h);
    if (e?.crossShard) return { ...base, crossShard: true, status: TxStatus.TX_STATUS_PENDING, updatedAtMs: e.acceptedAtMs };
    if (e) return { ...base, status: e.executing ? TxStatus.TX_STATUS_INCLUDED : TxStatus.TX_STATUS_QUEUED, updatedAtMs: e.acceptedAtMs };
    const loc = await this.opts.store.txLocation(h);
    if (loc) {
      const block = await this.opts.store.getBlock(loc.height);
      const receipt = block?.receipts[loc.receiptIndex];
      if (block && receipt) {
        const entry = block.transactions[receipt.txIndex]?.kind;
        const to = entry?.$case === 'user' ? entry.value.to : '';
        if (to && shardOf(this.opts.placement, to) !== this.shardId) {
          // A cross-shard transaction: its receipt is the fee; the outcome is the commit decision.
          const stored = this.decided.get(h) ?? (await this.opts.store.meta(DECIDED_PREFIX + h));
          const d = typeof stored === 'string' ? stored : stored ? Buffer.from(stored).toString('utf8') : undefined;
          const status = d === 'commit' ? TxStatus.TX_STATUS_COMMITTED : d === 'abort' ? TxStatus.TX_STATUS_ABORTED : TxStatus.TX_STATUS_PENDING;
          return { ...base, crossShard: true, status, blockHeight: block.height, receipt };
        }
        return { ...base, status: TxStatus.TX_STATUS_FINAL, blockHeight: block.height, receipt };
      }
    }
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
   * Queues an orchestrator block for the next shard block (blocks arrive by subscription, in
   * height order). Blocks at or below the last queued height are ignored (duplicates after a
   * reconnect); a gap throws, so that the subscriber restarts from {@link orchestratorCursor} + 1.
   * @throws ShardLabError FAILED_PRECONDITION on a gap in heights.
   */
  enqueueOrchestratorBlock(block: OrchestratorBlock): void {
    const last = this.orchestratorCursor();
    if (block.height <= last) return;
    if (block.height !== last + 1) {
      throw errors.failedPrecondition(`orchestrator block ${block.height} does not follow ${last}; resubscribe from ${last + 1}`);
    }
    this.orchQueue.push(block);
  }

  /** Highest orchestrator height received (queued or durably recorded). */
  orchestratorCursor(): number {
    // Blocks taken by the block in progress count: they are neither queued nor durable yet, and
    // taking them again (after a resubscription) would process them twice.
    return Math.max(this.orchQueue.at(-1)?.height ?? 0, this.orchTaken, this.orchDurable);
  }

  /**
   * Produces one block now (DESIGN.md section 3): records the work of queued orchestrator blocks
   * (finalize and unlock first, then destination prepares and their votes), then executes queued
   * transactions oldest first — local ones with the EVM, cross-shard ones accepted with their
   * value locked and a vote — and persists block, receipts, state, 2PC records and the
   * orchestrator cursor atomically, then publishes the block. Blocks are produced even when
   * empty, so heights measure time. Calls are serialised.
   * @throws Error when persisting fails (transactions stay queued and state is rolled back).
   */
  produceBlock(): Promise<StateShardBlock> {
    // Start at once when idle (the block takes its transactions synchronously), else queue.
    const run = this.blocksInProgress === 0 ? this.produceBlockNow() : this.chain.then(() => this.produceBlockNow());
    this.blocksInProgress += 1;
    this.chain = run.catch(() => undefined).finally(() => (this.blocksInProgress -= 1));
    return run;
  }

  private async produceBlockNow(): Promise<StateShardBlock> {
    const head = this.opts.store.head()!;
    const height = head.height + 1;
    const orchBlocks = this.orchQueue;
    this.orchQueue = [];
    this.orchTaken = orchBlocks.at(-1)?.height ?? 0;
    const entries = this.mempool.take(this.maxTxsPerBlock, this.executor.blockGasLimit);
    const links: Link[] = entries
      .map((e) => (e.trace ? otTrace.getSpanContext(e.trace) : undefined))
      .filter((c): c is NonNullable<typeof c> => c !== undefined)
      .map((c) => ({ context: c }));
    // The transactions are taken synchronously above; the rest runs under the block mutex, so that
    // no simulation lock is taken while this block (planned without it) is executed.
    const body = async (): Promise<StateShardBlock> => {
      const timestampMs = Math.max(this.now(), 1);
      const parentRoot = this.opts.store.head()!.stateRoot;
      let block: StateShardBlock;
      let committed = false;
      try {
        const plan = await this.participant.plan(
          orchBlocks,
          {
            shardId: this.shardId,
            shardOf: (a) => shardOf(this.opts.placement, a),
            isContract: async (a) => (await this.reader.getAccount(a)).codeHash !== EMPTY_CODE_HASH,
            inMempool: (h) => this.mempool.has(h),
            state: {
              account: async (a) => ({ exists: await this.reader.accountExists(a), ...(await this.reader.getAccount(a)) }),
              storage: (a, slot) => this.reader.getStorage(a, slot),
            },
            simulationLock: (a, h) => this.simLocks.state(a, h, timestampMs),
          },
          this.orchDurable,
        );
        const calls = plan.calls ?? new Map<string, CallAcceptance>();
        // Ordered copies that waited for their sender's earlier transactions come first.
        for (const [h, w] of this.waitingCopies) {
          if (!plan.accepts.some((a) => a.hash === h)) plan.accepts.unshift(w.tx);
          if (w.call && !calls.has(h)) calls.set(h, w.call);
        }
        /** Cross-shard contract calls accepted here: lock amount and what a commit applies. */
        const callAccepts = new Map<string, { amount: bigint; locks: string[]; commitOps: SystemOp[] }>();
        /** Nonce reservations (mempool entries of contract calls) settled by this block. */
        const reservationsDone = new Set<string>();
        const pendingRecord = (h: string) => (plan.writes.has(h) ? plan.writes.get(h) : this.participant.get(h));
        // The value of a cross-shard transaction is locked (and voted on) only on its first
        // acceptance: never when this shard has a record for it (locked, refused, or aborted
        // before acceptance) or a decision was already taken — a resubmission then only
        // consumes its nonce and fee, and can never lock value that no decision will release.
        const mayLock = new Map<string, boolean>();
        for (const h of [...plan.accepts.map((a) => a.hash), ...entries.filter((e) => e.crossShard).map((e) => e.tx.hash)]) {
          const decidedEarlier = this.decided.has(h) || plan.decided.has(h) || (await this.opts.store.meta(DECIDED_PREFIX + h)) !== undefined;
          mayLock.set(h, pendingRecord(h) === undefined && !decidedEarlier);
        }
        const steps: BlockStep[] = plan.finalize.map((op) => ({ kind: 'system', op }));
        const votes: PrepareVote[] = [...plan.votes];
        for (const raw of plan.accepts) {
          try {
            const d = decodeTransaction(new Uint8Array(raw.raw), this.opts.common);
            const call = calls.get(raw.hash);
            if (call) {
              // Fee for the simulated gas; the sender's outgoing amount is locked (anything the
              // call sends back to the sender beyond the fee is credited at commit).
              const fee = call.gasUsed * this.executor.effectiveGasPrice(d);
              const out = -call.senderDelta - fee;
              const commitOps = out < 0n ? [...call.commitOps, { kind: 'credit' as const, txHash: d.hash, address: d.from, amount: -out }] : call.commitOps;
              callAccepts.set(d.hash, { amount: out > 0n ? out : 0n, locks: call.locks, commitOps });
              if (this.mempool.get(d.hash)?.reservation) reservationsDone.add(d.hash);
              steps.push({
                kind: 'accept',
                tx: d,
                lock: mayLock.get(raw.hash) ?? false,
                gasUsed: call.gasUsed,
                lockAmount: out > 0n ? out : 0n,
                logs: call.logs,
                ...(call.refuse !== undefined ? { refuse: call.refuse } : {}),
              });
              continue;
            }
            steps.push({ kind: 'accept', tx: d, lock: mayLock.get(raw.hash) ?? false });
          } catch (err) {
            votes.push({ txHash: raw.hash, vote: Vote.VOTE_NO, reason: `cannot decode: ${(err as Error).message}` });
          }
        }
        // An abort decided before the ordered copy of a contract call was accepted: the reservation
        // consumes its nonce and the intrinsic-gas fee, without a lock.
        for (const [h, dec] of plan.decided) {
          const e = this.mempool.get(h);
          if (dec !== 'abort' || !e?.reservation || reservationsDone.has(h) || callAccepts.has(h)) continue;
          const r = pendingRecord(h);
          if (r && r.phase !== 'abortedEarly') continue;
          reservationsDone.add(h);
          steps.push({ kind: 'accept', tx: e.tx, lock: false });
        }
        // Acceptances of ordered copies go right after their sender's transactions taken into this
        // block (those have lower nonces: a reservation holds back its sender's later ones), so
        // that the nonce order of each sender holds; the others stay first.
        const localStart = plan.finalize.length;
        // Acceptances (ordered copies, and reservations aborted before acceptance) in nonce order
        // per sender, keeping the positions senders first appear at.
        const early = inNonceOrder(steps.splice(localStart));
        const acceptSender = (st: BlockStep) => ('kind' in st && st.kind === 'accept' ? st.tx.from : undefined);
        const rest: BlockStep[] = [];
        const late = new Map<string, BlockStep[]>();
        for (const st of early) {
          const from = acceptSender(st);
          if (from && entries.some((e) => e.tx.from === from)) late.set(from, [...(late.get(from) ?? []), st]);
          else rest.push(st);
        }
        steps.push(...rest);
        const lastOfSender = new Map(entries.map((e, i) => [e.tx.from, i] as const));
        entries.forEach((e, i) => {
          steps.push(e.crossShard ? { kind: 'accept', tx: e.tx, lock: mayLock.get(e.tx.hash) ?? false } : e.tx);
          if (lastOfSender.get(e.tx.from) === i) steps.push(...(late.get(e.tx.from) ?? []));
        });
        const waitedFor = new Set<string>();
        const lockedAddresses = this.participant.lockedAddressesWith(plan.writes, [...calls.values()].filter((c) => !c.refuse).flatMap((c) => c.locks));
        const execution = await this.executor.executeBlock(
          height,
          timestampMs,
          steps,
          (a) => this.participant.lockedOf(a),
          (a) => shardOf(this.opts.placement, a) === this.shardId,
          // Local transactions also wait while a simulation holds what they write (and are then
          // served before new simulations, see localWaiters).
          (a) => {
            const locked = lockedAddresses.has(a) || this.simLocks.isLocked(a, timestampMs);
            if (locked) waitedFor.add(a);
            return locked;
          },
        );
        // Votes and records of cross-shard acceptances (source side).
        const accepted: Parameters<Participant['acceptanceWrites']>[0] = [];
        const outcomes = execution.outcomes;
        for (let i = 0; i < outcomes.length; i++) {
          const o = outcomes[i]!;
          if (o.kind === 'system' || !o.crossShard) continue;
          const wantedLock = mayLock.get(o.tx.hash) ?? false;
          if (!wantedLock) {
            // Accepted without a lock: clear an abort-before-acceptance marker; touch nothing else.
            if (o.kind === 'executed' && pendingRecord(o.tx.hash)?.phase === 'abortedEarly') {
              accepted.push({ txHash: o.tx.hash, address: o.tx.from, amount: o.tx.value, locked: false, ok: true });
            }
            continue;
          }
          if (o.kind === 'rejected' && o.deferred) continue;
          const lockedNext = outcomes[i + 1];
          const locked = o.kind === 'executed' && lockedNext?.kind === 'system' && lockedNext.op.kind === 'lock' && lockedNext.op.txHash === o.tx.hash;
          const call = callAccepts.get(o.tx.hash);
          accepted.push(
            call
              ? { txHash: o.tx.hash, address: o.tx.from, amount: call.amount, locked: true, ok: locked, locks: call.locks, commitOps: call.commitOps }
              : { txHash: o.tx.hash, address: o.tx.from, amount: o.tx.value, locked: true, ok: locked },
          );
          votes.push(locked ? { txHash: o.tx.hash, vote: Vote.VOTE_YES, reason: '' } : { txHash: o.tx.hash, vote: Vote.VOTE_NO, reason: o.kind === 'rejected' ? o.reason : 'not locked' });
        }
        const writes = new Map([...plan.writes, ...this.participant.acceptanceWrites(accepted)]);
        block = await buildBlock(this.opts.common, {
          shardId: this.shardId,
          height,
          parentHash: head.hash,
          timestampMs,
          execution,
          baseFeePerGas: this.executor.baseFeePerGas,
          orchestratorHeight: plan.orchestratorHeight,
          votes,
        });
        const meta = new Map<string, Uint8Array | null>([...writes].map(([h, r]) => [TPC_PREFIX + h, r ? encodeRecord(r) : null] as const));
        // Decisions are kept for status queries after a restart (the records themselves are gone).
        for (const [h, d] of plan.decided) meta.set(DECIDED_PREFIX + h, Buffer.from(d));
        await this.opts.store.commitBlock(block, execution.touched, meta);
        committed = true;
        for (const [h, d] of plan.decided) this.decided.set(h, d);
        this.trimMap(this.decided);
        const refusals = outcomes.filter((o): o is Extract<StepOutcome, { kind: 'rejected' }> => o.kind === 'rejected');
        const rejected = refusals.filter((o) => !o.deferred);
        const deferred = new Set(refusals.filter((o) => o.deferred).map((o) => o.tx.hash));
        // Ordered copies accepted or refused are settled; deferred ones wait for the next block
        // (in memory: after a crash the orchestrator's vote timeout aborts them — nothing was locked).
        for (const a of plan.accepts) {
          if (deferred.has(a.hash)) {
            const call = calls.get(a.hash);
            this.waitingCopies.set(a.hash, { tx: a, ...(call ? { call } : {}) });
          } else this.waitingCopies.delete(a.hash);
        }
        await this.admission.run(async () => {
          await this.reader.advanceTo(execution.stateRoot, execution.touched, parentRoot);
          await this.dryRunner.setStateRoot(execution.stateRoot);
          // Balance, locks and the mempool move together, so admission never sees a mix.
          this.participant.apply(writes);
          // Simulation locks end with the transaction's prepare here (YES: its prepare lock, just
          // applied, holds the addresses now; NO: released) or its decision. Ordered copies still
          // waiting for their sender keep theirs.
          for (const h of new Set([...writes.keys(), ...plan.decided.keys()])) this.simLocks.release(h);
          this.simLocks.sweep();
          this.localWaiters = waitedFor;
          this.orchDurable = plan.orchestratorHeight;
          // Recorded as dropped before leaving the mempool, so a status query never sees neither.
          for (const o of rejected) this.dropped.set(o.tx.hash, { reason: o.reason, atMs: timestampMs });
          this.mempool.remove(entries.filter((e) => !deferred.has(e.tx.hash)).map((e) => e.tx.hash));
          this.mempool.remove([...reservationsDone].filter((h) => !deferred.has(h)));
          this.mempool.untake(entries.filter((e) => deferred.has(e.tx.hash)));
        });
        for (const o of rejected) this.opts.logger.warn({ txHash: o.tx.hash, reason: o.reason }, 'transaction dropped');
        this.trimMap(this.dropped);
        // One span per protocol step, in the transaction's own trace (DESIGN.md section 6).
        const entryTrace = new Map(entries.filter((e) => e.trace).map((e) => [e.tx.hash, e.trace!]));
        const stepSpan = (name: string, txHash: string, attributes: Record<string, string | number | boolean>) => {
          const carrier = plan.traces.get(txHash);
          const parent = carrier ? extractContext(carrier) : (entryTrace.get(txHash) ?? context.active());
          return { parent, span: t.startSpan(name, { attributes: { 'tx.hash': txHash, 'shard.id': this.shardId, 'block.height': height, ...attributes } }, parent) };
        };
        // Cross-shard contract calls ordered in the orchestrator blocks of this shard block: their
        // RwSet, for the validation attributes of the prepare spans.
        const orderedCalls = new Map(
          orchBlocks.flatMap((b) => b.ctToOrder).filter((x) => x.tx && x.rwSet && x.involvedShards.includes(this.shardId)).map((x) => [x.tx!.hash, x] as const),
        );
        for (const v of votes) {
          this.opts.logger.debug({ txHash: v.txHash, vote: Vote[v.vote], reason: v.reason, height }, 'prepare vote');
          const ordered = orderedCalls.get(v.txHash);
          if (!ordered) {
            stepSpan('shard.prepare', v.txHash, { vote: Vote[v.vote], reason: v.reason }).span.end();
            continue;
          }
          // A contract call: the validation of this shard's part of the RwSet, and its locks.
          const items = ordered.rwSet!.addresses.filter((a) => Number(a.shardId) === this.shardId);
          const source = ordered.sourceShard === this.shardId;
          const refused = source ? calls.get(v.txHash)?.refuse : v.vote === Vote.VOTE_NO ? v.reason : undefined;
          const { parent, span } = stepSpan('shard.prepare', v.txHash, {
            vote: Vote[v.vote],
            reason: v.reason,
            'call.role': source ? 'source' : 'destination',
            'validation.addresses': items.length,
            'validation.reads': items.reduce((n, a) => n + a.reads.length, 0),
            'validation.result': refused === undefined ? 'valid' : 'invalid',
            'validation.reason': refused ?? '',
          });
          if (v.vote === Vote.VOTE_YES) {
            const record = writes.get(v.txHash);
            const locked = source ? [...(record?.address ? [record.address] : []), ...(callAccepts.get(v.txHash)?.locks ?? [])] : (record?.locks ?? []);
            if (locked.length > 0) {
              t.startSpan('shard.lock', { attributes: { 'tx.hash': v.txHash, 'shard.id': this.shardId, 'block.height': height, 'lock.addresses': locked, 'lock.count': locked.length } }, otTrace.setSpan(parent, span)).end();
            }
          }
          span.end();
        }
        for (const [h, d] of plan.decided) {
          this.opts.logger.debug({ txHash: h, decision: d, height }, 'cross-shard decision applied');
          stepSpan('shard.finalize', h, { decision: d }).span.end();
        }
      } catch (err) {
        if (committed) {
          // The block is durable; only the in-memory follow-up failed. Never roll back past it.
          this.opts.logger.error({ err, height }, 'after-commit bookkeeping failed');
          throw err;
        }
        this.opts.store.discardPending();
        await this.executor.setStateRoot(hexToBytes(head.stateRoot as `0x${string}`));
        this.mempool.untake(entries);
        this.orchQueue = [...orchBlocks, ...this.orchQueue];
        throw err;
      }
      if (block.transactions.length > 0) {
        this.opts.logger.info({ height, txs: block.transactions.length, votes: block.tpcPrepare.length, gasUsed: block.gasUsed, stateRoot: block.stateRoot }, 'block');
      }
      this.blocks.emit('block', block);
      return block;
    };
    return withSpan(t, 'shard.block', { 'shard.id': this.shardId, 'block.height': height, 'block.txs': entries.length }, () => this.blockMutex.run(body).finally(() => (this.orchTaken = 0)), links);
  }

  private trimMap(m: Map<string, unknown>, max = 100_000): void {
    if (m.size <= max) return;
    for (const k of m.keys()) {
      m.delete(k);
      if (m.size <= max) break;
    }
  }
}

/** Creates a {@link ShardNode} (ethereumjs-style async factory). */
export function createShardNode(opts: ShardNodeOpts): Promise<ShardNode> {
  return ShardNode.create(opts);
}
