// The audit's input (what is read of the network) and its report (what is found), as public types.
import type { Account, OrchestratorBlock, StateShardBlock } from '@shardlab/proto';

/** The transaction hash of genesis-allocation credits: 32 zero bytes. */
export const GENESIS_TX_HASH = '0x' + '0'.repeat(64);

/** What the audit reads of one state shard. */
export interface ShardAuditInput {
  /** The shard's id. */
  shardId: number;
  /** Every block of the shard, heights 0..head, in order (block 0 is the genesis block). */
  blocks: StateShardBlock[];
  /** Every account the shard holds at its head (the state after `blocks`' last block). */
  accounts: Account[];
}

/** Everything the audit reads: every state shard and the orchestrator's blocks. */
export interface AuditInput {
  /** One entry per state shard of the network. */
  shards: ShardAuditInput[];
  /**
   * The orchestrator's blocks in height order (from its first block to its head); empty when there
   * is no orchestrator, in which case every cross-shard system transaction is unexplained.
   */
  orchestratorBlocks: OrchestratorBlock[];
  /** Remarks of whoever collected the input (e.g. "no orchestrator is registered"), passed to the report. */
  notes?: string[];
  /**
   * The shards' cross-shard protocol, when whoever collected the input knows it (`block-2pc`,
   * `shard-led`, `client-led`). Under `client-led`, every cross-shard transaction the orchestrator
   * neither ordered nor decided is audited as client-led, even before a shard recorded a decision.
   * When absent, the network is taken as client-led as soon as a shard block records a decision
   * (`StateShardBlock.decisions`).
   */
  protocol?: string;
  /**
   * Client-led: the shards' lock timeout, in blocks after the YES vote. With it, a shard that voted
   * YES and recorded no decision more than this many blocks later is a violation (its lock timeout
   * should have aborted the transaction); without it, the largest timeout recorded by a
   * lock-timeout abort of a YES vote in the blocks is used, and when there is none such a vote is
   * in flight. A shard restarted since the vote counts its timeout again from the restart, which
   * no block shows: audit a network that has been idle for a whole timeout since its last restart.
   */
  lockTimeoutBlocks?: number;
}

/** Names of system transaction kinds, as reported (the `SYSTEM_TX_KIND_` prefix dropped). */
export type SystemKindName = 'LOCK' | 'DEBIT' | 'CREDIT' | 'WRITE_SET' | 'UNLOCK' | 'ABORT' | 'RECEIPT_DEBIT' | 'RECEIPT_CREDIT' | 'UNSPECIFIED';

/** The kinds counted per shard, in report order. */
export const SYSTEM_KIND_NAMES: readonly SystemKindName[] = ['LOCK', 'DEBIT', 'CREDIT', 'WRITE_SET', 'UNLOCK', 'ABORT', 'RECEIPT_DEBIT', 'RECEIPT_CREDIT', 'UNSPECIFIED'];

/** Conservation of ether over all shards. All amounts in wei. */
export interface ConservationReport {
  /** Σ genesis-allocation credits (block 0 of every shard, tx hash {@link GENESIS_TX_HASH}). */
  genesisWei: bigint;
  /** Σ over every receipt of `gasUsed × baseFeePerGas` of its block (EIP-1559 burn). */
  burnedWei: bigint;
  /** `genesisWei − burnedWei`: what the balances must total when nothing is in transit. */
  expectedWei: bigint;
  /** Σ of every account balance over all shards (coinbase accounts included). */
  actualWei: bigint;
  /**
   * Value of committed cross-shard transactions that left the source (DEBIT) but has not reached
   * the destination yet (no CREDIT, and the destination has not processed the decision), minus
   * value credited whose source has not debited yet.
   */
  inTransitWei: bigint;
  /** `actualWei + inTransitWei − expectedWei`; zero when conservation holds. */
  differenceWei: bigint;
  /** True when the difference is zero and every shard's balances match its own blocks. */
  ok: boolean;
}

/** Where a cross-shard transaction stands. */
export type TxState = 'settled' | 'in-flight' | 'violated';

/** The audit of one cross-shard transaction. Amounts in wei. */
export interface TxAudit {
  /** The transaction's Ethereum hash. */
  txHash: string;
  /**
   * The orchestrator's decision (client-led: the coordinator's as the shards recorded it, else a
   * shard's lock-timeout abort); `none` while undecided (or when the orchestrator never saw it).
   */
  decision: 'commit' | 'abort' | 'none';
  /**
   * Set for a client-led transaction (decided in shard blocks, `StateShardBlock.decisions`, with no
   * orchestrator round): `orderedAt` is then undefined and `decidedAt` a shard block height.
   */
  clientLed?: boolean;
  /** Sender's (home) shard, which locks and debits; undefined when it cannot be told. */
  sourceShard: number | undefined;
  /** Every shard that had to vote. */
  involvedShards: number[];
  /** The transaction's value, when the orchestrator ordered it. */
  valueWei: bigint | undefined;
  /** Orchestrator height of its `ct_to_order` entry. */
  orderedAt: number | undefined;
  /** Orchestrator height of its (first) `tpc_result` entry; client-led: height of the block of the first shard that recorded the decision. */
  decidedAt: number | undefined;
  /** `violated` when any problem was found, else `in-flight` while something is pending, else `settled`. */
  state: TxState;
  /** What still has to happen (in flight), e.g. "CREDIT on shard 1". */
  pending: string[];
  /** Violations found for this transaction (also in {@link AuditReport.problems}). */
  problems: string[];
}

/** A cross-shard transaction not settled yet. */
export interface InFlightTx {
  /** The transaction's Ethereum hash. */
  txHash: string;
  /**
   * `awaiting-order` (locked by its home shard, not yet in an orchestrator block), `awaiting-decision`
   * (ordered, undecided; client-led: prepared, no shard recorded a decision yet), `committing` or
   * `aborting` (decided, not applied — client-led: not recorded — on every shard yet).
   */
  stage: 'awaiting-order' | 'awaiting-decision' | 'committing' | 'aborting';
  /** Human-readable: what is still to happen. */
  detail: string;
}

/** Atomicity of cross-shard transactions. */
export interface AtomicityReport {
  /** Transactions the orchestrator committed. */
  committed: number;
  /** Transactions the orchestrator aborted. */
  aborted: number;
  /** Transactions not settled yet (undecided, or decided but not applied on every shard). */
  inFlight: number;
  /** The transactions in flight, with what is pending. */
  inFlightTxs: InFlightTx[];
  /** Every cross-shard transaction seen in orchestrator or shard blocks, in orchestrator order. */
  transactions: TxAudit[];
  /** True when no transaction is violated and none is in flight. */
  ok: boolean;
}

/** A LOCK neither debited nor unlocked on its source shard. */
export interface OpenLock {
  /** The cross-shard transaction that took the lock. */
  txHash: string;
  /** The shard that recorded the LOCK (the transaction's source shard). */
  shardId: number;
  /** Shard block height of the LOCK. */
  height: number;
  /** The locked account (the sender). */
  address: string;
  /** The amount locked, in wei. */
  amountWei: bigint;
}

/** Locks left on the shards. */
export interface LocksReport {
  /** Σ `Account.locked` over all shards, in wei. */
  lockedWei: bigint;
  /** Accounts whose `locked` is not zero. */
  accountsWithLocks: string[];
  /** LOCKs with neither a DEBIT nor an UNLOCK on the same shard. */
  openLocks: OpenLock[];
  /** True when nothing is locked and no LOCK is open. */
  ok: boolean;
}

/** Per-shard figures. Amounts in wei. */
export interface ShardSummary {
  /** The shard's id. */
  shardId: number;
  /** Number of blocks read (head + 1 when complete). */
  blocks: number;
  /** Height of the last block read; -1 without blocks. */
  headHeight: number;
  /** Highest orchestrator height the shard recorded (`StateShardBlock.orchestratorHeight`). */
  orchestratorHeight: number;
  /** User transactions in its blocks. */
  userTxs: number;
  /** System transactions in its blocks by kind (genesis credits included under CREDIT). */
  systemTxs: Record<SystemKindName, number>;
  /** Accounts listed. */
  accounts: number;
  /** Genesis allocation credited in block 0. */
  genesisWei: bigint;
  /** Burned by this shard's receipts. */
  burnedWei: bigint;
  /** Σ CREDIT and RECEIPT_CREDIT amounts of cross-shard transactions (genesis credits excluded). */
  creditedWei: bigint;
  /** Σ DEBIT and RECEIPT_DEBIT amounts. */
  debitedWei: bigint;
  /** `genesis − burned + credited − debited`: what this shard's balances must total. */
  expectedWei: bigint;
  /** Σ balances of its accounts. */
  actualWei: bigint;
  /** Σ `locked` of its accounts. */
  lockedWei: bigint;
  /** True when `actualWei === expectedWei`. */
  balanced: boolean;
}

/** Cross-shard receipts of the shard-led protocol (docs/ARCHITECTURE.md §5.8). */
export interface ReceiptsReport {
  /** Receipts listed in source blocks, each (transaction, kind) once: a transfer sends one, a call two (CALL, CALL_RESULT). */
  sent: number;
  /** Of those, the receipts credited by their destination (RECEIPT_CREDIT). */
  credited: number;
  /** Receipts sent and not credited yet: in flight. */
  inFlight: number;
  /** Σ value of the receipts in flight, in wei. */
  inFlightWei: bigint;
  /** True when every receipt was credited exactly once, as sent, and none is in flight. */
  ok: boolean;
}

/** Client-led two-phase commit: what the shards' decision records (`StateShardBlock.decisions`) contained. */
export interface ClientLedSummary {
  /** Cross-shard transactions audited as client-led. */
  transactions: number;
  /** Decisions recorded in shard blocks (one per shard that applied a decision). */
  decisions: number;
  /** Of those, aborts by a shard's lock timeout. */
  lockTimeouts: number;
  /** The lock timeout the audit used, in blocks (see {@link AuditInput.lockTimeoutBlocks}); null when unknown. */
  lockTimeoutBlocks: number | null;
}

/** What the orchestrator's blocks contained. */
export interface OrchestratorSummary {
  /** Orchestrator blocks read. */
  blocks: number;
  /** Height of the last one; -1 without blocks. */
  headHeight: number;
  /** `ct_to_order` entries. */
  ordered: number;
  /** `tpc_result` entries. */
  decided: number;
}

/** A value of the report with every bigint turned into a decimal string (JSON-friendly). */
export type Jsonified<T> = T extends bigint
  ? string
  : T extends (infer U)[]
    ? Jsonified<U>[]
    : T extends object
      ? { [K in keyof T as K extends 'toJSON' ? never : K]: Jsonified<T[K]> }
      : T;

/** The result of {@link auditNetwork}. Amounts are bigint wei; `toJSON` gives decimal strings. */
export interface AuditReport {
  /** True when conservation, atomicity and locks all hold and nothing is in flight. */
  ok: boolean;
  /** Every violation found, each naming the transaction hash and/or shard. */
  problems: string[];
  /** Remarks passed from the input (how it was collected). */
  notes: string[];
  /** Conservation of ether (docs/ARCHITECTURE.md §5.1). */
  conservation: ConservationReport;
  /** Atomicity of cross-shard transactions (section 5.2). */
  atomicity: AtomicityReport;
  /** Locks left on the shards (section 5.3). */
  locks: LocksReport;
  /** Cross-shard receipts of the shard-led protocol (section 5.8). */
  receipts: ReceiptsReport;
  /** Per-shard figures, by shard id. */
  shards: ShardSummary[];
  /** What the orchestrator's blocks contained. */
  orchestrator: OrchestratorSummary;
  /** What the shards' client-led decision records contained. */
  clientLed: ClientLedSummary;
  /** The report with every wei amount as a decimal string (used by `JSON.stringify`). */
  toJSON(): Jsonified<AuditReport>;
}
