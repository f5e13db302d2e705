// The gateway over gRPC with fake shards running the shard-led protocol (the orchestrator knows none of their transactions): transfers end with the destination's credit, calls with the home's credit of the result and the contract shard's receipt
import { shardOf, type DevAccount } from '@shardlab/chain';
import { ReceiptKind, TxStatus, type CrossShardReceipt, type Receipt } from '@shardlab/proto';
import type { FakeOrchestrator } from './fake-orchestrator';
import { receiptCredit, type FakeShard } from './fake-shard';
import { openWatch, waitFor } from './helpers';
import { Network } from './network';

/** The CALL_RESULT receipt a contract shard (1) sends back to the sender's shard (0). */
function callResult(txHash: string, sender: string, r: { success: boolean; gasUsed: number; error?: string; value?: string }): CrossShardReceipt {
  return {
    txHash,
    sourceShard: 1,
    destShard: 0,
    from: sender,
    to: sender,
    value: r.value ?? '1000',
    kind: ReceiptKind.RECEIPT_KIND_CALL_RESULT,
    rawTransaction: Buffer.alloc(0),
    success: r.success,
    gasUsed: r.gasUsed,
    error: r.error ?? '',
  };
}

describe('gateway with shard-led cross-shard transactions on two fake state shards', () => {
  const net = new Network(2);
  let orch: FakeOrchestrator;
  let home: FakeShard; // shard 0
  let dest: FakeShard; // shard 1
  let a0: DevAccount; // on shard 0
  let a1: DevAccount; // on shard 1
  let contract: string; // an address placed on shard 1

  beforeAll(async () => {
    await net.start({ liveShards: [0, 1], orchestrator: true });
    orch = net.orchestrator!;
    [home, dest] = [net.shards[0]!, net.shards[1]!];
    // Shard-led shards accept cross-shard transactions and forward nothing to the orchestrator.
    for (const s of net.shards) s.onCrossShard = () => {};
    [a0] = net.accountsOn(0) as [DevAccount];
    [a1] = net.accountsOn(1) as [DevAccount];
    contract = '0x' + '22'.repeat(19) + '01';
    expect(shardOf(net.placement, contract)).toBe(1);
  });
  afterAll(() => net.stop());

  /** Waits until the gateway has processed shard `shardId`'s block at `height` from its stream. */
  const processed = (shardId: number, height: number) =>
    waitFor(() => (net.gateway.nextStreamHeight(shardId) ?? 0) > height, 5000, `the gateway to process block ${height} of shard ${shardId}`);

  /** Sends a call from a0 to the contract on shard 1; its raw transaction and hash. */
  async function sendCall(): Promise<{ raw: Uint8Array; txHash: string }> {
    const raw = net.signCall(a0, contract, Buffer.from('a9059cbb', 'hex'));
    const res = await net.send(raw);
    expect(res).toMatchObject({ homeShard: 0, crossShard: true });
    return { raw, txHash: res.txHash };
  }

  /** The contract shard's block executing `raw`: the prepaid credit, the call with `receipt`, its result sent back. */
  const executeOnContractShard = (raw: Uint8Array, txHash: string, receipt: Partial<Receipt>, result: Parameters<typeof callResult>[2]) =>
    dest.produceBlock([], { system: [receiptCredit(txHash, a0.address, '5000')], executed: [{ raw, receipt }], outgoingReceipts: [callResult(txHash, a0.address, result)] });

  it('ends a transfer COMMITTED and applied when its destination credits it, not at its home debit, with the home receipt', async () => {
    const { txHash, crossShard } = await net.send(net.sign(a0, a1));
    expect(crossShard).toBe(true);
    const w = openWatch(net.client, txHash);
    await waitFor(() => w.messages.length === 1, 5000, 'the first status');
    expect(w.messages[0]).toMatchObject({ txHash, status: TxStatus.TX_STATUS_PENDING, homeShard: 0, crossShard: true });

    const debit = home.produceBlock([txHash]);
    await processed(0, debit.height);
    expect(w.messages).toHaveLength(1);
    expect(await net.getTransaction(txHash)).toMatchObject({ status: TxStatus.TX_STATUS_PENDING, receipt: { txHash, shardId: 0 } });

    const credit = dest.produceBlock([], { system: [receiptCredit(txHash, a1.address)] });
    expect(await w.ended).toEqual({ code: 0, details: '' });
    expect(w.messages.map((m) => m.status)).toEqual([TxStatus.TX_STATUS_PENDING, TxStatus.TX_STATUS_COMMITTED]);
    expect(w.messages[1]).toMatchObject({
      txHash,
      status: TxStatus.TX_STATUS_COMMITTED,
      homeShard: 0,
      crossShard: true,
      blockHeight: debit.height,
      updatedAtMs: credit.timestampMs,
      receipt: { txHash, shardId: 0, blockHeight: debit.height, gasUsed: 21_000, success: true },
      // The credit is the application: nothing is left to apply anywhere.
      applied: true,
      involvedShards: [0, 1],
    });
    expect(w.messages[0]).toMatchObject({ applied: false });
    // Followed on the block streams: the destination was never asked about it, nor read back.
    expect(dest.getTransactionCalls.get(txHash)).toBeUndefined();
    expect(dest.getBlockCalls).toEqual([]);
    // GetTransaction answers from what the streams showed, without the orchestrator.
    const asked = orch.getCalls.get(txHash);
    expect(await net.getTransaction(txHash)).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, applied: true, receipt: { txHash, shardId: 0 } });
    expect(orch.getCalls.get(txHash)).toBe(asked);
    await waitFor(() => net.gateway.activeWatches === 0, 5000, 'the gateway to drop the watch');
  });

  it('answers GetTransaction of a transfer PENDING until the credit, then COMMITTED, without a watch', async () => {
    const { txHash } = await net.send(net.sign(a0, a1));
    expect(await net.getTransaction(txHash)).toMatchObject({ status: TxStatus.TX_STATUS_PENDING, crossShard: true });
    home.produceBlock([txHash]);
    expect(await net.getTransaction(txHash)).toMatchObject({ status: TxStatus.TX_STATUS_PENDING, receipt: { txHash } });
    const credit = dest.produceBlock([], { system: [receiptCredit(txHash, a1.address)] });
    await processed(1, credit.height);
    expect(await net.getTransaction(txHash)).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, homeShard: 0, receipt: { txHash, shardId: 0 } });
  });

  it('reads back the destination blocks for a transfer credited before the gateway heard of it, then a watch ends at once', async () => {
    // Submitted to its home directly, debited and credited: the gateway learns of it afterwards.
    const direct = home.submit(net.sign(a0, a1));
    const debit = home.produceBlock([direct.txHash]);
    const credit = dest.produceBlock([], { system: [receiptCredit(direct.txHash, a1.address)] });
    const later = dest.produceBlock([]);
    await processed(1, later.height);
    const readBefore = dest.getBlockCalls.length;
    expect(await net.getTransaction(direct.txHash)).toMatchObject({
      status: TxStatus.TX_STATUS_COMMITTED,
      homeShard: 0,
      crossShard: true,
      blockHeight: debit.height,
      receipt: { txHash: direct.txHash, shardId: 0 },
    });
    expect(dest.getBlockCalls.slice(readBefore)).toContain(credit.height);
    const w = openWatch(net.client, direct.txHash);
    expect(await w.ended).toEqual({ code: 0, details: '' });
    expect(w.messages.map((m) => m.status)).toEqual([TxStatus.TX_STATUS_COMMITTED]);
  });

  it("ends a call COMMITTED when its home credits the result, with the contract shard's receipt (gas used, logs)", async () => {
    const { raw, txHash } = await sendCall();
    const w = openWatch(net.client, txHash);
    await waitFor(() => w.messages.length === 1, 5000, 'the first status');
    home.produceBlock([txHash], {}); // the prepayment debited
    const log = { address: contract, topics: ['0x' + '0f'.repeat(32)], data: Buffer.from('00'.repeat(31) + '01', 'hex') };
    const executed = executeOnContractShard(raw, txHash, { gasUsed: 43_210, logs: [log] }, { success: true, gasUsed: 43_210 });
    await processed(1, executed.height);
    // The contract shard's credit of the prepaid amount is not the end.
    expect(w.messages.map((m) => m.status)).toEqual([TxStatus.TX_STATUS_PENDING]);
    const back = home.produceBlock([], { system: [receiptCredit(txHash, a0.address, '1000')] });
    expect(await w.ended).toEqual({ code: 0, details: '' });
    expect(w.messages.map((m) => m.status)).toEqual([TxStatus.TX_STATUS_PENDING, TxStatus.TX_STATUS_COMMITTED]);
    const end = w.messages[1]!;
    expect(end).toMatchObject({ txHash, homeShard: 0, crossShard: true, updatedAtMs: back.timestampMs, applied: true, involvedShards: [0, 1] });
    expect(end.receipt).toMatchObject({ txHash, shardId: 1, blockHeight: executed.height, success: true, gasUsed: 43_210, error: '' });
    expect(end.receipt!.logs).toHaveLength(1);
    expect(end.receipt!.logs[0]).toMatchObject({ address: contract, topics: log.topics });
    expect(await net.getTransaction(txHash)).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, receipt: { shardId: 1, gasUsed: 43_210 } });
  });

  it('ends a reverted call COMMITTED with receipt.success false and its error', async () => {
    const { raw, txHash } = await sendCall();
    const w = openWatch(net.client, txHash);
    await waitFor(() => w.messages.length === 1, 5000, 'the first status');
    home.produceBlock([txHash]);
    executeOnContractShard(raw, txHash, { success: false, gasUsed: 25_000, error: 'revert' }, { success: false, gasUsed: 25_000, error: 'revert' });
    home.produceBlock([], { system: [receiptCredit(txHash, a0.address, '3000')] });
    expect(await w.ended).toEqual({ code: 0, details: '' });
    expect(w.messages.at(-1)).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, reason: '', receipt: { txHash, shardId: 1, success: false, gasUsed: 25_000, error: 'revert' } });
  });

  it('ends a call its contract shard refused COMMITTED with a receipt of that shard saying why', async () => {
    const { txHash } = await sendCall();
    home.produceBlock([txHash]);
    const error = 'reaches 0x3333333333333333333333333333333333333333, placed on another shard: the call needs block-2PC';
    const refused = dest.produceBlock([], { system: [receiptCredit(txHash, a0.address, '5000')], outgoingReceipts: [callResult(txHash, a0.address, { success: false, gasUsed: 0, error, value: '5000' })] });
    const back = home.produceBlock([], { system: [receiptCredit(txHash, a0.address, '5000')] });
    await processed(0, back.height);
    const s = await net.getTransaction(txHash);
    expect(s).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, homeShard: 0, receipt: { txHash, shardId: 1, blockHeight: refused.height, success: false, gasUsed: 0, error } });
    expect(s.receipt!.logs).toEqual([]);
  });

  it("answers a call the gateway never saw from its home's COMMITTED, preferring the home's answer to the contract shard's, with the contract shard's receipt read back", async () => {
    const raw = net.signCall(a0, contract, Buffer.from('deadbeef', 'hex'));
    const direct = home.submit(raw);
    home.produceBlock([direct.txHash]);
    const executed = executeOnContractShard(raw, direct.txHash, { gasUsed: 31_000 }, { success: true, gasUsed: 31_000 });
    home.produceBlock([], { system: [receiptCredit(direct.txHash, a0.address, '1000')] });
    // Both shards know it: the contract shard names shard 0 as its home.
    expect(dest.txs.get(direct.txHash)).toMatchObject({ status: TxStatus.TX_STATUS_PENDING, homeShard: 0, crossShard: true });
    expect(home.txs.get(direct.txHash)).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, homeShard: 0 });
    const s = await net.getTransaction(direct.txHash);
    expect(s).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, homeShard: 0, crossShard: true, applied: true, receipt: { txHash: direct.txHash, shardId: 1, blockHeight: executed.height, gasUsed: 31_000 } });
  });
});
