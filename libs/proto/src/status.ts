// The transaction statuses after which a status never changes, and the last status a watch sends (hand-written beside the generated contract).
import { TxStatus, type TransactionStatus } from './generated/shardlab/v1/types';

/**
 * Statuses after which a transaction's status never changes: FINAL (a local transaction in a
 * block, with its receipt), COMMITTED and ABORTED (a cross-shard decision), DROPPED (the home
 * shard gave it up). A cross-shard decision may still become `applied` (same status).
 */
export const TERMINAL_STATUSES: ReadonlySet<TxStatus> = new Set([
  TxStatus.TX_STATUS_FINAL,
  TxStatus.TX_STATUS_COMMITTED,
  TxStatus.TX_STATUS_ABORTED,
  TxStatus.TX_STATUS_DROPPED,
]);

/** The fields of a status that say whether it is over. */
export type StatusEnd = Pick<TransactionStatus, 'status' | 'applied' | 'involvedShards'>;

/**
 * Whether `s` is a cross-shard decision (COMMITTED or ABORTED) that names its involved shards and
 * is not `applied` by all of them yet: the same status with `applied` true is still to come.
 */
export function awaitsApplication(s: StatusEnd): boolean {
  return (s.status === TxStatus.TX_STATUS_COMMITTED || s.status === TxStatus.TX_STATUS_ABORTED) && !s.applied && s.involvedShards.length > 0;
}

/**
 * Whether `s` is the last status the gateway's WatchTransaction sends (the stream ends after it):
 * a terminal status, except a decision that {@link awaitsApplication}. A client that stops reading
 * there sees the outcome in every involved shard's state (a cross-shard decision whose involved
 * shards are unknown excepted: it is last as it is).
 */
export function isLastWatchStatus(s: StatusEnd): boolean {
  return TERMINAL_STATUSES.has(s.status) && !awaitsApplication(s);
}
