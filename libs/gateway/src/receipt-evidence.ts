// Shard-led evidence of cross-shard transactions in shard blocks (pure): what a block shows of each transaction's receipts, and the COMMITTED status that evidence ends in
import { ReceiptKind, SystemTxKind, TxStatus, type Receipt, type StateShardBlock, type TransactionStatus } from '@shardlab/proto';

/** A block of a shard, where something about a transaction was seen. */
export interface BlockRef {
  shardId: number;
  height: number;
  /** The block's hash (0x hex). */
  hash: string;
  /** The block's timestamp, in milliseconds since the Unix epoch. */
  timestampMs: number;
}

/**
 * The outcome of a shard-led call as its contract's shard sent it back (a CALL_RESULT receipt in
 * that shard's `outgoing_receipts`).
 */
export interface CallResult extends BlockRef {
  success: boolean;
  /** Gas the call used on the contract's shard. */
  gasUsed: number;
  /** Why it failed (EVM error, revert, or why it did not run); empty on success. */
  error: string;
  /**
   * The contract shard's receipt of the executed call (gas used, logs, error), from the same
   * block; absent when the call did not run there (refused by the EVM, reaching a third shard,
   * undecodable), everything prepaid then going back.
   */
  receipt?: Receipt;
}

/** What one block shows of one transaction. */
export interface BlockFacts {
  /** The block holds the transaction itself, with its sender and recipient and its receipt there. */
  included?: BlockRef & { from: string; to: string; receipt?: Receipt };
  /**
   * The block credits the transaction's receipt (a RECEIPT_CREDIT system transaction) and this
   * credit ends it: the destination of a transfer, or the sender's shard crediting a call's result.
   * A contract shard's credit of a call's prepaid amount, in the block that lists the call's
   * CALL_RESULT, is not one (that block's `callResult` says what it is).
   */
  credit?: BlockRef;
  /** The block sends the call's result back (its contract's shard). */
  callResult?: CallResult;
}

/**
 * Everything the gateway's block streams (and history reads) showed of one cross-shard
 * transaction, accumulated over blocks of several shards.
 */
export interface ReceiptEvidence {
  /** The home shard's block holding the transaction (its debit, with the home's receipt). */
  home?: BlockRef & { to: string; receipt?: Receipt };
  /** The first credit that ends it (see {@link BlockFacts.credit}). */
  credit?: BlockRef;
  /** A call's result, from its contract's shard. */
  callResult?: CallResult;
}

/**
 * The shard-led facts of `block` (of shard `block.shardId`) for the transactions `wanted` accepts
 * (lowercase 0x hashes): the ones it holds, the receipts it credits that end a transaction, and the
 * call results it sends back (docs/ARCHITECTURE.md §3, shard-led protocol). Blocks of block-2PC
 * carry no receipt credits nor outgoing receipts: only `included` facts come out of them.
 */
export function blockFacts(block: StateShardBlock, wanted: (txHash: string) => boolean): Map<string, BlockFacts> {
  const ref: BlockRef = { shardId: block.shardId, height: block.height, hash: block.hash, timestampMs: block.timestampMs };
  const out = new Map<string, BlockFacts>();
  const factsOf = (h: string): BlockFacts => {
    let f = out.get(h);
    if (!f) out.set(h, (f = {}));
    return f;
  };
  const receipts = new Map<string, Receipt>();
  for (const r of block.receipts) receipts.set(r.txHash.toLowerCase(), r);
  const results = new Set<string>();
  for (const r of block.outgoingReceipts ?? []) {
    if (r.kind !== ReceiptKind.RECEIPT_KIND_CALL_RESULT) continue;
    const h = r.txHash.toLowerCase();
    results.add(h);
    if (!wanted(h)) continue;
    const receipt = receipts.get(h);
    factsOf(h).callResult = { ...ref, success: r.success, gasUsed: r.gasUsed, error: r.error, ...(receipt ? { receipt } : {}) };
  }
  for (const t of block.transactions) {
    const k = t.kind;
    if (k?.$case === 'user') {
      const h = k.value.hash.toLowerCase();
      if (!wanted(h)) continue;
      const receipt = receipts.get(h);
      factsOf(h).included = { ...ref, from: k.value.from.toLowerCase(), to: k.value.to.toLowerCase(), ...(receipt ? { receipt } : {}) };
    } else if (k?.$case === 'system' && k.value.kind === SystemTxKind.SYSTEM_TX_KIND_RECEIPT_CREDIT) {
      const h = k.value.txHash.toLowerCase();
      if (results.has(h) || !wanted(h)) continue;
      factsOf(h).credit ??= ref;
    }
  }
  return out;
}

/**
 * `ev` with the facts of one block added: the home's inclusion when `facts.included` is on
 * `homeShard`, the first ending credit, the call result. Returns `ev` itself when nothing is new.
 */
export function mergeFacts(ev: ReceiptEvidence, facts: BlockFacts, homeShard: number): ReceiptEvidence {
  let next = ev;
  const inc = facts.included;
  if (inc && inc.shardId === homeShard && !ev.home) {
    const { from: _from, ...home } = inc;
    next = { ...next, home };
  }
  if (facts.credit && !ev.credit) next = { ...next, credit: facts.credit };
  if (facts.callResult && !ev.callResult) next = { ...next, callResult: facts.callResult };
  return next;
}

/**
 * The receipt a shard-led call ends with: the contract shard's receipt of the execution (success,
 * gas used, logs, error), or, when the call did not run there, a receipt of that shard's block
 * saying why (success false, the result's gas used and error, no logs).
 */
export function callOutcomeReceipt(txHash: string, r: CallResult): Receipt {
  if (r.receipt) return r.receipt;
  return {
    txHash,
    shardId: r.shardId,
    blockHeight: r.height,
    blockHash: r.hash,
    txIndex: 0,
    success: r.success,
    gasUsed: r.gasUsed,
    cumulativeGasUsed: 0,
    effectiveGasPrice: '0',
    contractAddress: '',
    logs: [],
    error: r.error,
  };
}

/**
 * Whether the evidence ends the transaction, and how: `transfer` when a shard other than its home
 * credited its receipt, `call` when its home credited its call result (or `homeCommitted`: the home
 * shard answers COMMITTED, i.e. it credited the result before the gateway followed its blocks);
 * undefined while neither is known.
 */
export function shardLedEnd(ev: ReceiptEvidence, homeShard: number, homeCommitted = false): { kind: 'transfer' | 'call'; at?: BlockRef } | undefined {
  if (ev.credit && ev.credit.shardId !== homeShard) return { kind: 'transfer', at: ev.credit };
  if (ev.credit) return { kind: 'call', at: ev.credit };
  if (homeCommitted) return { kind: 'call' };
  return undefined;
}

/**
 * The COMMITTED status of a shard-led cross-shard transaction that `ev` shows ended (see
 * {@link shardLedEnd}), or undefined. COMMITTED means applied by every shard involved: a transfer
 * debited on its home and credited on its destination; a call debited on its home, executed (or
 * refused) on its contract's shard and its result credited on its home — a call that reverted is
 * COMMITTED too, its receipt saying `success: false` and the error. The receipt is the home's for a
 * transfer (the one its home block showed; the fee) and the contract shard's
 * outcome for a call ({@link callOutcomeReceipt}); absent while not known (a call's result not
 * seen, a home receipt not read). `block_height` is the home block that included it (0 when not
 * known), `updated_at_ms` the ending block's timestamp (`nowMs` when the end is the home's answer).
 * `applied` is true (the ending credit is the last application of the transaction);
 * `involved_shards` is the home and the destination (a transfer's crediting shard, a call's contract
 * shard), empty while a call's result is not known.
 */
export function shardLedStatus(
  txHash: string,
  homeShard: number,
  ev: ReceiptEvidence,
  opts: { homeCommitted?: boolean; nowMs: number },
): TransactionStatus | undefined {
  const end = shardLedEnd(ev, homeShard, opts.homeCommitted);
  if (!end) return undefined;
  const homeReceipt = ev.home?.receipt;
  const receipt = end.kind === 'call' ? (ev.callResult ? callOutcomeReceipt(txHash, ev.callResult) : undefined) : homeReceipt;
  const other = end.kind === 'transfer' ? ev.credit?.shardId : ev.callResult?.shardId;
  return {
    txHash,
    status: TxStatus.TX_STATUS_COMMITTED,
    homeShard,
    crossShard: true,
    blockHeight: ev.home?.height ?? homeReceipt?.blockHeight ?? 0,
    receipt,
    reason: '',
    updatedAtMs: end.at && end.at.timestampMs > 0 ? end.at.timestampMs : opts.nowMs,
    applied: true,
    involvedShards: other !== undefined ? [homeShard, other] : [],
  };
}
