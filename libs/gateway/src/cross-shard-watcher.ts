// The cross-shard part of the gateway's WatchTransaction: the orchestrator's status stream, the shard-led and client-led ends, and the application of the decision on every involved shard
import { errors } from '@shardlab/common';
import { TERMINAL_STATUSES, TxStatus, awaitsApplication, isLastWatchStatus, type TransactionStatus } from '@shardlab/proto';
import type { Logger } from '@shardlab/telemetry';
import type { ClientLedSessions } from './client-led-sessions';
import type { CrossShardWatchHub } from './cross-shard-watch';
import { decisionOfStatus, type DecisionTracker } from './decision-tracker';
import type { ReceiptTracker } from './receipt-tracker';
import type { Located, TxLocator } from './tx-locator';
import { advancesStatus } from './watch';

/** What {@link watchCrossShardTransaction} uses of the gateway. */
export interface CrossShardWatchDeps {
  /** The orchestrator's status stream, fanned out per transaction. */
  hub: CrossShardWatchHub;
  /** The shard-led evidence of the block streams. */
  receipts: ReceiptTracker;
  /** The gateway's client-led coordinations, once created. */
  sessions: () => ClientLedSessions | undefined;
  /** Where decisions are applied. */
  decisions: DecisionTracker;
  /** Status re-reads (the safety net) and receipts. */
  locator: TxLocator;
  logger: Logger;
  /** How often, in milliseconds, the status is re-read when nothing arrives. */
  recheckMs: number;
}

/** The error a watch ends with when the gateway shuts down (UNAVAILABLE: watch again elsewhere). */
export function shuttingDown() {
  return errors.unavailable('the gateway is shutting down; watch the transaction again');
}

/**
 * The cross-shard part of WatchTransaction: sends `first` (as `Gateway.getTransaction` answers
 * it), then the orchestrator's changes and the shard-led or client-led end, whichever comes, never
 * repeating a status nor going back (`advancesStatus`), until the decision (COMMITTED or ABORTED)
 * is applied by every involved shard: a decision not applied yet is sent with `applied` false,
 * then again with `applied` true once the involved shards say so ({@link DecisionTracker}, asked
 * on each of their blocks; the re-read every `recheckMs` asks too), and the watch ends only then.
 * The terminal status carries its receipt (`TxLocator.withReceipt`). A decision whose involved
 * shards are unknown, and DROPPED, end the watch as they are. Returns early when `signal` aborts.
 * @throws ShardLabError UNAVAILABLE when the gateway shuts down during the watch; what `send` throws.
 */
export async function watchCrossShardTransaction(
  deps: CrossShardWatchDeps,
  hash: string,
  first: Located,
  send: (status: TransactionStatus) => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  const { receipts, decisions, locator } = deps;
  let last = first.status;
  await send(last);
  const over = () => isLastWatchStatus(last);
  if (over() || signal.aborted) return;
  const log = deps.logger.child({ txHash: hash, homeShard: first.shardId, crossShard: true });
  const watch = deps.hub.watch(hash);
  // Once the decision is sent: its application on every involved shard, delivered as a status.
  let unlistenApplied: (() => void) | undefined;
  const followApplication = () => {
    if (unlistenApplied || !awaitsApplication(last)) return;
    const decided = last;
    unlistenApplied = decisions.listen(hash, decisionOfStatus(decided.status), decided.involvedShards, () => watch.deliver({ ...decided, applied: true, updatedAtMs: Date.now() }));
  };
  // The shard-led end, from the block streams (tracked since its submission, or since `first`).
  receipts.track(hash, first.shardId);
  const ended = () => {
    const s = receipts.statusOf(hash);
    if (s) watch.deliver(s);
  };
  const unlisten = receipts.listen(hash, ended);
  // Client-led: the end of the gateway's own coordination.
  const sessions = deps.sessions();
  const coordinated = () => {
    const s = sessions?.statusOf(hash);
    if (s) watch.deliver(s);
  };
  const unlistenSession = sessions?.listen(hash, coordinated) ?? (() => {});
  ended();
  coordinated();
  followApplication();
  try {
    while (!signal.aborted) {
      const ev = await watch.next(signal, deps.recheckMs);
      if (ev.kind === 'aborted') return;
      if (ev.kind === 'closed') throw shuttingDown();
      let s: TransactionStatus | undefined;
      if (ev.kind === 'status') s = ev.status;
      else {
        // Safety net: the streams and the re-reads on (re)connection should have told us.
        s = await locator.locate(hash, signal).then(
          (l) => l.status,
          (err: Error) => {
            if (!signal.aborted) log.debug({ err: err.message }, 'could not re-read the cross-shard status');
            return undefined;
          },
        );
      }
      if (s && advancesStatus(last, s)) {
        last = { ...s, txHash: hash, crossShard: true };
        if (TERMINAL_STATUSES.has(last.status)) last = await locator.withReceipt(last, first.shardId, signal);
        await send(last);
        if (over()) {
          log.debug({ status: TxStatus[last.status], reason: last.reason, applied: last.applied }, 'cross-shard transaction decided and applied');
          return;
        }
        followApplication();
      }
    }
  } finally {
    unlisten();
    unlistenSession();
    unlistenApplied?.();
    watch.close();
  }
}
