// State-shard block building and hashing: block hash, transactions and receipts roots, canonical RLP of receipts and system transactions, and their wire forms
import type { Common } from '@ethereumjs/common';
import { RLP } from '@ethereumjs/rlp';
import { bigIntToUnpaddedBytes, hexToBytes, intToBytes } from '@ethereumjs/util';
import { toHex } from '@shardlab/common';
import { SystemTxKind, type BlockTransaction, type CrossShardReceipt, type PrepareVote, type Receipt, type StateShardBlock, type SystemTransaction, type TpcResult } from '@shardlab/proto';
import { nativeKeccak256 } from './crypto';
import { NONCE_SLOT, type BlockExecution, type SystemOp } from './block-steps';
import { toProtoTransaction } from './tx';
import { EMPTY_TRIE_ROOT_BYTES, orderedTrieRootBytes } from './ordered-trie';

const UTF8 = new TextEncoder();

/** Parent hash of a genesis block: 32 zero bytes. */
export const ZERO_HASH = '0x' + '00'.repeat(32);

/**
 * keccak256 of `data` with the chain's hash function: the common's custom one, else the `keccak`
 * package (a common created with `native: false` has none).
 */
function keccak(common: Common, data: Uint8Array): Uint8Array {
  return (common.customCrypto.keccak256 ?? nativeKeccak256)(data);
}

/**
 * Root of the trie `rlp(index) → value` over ordered items, as Ethereum's transactions and
 * receipts roots (yellow paper section 4.3).
 */
export async function orderedTrieRoot(common: Common, items: readonly Uint8Array[]): Promise<string> {
  return toHex(orderedTrieRootBytes(items, (b) => keccak(common, b)));
}

/** Canonical RLP of a receipt for the receipts root: [status, cumulativeGasUsed, gasUsed, logs]. */
export function encodeReceipt(r: Receipt): Uint8Array {
  return RLP.encode([
    r.success ? 1 : 0,
    bigIntToUnpaddedBytes(BigInt(r.cumulativeGasUsed)),
    bigIntToUnpaddedBytes(BigInt(r.gasUsed)),
    r.logs.map((l) => [hexToBytes(l.address as `0x${string}`), l.topics.map((t) => hexToBytes(t as `0x${string}`)), l.data]),
  ]);
}

/**
 * Canonical RLP of a cross-shard receipt, the value of its leaf in the outgoing receipts trie:
 * [txHash, sourceShard, destShard, from, to, value (wei), kind, rawTransaction, success, gasUsed,
 * error (UTF-8)].
 */
export function encodeCrossShardReceipt(r: CrossShardReceipt): Uint8Array {
  return RLP.encode([
    hexToBytes(r.txHash as `0x${string}`),
    intToBytes(r.sourceShard),
    intToBytes(r.destShard),
    hexToBytes(r.from as `0x${string}`),
    hexToBytes(r.to as `0x${string}`),
    bigIntToUnpaddedBytes(BigInt(r.value || '0')),
    intToBytes(r.kind ?? 0),
    r.rawTransaction ?? new Uint8Array(),
    r.success ? 1 : 0,
    intToBytes(r.gasUsed ?? 0),
    UTF8.encode(r.error ?? ''),
  ]);
}

const SYSTEM_KIND: Record<SystemOp['kind'], SystemTxKind> = {
  lock: SystemTxKind.SYSTEM_TX_KIND_LOCK,
  unlock: SystemTxKind.SYSTEM_TX_KIND_UNLOCK,
  debit: SystemTxKind.SYSTEM_TX_KIND_DEBIT,
  credit: SystemTxKind.SYSTEM_TX_KIND_CREDIT,
  abort: SystemTxKind.SYSTEM_TX_KIND_ABORT,
  'write-set': SystemTxKind.SYSTEM_TX_KIND_WRITE_SET,
  'receipt-debit': SystemTxKind.SYSTEM_TX_KIND_RECEIPT_DEBIT,
  'receipt-credit': SystemTxKind.SYSTEM_TX_KIND_RECEIPT_CREDIT,
};

/** The wire form of a system operation. */
export function toProtoSystemTx(op: SystemOp): SystemTransaction {
  return { kind: SYSTEM_KIND[op.kind], txHash: op.txHash, address: op.address, amount: op.amount.toString(), writes: (op.writes ?? []).map((w) => ({ ...w })) };
}

/**
 * Canonical RLP of a system transaction for the transactions root: [kind, txHash, address,
 * amount], and for a write set also [[slot, oldValue, newValue], ...] (an empty slot: created code;
 * slot {@link NONCE_SLOT}: the nonce, its slot encoded as the ASCII bytes `nonce`).
 */
export function encodeSystemTx(t: SystemTransaction): Uint8Array {
  const fields = [t.kind, hexToBytes(t.txHash as `0x${string}`), hexToBytes(t.address as `0x${string}`), bigIntToUnpaddedBytes(BigInt(t.amount || '0'))];
  if (t.kind !== SystemTxKind.SYSTEM_TX_KIND_WRITE_SET) return RLP.encode(fields);
  const hex = (v: string) => (v === '' ? new Uint8Array() : hexToBytes(v as `0x${string}`));
  const slot = (v: string) => (v === NONCE_SLOT ? NONCE_SLOT_BYTES : hex(v));
  return RLP.encode([...fields, t.writes.map((w) => [slot(w.slot), hex(w.oldValue), hex(w.newValue)])]);
}

const NONCE_SLOT_BYTES = new TextEncoder().encode(NONCE_SLOT);

/** The header fields of a state-shard block (what its hash covers). */
export type BlockHeader = Omit<StateShardBlock, 'hash' | 'transactions' | 'receipts' | 'tpcPrepare' | 'outgoingReceipts' | 'decisions'>;

/**
 * Block hash: keccak256 of RLP([shardId, height, parentHash, stateRoot, transactionsRoot,
 * receiptsRoot, timestampMs, gasUsed, baseFeePerGas, orchestratorHeight, outgoingReceiptsRoot])
 * (an empty `outgoingReceiptsRoot` is the empty trie's root).
 */
export function blockHash(common: Common, b: BlockHeader): string {
  return toHex(
    keccak(
      common,
      RLP.encode([
        intToBytes(b.shardId),
        intToBytes(b.height),
        hexToBytes(b.parentHash as `0x${string}`),
        hexToBytes(b.stateRoot as `0x${string}`),
        hexToBytes(b.transactionsRoot as `0x${string}`),
        hexToBytes(b.receiptsRoot as `0x${string}`),
        intToBytes(b.timestampMs),
        intToBytes(b.gasUsed),
        bigIntToUnpaddedBytes(BigInt(b.baseFeePerGas || '0')),
        intToBytes(b.orchestratorHeight),
        b.outgoingReceiptsRoot ? hexToBytes(b.outgoingReceiptsRoot as `0x${string}`) : EMPTY_TRIE_ROOT_BYTES,
      ]),
    ),
  );
}

/** Inputs of {@link buildBlock}. */
export interface BlockInputs {
  shardId: number;
  height: number;
  parentHash: string;
  timestampMs: number;
  execution: BlockExecution;
  /** Base fee per gas of the block, in wei [0]. */
  baseFeePerGas?: bigint;
  /** Last orchestrator height whose work the block records [0]. */
  orchestratorHeight?: number;
  /** Two-phase-commit votes cast in this block. */
  votes?: PrepareVote[];
  /** Shard-led receipts of value debited in this block for other shards, in block order. */
  outgoingReceipts?: CrossShardReceipt[];
  /** Client-led decisions the block applied (not covered by the hash, as votes). */
  decisions?: TpcResult[];
}

/**
 * Builds a state-shard block from an execution: user transactions and system transactions in
 * execution order (rejected transactions are left out), one receipt per user transaction, the
 * transactions and receipts roots, the state root and the block hash. Pure: the same inputs give
 * the same block.
 */
export async function buildBlock(common: Common, inp: BlockInputs): Promise<StateShardBlock> {
  const transactions: BlockTransaction[] = [];
  const receipts: Receipt[] = [];
  const encoded: Uint8Array[] = [];
  for (const o of inp.execution.outcomes) {
    if (o.kind === 'system') {
      const sys = toProtoSystemTx(o.op);
      transactions.push({ kind: { $case: 'system', value: sys } });
      encoded.push(encodeSystemTx(sys));
      continue;
    }
    if (o.kind !== 'executed') continue;
    transactions.push({ kind: { $case: 'user', value: toProtoTransaction(o.tx) } });
    encoded.push(o.tx.raw);
    receipts.push({
      txHash: o.tx.hash,
      shardId: inp.shardId,
      blockHeight: inp.height,
      blockHash: '',
      txIndex: transactions.length - 1,
      success: o.success,
      gasUsed: Number(o.gasUsed),
      cumulativeGasUsed: Number(o.cumulativeGasUsed),
      effectiveGasPrice: o.effectiveGasPrice.toString(),
      contractAddress: o.contractAddress ?? '',
      logs: o.logs.map((l) => ({ address: l.address, topics: l.topics, data: Buffer.from(l.data) })),
      error: o.error ?? '',
    });
  }
  const header: BlockHeader = {
    shardId: inp.shardId,
    height: inp.height,
    parentHash: inp.parentHash,
    stateRoot: toHex(inp.execution.stateRoot),
    transactionsRoot: await orderedTrieRoot(common, encoded),
    receiptsRoot: await orderedTrieRoot(common, receipts.map(encodeReceipt)),
    timestampMs: inp.timestampMs,
    gasUsed: Number(inp.execution.gasUsed),
    baseFeePerGas: (inp.baseFeePerGas ?? 0n).toString(),
    orchestratorHeight: inp.orchestratorHeight ?? 0,
    outgoingReceiptsRoot: await orderedTrieRoot(common, (inp.outgoingReceipts ?? []).map(encodeCrossShardReceipt)),
  };
  const hash = blockHash(common, header);
  for (const r of receipts) r.blockHash = hash;
  return { ...header, hash, transactions, receipts, tpcPrepare: inp.votes ?? [], outgoingReceipts: inp.outgoingReceipts ?? [], decisions: inp.decisions ?? [] };
}
