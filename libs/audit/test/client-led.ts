// Client-led two-phase-commit blocks appended to a synthetic audit input: prepares (acceptance, LOCK, votes) and each shard's decision record with its effects, balances and locks moved as the shards move them.
import { Account, Decision, reasons, SystemTxKind, Transaction, Vote, withReason, type BlockTransaction, type Reason, type Receipt, type TpcResult } from '@shardlab/proto';
import { BASE_FEE, coinbaseOf, GAS, TIP } from '@shardlab/testing';
import type { AuditInput } from '../src';
import { appendBlock, moveBalance, receiptSystemTx } from './shard-led';

const hex = (n: number | bigint, bytes: number) => n.toString(16).padStart(bytes * 2, '0');

/** A client-led transaction hash, distinct per `n` and from NetBuilder's and the shard-led fixture's. */
export const clientLedHash = (n: number) => `0x${'c1'.repeat(16)}${hex(n, 16)}`;

/** The lock timeout of the fixtures' shards, in blocks. */
export const LOCK_TIMEOUT = 5;

/**
 * A client-led cross-shard transaction: a transfer of `value` from `from` (on `source`) to `to`
 * (on `dest`), or with `call` a contract call to `to` that locks `value` on the source and, on
 * commit, credits it to `to` with a write set there. The prepare records what was voted.
 */
export interface ClientLedTx {
  hash: string;
  from: string;
  to: string;
  value: bigint;
  source: number;
  dest: number;
  call?: boolean;
  /** Set by {@link prepare}: the votes and the source's prepare height. */
  sourceYes?: boolean;
  destYes?: boolean;
  preparedAt?: Map<number, number>;
}

/** Adds `by` wei to what account `address` on shard `s` has locked. */
export function moveLocked(input: AuditInput, s: number, address: string, by: bigint): void {
  const shard = input.shards.find((x) => x.shardId === s)!;
  let a = shard.accounts.find((x) => x.address === address);
  if (!a) shard.accounts.push((a = Account.fromPartial({ address, shardId: s, balance: '0', locked: '0' })));
  a.locked = (BigInt(a.locked || '0') + by).toString();
}

/**
 * Prepares `t` on both shards, each in a block of its own: the source accepts it (user
 * transaction paying GAS × (BASE_FEE + TIP), burn and tip), LOCKs the value when it votes YES and
 * records its vote; the destination records its vote.
 */
export function prepare(input: AuditInput, t: ClientLedTx, votes: { sourceYes?: boolean; destYes?: boolean } = {}): void {
  t.sourceYes = votes.sourceYes ?? true;
  t.destYes = votes.destYes ?? true;
  t.preparedAt = new Map();
  const { transactions, receipt } = acceptance(input, t);
  if (t.sourceYes) {
    transactions.push(receiptSystemTx(SystemTxKind.SYSTEM_TX_KIND_LOCK, t.hash, t.from, t.value));
    moveLocked(input, t.source, t.from, t.value);
  }
  const vote = (yes: boolean) => [{ txHash: t.hash, vote: yes ? Vote.VOTE_YES : Vote.VOTE_NO, reason: yes ? '' : 'refused' }];
  t.preparedAt.set(t.source, appendBlock(input, t.source, { transactions, receipts: [receipt], tpcPrepare: vote(t.sourceYes) }));
  t.preparedAt.set(t.dest, appendBlock(input, t.dest, { tpcPrepare: vote(t.destYes) }));
}

/**
 * The source admits `t` and reserves its nonce, but no prepare comes (its coordinator never
 * called): a block with the user transaction (its fee paid), no LOCK, no vote. Returns its height.
 */
export function reserve(input: AuditInput, t: ClientLedTx): number {
  t.sourceYes = false;
  t.destYes = false;
  const { transactions, receipt } = acceptance(input, t);
  return appendBlock(input, t.source, { transactions, receipts: [receipt] });
}

/** The source's user transaction and receipt of `t`, its fee paid (burn and tip). */
function acceptance(input: AuditInput, t: ClientLedTx): { transactions: BlockTransaction[]; receipt: Receipt } {
  const tx = Transaction.fromPartial({ hash: t.hash, type: 2, from: t.from, to: t.to, value: t.call ? '0' : t.value.toString(), gasLimit: GAS, chainId: 1337, data: t.call ? Buffer.from('a9059cbb', 'hex') : Buffer.alloc(0) });
  const receipt: Receipt = { txHash: t.hash, shardId: t.source, blockHeight: 0, blockHash: '', txIndex: 0, success: true, gasUsed: GAS, cumulativeGasUsed: GAS, effectiveGasPrice: (BASE_FEE + TIP).toString(), contractAddress: '', logs: [], error: '' };
  moveBalance(input, t.source, t.from, -BigInt(GAS) * (BASE_FEE + TIP));
  moveBalance(input, t.source, coinbaseOf(t.source), BigInt(GAS) * TIP);
  return { transactions: [{ kind: { $case: 'user', value: tx } }], receipt };
}

/** How a shard applies a decision in {@link decide}. */
export interface DecideOpts {
  /** The abort is the shard's lock timeout (its cause; involved shards: that shard only). */
  lockTimeout?: boolean;
  /** The timeout the lock-timeout abort records, in blocks; default {@link LOCK_TIMEOUT}. */
  timeoutBlocks?: number;
  /** The coordinator's abort reason; default a coordinator abort. */
  cause?: Reason;
}

/**
 * Shard `s` applies a decision on `t` in a block of its own and records it in `decisions`: the
 * source DEBITs (commit) or UNLOCKs (abort, when it locked) the value; the destination CREDITs it
 * (commit; a call also writes a slot of `to`) or records an ABORT (abort, when it voted YES).
 * Returns the block's height.
 */
export function decide(input: AuditInput, t: ClientLedTx, s: number, commit: boolean, opts: DecideOpts = {}): number {
  const transactions: BlockTransaction[] = [];
  if (s === t.source) {
    if (commit) {
      transactions.push(receiptSystemTx(SystemTxKind.SYSTEM_TX_KIND_DEBIT, t.hash, t.from, t.value));
      moveBalance(input, s, t.from, -t.value);
      moveLocked(input, s, t.from, -t.value);
    } else if (t.sourceYes) {
      transactions.push(receiptSystemTx(SystemTxKind.SYSTEM_TX_KIND_UNLOCK, t.hash, t.from, t.value));
      moveLocked(input, s, t.from, -t.value);
    }
  } else if (commit) {
    if (t.call) transactions.push({ kind: { $case: 'system', value: { kind: SystemTxKind.SYSTEM_TX_KIND_WRITE_SET, txHash: t.hash, address: t.to, amount: '0', writes: [{ slot: '0x' + '00'.repeat(31) + '01', oldValue: '0x' + '00'.repeat(32), newValue: '0x' + '00'.repeat(31) + '07' }] } } });
    transactions.push(receiptSystemTx(SystemTxKind.SYSTEM_TX_KIND_CREDIT, t.hash, t.to, t.value));
    moveBalance(input, s, t.to, t.value);
  } else if (t.destYes) {
    transactions.push(receiptSystemTx(SystemTxKind.SYSTEM_TX_KIND_ABORT, t.hash, t.to, 0n));
  }
  const cause = opts.lockTimeout ? reasons.lockTimeout(opts.timeoutBlocks ?? LOCK_TIMEOUT, t.preparedAt?.get(s) ?? 0) : (opts.cause ?? reasons.coordinatorAborted('a shard voted NO'));
  const record: TpcResult = {
    txHash: t.hash,
    decision: commit ? Decision.DECISION_COMMIT : Decision.DECISION_ABORT,
    ...(commit ? { reason: '' } : withReason(cause)),
    involvedShards: opts.lockTimeout ? [s] : [t.source, t.dest].sort((a, b) => a - b),
    traceContext: {},
  };
  return appendBlock(input, s, { transactions, decisions: [record] });
}

/** Appends `n` empty blocks to shard `s` (time passing). */
export function idle(input: AuditInput, s: number, n: number): void {
  for (let i = 0; i < n; i++) appendBlock(input, s, {});
}
