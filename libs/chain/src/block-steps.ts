// What a block executes and what comes out: system operations, block steps (transactions, acceptances, system steps), outcomes.
import { reasonMessage, type Reason } from '@shardlab/proto';
import type { DecodedTx } from './tx';

/**
 * A commit-protocol operation recorded as a system transaction (docs/ARCHITECTURE.md §2). Amounts in
 * wei. `credit`, `debit`, `receipt-debit`, `receipt-credit` and `write-set` change EVM state
 * (balances; storage, code and nonce); `lock`, `unlock` and `abort` are protocol records. The
 * receipt kinds are the shard-led protocol's: the source debits the value with an outgoing
 * receipt, the destination credits the verified receipt (docs/ARCHITECTURE.md §3, shard-led commit).
 */
export interface SystemOp {
  kind: 'lock' | 'unlock' | 'debit' | 'credit' | 'abort' | 'write-set' | 'receipt-debit' | 'receipt-credit';
  /** The cross-shard transaction it serves. */
  txHash: string;
  address: string;
  amount: bigint;
  /**
   * `write-set` only: what a committed cross-shard contract call writes to the account, applied in
   * order: first an entry with an empty `slot` if the call created the contract (deploys
   * `newValue` as its code; its nonce becomes 1), then an entry with slot {@link NONCE_SLOT} if the
   * call changed its nonce (sets it to `newValue`, see {@link nonceWrite}), then the storage
   * writes (32-byte 0x hex slots and values; the new value is written).
   */
  writes?: WriteSetEntry[];
}

/** One write of a `write-set` {@link SystemOp}. */
export interface WriteSetEntry {
  slot: string;
  oldValue: string;
  newValue: string;
}

/**
 * The `slot` of a write-set entry that sets the account's nonce (the RwSet's `new_nonce`: a
 * contract that ran CREATE/CREATE2, or one created with nonce 1, EIP-161). Not a storage key:
 * those are 32-byte hex.
 */
export const NONCE_SLOT = 'nonce';

/** The write-set entry that moves an account's nonce from `before` to `after`; values are 32-byte 0x hex words. */
export function nonceWrite(before: bigint, after: bigint): WriteSetEntry {
  const word = (n: bigint) => '0x' + n.toString(16).padStart(64, '0');
  return { slot: NONCE_SLOT, oldValue: word(before), newValue: word(after) };
}

/**
 * A step of a block: a local user transaction, a cross-shard acceptance on the source shard
 * (`lock`: also lock the value, unless the transaction was already aborted), or a system operation.
 */
export type BlockStep = DecodedTx | AcceptStep | ReceiptCallStep | { kind: 'system'; op: SystemOp };

/**
 * Shard-led: a contract call arriving as a call receipt on the contract's shard
 * (docs/ARCHITECTURE.md §3, shard-led commit). The executor credits `prepaid` (wei: value + gas limit × fee cap,
 * debited on the sender's shard) to the sender's account here, runs the transaction (nonce not
 * checked: it was consumed on the sender's shard), takes back whatever the sender's account then
 * holds beyond what it held before (unused gas, the value on a revert, ether sent to it) and
 * restores that account; `result` is filled in. A call that reads or writes an account placed on
 * another shard (the sender's aside) is undone entirely and everything prepaid goes back.
 */
export interface ReceiptCallStep {
  kind: 'receipt-call';
  tx: DecodedTx;
  prepaid: bigint;
  /** Set by the executor: the call's outcome and what returns to the sender (wei); `deferred` when it waits for a lock. */
  result?: { success: boolean; gasUsed: bigint; error?: string; returned: bigint; deferred?: boolean };
}

/**
 * A cross-shard acceptance on the source shard. For a cross-shard contract call (accepted from
 * its ordered copy, with the simulator's RwSet) `gasUsed` is the simulated gas (charged at the
 * effective gas price instead of the intrinsic gas), `lockAmount` the sender's outgoing amount
 * (instead of the value), `logs` the simulated logs of the receipt; `refuse` rejects it (the
 * ReadSet of this shard is invalid) without changing state.
 */
export interface AcceptStep {
  kind: 'accept';
  tx: DecodedTx;
  lock: boolean;
  gasUsed?: bigint;
  lockAmount?: bigint;
  logs?: { address: string; topics: string[]; data: Uint8Array }[];
  refuse?: Reason;
  /**
   * Shard-led transfer: once accepted, the value is debited at once (a `receipt-debit` system
   * outcome follows) instead of locked; `lock` is then ignored.
   */
  debit?: boolean;
}

/** The outcome of one step of a block. */
export type StepOutcome = TxOutcome | { kind: 'system'; op: SystemOp };

/** The outcome of one transaction in a block. */
export type TxOutcome =
  | {
      kind: 'executed';
      tx: DecodedTx;
      /** True for a cross-shard transaction accepted on its source shard (nonce and fee only). */
      crossShard?: boolean;
      /** False when the EVM reverted or ran out of gas (fees are still charged). */
      success: boolean;
      gasUsed: bigint;
      cumulativeGasUsed: bigint;
      /** Wei per gas actually paid (base fee + effective tip). */
      effectiveGasPrice: bigint;
      contractAddress?: string;
      logs: { address: string; topics: string[]; data: Uint8Array }[];
      error?: string;
    }
  | {
      /** The transaction could not be executed at all (e.g. its nonce no longer matches); no state changed. */
      kind: 'rejected';
      tx: DecodedTx;
      /** Why, as text (derived from `cause`). */
      reason: string;
      /** Why, as data. */
      cause: Reason;
      crossShard?: boolean;
      /** Not refused: it did not fit in this block and waits for the next one. */
      deferred?: boolean;
    };

/** A rejected outcome of `tx` for `cause` (its text derived), with `extra` flags. */
export function rejected(tx: DecodedTx, cause: Reason, extra: { crossShard?: boolean; deferred?: boolean } = {}): TxOutcome {
  return { kind: 'rejected', tx, reason: reasonMessage(cause), cause, ...extra };
}

/** Result of executing a block's transactions. */
export interface BlockExecution {
  stateRoot: Uint8Array;
  gasUsed: bigint;
  outcomes: StepOutcome[];
  /** Addresses whose account was written in the block (lowercase hex, sorted). */
  touched: string[];
}
