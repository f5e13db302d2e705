// Cross-shard receipts of the shard-led protocol: Merkle proofs of inclusion in a block's outgoing receipts, and the destination's check of a source shard's receipt batch
import type { Common } from '@ethereumjs/common';
import { createMerkleProof, MerklePatriciaTrie, verifyMPTWithMerkleProof } from '@ethereumjs/mpt';
import { RLP } from '@ethereumjs/rlp';
import { equalsBytes, hexToBytes } from '@ethereumjs/util';
import { errors, parseAddress, parseHash, parseWei } from '@shardlab/common';
import type { CrossShardReceipt, ProvenReceipt, ReceiptBatch, StateShardBlock } from '@shardlab/proto';
import { blockHash, encodeCrossShardReceipt, ZERO_HASH, type BlockHeader } from './block';
import { EMPTY_TRIE_ROOT_BYTES } from './ordered-trie';

/** A block's header as a receipt batch carries it: no transactions, receipts, votes or outgoing receipts. */
export function headerOnly(b: StateShardBlock): StateShardBlock {
  return { ...b, transactions: [], receipts: [], tpcPrepare: [], outgoingReceipts: [], decisions: [] };
}

/**
 * The Merkle Patricia trie of a block's outgoing receipts (key rlp(index), value the receipt's
 * RLP); its root is the block's `outgoingReceiptsRoot`.
 */
export async function outgoingReceiptsTrie(block: StateShardBlock): Promise<MerklePatriciaTrie> {
  const trie = new MerklePatriciaTrie({ useKeyHashing: false });
  for (let i = 0; i < block.outgoingReceipts.length; i++) await trie.put(RLP.encode(i), encodeCrossShardReceipt(block.outgoingReceipts[i]!));
  return trie;
}

/**
 * The receipt batch of `block` for `destShard` (SubscribeReceipts): the header and every outgoing
 * receipt for the destination with its Merkle Patricia proof against the block's
 * `outgoingReceiptsRoot` (key rlp(index), as transactions and receipts tries). `trieOf` gives the
 * block's receipts trie [built by {@link outgoingReceiptsTrie}; a server with several destination
 * streams shares one per block]; it is asked only when the block has receipts for `destShard`.
 */
export async function receiptBatchOf(
  block: StateShardBlock,
  destShard: number,
  trieOf: (block: StateShardBlock) => Promise<MerklePatriciaTrie> = outgoingReceiptsTrie,
): Promise<ReceiptBatch> {
  const mine = block.outgoingReceipts.map((r, index) => ({ r, index })).filter(({ r }) => r.destShard === destShard);
  const receipts: ProvenReceipt[] = [];
  if (mine.length > 0) {
    const trie = await trieOf(block);
    for (const { r, index } of mine) {
      const proof = await createMerkleProof(trie, RLP.encode(index));
      receipts.push({ receipt: r, index, proof: proof.map((p) => Buffer.from(p)) });
    }
  }
  return { header: headerOnly(block), receipts };
}

/** The last block of a source shard a destination has verified: height and hash. */
export interface SourceCursor {
  height: number;
  hash: string;
}

/**
 * Checks that a receipt's fields are canonical: a 32-byte hash, 20-byte addresses, a decimal value.
 * Its leaf cannot tell `0x0f…` from `0xf…` (hex is padded to whole bytes), so a proof alone would
 * let a respelled address through to the credit.
 * @throws ShardLabError INVALID_ARGUMENT naming the malformed field.
 */
function checkReceiptFields(r: CrossShardReceipt, where: string): void {
  try {
    parseHash(r.txHash, 'txHash');
    parseAddress(r.from, 'from');
    parseAddress(r.to, 'to');
    parseWei(r.value, 'value');
  } catch (err) {
    throw errors.invalidArgument(`${where}: receipt of tx ${r.txHash}: ${(err as Error).message}`);
  }
}

/**
 * Verifies a receipt batch of shard `sourceShard` at destination `destShard`
 * (docs/ARCHITECTURE.md §3, shard-led commit) and returns its header's cursor and its receipts:
 * - the header's hash is recomputed from its fields ({@link blockHash}) and must match;
 * - it must extend the chain the destination holds: height `prev.height + 1` and parent hash
 *   `prev.hash` (without `prev`: the genesis block, height 0 with a zero parent hash);
 * - every receipt must name this source and destination, come after the previous one in block
 *   order (strictly increasing indices: none twice), have canonical fields (32-byte hash, 20-byte
 *   addresses, decimal value), and its Merkle proof must lead from the header's outgoing receipts
 *   root, at key rlp(index), to exactly the receipt's RLP.
 * That every receipt for the destination is in the batch is not checked: a root of the whole list
 * proves inclusion, not completeness.
 * @throws ShardLabError INVALID_ARGUMENT naming the first check that fails (a malformed header, a
 *   forged or malformed receipt, a receipt listed twice, a wrong proof, a header that is not the
 *   next one of the source's chain).
 */
export async function verifyReceiptBatch(
  common: Common,
  batch: ReceiptBatch,
  sourceShard: number,
  destShard: number,
  prev: SourceCursor | undefined,
): Promise<{ cursor: SourceCursor; receipts: CrossShardReceipt[] }> {
  const h = batch.header;
  if (!h) throw errors.invalidArgument(`receipt batch of shard ${sourceShard} without a header`);
  const where = `shard ${sourceShard} block ${h.height}`;
  if (h.shardId !== sourceShard) throw errors.invalidArgument(`${where}: header of shard ${h.shardId}`);
  const { hash, transactions: _t, receipts: _r, tpcPrepare: _v, outgoingReceipts: _o, ...fields } = h;
  const header: BlockHeader = fields;
  let computed: string;
  try {
    computed = blockHash(common, header);
  } catch (err) {
    throw errors.invalidArgument(`${where}: malformed header (${(err as Error).message})`);
  }
  if (computed !== hash) throw errors.invalidArgument(`${where}: header hash ${hash} does not match its fields`);
  const wantHeight = prev ? prev.height + 1 : 0;
  const wantParent = prev ? prev.hash : ZERO_HASH;
  if (h.height !== wantHeight || h.parentHash !== wantParent) {
    throw errors.invalidArgument(`${where}: does not extend the chain held (expected height ${wantHeight} with parent ${wantParent}, got parent ${h.parentHash})`);
  }
  const receipts: CrossShardReceipt[] = [];
  const root = h.outgoingReceiptsRoot ? hexToBytes(h.outgoingReceiptsRoot as `0x${string}`) : EMPTY_TRIE_ROOT_BYTES;
  let lastIndex = -1;
  const verifier = new MerklePatriciaTrie({ useKeyHashing: false });
  for (const p of batch.receipts) {
    const r = p.receipt;
    if (!r) throw errors.invalidArgument(`${where}: proven receipt without a receipt`);
    if (r.sourceShard !== sourceShard || r.destShard !== destShard) {
      throw errors.invalidArgument(`${where}: receipt of tx ${r.txHash} is from shard ${r.sourceShard} to shard ${r.destShard}, not ${sourceShard} → ${destShard}`);
    }
    if (p.index <= lastIndex) {
      throw errors.invalidArgument(`${where}: receipt of tx ${r.txHash} at index ${p.index} does not follow index ${lastIndex} (each receipt once, in block order)`);
    }
    lastIndex = p.index;
    checkReceiptFields(r, where);
    let leaf: Uint8Array | null;
    try {
      leaf = await verifyMPTWithMerkleProof(verifier, root, RLP.encode(p.index), p.proof.map((x) => new Uint8Array(x)));
    } catch (err) {
      throw errors.invalidArgument(`${where}: receipt of tx ${r.txHash}: invalid proof (${(err as Error).message})`);
    }
    if (!leaf || !equalsBytes(leaf, encodeCrossShardReceipt(r))) {
      throw errors.invalidArgument(`${where}: receipt of tx ${r.txHash} is not in the block's outgoing receipts at index ${p.index}`);
    }
    receipts.push(r);
  }
  return { cursor: { height: h.height, hash }, receipts };
}
