// Typed reasons (proto `Reason`): constructors for each code, the human message derived from one, and the key reports group by.
import { ReasonCode, type Reason } from './generated/shardlab/v1/types';

/** A reason with only the fields its code uses (the rest default to empty). */
export type ReasonInit = Partial<Reason> & { code: ReasonCode };

/** A complete {@link Reason} from the fields its code uses. */
export function makeReason(init: ReasonInit): Reason {
  return { address: '', field: '', slot: '', transaction: '', shards: [], amount: '', detail: '', ...init };
}

/**
 * Constructors of the reasons ShardLab gives, one per situation. Each returns a {@link Reason};
 * its text is {@link reasonMessage}.
 */
export const reasons = {
  /** The simulator gave no RwSet: `cause` its typed reason, else `detail` its error text (the text is not kept twice). */
  simulationFailed: (detail: string, cause?: Reason) => makeReason({ code: ReasonCode.REASON_CODE_SIMULATION_FAILED, detail, ...(cause ? { cause } : {}) }),
  /** A prepare found `address` locked by another transaction `holder`. */
  lockedBy: (address: string, holder: string) => makeReason({ code: ReasonCode.REASON_CODE_STATE_LOCKED, address, transaction: holder }),
  /** A local transaction writes `address`, locked by a cross-shard transaction. */
  writesLocked: (address: string) => makeReason({ code: ReasonCode.REASON_CODE_STATE_LOCKED, address, field: 'write' }),
  /** A simulation gave up on locked state; `holder` when known, `detail` the last conflict's message. */
  simulationLocked: (holder: string | undefined, detail: string) => makeReason({ code: ReasonCode.REASON_CODE_STATE_LOCKED, ...(holder ? { transaction: holder } : {}), field: 'simulation', detail }),
  /** A value read by the simulation changed: `field` is balance, nonce, code hash or slot (with `slot`). */
  readSetChanged: (address: string, field: 'balance' | 'nonce' | 'code hash' | 'slot', slot = '') => makeReason({ code: ReasonCode.REASON_CODE_READ_SET_CHANGED, address, field, slot }),
  /** The transaction's simulation lock on `address` expired. */
  simulationLockExpired: (address: string, txHash: string) => makeReason({ code: ReasonCode.REASON_CODE_SIMULATION_LOCK_EXPIRED, address, transaction: txHash }),
  /** The transaction holds no simulation lock on `address`. */
  simulationLockNotHeld: (address: string, txHash: string) => makeReason({ code: ReasonCode.REASON_CODE_SIMULATION_LOCK_NOT_HELD, address, transaction: txHash }),
  /** `shards` did not vote within `blocks` orchestrator blocks. */
  voteTimeout: (shards: number[], blocks: number) => makeReason({ code: ReasonCode.REASON_CODE_VOTE_TIMEOUT, shards, amount: String(blocks) }),
  /** `shard` voted NO: `cause` its typed reason, else `detail` the vote's text (the text is not kept twice). */
  shardVotedNo: (shard: number, cause: Reason | undefined, detail: string) => makeReason({ code: ReasonCode.REASON_CODE_SHARD_VOTED_NO, shards: [shard], detail, ...(cause ? { cause } : {}) }),
  /** The sender cannot pay; `detail` says what was available. */
  insufficientFunds: (detail: string) => makeReason({ code: ReasonCode.REASON_CODE_INSUFFICIENT_FUNDS, detail }),
  /** The nonce does not fit the sender's next one (too high: waiting; too low: replayed). */
  nonceMismatch: (detail: string) => makeReason({ code: ReasonCode.REASON_CODE_NONCE_MISMATCH, detail }),
  /** The block gas limit was reached (no detail), or the gas used exceeds the limit (`detail`). */
  gasLimit: (detail = '') => makeReason({ code: ReasonCode.REASON_CODE_GAS_LIMIT, detail }),
  /** `address` (e.g. the recipient: `role`) is not placed on `shard`. */
  wrongShard: (address: string, shard: number, role = '') => makeReason({ code: ReasonCode.REASON_CODE_WRONG_SHARD, address, shards: [shard], field: role }),
  /** The recipient `address` is a contract (`role` recipient) or a local call writes `address` on another shard (`role` write). */
  needsSimulation: (address: string, role: 'recipient' | 'write') => makeReason({ code: ReasonCode.REASON_CODE_NEEDS_SIMULATION, address, field: role }),
  /** A proof of `address` does not verify (`detail`: what is wrong, may be empty). */
  invalidProof: (address: string, detail = '') => makeReason({ code: ReasonCode.REASON_CODE_INVALID_PROOF, address, detail }),
  /** The RwSet cannot be ordered or represented. */
  invalidRwSet: (detail: string) => makeReason({ code: ReasonCode.REASON_CODE_INVALID_RW_SET, detail }),
  /** The transaction is malformed or refused before execution (`detail`: the full message). */
  invalidTransaction: (detail: string) => makeReason({ code: ReasonCode.REASON_CODE_INVALID_TRANSACTION, detail }),
  /** The source accepted the transaction without locking its value. */
  notLocked: () => makeReason({ code: ReasonCode.REASON_CODE_NOT_LOCKED }),
  /** The call reverted or raised an EVM exception (`detail`: the full message). */
  reverted: (detail: string) => makeReason({ code: ReasonCode.REASON_CODE_REVERTED, detail }),
  /** The shard cannot prepare this transaction. */
  notPreparable: (detail: string) => makeReason({ code: ReasonCode.REASON_CODE_NOT_PREPARABLE, detail }),
  /** The orchestrator could not take a forward. */
  forwardFailed: (detail: string) => makeReason({ code: ReasonCode.REASON_CODE_FORWARD_FAILED, detail }),
  /** Client-led: no decision reached the shard within `blocks` blocks of the prepare recorded at `preparedAt`. */
  lockTimeout: (blocks: number, preparedAt: number) => makeReason({ code: ReasonCode.REASON_CODE_LOCK_TIMEOUT, amount: String(blocks), detail: String(preparedAt) }),
  /** Client-led: the coordinator aborted for a reason other than a vote (`detail`: why). */
  coordinatorAborted: (detail: string) => makeReason({ code: ReasonCode.REASON_CODE_COORDINATOR_ABORTED, detail }),
  /** Anything without a code of its own (`detail`: the message). */
  other: (detail: string) => makeReason({ code: ReasonCode.REASON_CODE_OTHER, detail }),
};

/**
 * The human message of a reason, derived from its code and fields (the `reason` strings on the
 * wire are this text). Codes whose situation has free text (EVM reverts, nested error messages)
 * use `detail`.
 */
export function reasonMessage(r: Reason): string {
  switch (r.code) {
    case ReasonCode.REASON_CODE_SIMULATION_FAILED:
      return `simulation failed: ${r.detail || (r.cause ? reasonMessage(r.cause) : '')}`;
    case ReasonCode.REASON_CODE_STATE_LOCKED:
      if (r.field === 'write') return `writes ${r.address}, locked by a cross-shard transaction`;
      if (r.field === 'simulation') return r.transaction ? `state locked by another transaction (${r.transaction})` : `state kept changing while simulating: ${r.detail}`;
      return `conflict: ${r.address} is locked by ${r.transaction}`;
    case ReasonCode.REASON_CODE_READ_SET_CHANGED:
      return `read set changed: ${r.address} ${r.field === 'slot' ? `slot ${r.slot}` : r.field}`;
    case ReasonCode.REASON_CODE_SIMULATION_LOCK_EXPIRED:
      return `simulation lock expired: ${r.address} (locked for ${r.transaction})`;
    case ReasonCode.REASON_CODE_SIMULATION_LOCK_NOT_HELD:
      return `simulation lock not held: ${r.address} is not locked for ${r.transaction}`;
    case ReasonCode.REASON_CODE_VOTE_TIMEOUT:
      return `vote timeout: shard${r.shards.length > 1 ? 's' : ''} ${r.shards.join(', ')} did not vote within ${r.amount} orchestrator blocks`;
    case ReasonCode.REASON_CODE_SHARD_VOTED_NO:
      return `shard ${r.shards[0] ?? '?'} voted NO: ${r.detail || (r.cause ? reasonMessage(r.cause) : '') || 'no reason given'}`;
    case ReasonCode.REASON_CODE_GAS_LIMIT:
      return r.detail || 'block gas limit reached';
    case ReasonCode.REASON_CODE_WRONG_SHARD:
      return `${r.field ? `${r.field} ` : ''}${r.address} is not placed on shard ${r.shards[0] ?? '?'}`;
    case ReasonCode.REASON_CODE_NEEDS_SIMULATION:
      return r.field === 'write'
        ? `writes account ${r.address}, placed on another shard: cross-shard contract calls need the simulator`
        : `recipient ${r.address} is a contract: cross-shard contract calls need the simulator`;
    case ReasonCode.REASON_CODE_INVALID_PROOF:
      return `invalid proof for ${r.address}${r.detail ? `: ${r.detail}` : ''}`;
    case ReasonCode.REASON_CODE_NOT_LOCKED:
      return 'not locked';
    case ReasonCode.REASON_CODE_LOCK_TIMEOUT:
      return `lock timeout: no decision from the coordinator within ${r.amount} blocks of the prepare (block ${r.detail})`;
    case ReasonCode.REASON_CODE_COORDINATOR_ABORTED:
      return `aborted by the coordinator: ${r.detail}`;
    default:
      return r.detail;
  }
}

/** The short name of a code: `REASON_CODE_READ_SET_CHANGED` → `read-set-changed`. */
export function reasonCodeName(code: ReasonCode): string {
  const name = ReasonCode[code] as string | undefined;
  return (name ?? `code-${code}`).replace(/^REASON_CODE_/, '').toLowerCase().replace(/_/g, '-');
}

/**
 * The key a report groups a reason under: its code, followed by the codes of its causes
 * (`shard-voted-no/read-set-changed`, `simulation-failed/state-locked`), so that one cause groups
 * together whatever the hashes, addresses and amounts in the text.
 */
export function reasonKey(r: Reason): string {
  return r.cause ? `${reasonCodeName(r.code)}/${reasonKey(r.cause)}` : reasonCodeName(r.code);
}

/** A reason together with its derived text, as the wire carries it (`reason` + `cause` fields). */
export function withReason(r: Reason): { reason: string; cause: Reason } {
  return { reason: reasonMessage(r), cause: r };
}
