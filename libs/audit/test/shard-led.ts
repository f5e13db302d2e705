// Shard-led blocks appended to a synthetic audit input: a transfer's source block (user transaction, RECEIPT_DEBIT, outgoing receipt) and its destination's RECEIPT_CREDIT, balances moved as the shards move them.
import { ReceiptKind, Account, StateShardBlock, SystemTxKind, Transaction, type BlockTransaction, type CrossShardReceipt, type PrepareVote, type Receipt, type TpcResult } from '@shardlab/proto';
import type { AuditInput } from '../src';
import { BASE_FEE, coinbaseOf, GAS, TIP } from '@shardlab/testing';

const hex = (n: number | bigint, bytes: number) => n.toString(16).padStart(bytes * 2, '0');

/** A shard-led transaction hash, distinct per `n` and from {@link NetBuilder}'s (which count up from 1). */
export const shardLedHash = (n: number) => `0x${'5e'.repeat(16)}${hex(n, 16)}`;

/** A system transaction of the shard-led protocol. */
export function receiptSystemTx(kind: SystemTxKind, txHash: string, address: string, amount: bigint): BlockTransaction {
  return { kind: { $case: 'system', value: { kind, txHash, address, amount: amount.toString(), writes: [] } } };
}

/** Adds `by` wei to an account's listed balance on shard `s` (listing it at 0 first when absent). */
export function moveBalance(input: AuditInput, s: number, address: string, by: bigint): void {
  const shard = input.shards.find((x) => x.shardId === s)!;
  let a = shard.accounts.find((x) => x.address === address);
  if (!a) shard.accounts.push((a = Account.fromPartial({ address, shardId: s, balance: '0', locked: '0' })));
  const v = BigInt(a.balance) + by;
  if (v < 0n) throw new Error(`balance of ${address} would go negative`);
  a.balance = v.toString();
}

/** What {@link appendBlock} puts in a block. */
export interface BlockContent {
  transactions?: BlockTransaction[];
  receipts?: Receipt[];
  outgoingReceipts?: CrossShardReceipt[];
  tpcPrepare?: PrepareVote[];
  decisions?: TpcResult[];
}

/** Appends a block to shard `s` of `input`, chained to its head (hashes in the style of NetBuilder's, past its heights); returns its height. */
export function appendBlock(input: AuditInput, s: number, content: BlockContent): number {
  const blocks = input.shards.find((x) => x.shardId === s)!.blocks as StateShardBlock[];
  const head = blocks.at(-1)!;
  const height = blocks.length;
  blocks.push(
    StateShardBlock.fromPartial({
      shardId: s,
      height,
      hash: `0x${hex(s + 1, 16)}${hex(height, 16)}`,
      parentHash: head.hash,
      stateRoot: `0x${hex(height, 32)}`,
      timestampMs: head.timestampMs + 1,
      gasUsed: (content.receipts ?? []).reduce((a, r) => a + r.gasUsed, 0),
      transactions: content.transactions ?? [],
      receipts: content.receipts ?? [],
      baseFeePerGas: BASE_FEE.toString(),
      orchestratorHeight: head.orchestratorHeight,
      outgoingReceipts: content.outgoingReceipts ?? [],
      tpcPrepare: content.tpcPrepare ?? [],
      decisions: content.decisions ?? [],
    }),
  );
  return height;
}

/** A shard-led transfer as {@link sendReceipt} records it. */
export interface ShardLedTransfer {
  hash: string;
  from: string;
  to: string;
  value: bigint;
  source: number;
  dest: number;
}

/**
 * The source block of a shard-led transfer: the user transaction (its fee burned and tipped to
 * the coinbase), a RECEIPT_DEBIT of the sender for the value (its balance pays both) and the
 * outgoing receipt. `debit: false` leaves the RECEIPT_DEBIT out and the value where it was;
 * `receipt: false` leaves the outgoing receipt out.
 */
export function sendReceipt(input: AuditInput, t: ShardLedTransfer, opts: { debit?: boolean; receipt?: boolean } = {}): void {
  const tx = Transaction.fromPartial({ hash: t.hash, type: 2, from: t.from, to: t.to, value: t.value.toString(), gasLimit: GAS, chainId: 1337 });
  const receipt: Receipt = {
    txHash: t.hash,
    shardId: t.source,
    blockHeight: 0,
    blockHash: '',
    txIndex: 0,
    success: true,
    gasUsed: GAS,
    cumulativeGasUsed: GAS,
    effectiveGasPrice: (BASE_FEE + TIP).toString(),
    contractAddress: '',
    logs: [],
    error: '',
  };
  const transactions: BlockTransaction[] = [{ kind: { $case: 'user', value: tx } }];
  moveBalance(input, t.source, t.from, -BigInt(GAS) * (BASE_FEE + TIP));
  moveBalance(input, t.source, coinbaseOf(t.source), BigInt(GAS) * TIP);
  if (opts.debit ?? true) {
    transactions.push(receiptSystemTx(SystemTxKind.SYSTEM_TX_KIND_RECEIPT_DEBIT, t.hash, t.from, t.value));
    moveBalance(input, t.source, t.from, -t.value);
  }
  const outgoingReceipts = (opts.receipt ?? true) ? [outgoingReceiptOf(t)] : [];
  appendBlock(input, t.source, { transactions, receipts: [receipt], outgoingReceipts });
}

/** The outgoing receipt of a shard-led transfer. */
export function outgoingReceiptOf(t: ShardLedTransfer): CrossShardReceipt {
  return { txHash: t.hash, sourceShard: t.source, destShard: t.dest, from: t.from, to: t.to, value: t.value.toString(), kind: ReceiptKind.RECEIPT_KIND_TRANSFER, rawTransaction: Buffer.alloc(0), success: false, gasUsed: 0, error: '' };
}

/** A block of shard `s` crediting `amount` to `to` for `hash` (RECEIPT_CREDIT), the balance moved. */
export function creditReceipt(input: AuditInput, s: number, hash: string, to: string, amount: bigint): void {
  moveBalance(input, s, to, amount);
  appendBlock(input, s, { transactions: [receiptSystemTx(SystemTxKind.SYSTEM_TX_KIND_RECEIPT_CREDIT, hash, to, amount)] });
}
