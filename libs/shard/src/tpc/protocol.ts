// Block-based two-phase commit as a state shard runs it: the CrossShardProtocol the shard uses today.
import { decodeTransaction, type BlockExecution, type BlockStep, type DecodedTx, type SystemOp } from '@shardlab/chain';
import { errors, parseHash } from '@shardlab/common';
import { Vote, reasons, withReason, type OrchestratorBlock, type PrepareVote, type StateShardBlock, type Transaction } from '@shardlab/proto';
import { shardOfAddress, trimMap, type ShardCore } from '../context';
import type { MempoolEntry } from '../mempool';
import { EMPTY_CODE_HASH, StateViewCache } from '../proofs';
import type { BlockInput, CrossShardProtocol, FollowedStream, ProtocolBlock } from '../protocol';
import { forwardAdmitted, type Forwarder } from './forwarding';
import { Participant, type CallAcceptance, type TpcPlan, type TpcRecord } from './participant';
import { SimulationLocks, type SimulationLock } from './simulation-locks';
import { orderBlockSteps } from './steps';
import { TpcStore } from './store';
import { traceTpcBlock } from './tracing';


/** Options of {@link BlockTwoPhaseCommit.open}. */
export interface BlockTwoPhaseCommitOpts {
  /** Where cross-shard transactions go [none: they are refused with UNIMPLEMENTED]. */
  forwarder?: Forwarder;
  /** Lifetime of a simulation lock whose GetProof names no TTL, in ms [10,000]. */
  simulationLockDefaultTtlMs?: number;
  /** Longest simulation lock granted, in ms; longer requests are capped [60,000]. */
  simulationLockMaxTtlMs?: number;
  /** Read-only state views at recent state roots, shared with the shard's queries. */
  views: StateViewCache;
}

/**
 * Block-based two-phase commit, participant side (docs/ARCHITECTURE.md §3 and §9): a cross-shard
 * transaction is forwarded to the orchestrator at admission; the shard follows the orchestrator's
 * block stream; each shard block carries, in order, the finalize steps of decided transactions
 * (commit credits/debits, aborts, unlocks), the acceptances of ordered copies, and the mempool's
 * transactions, plus the prepare votes of the block; cross-shard contract calls hold simulation
 * locks from their simulation to their prepare, and prepare locks to the decision.
 */
export class BlockTwoPhaseCommit implements CrossShardProtocol {
  readonly name = 'block-2pc';
  readonly carriesCrossShard: boolean;
  readonly follows: readonly FollowedStream[];
  private readonly participant: Participant;
  private readonly tpcStore: TpcStore;
  /** Orchestrator blocks received and not yet recorded in a shard block, in height order. */
  private orchQueue: OrchestratorBlock[] = [];
  /** Highest orchestrator height taken by the block in progress (0: none). */
  private orchTaken = 0;
  /** Last orchestrator height recorded in a durable block. */
  private orchDurable: number;
  /** Decisions seen on cross-shard transactions (bounded), for status queries. */
  private readonly decided = new Map<string, 'commit' | 'abort'>();
  /** Ordered copies whose acceptance waits for the sender's earlier transactions. */
  private readonly waitingCopies = new Map<string, { tx: Transaction; call?: CallAcceptance }>();
  /** Simulation locks of cross-shard contract calls (in memory only, see simulation-locks.ts). */
  private readonly simLocks: SimulationLocks;
  /**
   * Addresses that local transactions of the last block waited for (they write them and a call
   * held them): no new simulation lock is granted on them until those transactions have run, so
   * that a stream of simulations cannot starve local writers.
   */
  private localWaiters = new Set<string>();

  private constructor(
    private readonly core: ShardCore,
    private readonly opts: BlockTwoPhaseCommitOpts,
    tpcStore: TpcStore,
    records: Awaited<ReturnType<TpcStore['records']>>,
    orchestratorHeight: number,
  ) {
    this.tpcStore = tpcStore;
    this.participant = new Participant(records);
    this.orchDurable = orchestratorHeight;
    this.carriesCrossShard = opts.forwarder !== undefined;
    this.simLocks = new SimulationLocks({
      now: core.now,
      ...(opts.simulationLockDefaultTtlMs !== undefined ? { defaultTtlMs: opts.simulationLockDefaultTtlMs } : {}),
      ...(opts.simulationLockMaxTtlMs !== undefined ? { maxTtlMs: opts.simulationLockMaxTtlMs } : {}),
    });
    this.follows = [{ service: 'orchestrator', cursor: () => this.orchestratorCursor(), accept: (b) => this.enqueueOrchestratorBlock(b) }];
  }

  /** Opens the participant on the shard's store: its records and the orchestrator height of the head block. */
  static async open(core: ShardCore, opts: BlockTwoPhaseCommitOpts): Promise<BlockTwoPhaseCommit> {
    const tpcStore = new TpcStore(core.opts.store);
    const records = await tpcStore.records();
    const headBlock = await core.opts.store.getBlock(core.opts.store.head()!.height);
    return new BlockTwoPhaseCommit(core, opts, tpcStore, records, headBlock?.orchestratorHeight ?? 0);
  }

  lockedOf(address: string): bigint {
    return this.participant.lockedOf(address);
  }

  dispatch(tx: DecodedTx, entry: MempoolEntry, involvedShards: number[]): Promise<void> {
    if (!this.opts.forwarder) throw errors.unimplemented(`cross-shard transaction ${tx.hash}: this shard has no orchestrator`, { txHash: tx.hash });
    return forwardAdmitted(this.core, this.opts.forwarder, tx, involvedShards, entry);
  }

  async decisionOf(txHash: string): Promise<'commit' | 'abort' | undefined> {
    return this.decided.get(txHash) ?? (await this.tpcStore.decision(txHash));
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

  // ---- simulation locks (read locks of cross-shard contract calls) ----

  async grantReadLock(address: string, txHash: string, ttlMs: number | undefined, height: number | undefined): Promise<{ head: { height: number; stateRoot: string }; locked: bigint }> {
    const store = this.core.opts.store;
    const head = store.head()!;
    if (height !== undefined && height > head.height) throw errors.notFound(`shard ${this.core.shardId} has no block at height ${height} (head is ${head.height})`);
    this.checkReadLock(address, txHash);
    if (height !== undefined && height < head.height) {
      // The simulation reads this shard at `height`: the lock protects the read only if the
      // address is still the same at the head (the account leaf covers its storage root).
      const root = (await store.getBlock(height))?.stateRoot;
      if (!root) throw errors.internal(`block ${height} missing below head ${head.height}`);
      const [then, now] = await Promise.all([this.opts.views.at(root).accountRlp(address), this.opts.views.at(head.stateRoot).accountRlp(address)]);
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
  checkReadLock(address: string, txHash: string): void {
    const prepared = this.callLockHolder(address);
    if (prepared !== undefined && prepared !== txHash) {
      throw errors.aborted(`${address} is locked by transaction ${prepared} (a prepared cross-shard call, until its decision)`, { address, holder: prepared, txHash });
    }
    const held = this.simLocks.holder(address);
    if (held && held.txHash !== txHash) {
      throw errors.aborted(`${address} is locked by transaction ${held.txHash} (simulation lock, expires in ${held.expiresAtMs - this.core.now()} ms)`, { address, holder: held.txHash, txHash });
    }
    if (!held && prepared === undefined && this.localWaiters.has(address)) {
      throw errors.aborted(`${address} is wanted by a local transaction waiting to write it: simulate again once it has run`, { address, txHash });
    }
    const own = this.core.mempool.get(txHash);
    const earlier = own?.reservation ? this.core.mempool.earlierPending(own.tx.from, own.tx.nonce) : undefined;
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

  releaseReadLocks(txHash: string): number {
    const h = parseHash(txHash, 'tx_hash');
    const n = this.simLocks.release(h);
    if (n > 0) this.core.opts.logger.debug({ txHash: h, released: n }, 'simulation locks released');
    return n;
  }

  readLocks(): SimulationLock[] {
    return this.simLocks.list();
  }

  // ---- block production ----

  beginBlock(): ProtocolBlock {
    const orchBlocks = this.orchQueue;
    this.orchQueue = [];
    this.orchTaken = orchBlocks.at(-1)?.height ?? 0;
    return new TpcBlock(this.blockState(), this.core, orchBlocks);
  }

  /** The protocol state one block reads and updates (see {@link TpcBlock}). */
  private blockState(): TpcShared {
    return {
      participant: this.participant,
      tpcStore: this.tpcStore,
      decided: this.decided,
      waitingCopies: this.waitingCopies,
      simLocks: this.simLocks,
      orchDurable: () => this.orchDurable,
      settle: (orchestratorHeight, localWaiters) => {
        this.orchDurable = orchestratorHeight;
        this.localWaiters = localWaiters;
      },
      requeue: (blocks) => {
        this.orchQueue = [...blocks, ...this.orchQueue];
      },
      endTake: () => {
        this.orchTaken = 0;
      },
    };
  }
}

/** The state of {@link BlockTwoPhaseCommit} that one {@link TpcBlock} reads and updates. */
interface TpcShared {
  participant: Participant;
  tpcStore: TpcStore;
  decided: Map<string, 'commit' | 'abort'>;
  waitingCopies: Map<string, { tx: Transaction; call?: CallAcceptance }>;
  simLocks: SimulationLocks;
  /** Last orchestrator height recorded in a durable block. */
  orchDurable(): number;
  /** Records what a durable block settled: its orchestrator height and the addresses local transactions waited for. */
  settle(orchestratorHeight: number, localWaiters: Set<string>): void;
  /** Puts orchestrator blocks taken by a failed block back in front of the queue. */
  requeue(blocks: OrchestratorBlock[]): void;
  /** The block in progress is over: its orchestrator blocks no longer count as taken. */
  endTake(): void;
}

/** What a block decided about a cross-shard contract call accepted here as its source. */
interface CallAccept {
  amount: bigint;
  locks: string[];
  commitOps: SystemOp[];
}

/** Block-2PC's part of one shard block: plan, votes and records, apply, spans. */
class TpcBlock implements ProtocolBlock {
  private plan_!: TpcPlan;
  private calls = new Map<string, CallAcceptance>();
  /** Cross-shard contract calls accepted here: lock amount and what a commit applies. */
  private readonly callAccepts = new Map<string, CallAccept>();
  /** Nonce reservations (mempool entries of contract calls) settled by this block. */
  private readonly reservationsDone = new Set<string>();
  private readonly mayLock = new Map<string, boolean>();
  private votes: PrepareVote[] = [];
  private writes = new Map<string, TpcRecord | null>();
  private lockedAddresses = new Set<string>();
  private readonly waitedFor = new Set<string>();
  private input!: BlockInput;

  constructor(
    private readonly s: TpcShared,
    private readonly core: ShardCore,
    private readonly orchBlocks: OrchestratorBlock[],
  ) {}

  private pendingRecord(h: string) {
    return this.plan_.writes.has(h) ? this.plan_.writes.get(h) : this.s.participant.get(h);
  }

  async plan(input: BlockInput): Promise<BlockStep[]> {
    this.input = input;
    const { timestampMs, entries } = input;
    const core = this.core;
    const reader = core.reader;
    const plan = await this.s.participant.plan(
      this.orchBlocks,
      {
        shardId: core.shardId,
        shardOf: (a) => shardOfAddress(core, a),
        isContract: async (a) => (await reader.getAccount(a)).codeHash !== EMPTY_CODE_HASH,
        inMempool: (h) => core.mempool.has(h),
        state: {
          account: async (a) => ({ exists: await reader.accountExists(a), ...(await reader.getAccount(a)) }),
          storage: (a, slot) => reader.getStorage(a, slot),
        },
        simulationLock: (a, h) => this.s.simLocks.state(a, h, timestampMs),
      },
      this.s.orchDurable(),
    );
    this.plan_ = plan;
    const calls = (this.calls = plan.calls ?? new Map<string, CallAcceptance>());
    // Ordered copies that waited for their sender's earlier transactions come first.
    for (const [h, w] of this.s.waitingCopies) {
      if (!plan.accepts.some((a) => a.hash === h)) plan.accepts.unshift(w.tx);
      if (w.call && !calls.has(h)) calls.set(h, w.call);
    }
    // The value of a cross-shard transaction is locked (and voted on) only on its first
    // acceptance: never when this shard has a record for it (locked, refused, or aborted
    // before acceptance) or a decision was already taken — a resubmission then only
    // consumes its nonce and fee, and can never lock value that no decision will release.
    for (const h of [...plan.accepts.map((a) => a.hash), ...entries.filter((e) => e.crossShard).map((e) => e.tx.hash)]) {
      const decidedEarlier = this.s.decided.has(h) || plan.decided.has(h) || (await this.s.tpcStore.hasDecision(h));
      this.mayLock.set(h, this.pendingRecord(h) === undefined && !decidedEarlier);
    }
    const finalize: BlockStep[] = plan.finalize.map((op) => ({ kind: 'system', op }));
    this.votes = [...plan.votes];
    const acceptances = this.acceptanceSteps(plan, calls);
    this.lockedAddresses = this.s.participant.lockedAddressesWith(plan.writes, [...calls.values()].filter((c) => !c.refuse).flatMap((c) => c.locks));
    return orderBlockSteps(
      finalize,
      acceptances,
      entries.map((e) => ({ from: e.tx.from, step: e.crossShard ? { kind: 'accept', tx: e.tx, lock: this.mayLock.get(e.tx.hash) ?? false } : e.tx })),
    );
  }

  /**
   * Acceptance steps of the ordered copies in the plan (contract calls with their simulated gas,
   * logs and locked amount), and of reservations whose abort was decided before the ordered copy
   * was accepted (they consume their nonce and the intrinsic-gas fee, without a lock). A copy that
   * cannot be decoded gets a NO vote instead.
   */
  private acceptanceSteps(plan: TpcPlan, calls: Map<string, CallAcceptance>): BlockStep[] {
    const steps: BlockStep[] = [];
    const core = this.core;
    for (const raw of plan.accepts) {
      try {
        const d = decodeTransaction(new Uint8Array(raw.raw), core.opts.common);
        const call = calls.get(raw.hash);
        const lock = this.mayLock.get(raw.hash) ?? false;
        if (call) {
          // Fee for the simulated gas; the sender's outgoing amount is locked (anything the
          // call sends back to the sender beyond the fee is credited at commit).
          const fee = call.gasUsed * core.executor.effectiveGasPrice(d);
          const out = -call.senderDelta - fee;
          const commitOps = out < 0n ? [...call.commitOps, { kind: 'credit' as const, txHash: d.hash, address: d.from, amount: -out }] : call.commitOps;
          this.callAccepts.set(d.hash, { amount: out > 0n ? out : 0n, locks: call.locks, commitOps });
          if (core.mempool.get(d.hash)?.reservation) this.reservationsDone.add(d.hash);
          steps.push({ kind: 'accept', tx: d, lock, gasUsed: call.gasUsed, lockAmount: out > 0n ? out : 0n, logs: call.logs, ...(call.refuse !== undefined ? { refuse: call.refuse } : {}) });
          continue;
        }
        steps.push({ kind: 'accept', tx: d, lock });
      } catch (err) {
        this.votes.push({ txHash: raw.hash, vote: Vote.VOTE_NO, ...withReason(reasons.invalidTransaction(`cannot decode: ${(err as Error).message}`)) });
      }
    }
    for (const [h, dec] of plan.decided) {
      const e = core.mempool.get(h);
      if (dec !== 'abort' || !e?.reservation || this.reservationsDone.has(h) || this.callAccepts.has(h)) continue;
      const r = this.pendingRecord(h);
      if (r && r.phase !== 'abortedEarly') continue;
      this.reservationsDone.add(h);
      steps.push({ kind: 'accept', tx: e.tx, lock: false });
    }
    return steps;
  }

  lockedOf(address: string): bigint {
    return this.s.participant.lockedOf(address);
  }

  holds(address: string): boolean {
    // Local transactions also wait while a simulation holds what they write (and are then
    // served before new simulations, see localWaiters).
    const locked = this.lockedAddresses.has(address) || this.s.simLocks.isLocked(address, this.input.timestampMs);
    if (locked) this.waitedFor.add(address);
    return locked;
  }

  async finish(execution: BlockExecution): Promise<{ orchestratorHeight: number; votes: PrepareVote[]; meta: Map<string, Uint8Array | null> }> {
    // Votes and records of cross-shard acceptances (source side).
    const accepted: Parameters<Participant['acceptanceWrites']>[0] = [];
    const outcomes = execution.outcomes;
    for (let i = 0; i < outcomes.length; i++) {
      const o = outcomes[i]!;
      if (o.kind === 'system' || !o.crossShard) continue;
      const wantedLock = this.mayLock.get(o.tx.hash) ?? false;
      if (!wantedLock) {
        // Accepted without a lock: clear an abort-before-acceptance marker; touch nothing else.
        if (o.kind === 'executed' && this.pendingRecord(o.tx.hash)?.phase === 'abortedEarly') {
          accepted.push({ txHash: o.tx.hash, address: o.tx.from, amount: o.tx.value, locked: false, ok: true });
        }
        continue;
      }
      if (o.kind === 'rejected' && o.deferred) continue;
      const lockedNext = outcomes[i + 1];
      const locked = o.kind === 'executed' && lockedNext?.kind === 'system' && lockedNext.op.kind === 'lock' && lockedNext.op.txHash === o.tx.hash;
      const call = this.callAccepts.get(o.tx.hash);
      accepted.push(
        call
          ? { txHash: o.tx.hash, address: o.tx.from, amount: call.amount, locked: true, ok: locked, locks: call.locks, commitOps: call.commitOps }
          : { txHash: o.tx.hash, address: o.tx.from, amount: o.tx.value, locked: true, ok: locked },
      );
      this.votes.push(locked ? { txHash: o.tx.hash, vote: Vote.VOTE_YES, reason: '' } : { txHash: o.tx.hash, vote: Vote.VOTE_NO, ...withReason(o.kind === 'rejected' ? o.cause : reasons.notLocked()) });
    }
    this.writes = new Map([...this.plan_.writes, ...this.s.participant.acceptanceWrites(accepted)]);
    return { orchestratorHeight: this.plan_.orchestratorHeight, votes: this.votes, meta: this.s.tpcStore.metaWrites(this.writes, this.plan_.decided) };
  }

  applyDurable(deferred: ReadonlySet<string>): string[] {
    const plan = this.plan_;
    for (const [h, d] of plan.decided) this.s.decided.set(h, d);
    trimMap(this.s.decided);
    // Ordered copies accepted or refused are settled; deferred ones wait for the next block
    // (in memory: after a crash the orchestrator's vote timeout aborts them — nothing was locked).
    for (const a of plan.accepts) {
      if (deferred.has(a.hash)) {
        const call = this.calls.get(a.hash);
        this.s.waitingCopies.set(a.hash, { tx: a, ...(call ? { call } : {}) });
      } else this.s.waitingCopies.delete(a.hash);
    }
    // Balance, locks and the mempool move together, so admission never sees a mix.
    this.s.participant.apply(this.writes);
    // Simulation locks end with the transaction's prepare here (YES: its prepare lock, just
    // applied, holds the addresses now; NO: released) or its decision. Ordered copies still
    // waiting for their sender keep theirs.
    for (const h of new Set([...this.writes.keys(), ...plan.decided.keys()])) this.s.simLocks.release(h);
    this.s.simLocks.sweep();
    this.s.settle(plan.orchestratorHeight, this.waitedFor);
    return [...this.reservationsDone].filter((h) => !deferred.has(h));
  }

  trace(block: StateShardBlock): void {
    traceTpcBlock(this.core, {
      height: block.height,
      entries: this.input.entries,
      orchBlocks: this.orchBlocks,
      votes: this.votes,
      writes: this.writes,
      calls: this.calls,
      callLocks: (h) => this.callAccepts.get(h)?.locks,
      traces: this.plan_.traces,
      decided: this.plan_.decided,
    });
  }

  rollback(): void {
    this.s.requeue(this.orchBlocks);
  }

  end(): void {
    this.s.endTake();
  }
}
