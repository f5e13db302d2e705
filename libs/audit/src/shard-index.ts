// Indexes the state shards' collected blocks and accounts for the checks, reporting what it cannot read.
import { Decision, ReasonCode, ReceiptKind, SystemTxKind, Vote, type StateShardBlock, type SystemTransaction, type TpcResult } from '@shardlab/proto';
import { finder, place, type Finding, type Found } from './findings';
import { GENESIS_TX_HASH, type ShardAuditInput, type SystemKindName } from './report';
import { mapOf, parseWeiOrUndefined, pushTo } from './util';

/** One write of a WRITE_SET, lower-case hex: a storage slot, or slot '' (the code: a deployment) or 'nonce' (the new nonce, a 32-byte word). */
export interface StorageWrite {
  slot: string;
  newValue: string;
}

/** One system transaction seen in a shard block (genesis-allocation credits aside). */
export interface SysOcc {
  /** The shard that recorded it. */
  shardId: number;
  /** The shard block's height. */
  height: number;
  /** The account it is for, lower-case. */
  address: string;
  /** Parsed amount in wei; undefined when absent or malformed (reported). */
  amount: bigint | undefined;
  /** WRITE_SET only: its writes (slot '' deploys code), lower-case. */
  writes?: StorageWrite[];
}

/** A receipt of a user transaction whose burn was counted (its block's base fee and its gas used are readable). */
export interface ReceiptSeen {
  shardId: number;
  height: number;
  gasUsed: number;
  /** Undefined when malformed. */
  effectiveGasPrice: bigint | undefined;
  /** `gasUsed × baseFeePerGas` of its block (EIP-1559 burn), in wei. */
  burnedWei: bigint;
}

/** A 2PC prepare vote seen in a shard block. */
export interface VoteSeen {
  height: number;
  yes: boolean;
}

/**
 * A client-led two-phase-commit decision a shard recorded in a block (`StateShardBlock.decisions`):
 * the coordinator's, or an abort by the shard's own lock timeout.
 */
export interface ShardDecisionSeen {
  /** The shard that recorded it. */
  shardId: number;
  /** Height of the shard block that recorded (and applied) it. */
  height: number;
  commit: boolean;
  /** The shards it names as involved (a lock-timeout abort names only its own shard). */
  involvedShards: number[];
  /**
   * Set for an abort by the shard's lock timeout (cause REASON_CODE_LOCK_TIMEOUT): the timeout in
   * blocks and the height of the prepare (the reason's amount and detail; undefined when malformed).
   */
  lockTimeout?: { blocks: number | undefined; preparedAt: number | undefined };
}

/** An account as listed by its shard (the first listing of its address). */
export interface AccountSeen {
  /** Its position in the shard's account list (where its findings are listed). */
  position: number;
  /** Lower-case address. */
  address: string;
  /** Balance in wei; undefined when malformed (reported). */
  balance: bigint | undefined;
  /** Locked wei; undefined when malformed (reported). */
  locked: bigint | undefined;
}

/** System transactions of one cross-shard transaction: shard → kind → occurrences, in block order. */
export type TxEffects = Map<number, Map<SystemKindName, SysOcc[]>>;

/** What the blocks say of one shard-led cross-shard receipt (by transaction hash). */
export interface CrossReceiptFacts {
  debits: SysOcc[];
  credits: SysOcc[];
  /** The receipt as listed in source blocks' outgoing receipts (amount parsed; undefined when malformed). */
  sent: { shardId: number; height: number; kind: ReceiptKind; destShard: number; from: string; to: string; value: bigint | undefined }[];
}

/** What the checks read of one state shard (its first listing in the input). */
export interface IndexedShard {
  shardId: number;
  /** Position of its listing in the input sorted by shard id (see `place`). */
  rank: number;
  /** Its blocks, as collected. */
  blocks: readonly StateShardBlock[];
  /** Accounts listed, duplicates included. */
  accountsListed: number;
  /** User transactions in its blocks. */
  userTxs: number;
  /** System transactions in its blocks by kind (genesis credits included under CREDIT). */
  kindCounts: Record<SystemKindName, number>;
  /** Σ genesis-allocation credits of block 0, in wei. */
  genesisWei: bigint;
  /** Its system transactions by kind, genesis-allocation credits and unknown kinds excluded. */
  effectsByKind: Map<SystemKindName, SysOcc[]>;
  /** Receipts whose burn is counted, in block order. */
  receipts: ReceiptSeen[];
  /** Its accounts, each address once, in listing order. */
  accounts: AccountSeen[];
}

/** The state shards, indexed. Lookups are by lower-case transaction hash. */
export interface ShardsIndex {
  /** Every shard once, by shard id. */
  shards: IndexedShard[];
  /** Transaction hash → its system transactions (shards in shard-id order). */
  effects: Map<string, TxEffects>;
  /** Transaction hash → shard → its votes. */
  votes: Map<string, Map<number, VoteSeen[]>>;
  /** Transaction hash → its receipts on every shard (a call's acceptance receipt is on its source). */
  receipts: Map<string, ReceiptSeen[]>;
  /** Shard-led: transaction hash → its RECEIPT_DEBITs and RECEIPT_CREDITs and its outgoing receipts. */
  crossReceipts: Map<string, CrossReceiptFacts>;
  /** Client-led: transaction hash → the decisions shards recorded for it, shards in shard-id order, each in block order. */
  shardDecisions: Map<string, ShardDecisionSeen[]>;
  /** What could not be read (duplicate listings, malformed amounts, missing receipts, …). */
  findings: Finding[];
}

const KIND_NAME: Record<number, SystemKindName> = {
  [SystemTxKind.SYSTEM_TX_KIND_LOCK]: 'LOCK',
  [SystemTxKind.SYSTEM_TX_KIND_DEBIT]: 'DEBIT',
  [SystemTxKind.SYSTEM_TX_KIND_CREDIT]: 'CREDIT',
  [SystemTxKind.SYSTEM_TX_KIND_WRITE_SET]: 'WRITE_SET',
  [SystemTxKind.SYSTEM_TX_KIND_UNLOCK]: 'UNLOCK',
  [SystemTxKind.SYSTEM_TX_KIND_ABORT]: 'ABORT',
  [SystemTxKind.SYSTEM_TX_KIND_RECEIPT_DEBIT]: 'RECEIPT_DEBIT',
  [SystemTxKind.SYSTEM_TX_KIND_RECEIPT_CREDIT]: 'RECEIPT_CREDIT',
};

/** The shard-led protocol's kinds: checked by the receipts check, not by atomicity. */
const RECEIPT_KINDS = new Set<SystemKindName>(['RECEIPT_DEBIT', 'RECEIPT_CREDIT']);

/** Kinds that carry an amount that must be present. */
const AMOUNT_KINDS = new Set<SystemKindName>(['LOCK', 'DEBIT', 'CREDIT', 'UNLOCK', 'RECEIPT_DEBIT', 'RECEIPT_CREDIT']);

function emptyKindCounts(): Record<SystemKindName, number> {
  return { LOCK: 0, DEBIT: 0, CREDIT: 0, WRITE_SET: 0, UNLOCK: 0, ABORT: 0, RECEIPT_DEBIT: 0, RECEIPT_CREDIT: 0, UNSPECIFIED: 0 };
}

/**
 * Indexes every shard's blocks and accounts (pure). Shards are taken in shard-id order; a shard
 * listed twice is indexed once (the later listing is reported). Hashes and addresses are
 * lower-cased; malformed amounts are reported and read as absent.
 */
export function indexShards(inputs: readonly ShardAuditInput[]): ShardsIndex {
  const index: ShardsIndex = { shards: [], effects: new Map(), votes: new Map(), receipts: new Map(), crossReceipts: new Map(), shardDecisions: new Map(), findings: [] };
  const seen = new Set<number>();
  [...inputs]
    .sort((a, b) => a.shardId - b.shardId)
    .forEach((sh, rank) => {
      if (seen.has(sh.shardId)) {
        index.findings.push({ place: place.shardListing(rank), text: `shard ${sh.shardId}: listed twice in the audit input; only the first listing is audited` });
        return;
      }
      seen.add(sh.shardId);
      const shard: IndexedShard = {
        shardId: sh.shardId,
        rank,
        blocks: sh.blocks,
        accountsListed: sh.accounts.length,
        userTxs: 0,
        kindCounts: emptyKindCounts(),
        genesisWei: 0n,
        effectsByKind: new Map(),
        receipts: [],
        accounts: [],
      };
      sh.blocks.forEach((b, i) => indexBlock(index, shard, b, finder(index.findings, place.shardBlock(rank, i, 'contents'))));
      shard.accounts = indexAccounts(sh, rank, index.findings);
      index.shards.push(shard);
    });
  return index;
}

/** Indexes one block's user transactions, receipts, system transactions, votes and client-led decisions. */
function indexBlock(index: ShardsIndex, shard: IndexedShard, b: StateShardBlock, found: Found): void {
  const s = shard.shardId;
  const userTxs = b.transactions.filter((t) => t.kind?.$case === 'user').length;
  shard.userTxs += userTxs;
  if (b.receipts.length !== userTxs) {
    found(`shard ${s}: block ${b.height} has ${userTxs} user transactions but ${b.receipts.length} receipts; its fees cannot be checked`);
  }
  indexReceipts(index, shard, b, found);
  for (const t of b.transactions) {
    if (t.kind?.$case === 'system') indexSystemTx(index, shard, b.height, t.kind.value, found);
  }
  for (const r of b.outgoingReceipts ?? []) {
    receiptFacts(index, r.txHash.toLowerCase()).sent.push({
      shardId: s,
      height: b.height,
      kind: r.kind ?? ReceiptKind.RECEIPT_KIND_TRANSFER,
      destShard: r.destShard,
      from: r.from.toLowerCase(),
      to: r.to.toLowerCase(),
      value: parseWeiOrUndefined(r.value, false),
    });
  }
  for (const v of b.tpcPrepare) {
    pushTo(mapOf(index.votes, v.txHash.toLowerCase()), s, { height: b.height, yes: v.vote === Vote.VOTE_YES });
  }
  for (const d of b.decisions ?? []) indexShardDecision(index, s, b.height, d, found);
}

/** Indexes one client-led decision recorded in shard `s`'s block at `height`; one that is neither commit nor abort is reported. */
function indexShardDecision(index: ShardsIndex, s: number, height: number, d: TpcResult, found: Found): void {
  const h = d.txHash.toLowerCase();
  if (d.decision !== Decision.DECISION_COMMIT && d.decision !== Decision.DECISION_ABORT) {
    found(`tx ${h}: shard ${s} block ${height} records a decision that is neither commit nor abort (${d.decision})`);
    return;
  }
  const seen: ShardDecisionSeen = { shardId: s, height, commit: d.decision === Decision.DECISION_COMMIT, involvedShards: d.involvedShards.map(Number) };
  if (!seen.commit && d.cause?.code === ReasonCode.REASON_CODE_LOCK_TIMEOUT) {
    const int = (x: string) => (/^\d+$/.test(x) && Number.isSafeInteger(Number(x)) ? Number(x) : undefined);
    seen.lockTimeout = { blocks: int(d.cause.amount), preparedAt: int(d.cause.detail) };
  }
  pushTo(index.shardDecisions, h, seen);
}

/** Indexes a block's receipts with their burn; none when the block's base fee is malformed. */
function indexReceipts(index: ShardsIndex, shard: IndexedShard, b: StateShardBlock, found: Found): void {
  if (b.receipts.length === 0) return;
  const s = shard.shardId;
  const baseFee = parseWeiOrUndefined(b.baseFeePerGas, false);
  if (baseFee === undefined) {
    found(`shard ${s}: block ${b.height} has receipts but a malformed base fee ${JSON.stringify(b.baseFeePerGas)}; its burn is not counted`);
    return;
  }
  for (const r of b.receipts) {
    if (!Number.isSafeInteger(r.gasUsed) || r.gasUsed < 0) {
      found(`shard ${s}: block ${b.height}: receipt of tx ${r.txHash} has gas used ${r.gasUsed}`);
      continue;
    }
    const seen: ReceiptSeen = {
      shardId: s,
      height: b.height,
      gasUsed: r.gasUsed,
      effectiveGasPrice: parseWeiOrUndefined(r.effectiveGasPrice, false),
      burnedWei: BigInt(r.gasUsed) * baseFee,
    };
    shard.receipts.push(seen);
    pushTo(index.receipts, r.txHash.toLowerCase(), seen);
  }
}

/**
 * Indexes one system transaction: counts its kind, adds a genesis-allocation credit (a CREDIT
 * with {@link GENESIS_TX_HASH} in block 0) to the shard's genesis, files anything else under its
 * transaction hash. Unknown kinds, malformed amounts and misplaced genesis hashes are reported.
 */
function indexSystemTx(index: ShardsIndex, shard: IndexedShard, height: number, sys: SystemTransaction, found: Found): void {
  const s = shard.shardId;
  const kind = KIND_NAME[sys.kind] ?? 'UNSPECIFIED';
  shard.kindCounts[kind]++;
  const txHash = sys.txHash.toLowerCase();
  const where = `shard ${s}: block ${height}`;
  if (kind === 'UNSPECIFIED') {
    found(`${where}: system transaction of unknown kind ${sys.kind} for tx ${txHash || '(none)'}`);
    return;
  }
  const amount = parseWeiOrUndefined(sys.amount, !AMOUNT_KINDS.has(kind));
  if (amount === undefined && AMOUNT_KINDS.has(kind)) {
    found(`${where}: ${kind} for tx ${txHash} has a malformed amount ${JSON.stringify(sys.amount)}`);
  }
  if (txHash === GENESIS_TX_HASH) {
    if (kind === 'CREDIT' && height === 0) {
      shard.genesisWei += amount ?? 0n;
      return;
    }
    found(`${where}: ${kind} with the genesis transaction hash outside the genesis allocation (only CREDITs in block 0 may carry it)`);
  }
  if (!txHash) found(`${where}: ${kind} without a transaction hash`);
  const occ: SysOcc = {
    shardId: s,
    height,
    address: sys.address.toLowerCase(),
    amount,
    ...(kind === 'WRITE_SET' ? { writes: sys.writes.map((w) => ({ slot: w.slot.toLowerCase(), newValue: w.newValue.toLowerCase() })) } : {}),
  };
  pushTo(shard.effectsByKind, kind, occ);
  if (RECEIPT_KINDS.has(kind)) {
    const f = receiptFacts(index, txHash);
    (kind === 'RECEIPT_DEBIT' ? f.debits : f.credits).push(occ);
    return;
  }
  pushTo(mapOf(mapOf(index.effects, txHash), s), kind, occ);
}

/** The receipt facts of `txHash`, created on first use. */
function receiptFacts(index: ShardsIndex, txHash: string): CrossReceiptFacts {
  let f = index.crossReceipts.get(txHash);
  if (!f) index.crossReceipts.set(txHash, (f = { debits: [], credits: [], sent: [] }));
  return f;
}

/** Reads a shard's accounts: each address once, balances and locked amounts parsed. */
function indexAccounts(sh: ShardAuditInput, rank: number, findings: Finding[]): AccountSeen[] {
  const s = sh.shardId;
  const accounts: AccountSeen[] = [];
  const seen = new Set<string>();
  sh.accounts.forEach((a, position) => {
    const found = finder(findings, place.account(rank, position, 'listing'));
    const address = a.address.toLowerCase();
    if (seen.has(address)) {
      found(`shard ${s}: account ${address} listed twice; counted once`);
      return;
    }
    seen.add(address);
    if (a.shardId !== s) found(`shard ${s}: account ${address} is reported as held by shard ${a.shardId}`);
    const balance = parseWeiOrUndefined(a.balance, true);
    const locked = parseWeiOrUndefined(a.locked, true);
    if (balance === undefined) found(`shard ${s}: account ${address} has a malformed balance ${JSON.stringify(a.balance)}`);
    if (locked === undefined) found(`shard ${s}: account ${address} has a malformed locked amount ${JSON.stringify(a.locked)}`);
    accounts.push({ position, address, balance, locked });
  });
  return accounts;
}
