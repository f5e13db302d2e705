// OutcomeTracker: terminal outcomes of an experiment's transactions from every shard's and the orchestrator's block streams, with no per-transaction request
import { Decision, ReasonCode, ReceiptKind, SystemTxKind, type GetHeadResponse, type OrchestratorBlock, type Reason, type StateShardBlock, type TpcResult } from '@shardlab/proto';
import { peerStream, type Peers } from '@shardlab/registry';
import { followStream } from '@shardlab/rpc';
import type { Logger } from '@shardlab/telemetry';

/** Terminal outcome of one tracked transaction. */
export interface TrackedOutcome {
  /** committed: a local transaction final with a successful receipt, or a cross-shard one COMMITTED; reverted: a local one included with a failed receipt; aborted: a cross-shard one ABORTED. */
  outcome: 'committed' | 'reverted' | 'aborted';
  /** Revert error or abort reason. */
  reason?: string;
  /** The abort reason as data (cross-shard aborts). */
  cause?: Reason;
  /** When the runner saw the block or decision that ended it, epoch milliseconds. */
  atMs: number;
  /**
   * Height of the block that ended it: the home shard's (local), the orchestrator's (cross-shard,
   * block-2PC), the destination shard's that credited its receipt (cross-shard transfer,
   * shard-led), or, client-led, the block of the last involved shard to record the decision (or
   * of the shard whose lock timeout aborted it). Each is a height of that block's own chain.
   */
  height: number;
  /** Cross-shard only: how it was committed or aborted (see {@link CrossShardPath}). */
  path?: CrossShardPath;
}

/**
 * How a cross-shard transaction was committed or aborted: `block-2pc` (a decision in an
 * orchestrator block; under shard-led its fallback), `shard-led` (receipts), or `client-led`
 * (two-phase commit coordinated by a client: the decision recorded in the involved shards' blocks,
 * `StateShardBlock.decisions`, or an abort by a shard's lock timeout).
 */
export type CrossShardPath = 'block-2pc' | 'shard-led' | 'client-led';

/** An inclusion of a user transaction in a state-shard block, as seen on the block stream. */
interface Inclusion {
  shard: number;
  height: number;
  success: boolean;
  error: string;
  atMs: number;
}

/**
 * What ended a cross-shard transaction: a decision in an orchestrator block, a shard-led credit,
 * or a client-led decision recorded by every involved shard (or a lock-timeout abort).
 */
interface DecisionSeen {
  commit: boolean;
  /** Shard-led calls: the outcome of the call on the contract's shard. */
  call?: { success: boolean; error: string };
  path: CrossShardPath;
  reason: string;
  cause?: Reason;
  height: number;
  atMs: number;
}

/** A client-led decision recorded by some of the transaction's involved shards so far. */
interface ClientLedDecision {
  commit: boolean;
  reason: string;
  cause?: Reason;
  /** Every shard the records name in `involved_shards`. */
  involved: Set<number>;
  /** The shards that recorded this decision. */
  recorded: Set<number>;
}

/** What the runner knows of a transaction it expects. */
interface Expected {
  /** Set when the gateway answered: whether the home shard found it cross-shard. */
  crossShard?: boolean;
  homeShard?: number;
  inclusion?: Inclusion;
  decision?: DecisionSeen;
  done?: TrackedOutcome;
  resolve: (o: TrackedOutcome) => void;
  promise: Promise<TrackedOutcome>;
}

/** What the tracker needs of the peer clients (a `Peers` from `@shardlab/registry`). */
export type TrackerPeers = Pick<Peers, 'shard' | 'orchestrator' | 'directory'>;

/** Options of {@link OutcomeTracker}. */
export interface OutcomeTrackerOpts {
  /**
   * The network's state shards (every shard of the registry's shard count) and orchestrator,
   * found through the registry. Not closed by {@link OutcomeTracker.stop}.
   */
  peers: TrackerPeers;
  logger: Logger;
}

/**
 * Tracks transactions of an experiment to their terminal outcome by following every state
 * shard's block stream and the orchestrator's block stream — what a block explorer sees, with no
 * per-transaction request to the network. A local transaction ends when a block of its home shard
 * includes it (its receipt says committed or reverted); a cross-shard one ends when an
 * orchestrator block carries its decision (the two-phase-commit commit point, docs/ARCHITECTURE.md
 * §3; shards apply it in their next block), or — shard-led transfers (docs/ARCHITECTURE.md §3, shard-led commit) — when a destination
 * shard's block credits its receipt, or — client-led two-phase commit — when every shard of the
 * decision's `involved_shards` has recorded it in `StateShardBlock.decisions` (the decision is
 * applied everywhere), or at once when a shard records an abort by its lock timeout
 * (REASON_CODE_LOCK_TIMEOUT). As under block-2PC, the decision alone says committed or aborted.
 * Events of a transaction that arrive before the gateway's answer are kept until it is
 * {@link OutcomeTracker.accepted}.
 */
export class OutcomeTracker {
  private readonly expected = new Map<string, Expected>();
  /** Shard-led calls whose CALL_RESULT was seen, until their sender's shard credits it. */
  private readonly callResults = new Map<string, { success: boolean; error: string }>();
  /** Client-led transactions whose decision some, not yet all, involved shards recorded. */
  private readonly clientLed = new Map<string, ClientLedDecision>();
  private readonly abort = new AbortController();
  private readonly follows: Promise<void>[] = [];

  constructor(private readonly opts: OutcomeTrackerOpts) {}

  /**
   * Declares transactions the experiment will submit (lowercase 0x hashes) before submitting
   * them, so that no event is missed. Returns nothing; see {@link outcome}.
   */
  expect(hashes: Iterable<string>): void {
    for (const h of hashes) {
      if (this.expected.has(h)) continue;
      let resolve!: (o: TrackedOutcome) => void;
      const promise = new Promise<TrackedOutcome>((r) => (resolve = r));
      this.expected.set(h, { resolve, promise });
    }
  }

  /**
   * Starts following the streams of every shard (shard count from the registry) and of the
   * orchestrator from each one's current head + 1, and resolves once every stream's starting
   * height is known (events before it are not about this experiment).
   * @throws ShardLabError UNAVAILABLE when the registry, a shard or the orchestrator cannot be reached.
   */
  async start(): Promise<void> {
    const signal = this.abort.signal;
    const log = this.opts.logger;
    const peers = this.opts.peers;
    const { shardCount } = await peers.directory.config();
    for (let shardId = 0; shardId < shardCount; shardId++) {
      const head = await (await peers.shard(shardId)).call<GetHeadResponse>((c, md, o, cb) => c.getHead({}, md, o, cb));
      let next = Number(head.height) + 1;
      this.follows.push(
        followStream<StateShardBlock>({
          name: `shard ${shardId} blocks`,
          signal,
          logger: log,
          open: (s) => peerStream(() => peers.shard(shardId), (c, md, op) => c.subscribeBlocks({ fromHeight: next }, md, op), s),
          handle: (b) => {
            if (Number(b.height) !== next) return;
            next += 1;
            this.onShardBlock(shardId, b);
          },
        }),
      );
    }
    const head = await (await peers.orchestrator()).call<OrchestratorBlock>((c, md, op, cb) => c.getBlock({}, md, op, cb));
    let next = Number(head.height) + 1;
    this.follows.push(
      followStream<OrchestratorBlock>({
        name: 'orchestrator blocks',
        signal,
        logger: log,
        open: (s) => peerStream(() => peers.orchestrator(), (c, md, op) => c.subscribeBlocks({ fromHeight: next }, md, op), s),
        handle: (b) => {
          if (Number(b.height) !== next) return;
          next += 1;
          this.onOrchestratorBlock(b);
        },
      }),
    );
  }

  /**
   * Records the gateway's answer for `hash`: its home shard and whether it is cross-shard. Its
   * outcome resolves as soon as the ending event is (or was) seen.
   * @throws Error when `hash` was not declared with {@link expect}.
   */
  accepted(hash: string, homeShard: number, crossShard: boolean): void {
    const e = this.get(hash);
    e.crossShard = crossShard;
    e.homeShard = homeShard;
    this.tryResolve(e);
  }

  /**
   * The outcome of `hash`, once known.
   * @throws Error when `hash` was not declared with {@link expect}.
   */
  outcome(hash: string): Promise<TrackedOutcome> {
    return this.get(hash).promise;
  }

  /** Stops following the streams (the peer clients are the caller's to close). */
  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled(this.follows);
  }

  private get(hash: string): Expected {
    const e = this.expected.get(hash);
    if (!e) throw new Error(`transaction ${hash} is not tracked`);
    return e;
  }

  private onShardBlock(shardId: number, b: StateShardBlock): void {
    const atMs = Date.now();
    for (const r of b.receipts) {
      const e = this.expected.get(r.txHash.toLowerCase());
      if (!e || e.inclusion) continue;
      e.inclusion = { shard: shardId, height: Number(b.height), success: r.success, error: r.error, atMs };
      this.tryResolve(e);
    }
    // Shard-led: a call's outcome leaves the contract's shard as a CALL_RESULT receipt (whose
    // block also credits the call's prepaid amount there: not an end).
    const results = new Set<string>();
    for (const r of b.outgoingReceipts ?? []) {
      if (r.kind !== ReceiptKind.RECEIPT_KIND_CALL_RESULT) continue;
      const h = r.txHash.toLowerCase();
      results.add(h);
      if (this.expected.has(h)) this.callResults.set(h, { success: r.success, error: r.error });
    }
    // A transfer ends when its destination credits the receipt, a call when its sender's shard
    // credits the result (applied everywhere).
    for (const t of b.transactions) {
      if (t.kind?.$case !== 'system' || t.kind.value.kind !== SystemTxKind.SYSTEM_TX_KIND_RECEIPT_CREDIT) continue;
      const h = t.kind.value.txHash.toLowerCase();
      const e = this.expected.get(h);
      if (!e || e.decision || results.has(h)) continue;
      const call = this.callResults.get(h);
      this.callResults.delete(h);
      e.decision = { commit: true, path: 'shard-led', reason: '', height: Number(b.height), atMs, ...(call ? { call } : {}) };
      this.tryResolve(e);
    }
    for (const d of b.decisions ?? []) this.onClientLedDecision(shardId, Number(b.height), d, atMs);
  }

  /**
   * Client-led: shard `shardId` recorded decision `d` in its block at `height`. An abort by the
   * shard's lock timeout ends the transaction at once; any other decision once every shard of its
   * `involved_shards` has recorded it. A record that contradicts the first one seen (an atomicity
   * violation, the audit's to report) does not count towards it.
   */
  private onClientLedDecision(shardId: number, height: number, d: TpcResult, atMs: number): void {
    const h = d.txHash.toLowerCase();
    const e = this.expected.get(h);
    if (!e || e.decision) return;
    const commit = d.decision === Decision.DECISION_COMMIT;
    if (!commit && d.decision !== Decision.DECISION_ABORT) return;
    const end = (c: Pick<ClientLedDecision, 'commit' | 'reason' | 'cause'>) => {
      this.clientLed.delete(h);
      e.decision = { commit: c.commit, path: 'client-led', reason: c.reason, ...(c.cause ? { cause: c.cause } : {}), height, atMs };
      this.tryResolve(e);
    };
    if (!commit && d.cause?.code === ReasonCode.REASON_CODE_LOCK_TIMEOUT) {
      end({ commit, reason: d.reason, ...(d.cause ? { cause: d.cause } : {}) });
      return;
    }
    let c = this.clientLed.get(h);
    if (!c) this.clientLed.set(h, (c = { commit, reason: d.reason, ...(d.cause ? { cause: d.cause } : {}), involved: new Set(), recorded: new Set() }));
    if (c.commit !== commit) return;
    for (const s of [shardId, ...d.involvedShards]) c.involved.add(Number(s));
    c.recorded.add(shardId);
    if ([...c.involved].every((s) => c.recorded.has(s))) end(c);
  }

  private onOrchestratorBlock(b: OrchestratorBlock): void {
    const atMs = Date.now();
    for (const d of b.tpcResult) {
      const e = this.expected.get(d.txHash.toLowerCase());
      if (!e || e.decision) continue;
      e.decision = { commit: d.decision === Decision.DECISION_COMMIT, path: 'block-2pc', reason: d.reason, ...(d.cause ? { cause: d.cause } : {}), height: Number(b.height), atMs };
      this.tryResolve(e);
    }
  }

  private tryResolve(e: Expected): void {
    if (e.done) return;
    let o: TrackedOutcome | undefined;
    // A decision is only ever taken on a cross-shard transaction, even before the gateway answered.
    if (e.decision?.call) {
      const c = e.decision.call;
      o = { outcome: c.success ? 'committed' : 'reverted', atMs: e.decision.atMs, height: e.decision.height, path: 'shard-led', ...(c.error ? { reason: c.error } : {}) };
    } else if (e.decision) {
      o = {
        outcome: e.decision.commit ? 'committed' : 'aborted',
        atMs: e.decision.atMs,
        height: e.decision.height,
        path: e.decision.path,
        ...(e.decision.reason ? { reason: e.decision.reason } : {}),
        ...(e.decision.cause ? { cause: e.decision.cause } : {}),
      };
    } else if (e.crossShard === false && e.inclusion) {
      const i = e.inclusion;
      o = { outcome: i.success ? 'committed' : 'reverted', atMs: i.atMs, height: i.height, ...(i.error ? { reason: i.error } : {}) };
    }
    if (!o) return;
    e.done = o;
    e.resolve(o);
  }
}
