// The transaction statuses after which a status never changes (hand-written beside the generated contract).
import { TxStatus } from './generated/shardlab/v1/types';

/**
 * Statuses after which a transaction's status never changes: FINAL (a local transaction in a
 * block, with its receipt), COMMITTED and ABORTED (a cross-shard decision), DROPPED (the home
 * shard gave it up).
 */
export const TERMINAL_STATUSES: ReadonlySet<TxStatus> = new Set([
  TxStatus.TX_STATUS_FINAL,
  TxStatus.TX_STATUS_COMMITTED,
  TxStatus.TX_STATUS_ABORTED,
  TxStatus.TX_STATUS_DROPPED,
]);
