// The gateway coordinating client-led two-phase commit for clients that only send raw transactions: one coordination per admitted transaction, its outcome kept for status queries and watches.
import type { DecodedTx } from '@shardlab/chain';
import { TxStatus, type TransactionStatus } from '@shardlab/proto';
import type { Logger } from '@shardlab/telemetry';
import { BoundedMap } from './bounded-map';
import type { ClientLedCoordinator, CoordinatedOutcome } from './client-led-coordinator';

interface Session {
  homeShard: number;
  outcome?: CoordinatedOutcome;
  atMs?: number;
  listeners: Set<() => void>;
}

/**
 * The client-led coordinations a gateway runs on behalf of its clients (docs/ARCHITECTURE.md §3,
 * client-led): started when the home shard answers that a submitted transaction is
 * `client_coordinated`; the outcome (decision applied on every involved shard, or abort with its
 * reason) is kept, bounded, for GetTransaction and WatchTransaction. A gateway that stops
 * mid-coordination leaves the shards' locks to their lock timeout.
 */
export class ClientLedSessions {
  private readonly sessions: BoundedMap<string, Session>;
  private readonly running = new Set<Promise<void>>();

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
    const run = this.coordinator
      .coordinate(d, traceContext)
      .then(
        (o) => {
          s.outcome = o;
          s.atMs = this.now();
        },
        (err: Error) => this.logger.error({ txHash: d.hash, err: err.message }, 'client-led coordination failed'),
      )
      .finally(() => {
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
