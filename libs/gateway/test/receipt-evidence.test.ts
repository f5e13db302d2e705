// Shard-led evidence in shard blocks (pure): which credits end a transaction, call results with the contract shard's receipt, and the COMMITTED status they give
import { ReceiptKind, SystemTxKind, TxStatus, type CrossShardReceipt, type Receipt, type StateShardBlock } from '@shardlab/proto';
import { blockFacts, callOutcomeReceipt, mergeFacts, shardLedEnd, shardLedStatus, type ReceiptEvidence } from '../src/receipt-evidence';

const H = '0x' + 'ab'.repeat(32);
const OTHER = '0x' + 'cd'.repeat(32);
const SENDER = '0x' + '11'.repeat(20);
const CONTRACT = '0x' + '22'.repeat(20);

function receipt(txHash: string, shardId: number, height: number, extra: Partial<Receipt> = {}): Receipt {
  return {
    txHash,
    shardId,
    blockHeight: height,
    blockHash: '0x' + height.toString(16).padStart(64, '0'),
    txIndex: 0,
    success: true,
    gasUsed: 21_000,
    cumulativeGasUsed: 21_000,
    effectiveGasPrice: '1',
    contractAddress: '',
    logs: [],
    error: '',
    ...extra,
  };
}

function callResult(txHash: string, extra: Partial<CrossShardReceipt> = {}): CrossShardReceipt {
  return {
    txHash,
    sourceShard: 1,
    destShard: 0,
    from: SENDER,
    to: SENDER,
    value: '5',
    kind: ReceiptKind.RECEIPT_KIND_CALL_RESULT,
    rawTransaction: Buffer.alloc(0),
    success: true,
    gasUsed: 30_000,
    error: '',
    ...extra,
  };
}

const credit = (txHash: string) => ({ kind: { $case: 'system' as const, value: { kind: SystemTxKind.SYSTEM_TX_KIND_RECEIPT_CREDIT, txHash, address: SENDER, amount: '5', writes: [] } } });
const debit = (txHash: string) => ({ kind: { $case: 'system' as const, value: { kind: SystemTxKind.SYSTEM_TX_KIND_RECEIPT_DEBIT, txHash, address: SENDER, amount: '5', writes: [] } } });
const user = (hash: string, to: string) => ({
  kind: { $case: 'user' as const, value: { raw: Buffer.alloc(0), hash, type: 2, from: SENDER, to, nonce: 0, value: '0', gasLimit: 0, gasPrice: '', maxFeePerGas: '', maxPriorityFeePerGas: '', data: Buffer.alloc(0), chainId: 1337 } },
});

function block(shardId: number, height: number, parts: Partial<StateShardBlock>): StateShardBlock {
  return {
    shardId,
    height,
    hash: '0x' + (1000 * shardId + height).toString(16).padStart(64, '0'),
    parentHash: '',
    stateRoot: '',
    transactionsRoot: '',
    receiptsRoot: '',
    timestampMs: 1_700_000_000_000 + 1000 * shardId + height,
    gasUsed: 0,
    transactions: [],
    receipts: [],
    tpcPrepare: [],
    baseFeePerGas: '0',
    orchestratorHeight: 0,
    outgoingReceipts: [],
    outgoingReceiptsRoot: '',
    decisions: [],
    ...parts,
  };
}

const all = () => true;

describe('blockFacts', () => {
  it("takes a credit on a block without the transaction's call result as an ending credit", () => {
    const b = block(1, 7, { transactions: [credit(H)] });
    expect(blockFacts(b, all).get(H)).toEqual({ credit: { shardId: 1, height: 7, hash: b.hash, timestampMs: b.timestampMs } });
  });

  it("does not take a contract shard's credit of a call's prepaid amount as an end, and records the call's result with its receipt", () => {
    const r = receipt(H, 1, 8, { gasUsed: 30_000, logs: [{ address: CONTRACT, topics: [], data: Buffer.from('01', 'hex') }] });
    const b = block(1, 8, { transactions: [credit(H), user(H, CONTRACT), debit(H)], receipts: [r], outgoingReceipts: [callResult(H)] });
    const f = blockFacts(b, all).get(H)!;
    expect(f.credit).toBeUndefined();
    expect(f.callResult).toMatchObject({ shardId: 1, height: 8, success: true, gasUsed: 30_000, error: '', receipt: r });
    expect(f.included).toMatchObject({ shardId: 1, height: 8, from: SENDER, to: CONTRACT, receipt: r });
  });

  it('records a call that did not run on its contract shard (no receipt there) with its error', () => {
    const b = block(1, 9, { transactions: [credit(H), debit(H)], outgoingReceipts: [callResult(H, { success: false, gasUsed: 0, error: 'refused on the contract shard: out of gas' })] });
    const f = blockFacts(b, all).get(H)!;
    expect(f.credit).toBeUndefined();
    expect(f.callResult).toMatchObject({ success: false, gasUsed: 0, error: 'refused on the contract shard: out of gas' });
    expect(f.callResult!.receipt).toBeUndefined();
  });

  it('leaves out transactions not wanted, and transfers and calls sent out (TRANSFER or CALL receipts) are no evidence', () => {
    const sent = { ...callResult(OTHER), kind: ReceiptKind.RECEIPT_KIND_TRANSFER };
    const b = block(0, 3, { transactions: [credit(OTHER), user(H, CONTRACT), debit(H)], receipts: [receipt(H, 0, 3)], outgoingReceipts: [sent] });
    const facts = blockFacts(b, (h) => h === H);
    expect([...facts.keys()]).toEqual([H]);
    expect(facts.get(H)).toEqual({ included: expect.objectContaining({ shardId: 0, to: CONTRACT }) });
  });

  it('finds nothing in a block-2PC block (CREDIT and DEBIT system transactions, no outgoing receipts)', () => {
    const tpcCredit = { kind: { $case: 'system' as const, value: { kind: SystemTxKind.SYSTEM_TX_KIND_CREDIT, txHash: H, address: SENDER, amount: '5', writes: [] } } };
    expect(blockFacts(block(1, 4, { transactions: [tpcCredit] }), all).size).toBe(0);
  });
});

describe('shardLedEnd and shardLedStatus', () => {
  const home = 0;
  const homeBlock = block(0, 5, { transactions: [user(H, CONTRACT), debit(H)], receipts: [receipt(H, 0, 5, { gasUsed: 21_000 })] });
  const withHome = (): ReceiptEvidence => mergeFacts({}, blockFacts(homeBlock, all).get(H)!, home);

  it('keeps the home inclusion only from the home shard, and the first credit and result', () => {
    const elsewhere = block(1, 2, { transactions: [user(H, CONTRACT)], receipts: [receipt(H, 1, 2)] });
    expect(mergeFacts({}, blockFacts(elsewhere, all).get(H)!, home)).toEqual({});
    const ev = withHome();
    expect(ev.home).toMatchObject({ shardId: 0, height: 5, to: CONTRACT, receipt: { shardId: 0 } });
    const first = mergeFacts(ev, blockFacts(block(1, 6, { transactions: [credit(H)] }), all).get(H)!, home);
    const again = mergeFacts(first, blockFacts(block(1, 9, { transactions: [credit(H)] }), all).get(H)!, home);
    expect(again).toBe(first);
    expect(again.credit).toMatchObject({ shardId: 1, height: 6 });
  });

  it('is not ended without a credit, and the home debit alone is not an end', () => {
    expect(shardLedEnd(withHome(), home)).toBeUndefined();
    expect(shardLedStatus(H, home, withHome(), { nowMs: 1 })).toBeUndefined();
  });

  it('ends a transfer with its credit on another shard: COMMITTED and applied, with the home receipt', () => {
    const dest = block(1, 6, { transactions: [credit(H)] });
    const ev = mergeFacts(withHome(), blockFacts(dest, all).get(H)!, home);
    expect(shardLedEnd(ev, home)).toEqual({ kind: 'transfer', at: expect.objectContaining({ shardId: 1, height: 6 }) });
    expect(shardLedStatus(H, home, ev, { nowMs: 1 })).toEqual({
      txHash: H,
      status: TxStatus.TX_STATUS_COMMITTED,
      homeShard: 0,
      crossShard: true,
      blockHeight: 5,
      receipt: homeBlock.receipts[0],
      reason: '',
      updatedAtMs: dest.timestampMs,
      applied: true,
      involvedShards: [0, 1],
    });
  });

  it("ends a call with its home's credit of the result, with the contract shard's receipt (reverted: success false and the error)", () => {
    const r = receipt(H, 1, 6, { success: false, gasUsed: 25_000, error: 'revert' });
    const onContract = block(1, 6, { transactions: [credit(H), user(H, CONTRACT), debit(H)], receipts: [r], outgoingReceipts: [callResult(H, { success: false, gasUsed: 25_000, error: 'revert' })] });
    let ev = mergeFacts(withHome(), blockFacts(onContract, all).get(H)!, home);
    expect(shardLedEnd(ev, home)).toBeUndefined();
    const back = block(0, 8, { transactions: [credit(H)] });
    ev = mergeFacts(ev, blockFacts(back, all).get(H)!, home);
    expect(shardLedEnd(ev, home)).toEqual({ kind: 'call', at: expect.objectContaining({ shardId: 0, height: 8 }) });
    expect(shardLedStatus(H, home, ev, { nowMs: 1 })).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, blockHeight: 5, receipt: r, updatedAtMs: back.timestampMs, applied: true, involvedShards: [0, 1] });
  });

  it("ends a call when its home answers COMMITTED, without a receipt until its result is known, then the refusal's receipt", () => {
    expect(shardLedStatus(H, home, withHome(), { nowMs: 42, homeCommitted: true })).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, receipt: undefined, updatedAtMs: 42, applied: true, involvedShards: [] });
    const refused = block(1, 6, { transactions: [credit(H), debit(H)], outgoingReceipts: [callResult(H, { success: false, gasUsed: 0, error: 'reaches 0x33: the call needs block-2PC' })] });
    const ev = mergeFacts(withHome(), blockFacts(refused, all).get(H)!, home);
    const s = shardLedStatus(H, home, ev, { nowMs: 42, homeCommitted: true })!;
    expect(s.receipt).toEqual(callOutcomeReceipt(H, ev.callResult!));
    expect(s.receipt).toMatchObject({ txHash: H, shardId: 1, blockHeight: 6, blockHash: refused.hash, success: false, gasUsed: 0, logs: [], error: 'reaches 0x33: the call needs block-2PC' });
  });
});
