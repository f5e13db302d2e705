// The gateway coordinating client-led two-phase commit for clients that only send raw transactions: one coordination per admitted transaction, its outcome kept for status queries and watches.
import type { DecodedTx } from '@shardlab/chain';
import { TxStatus, type TransactionStatus } from '@shardlab/proto';
import type { Logger } from '@shardlab/telemetry';
import { BoundedMap } from './bounded-map';
import type { ClientLedCoordinator, CoordinatedOutcome, SimulationTurn } from './client-led-coordinator';

interface Session {
  homeShard: number;
  outcome?: CoordinatedOutcome;
  atMs?: number;
  listeners: Set<() => void>;
}

/**
 * The client-led coordinations a gateway runs on behalf of its clients (docs/ARCHITECTURE.md §3,
 * client-led): started when the home shard answers that a submitted transaction is
 * `client_coordinated` (a sender's contract calls simulated one after the other, in nonce order); the outcome (decision applied on every involved shard, or abort with its
 * reason) is kept, bounded, for GetTransaction and WatchTransaction. A gateway that stops
 * mid-coordination leaves the shards' locks to their lock timeout.
 */
export class ClientLedSessions {
  private readonly sessions: BoundedMap<string, Session>;
  private readonly running = new Set<Promise<void>>();
  /** Simulations not over yet, per sender and nonce: a sender's calls are simulated in nonce order. */
  private readonly simulationsBySender = new Map<string, Map<bigint, Promise<void>>>();

  constructor(
    private readonly coordinator: ClientLedCoordinator,
    private readonly logger: Logger,
    /** Most sessions remembered [100,000]. */
    capacity = 100_000,
    private readonly now: () => number = Date.now,
  ) {
    this.sessions = new BoundedMap(capacity);
  }

  /** Starts coordinating `d` (admitted by its home shard `homeShard`) in the background; a second start is ignored. */
  start(d: DecodedTx, homeShard: number, traceContext: Record<string, string> = {}): void {
    if (this.sessions.get(d.hash)) return;
    const s: Session = { homeShard, listeners: new Set() };
    this.sessions.set(d.hash, s);
    // A sender's calls are simulated one after the other, in nonce order (see SimulationTurn).
    const isCall = d.to === undefined || d.tx.data.length > 0;
    let turn: SimulationTurn | undefined;
    if (isCall) {
      // Waits for the sender's calls of lower nonces only (whichever started first): a lower one
      // never waits for a higher one, whose simulation waits for it to be in a block.
      let done!: () => void;
      const mine = new Promise<void>((r) => (done = r));
      const bySender = this.simulationsBySender.get(d.from) ?? new Map<bigint, Promise<void>>();
      this.simulationsBySender.set(d.from, bySender);
      const earlier = [...bySender].filter(([nonce]) => nonce < d.nonce).map(([, p]) => p);
      turn = { wait: Promise.all(earlier).then(() => undefined), done };
      bySender.set(d.nonce, mine);
      void mine.then(() => {
        bySender.delete(d.nonce);
        if (bySender.size === 0 && this.simulationsBySender.get(d.from) === bySender) this.simulationsBySender.delete(d.from);
      });
    }
    const run = this.coordinator
      .coordinate(d, traceContext, turn)
      .then(
        (o) => {
          s.outcome = o;
          s.atMs = this.now();
        },
        (err: Error) => this.logger.error({ txHash: d.hash, err: err.message }, 'client-led coordination failed'),
      )
      .finally(() => {
        turn?.done(); // also when the coordination failed before its simulation
        this.running.delete(run);
        for (const l of s.listeners) l();
      });
    this.running.add(run);
  }

  /** Whether the gateway coordinates (or coordinated) `txHash`. */
  has(txHash: string): boolean {
    return this.sessions.get(txHash) !== undefined;
  }

  /**
   * The terminal status of a coordinated transaction once its coordination ended (the decision was
   * sent to every involved shard): COMMITTED, or ABORTED with the reason; undefined while in
   * progress or unknown here. `involved_shards` are the coordination's; `applied` is true when every
   * one of them answered Decide (the decision is in a durable block of each), false when some shard
   * could not be reached within the coordinator's budget or refused it (the caller may ask the
   * shards again, StateShardService.GetDecision). No receipt: the caller attaches the home shard's.
   */
  statusOf(txHash: string): TransactionStatus | undefined {
    const s = this.sessions.get(txHash);
    const o = s?.outcome;
    if (!s || !o) return undefined;
    const commit = o.decision === 'commit';
    return {
      txHash,
      status: commit ? TxStatus.TX_STATUS_COMMITTED : TxStatus.TX_STATUS_ABORTED,
      homeShard: s.homeShard,
      crossShard: true,
      blockHeight: 0,
      reason: o.reason ?? '',
      ...(o.cause ? { cause: o.cause } : {}),
      updatedAtMs: s.atMs ?? this.now(),
      applied: o.involvedShards.every((x) => o.appliedOn.includes(x)),
      involvedShards: [...o.involvedShards],
    };
  }

  /** Calls `listener` once the coordination of `txHash` ends. Returns the function that stops listening. */
  listen(txHash: string, listener: () => void): () => void {
    const s = this.sessions.get(txHash);
    if (!s) return () => {};
    s.listeners.add(listener);
    return () => s.listeners.delete(listener);
  }

  /** Resolves once no coordination is running (those started meanwhile included). */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }
}
