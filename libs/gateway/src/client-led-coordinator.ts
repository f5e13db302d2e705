// The coordinator of client-led two-phase commit, a client library: simulate a call, Prepare on every involved shard, decide, Decide on every involved shard.
import { toProtoTransaction, type DecodedTx } from '@shardlab/chain';
import { ErrorCode, isShardLabError } from '@shardlab/common';
import { Decision, Vote, reasonMessage, reasons, withReason, type CrossShardTx, type DecideResponse, type PrepareResponse, type Reason, type SimulateResponse, type TpcResult, type Transaction } from '@shardlab/proto';
import type { Logger } from '@shardlab/telemetry';

/** How the coordinator reaches the network. */
export interface CoordinatorTransport {
  /** StateShardService.Prepare on shard `shardId` (answers once the vote is in a durable block). */
  prepare(shardId: number, x: CrossShardTx): Promise<PrepareResponse>;
  /** StateShardService.Decide on shard `shardId` (answers once the decision is in a durable block). */
  decide(shardId: number, r: TpcResult): Promise<DecideResponse>;
  /** SimulatorService.Simulate: the RwSet of a contract call, its keys locked on their shards. */
  simulate(tx: Transaction): Promise<SimulateResponse>;
}

/** Options of {@link ClientLedCoordinator}. Defaults in brackets. */
export interface ClientLedCoordinatorOpts {
  transport: CoordinatorTransport;
  /** Shard of an address under the current placement. */
  shardOf(address: string): number;
  /** Block interval of the network, in ms: with a vote's lock expiry it bounds how late a commit may be sent. */
  blockIntervalMs: number;
  logger: Logger;
  /** How long a shard other than the source is asked again for its vote (while it cannot be reached or has not voted), in ms [20,000]. */
  prepareBudgetMs?: number;
  /**
   * How long the source shard is asked again for its vote, in ms [600,000]: its acceptance follows
   * the sender's nonce order and may wait for a long chain of the sender's earlier transactions,
   * holding nothing meanwhile; the shard always ends up voting (NO when the acceptance fails).
   */
  sourcePrepareBudgetMs?: number;
  /** How long the simulator is asked again while it cannot be reached, in ms [10,000]. */
  simulateBudgetMs?: number;
  /** How long a shard that cannot be reached is asked again to apply the decision, in ms [120,000]. */
  decideBudgetMs?: number;
  /** Delay between two attempts on an unreachable shard, in ms (doubling up to 2 s) [100]. */
  retryMs?: number;
  /** Clock in ms [Date.now]. */
  now?: () => number;
}

/**
 * When a contract call may be simulated: a sender's simulations run one after the other, in nonce
 * order (as the orchestrator schedules them), since the simulator waits for the sender's earlier
 * transactions to be in a block.
 */
export interface SimulationTurn {
  /** Settles when the sender's previous simulation is over. */
  wait: Promise<void>;
  /** Called once this simulation is over (the next one may start). */
  done(): void;
}

/** How a coordinated transaction ended. */
export interface CoordinatedOutcome {
  txHash: string;
  decision: 'commit' | 'abort';
  /** Why it aborted (text and data); absent on commit. */
  reason?: string;
  cause?: Reason;
  /** Every shard that had to apply the decision, sorted. */
  involvedShards: number[];
  /** Shards that answered Decide with the decision applied. */
  appliedOn: number[];
  /** Shards that refused the decision (each had decided otherwise: an atomicity failure the audit reports), with their error. */
  refusedBy: { shard: number; error: string }[];
}

/**
 * The coordinator of client-led two-phase commit (docs/ARCHITECTURE.md §3, client-led), as the
 * project's notes describe it: the client tells every involved shard to prepare (lock) — the
 * source shard first, the others once it voted YES, so that their lock timeouts do not run while
 * the source's acceptance waits for the sender's earlier transactions —; each shard records its
 * vote in a block and answers; the client decides commit (every vote YES) or abort and
 * tells every shard, which applies the decision in its next block. A contract call is simulated
 * first (the simulator's RwSet names the involved shards and holds their keys locked), as
 * block-2PC does. A commit is sent only while every YES vote's lock has at least half its
 * timeout left (estimated from the block interval), else the coordinator aborts: a shard whose
 * lock timeout passed aborts by itself. A coordinator that disappears leaves the votes' locks in
 * place until those timeouts. Stateless between transactions: the shards' records are the truth.
 */
export class ClientLedCoordinator {
  private readonly now: () => number;

  constructor(private readonly opts: ClientLedCoordinatorOpts) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * Runs the two-phase commit of a cross-shard transaction whose home shard admitted it (its
   * nonce reserved there) and returns how it ended. Never throws for the network's answers: a
   * shard that cannot be reached within the prepare budget aborts the transaction.
   */
  async coordinate(d: DecodedTx, traceContext: Record<string, string> = {}, turn?: SimulationTurn): Promise<CoordinatedOutcome> {
    const { opts } = this;
    const tx = toProtoTransaction(d);
    const home = opts.shardOf(d.from);
    const log = opts.logger.child({ txHash: d.hash, homeShard: home });
    const isCall = d.to === undefined || d.tx.data.length > 0;
    let involved = [home, ...(d.to !== undefined && !isCall ? [opts.shardOf(d.to)] : [])];
    let rwSet: CrossShardTx['rwSet'];
    if (isCall) {
      // The simulator is asked again while it cannot be reached (as the orchestrator does).
      await turn?.wait;
      const sim = await this.retrying(() => opts.transport.simulate(tx), opts.simulateBudgetMs ?? 10_000)
        .catch((err: Error): SimulateResponse => ({ success: false, error: err.message }))
        .finally(() => turn?.done());
      if (!sim.success || !sim.rwSet) {
        // Nothing was prepared: the home shard consumes the nonce and the fee for the intrinsic gas.
        return this.decide(d.hash, [home], { commit: false, cause: reasons.simulationFailed(sim.error, sim.cause) }, traceContext, log);
      }
      rwSet = sim.rwSet;
      involved = [home, ...rwSet.addresses.map((a) => Number(a.shardId))];
    }
    involved = [...new Set(involved)].sort((a, b) => a - b);
    const x: CrossShardTx = { tx, involvedShards: involved, sourceShard: home, traceContext, ...(rwSet ? { rwSet } : {}) };
    // The source first: its acceptance follows the sender's nonce order and may wait for earlier
    // transactions; the other shards lock only once it voted YES, so their lock timeouts do not
    // run while it waits (one block more than preparing all at once).
    const sourceVote = await this.prepareOn(home, x, opts.sourcePrepareBudgetMs ?? 600_000);
    const others = involved.filter((s) => s !== home);
    const sourceYes = sourceVote.res?.vote?.vote === Vote.VOTE_YES && !sourceVote.res.decided;
    const otherVotes = sourceYes ? await Promise.all(others.map((s) => this.prepareOn(s, x))) : [];
    const byShard = new Map<number, { res?: PrepareResponse; at: number; error?: string }>([[home, sourceVote], ...others.map((s, i) => [s, otherVotes[i] ?? { at: this.now(), error: 'not asked: the source did not vote YES' }] as const)]);
    // The source's NO (or failure) is the reason, not the shards never asked.
    const order = [home, ...others];
    const votes = order.map((s) => byShard.get(s)!);
    const decision = this.tally(order, votes);
    log.debug({ involved, commit: decision.commit }, 'client-led votes tallied');
    return this.decide(d.hash, involved, decision, traceContext, log);
  }

  /** One shard's vote, asked again while the shard cannot be reached (within the prepare budget). */
  private async prepareOn(shard: number, x: CrossShardTx, budget = this.opts.prepareBudgetMs ?? 20_000): Promise<{ res?: PrepareResponse; at: number; error?: string }> {
    try {
      const res = await this.retrying(() => this.opts.transport.prepare(shard, x), budget);
      return { res, at: this.now() };
    } catch (err) {
      return { at: this.now(), error: (err as Error).message };
    }
  }

  /** The decision from the votes (see the class). */
  private tally(involved: number[], votes: { res?: PrepareResponse; at: number; error?: string }[]): { commit: boolean; cause?: Reason; reason?: string } {
    // A shard that applied a decision already (a coordinator before this one, or its lock timeout) rules.
    const decided = votes.map((v) => v.res?.decided ?? Decision.DECISION_UNSPECIFIED);
    if (decided.includes(Decision.DECISION_COMMIT)) return { commit: true };
    for (let i = 0; i < involved.length; i++) {
      const v = votes[i]!;
      const s = involved[i]!;
      if (v.error) return { commit: false, cause: reasons.coordinatorAborted(`shard ${s} did not vote: ${v.error}`) };
      if (decided[i] === Decision.DECISION_ABORT) return { commit: false, cause: reasons.coordinatorAborted(`shard ${s} had aborted it already (lock timeout)`) };
      const vote = v.res!.vote;
      if (vote?.vote !== Vote.VOTE_YES) return { commit: false, cause: reasons.shardVotedNo(s, vote?.cause, vote?.reason ?? '') };
    }
    const now = this.now();
    for (let i = 0; i < involved.length; i++) {
      const r = votes[i]!.res!;
      const lockMs = (Number(r.lockExpiresAtHeight) - Number(r.height)) * this.opts.blockIntervalMs;
      if (now - votes[i]!.at > lockMs / 2) {
        return { commit: false, cause: reasons.coordinatorAborted(`the vote of shard ${involved[i]} is too old to commit before its lock timeout (${now - votes[i]!.at} ms of ${lockMs} ms)`) };
      }
    }
    return { commit: true };
  }

  /** Sends the decision to every shard in `involved` (asked again while unreachable) and returns the outcome. */
  private async decide(
    txHash: string,
    involved: number[],
    decision: { commit: boolean; cause?: Reason },
    traceContext: Record<string, string>,
    log: Logger,
  ): Promise<CoordinatedOutcome> {
    const why = decision.cause ? withReason(decision.cause) : { reason: '' };
    const r: TpcResult = {
      txHash,
      decision: decision.commit ? Decision.DECISION_COMMIT : Decision.DECISION_ABORT,
      involvedShards: involved,
      traceContext,
      ...why,
    };
    const budget = this.opts.decideBudgetMs ?? 120_000;
    const answers = await Promise.all(
      involved.map((s) =>
        this.retrying(() => this.opts.transport.decide(s, r), budget).then(
          (): { shard: number; error?: string } => ({ shard: s }),
          (err: Error) => ({ shard: s, error: err.message }),
        ),
      ),
    );
    const refusedBy = answers.filter((a): a is { shard: number; error: string } => a.error !== undefined);
    for (const a of refusedBy) log.error({ shard: a.shard, err: a.error, decision: decision.commit ? 'commit' : 'abort' }, 'a shard did not apply the decision');
    return {
      txHash,
      decision: decision.commit ? 'commit' : 'abort',
      ...(decision.cause ? { reason: reasonMessage(decision.cause), cause: decision.cause } : {}),
      involvedShards: involved,
      appliedOn: answers.filter((a) => a.error === undefined).map((a) => a.shard),
      refusedBy,
    };
  }

  /** Runs `call`, again after UNAVAILABLE (with back-off) until `budgetMs` has passed. */
  private async retrying<T>(call: () => Promise<T>, budgetMs: number): Promise<T> {
    const start = this.now();
    let delay = this.opts.retryMs ?? 100;
    for (;;) {
      try {
        return await call();
      } catch (err) {
        if (!isShardLabError(err, ErrorCode.Unavailable) || this.now() - start + delay > budgetMs) throw err;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 2000);
      }
    }
  }
}
