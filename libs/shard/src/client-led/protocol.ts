// Client-led two-phase commit as a state shard runs it: prepares and decisions arrive as gRPC calls from the client's coordinator (not from an orchestrator), votes and decisions are recorded in blocks, and a lock timeout aborts what no coordinator decides.
import type { BlockExecution, BlockStep, DecodedTx } from '@shardlab/chain';
import { errors } from '@shardlab/common';
import { Decision, Vote, reasons, withReason, type CrossShardTx, type LockKey, type PrepareResponse, type DecideResponse, type StateShardBlock, type TpcResult } from '@shardlab/proto';
import { trimMap, type ShardCore } from '../context';
import type { MempoolEntry } from '../mempool';
import type { BlockFinish, BlockInput, CrossShardProtocol, FollowedStream, LocksGranted, ProtocolBlock } from '../protocol';
import type { SimulationLock } from '../tpc/key-locks';
import type { BlockTwoPhaseCommit } from '../tpc/protocol';
import { checkDecideRequest, checkPrepareRequest, decodeRecordedVote, encodeRecordedVote, type RecordedVote } from './requests';

/** Store metadata prefix of recorded votes (`clv:<hash>` → {@link encodeRecordedVote}). */
const VOTE_PREFIX = 'clv:';
/** Blocks after a vote without a decision before the shard aborts by itself [40]. */
export const DEFAULT_LOCK_TIMEOUT_BLOCKS = 40;
/** Longest a Prepare or Decide call waits for its block, in ms, before answering UNAVAILABLE (ask again). */
const WAIT_MS = 30_000;
/**
 * Longest a contract call's nonce reservation waits for its prepare, in ms: its coordinator first
 * has the call simulated, and a simulation may wait for locks (the simulator's deadline is 90 s).
 * A reservation holds no lock, only the sender's nonce.
 */
const RESERVATION_TIMEOUT_MS = 90_000;

/** Options of {@link ClientLedProtocol.open}. */
export interface ClientLedOpts {
  /** Blocks after its prepare without a decision before this shard aborts a transaction by itself [{@link DEFAULT_LOCK_TIMEOUT_BLOCKS}]. */
  lockTimeoutBlocks?: number;
}

type Answer = { kind: 'vote'; v: RecordedVote } | { kind: 'decided'; decision: 'commit' | 'abort'; height: number };

/**
 * Client-led two-phase commit, participant side (docs/ARCHITECTURE.md §3, client-led): the
 * client's coordinator (a library; the gateway runs one for clients that only send raw
 * transactions) calls Prepare on every involved shard, then Decide. The work itself is
 * block-2PC's participant (records, locks, RwSet checks, finalize operations, tpc/participant.ts):
 * what arrives by gRPC between two blocks is handed to it as one block of work, in place of an
 * orchestrator block. Each vote is recorded in the block that casts it (`tpc_prepare`, and
 * `clv:<hash>` in the store) and answered once that block is durable; each decision is applied in
 * the next block, recorded in its `decisions`, and answered once durable. Without a decision
 * `lockTimeoutBlocks` blocks after its vote (or 90 s of blocks after a call's nonce reservation
 * became its sender's oldest transaction here without a prepare: its simulation may wait that
 * long), the shard
 * aborts the transaction by itself and records that abort (`lock timeout`); after a restart the
 * count starts again from the restart, so a coordinator gets a whole timeout to reach a shard
 * that was down. A shard-local commit can then meet a late commit elsewhere: that is the
 * protocol's blocking trade-off (docs/ARCHITECTURE.md §3), and the audit checks it.
 */
export class ClientLedProtocol implements CrossShardProtocol {
  readonly name = 'client-led';
  readonly carriesCrossShard = true;
  readonly clientCoordinated = true;
  readonly follows: readonly FollowedStream[] = [];
  readonly lockTimeoutBlocks: number;
  /** Blocks a call's nonce reservation waits for its prepare before the shard aborts it (see RESERVATION_TIMEOUT_MS). */
  readonly reservationTimeoutBlocks: number;
  /** Prepares received since the last block began, by hash. */
  private prepares = new Map<string, CrossShardTx>();
  /** Decisions received since the last block began, by hash. */
  private decisions = new Map<string, TpcResult>();
  /** Decisions taken by the block in progress (or by a failed block, for the next one). */
  private deciding = new Map<string, TpcResult>();
  /** Votes recorded in durable blocks of transactions not decided here yet. */
  private readonly votes: Map<string, RecordedVote>;
  /** Height from which the lock timeout of each vote counts (its block, or the restart). */
  private readonly timeoutFrom = new Map<string, number>();
  /**
   * Nonce reservations of contract calls admitted here, by hash: the height from which it was its
   * sender's oldest transaction here (undefined while earlier ones of the sender wait: a long
   * chain of one sender's transactions is not a coordinator that disappeared).
   */
  private readonly reservedAt = new Map<string, { tx: DecodedTx; at?: number }>();
  /** Decisions applied here (bounded), with the block height, for answers. */
  private readonly applied = new Map<string, { decision: 'commit' | 'abort'; height: number }>();
  private readonly waiters = new Map<string, ((a: Answer) => void)[]>();

  private constructor(
    private readonly core: ShardCore,
    private readonly inner: BlockTwoPhaseCommit,
    votes: Map<string, RecordedVote>,
    opts: ClientLedOpts,
  ) {
    this.votes = votes;
    this.lockTimeoutBlocks = opts.lockTimeoutBlocks ?? DEFAULT_LOCK_TIMEOUT_BLOCKS;
    this.reservationTimeoutBlocks = Math.max(this.lockTimeoutBlocks, Math.ceil(RESERVATION_TIMEOUT_MS / (core.opts.blockIntervalMs ?? 250)));
    const head = core.opts.store.head()?.height ?? 0;
    for (const [h, v] of votes) this.timeoutFrom.set(h, Math.max(v.height, head));
  }

  /**
   * Opens the protocol over block-2PC's participant `inner` (which must follow no orchestrator:
   * its stream is not subscribed), with the votes recorded in the store.
   */
  static async open(core: ShardCore, inner: BlockTwoPhaseCommit, opts: ClientLedOpts = {}): Promise<ClientLedProtocol> {
    const votes = new Map<string, RecordedVote>();
    for (const [k, v] of await core.opts.store.metaEntries(VOTE_PREFIX)) {
      const h = k.slice(VOTE_PREFIX.length);
      votes.set(h, decodeRecordedVote(h, v));
    }
    return new ClientLedProtocol(core, inner, votes, opts);
  }

  lockedOf(address: string): bigint {
    return this.inner.lockedOf(address);
  }

  /** The admitted transaction waits for its client's coordinator; its entry may enter a block at once. */
  async dispatch(tx: DecodedTx, entry: MempoolEntry): Promise<void> {
    if (entry.reservation) this.reservedAt.set(tx.hash, { tx });
    entry.ready = true;
  }

  decisionOf(txHash: string): Promise<'commit' | 'abort' | undefined> {
    const a = this.applied.get(txHash);
    return a ? Promise.resolve(a.decision) : this.inner.decisionOf(txHash);
  }

  acquireLocks(txHash: string, keys: readonly LockKey[], ttlMs?: number, waitMs?: number): Promise<LocksGranted> {
    return this.inner.acquireLocks(txHash, keys, ttlMs, waitMs);
  }

  releaseLocks(txHash: string): Promise<number> {
    return this.inner.releaseLocks(txHash);
  }

  readLocks(): SimulationLock[] {
    return this.inner.readLocks();
  }

  /**
   * Prepare: this shard's vote on a cross-shard transaction, once recorded in a durable block
   * (see the PrepareRequest in state_shard.proto). Asking again answers the recorded vote, or the
   * decision once one was applied.
   * @throws ShardLabError INVALID_ARGUMENT for a malformed request (see checkPrepareRequest);
   *   UNAVAILABLE when no block recorded the vote within 30 s (ask again).
   */
  async prepare(req: CrossShardTx | undefined): Promise<PrepareResponse> {
    const x = checkPrepareRequest(req, this.core.shardId, this.core.opts.placement, this.core.opts.common);
    const h = x.tx!.hash;
    const known = await this.answerNow(h);
    if (known) return this.prepareResponse(known);
    if (!this.deciding.has(h) && !this.decisions.has(h)) this.prepares.set(h, x);
    return this.prepareResponse(await this.waitFor(h, `the vote on ${h}`));
  }

  /**
   * Decide: applies the coordinator's decision in the next block and answers once that block is
   * durable; a decision applied before is answered at once.
   * @throws ShardLabError INVALID_ARGUMENT for a malformed request; FAILED_PRECONDITION for a
   *   commit without a YES vote recorded here, or a decision other than one already applied or
   *   being applied (e.g. this shard's lock-timeout abort); UNAVAILABLE when no block applied it
   *   within 30 s (ask again).
   */
  async decide(req: TpcResult | undefined): Promise<DecideResponse> {
    const r = checkDecideRequest(req, this.core.shardId, this.core.opts.placement.shardCount);
    const h = r.txHash;
    const want = r.decision === Decision.DECISION_COMMIT ? 'commit' : 'abort';
    const done = this.applied.get(h) ?? ((await this.inner.decisionOf(h)) ? { decision: (await this.inner.decisionOf(h))!, height: 0 } : undefined);
    const conflict = (other: string) => errors.failedPrecondition(`Decide ${h}: ${want} refused, this shard ${other}`, { txHash: h });
    if (done) {
      if (done.decision !== want) throw conflict(`${done.decision === 'commit' ? 'committed' : 'aborted'} it already${done.decision === 'abort' ? ' (its lock timeout or an earlier abort)' : ''}`);
      return { decision: r.decision, height: done.height };
    }
    const pending = this.deciding.get(h) ?? this.decisions.get(h);
    if (pending && pending.decision !== r.decision) throw conflict(`is applying ${pending.decision === Decision.DECISION_COMMIT ? 'a commit' : 'an abort'} (${pending.reason || 'the coordinator'})`);
    if (!pending) {
      if (want === 'commit' && this.votes.get(h)?.vote.vote !== Vote.VOTE_YES) throw conflict('recorded no YES vote for it (prepare it first)');
      this.decisions.set(h, r);
    }
    const a = await this.waitFor(h, `the decision on ${h}`);
    if (a.kind !== 'decided') throw errors.internal(`Decide ${h}: answered without a decision`);
    if (a.decision !== want) throw conflict(`${a.decision === 'commit' ? 'committed' : 'aborted'} it`);
    return { decision: r.decision, height: a.height };
  }

  /** What this shard can answer about `h` without a new block: its decision, else its recorded vote. */
  private async answerNow(h: string): Promise<Answer | undefined> {
    const a = this.applied.get(h);
    if (a) return { kind: 'decided', ...a };
    const d = await this.inner.decisionOf(h);
    if (d) return { kind: 'decided', decision: d, height: 0 };
    const v = this.votes.get(h);
    return v ? { kind: 'vote', v } : undefined;
  }

  private prepareResponse(a: Answer): PrepareResponse {
    if (a.kind === 'decided') {
      const decision = a.decision === 'commit' ? Decision.DECISION_COMMIT : Decision.DECISION_ABORT;
      return { height: a.height, lockExpiresAtHeight: 0, decided: decision };
    }
    const yes = a.v.vote.vote === Vote.VOTE_YES;
    return { vote: a.v.vote, height: a.v.height, lockExpiresAtHeight: yes ? a.v.height + this.lockTimeoutBlocks : 0, decided: Decision.DECISION_UNSPECIFIED };
  }

  private waitFor(h: string, what: string): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      const list = this.waiters.get(h) ?? [];
      const timer = setTimeout(() => {
        const l = this.waiters.get(h)?.filter((f) => f !== done);
        if (l && l.length > 0) this.waiters.set(h, l);
        else this.waiters.delete(h);
        reject(errors.unavailable(`shard ${this.core.shardId}: no block recorded ${what} within ${WAIT_MS} ms; ask again`));
      }, WAIT_MS);
      timer.unref?.();
      const done = (a: Answer) => {
        clearTimeout(timer);
        resolve(a);
      };
      list.push(done);
      this.waiters.set(h, list);
    });
  }

  private answer(h: string, a: Answer): void {
    const list = this.waiters.get(h);
    if (!list) return;
    this.waiters.delete(h);
    for (const f of list) f(a);
  }

  /** Aborts by lock timeout every vote and reservation left undecided for `lockTimeoutBlocks` blocks. */
  private addTimeouts(height: number): void {
    const timeout = (h: string, from: number, blocks: number) => {
      if (this.deciding.has(h) || this.decisions.has(h)) return;
      const r = reasons.lockTimeout(blocks, from);
      this.decisions.set(h, { txHash: h, decision: Decision.DECISION_ABORT, ...withReason(r), involvedShards: [this.core.shardId], traceContext: {} });
      this.prepares.delete(h);
    };
    for (const [h, from] of this.timeoutFrom) if (height - from >= this.lockTimeoutBlocks) timeout(h, this.votes.get(h)?.height ?? from, this.lockTimeoutBlocks);
    const waiting = new Set([...this.reservedAt.values()].filter((r) => r.at === undefined).map((r) => r.tx.from));
    const lowest = this.core.mempool.lowestNonces(waiting);
    for (const [h, r] of this.reservedAt) {
      if (!this.core.mempool.get(h)) this.reservedAt.delete(h);
      else if (r.at === undefined) {
        if (lowest.get(r.tx.from) === r.tx.nonce) r.at = height;
      } else if (!this.votes.has(h) && height - r.at >= this.reservationTimeoutBlocks) timeout(h, r.at, this.reservationTimeoutBlocks);
    }
  }

  beginBlock(): ProtocolBlock {
    const height = this.core.opts.store.head()!.height + 1;
    this.addTimeouts(height);
    const prepares = [...this.prepares.values()];
    const decisions = [...this.decisions.values()];
    this.prepares = new Map();
    this.decisions = new Map();
    for (const d of decisions) this.deciding.set(d.txHash, d);
    if (prepares.length > 0 || decisions.length > 0) {
      this.inner.enqueueOrchestratorBlock({ height: this.inner.orchestratorCursor() + 1, hash: '', parentHash: '', timestampMs: 0, ctToOrder: prepares, tpcResult: decisions });
    }
    return new ClientLedBlock(this.inner.beginBlock(), height, [...this.deciding.values()], {
      durable: (votes, decided) => this.afterDurable(height, votes, decided),
    });
  }

  /** After a durable block: its votes and decisions become answers; decided transactions leave the tables. */
  private afterDurable(height: number, votes: RecordedVote[], decided: TpcResult[]): void {
    for (const v of votes) {
      if (this.deciding.has(v.vote.txHash)) continue;
      this.votes.set(v.vote.txHash, v);
      this.timeoutFrom.set(v.vote.txHash, height);
      this.answer(v.vote.txHash, { kind: 'vote', v });
    }
    for (const d of decided) {
      const h = d.txHash;
      const decision = d.decision === Decision.DECISION_COMMIT ? 'commit' : 'abort';
      this.deciding.delete(h);
      this.votes.delete(h);
      this.timeoutFrom.delete(h);
      this.reservedAt.delete(h);
      this.applied.set(h, { decision, height });
      this.answer(h, { kind: 'decided', decision, height });
    }
    trimMap(this.applied);
  }
}

/** Client-led's part of one block: block-2PC's participant block, with votes and decisions recorded for the coordinator. */
class ClientLedBlock implements ProtocolBlock {
  private votes: RecordedVote[] = [];

  constructor(
    private readonly inner: ProtocolBlock,
    private readonly height: number,
    /** Decisions this block applies (those of a failed block included). */
    private readonly decided: TpcResult[],
    private readonly hooks: { durable(votes: RecordedVote[], decided: TpcResult[]): void },
  ) {}

  plan(input: BlockInput): Promise<BlockStep[]> {
    return this.inner.plan(input);
  }

  lockedOf(address: string): bigint {
    return this.inner.lockedOf(address);
  }

  holds(key: string): boolean {
    return this.inner.holds(key);
  }

  locksHeld(): boolean {
    return this.inner.locksHeld();
  }

  async finish(execution: BlockExecution): Promise<BlockFinish> {
    const f = await this.inner.finish(execution);
    const decidedHere = new Set(this.decided.map((d) => d.txHash));
    this.votes = f.votes.filter((v) => !decidedHere.has(v.txHash)).map((vote) => ({ vote, height: this.height }));
    const meta = new Map(f.meta);
    for (const v of this.votes) meta.set(VOTE_PREFIX + v.vote.txHash, encodeRecordedVote(v));
    for (const h of decidedHere) meta.set(VOTE_PREFIX + h, null);
    // No orchestrator: the header's orchestrator height stays 0.
    return { ...f, meta, orchestratorHeight: 0, decisions: this.decided };
  }

  applyDurable(deferred: ReadonlySet<string>): string[] {
    const settled = this.inner.applyDurable(deferred);
    this.hooks.durable(this.votes, this.decided);
    return settled;
  }

  trace(block: StateShardBlock): void {
    this.inner.trace(block);
  }

  rollback(): void {
    // The participant puts its block of work back; the decisions stay in `deciding` for the next block.
    this.inner.rollback();
  }

  end(): void {
    this.inner.end();
  }
}
