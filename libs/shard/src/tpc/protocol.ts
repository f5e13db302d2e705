// Block-based two-phase commit as a state shard runs it: the CrossShardProtocol the shard uses today (its lock service is call-locks.ts).
import { decodeTransaction, type BlockExecution, type BlockStep, type DecodedTx, type SystemOp } from '@shardlab/chain';
import { errors, parseHash } from '@shardlab/common';
import { Vote, reasons, withReason, type LockKey, type OrchestratorBlock, type PrepareVote, type StateShardBlock, type Transaction } from '@shardlab/proto';
import { shardOfAddress, trimMap, type ShardCore } from '../context';
import type { MempoolEntry } from '../mempool';
import { EMPTY_CODE_HASH, StateViewCache } from '../proofs';
import type { BlockFinish, BlockInput, CrossShardProtocol, FollowedStream, LocksGranted, ProtocolBlock } from '../protocol';
import { forwardAdmitted, type Forwarder } from './forwarding';
import { CallLocks } from './call-locks';
import type { KeyLocks, SimulationLock } from './key-locks';
import { Participant, decodeHeldLocks, type CallAcceptance, type TpcPlan, type TpcRecord } from './participant';
import { orderBlockSteps } from './steps';
import { TpcStore } from './store';
import { traceTpcBlock } from './tracing';


/** Options of {@link BlockTwoPhaseCommit.open}. */
export interface BlockTwoPhaseCommitOpts {
  /** Where cross-shard transactions go [none: they are refused with UNIMPLEMENTED]. */
  forwarder?: Forwarder;
  /** Lifetime of a simulation lock whose AcquireLocks names no TTL, in ms [30,000]. */
  simulationLockDefaultTtlMs?: number;
  /** Longest simulation lock granted, in ms; longer requests are capped [60,000]. */
  simulationLockMaxTtlMs?: number;
  /** Longest wait of an AcquireLocks that names none, in ms [{@link DEFAULT_LOCK_WAIT_MS}]. */
  lockWaitDefaultMs?: number;
  /** Longest wait of an AcquireLocks granted, in ms; longer requests are capped [{@link MAX_LOCK_WAIT_MS}]. */
  lockWaitMaxMs?: number;
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
  /** Height of the durable block that applied each decision of {@link decided} (bounded; memory only). */
  private readonly decidedAt = new Map<string, number>();
  /** Ordered copies whose acceptance waits for the sender's earlier transactions. */
  private readonly waitingCopies = new Map<string, { tx: Transaction; call?: CallAcceptance }>();
  /** Locks of cross-shard contract calls by key (call-locks.ts). */
  private readonly locks: CallLocks;

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
    this.locks = new CallLocks(core, {
      ...(opts.simulationLockDefaultTtlMs !== undefined ? { defaultTtlMs: opts.simulationLockDefaultTtlMs } : {}),
      ...(opts.simulationLockMaxTtlMs !== undefined ? { maxTtlMs: opts.simulationLockMaxTtlMs } : {}),
      ...(opts.lockWaitDefaultMs !== undefined ? { waitDefaultMs: opts.lockWaitDefaultMs } : {}),
      ...(opts.lockWaitMaxMs !== undefined ? { waitMaxMs: opts.lockWaitMaxMs } : {}),
    });
    // Prepare locks survive a restart with their records (simulation locks do not).
    for (const r of this.participant.lockHolders()) this.locks.table.pin(r.txHash, decodeHeldLocks(r.locks ?? []));
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

  decisionHeightOf(txHash: string): number | undefined {
    return this.decidedAt.get(txHash);
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

  // ---- locks of cross-shard contract calls (call-locks.ts) ----

  acquireLocks(txHash: string, keys: readonly LockKey[], ttlMs?: number, waitMs?: number): Promise<LocksGranted> {
    return this.locks.acquire(txHash, keys, ttlMs, waitMs);
  }

  releaseLocks(txHash: string): Promise<number> {
    return this.locks.release(txHash);
  }

  readLocks(): SimulationLock[] {
    return this.locks.list();
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
      decidedAt: this.decidedAt,
      waitingCopies: this.waitingCopies,
      simLocks: this.locks.table,
      orchDurable: () => this.orchDurable,
      settle: (orchestratorHeight, localWanted) => {
        this.orchDurable = orchestratorHeight;
        this.locks.afterBlock(localWanted);
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
  /** Height of the block that applied each decision (see {@link BlockTwoPhaseCommit.decisionHeightOf}). */
  decidedAt: Map<string, number>;
  waitingCopies: Map<string, { tx: Transaction; call?: CallAcceptance }>;
  simLocks: KeyLocks;
  /** Last orchestrator height recorded in a durable block. */
  orchDurable(): number;
  /** Records what a durable block settled: its orchestrator height and the keys local transactions waited for; grants waiting locks. */
  settle(orchestratorHeight: number, localWanted: Set<string>): void;
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
  /** Entries another protocol carries in this block (see BlockInput.external). */
  private external: ReadonlyMap<string, BlockStep> = new Map();
  private writes = new Map<string, TpcRecord | null>();
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
        simulationLock: (k, h, mode) => this.s.simLocks.state(k, h, mode, timestampMs),
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
    const external = input.external ?? new Map<string, BlockStep>();
    this.external = external;
    for (const h of [...plan.accepts.map((a) => a.hash), ...entries.filter((e) => e.crossShard && !external.has(e.tx.hash)).map((e) => e.tx.hash)]) {
      const decidedEarlier = this.s.decided.has(h) || plan.decided.has(h) || (await this.s.tpcStore.hasDecision(h));
      this.mayLock.set(h, this.pendingRecord(h) === undefined && !decidedEarlier);
    }
    const finalize: BlockStep[] = plan.finalize.map((op) => ({ kind: 'system', op }));
    this.votes = [...plan.votes];
    const acceptances = this.acceptanceSteps(plan, calls);
    return orderBlockSteps(
      finalize,
      acceptances,
      entries.map((e) => ({ from: e.tx.from, step: external.get(e.tx.hash) ?? (e.crossShard ? { kind: 'accept', tx: e.tx, lock: this.mayLock.get(e.tx.hash) ?? false } : e.tx) })),
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

  locksHeld(): boolean {
    // Expired locks not swept yet block nobody: no need to track local transactions' keys for them.
    return this.s.simLocks.anyLive(this.input.timestampMs);
  }

  holds(key: string): boolean {
    // A local transaction waits while a call holds a key it writes (shared or exclusive: a credit
    // commutes with it), and is then served before new lock requests (setLocalWanted).
    const locked = this.s.simLocks.blocksLocalWrite(key, this.input.timestampMs);
    if (locked) this.waitedFor.add(key);
    return locked;
  }

  async finish(execution: BlockExecution): Promise<BlockFinish> {
    // Votes and records of cross-shard acceptances (source side).
    const accepted: Parameters<Participant['acceptanceWrites']>[0] = [];
    const outcomes = execution.outcomes;
    for (let i = 0; i < outcomes.length; i++) {
      const o = outcomes[i]!;
      if (o.kind === 'system' || !o.crossShard || this.external.has(o.tx.hash)) continue;
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
    for (const [h, d] of plan.decided) {
      this.s.decided.set(h, d);
      this.s.decidedAt.set(h, this.input.height);
    }
    trimMap(this.s.decided);
    trimMap(this.s.decidedAt);
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
    // A prepare here pins the transaction's locks until its decision (YES); a refusal (NO) or
    // the decision releases them. Ordered copies still waiting for their sender are pinned too.
    for (const [h, r] of this.writes) {
      const held = r && (r.phase === 'locked' || r.phase === 'prepared') ? (r.locks ?? []) : [];
      if (held.length > 0) this.s.simLocks.pin(h, decodeHeldLocks(held));
      else this.s.simLocks.release(h);
    }
    for (const h of plan.decided.keys()) this.s.simLocks.release(h);
    for (const [h, w] of this.s.waitingCopies) if (w.call && !w.call.refuse && !plan.decided.has(h)) this.s.simLocks.pin(h, decodeHeldLocks(w.call.locks));
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
