import type { Common } from '@ethereumjs/common';
import { MerklePatriciaTrie } from '@ethereumjs/mpt';
import { RLP } from '@ethereumjs/rlp';
import { bigIntToUnpaddedBytes, hexToBytes, intToBytes } from '@ethereumjs/util';
import { toHex } from '@shardlab/common';
import type { BlockTransaction, Receipt, StateShardBlock } from '@shardlab/proto';
import { nativeKeccak256 } from './crypto';
import type { BlockExecution } from './executor';
import { toProtoTransaction } from './tx';

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
  const trie = new MerklePatriciaTrie({ common });
  for (let i = 0; i < items.length; i++) await trie.put(RLP.encode(i), items[i]!);
  return toHex(trie.root());
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
 * Block hash: keccak256 of RLP([shardId, height, parentHash, stateRoot, transactionsRoot,
 * receiptsRoot, timestampMs, gasUsed]).
 */
export function blockHash(common: Common, b: Omit<StateShardBlock, 'hash' | 'transactions' | 'receipts' | 'tpcPrepare'>): string {
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
}

/**
 * Builds a state-shard block from an execution: the executed user transactions in order with
 * one receipt each (rejected transactions are left out), the transactions and receipts roots,
 * the state root and the block hash. Pure: the same inputs give the same block.
 */
export async function buildBlock(common: Common, inp: BlockInputs): Promise<StateShardBlock> {
  const transactions: BlockTransaction[] = [];
  const receipts: Receipt[] = [];
  const raws: Uint8Array[] = [];
  for (const o of inp.execution.outcomes) {
    if (o.kind !== 'executed') continue;
    transactions.push({ kind: { $case: 'user', value: toProtoTransaction(o.tx) } });
    raws.push(o.tx.raw);
    receipts.push({
      txHash: o.tx.hash,
      shardId: inp.shardId,
      blockHeight: inp.height,
      blockHash: '',
      txIndex: receipts.length,
      success: o.success,
      gasUsed: Number(o.gasUsed),
      cumulativeGasUsed: Number(o.cumulativeGasUsed),
      effectiveGasPrice: o.effectiveGasPrice.toString(),
      contractAddress: o.contractAddress ?? '',
      logs: o.logs.map((l) => ({ address: l.address, topics: l.topics, data: Buffer.from(l.data) })),
      error: o.error ?? '',
    });
  }
  const header = {
    shardId: inp.shardId,
    height: inp.height,
    parentHash: inp.parentHash,
    stateRoot: toHex(inp.execution.stateRoot),
    transactionsRoot: await orderedTrieRoot(common, raws),
    receiptsRoot: await orderedTrieRoot(common, receipts.map(encodeReceipt)),
    timestampMs: inp.timestampMs,
    gasUsed: Number(inp.execution.gasUsed),
  };
  const hash = blockHash(common, header);
  for (const r of receipts) r.blockHash = hash;
  return { ...header, hash, transactions, receipts, tpcPrepare: [] };
}
