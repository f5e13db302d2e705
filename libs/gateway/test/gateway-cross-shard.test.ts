// The gateway over gRPC with a fake orchestrator and fake shards, cross-shard transactions: status-stream-driven watches, GetTransaction, home receipts, orchestrator outages
import { status } from '@grpc/grpc-js';
import type { DevAccount } from '@shardlab/chain';
import { TxStatus } from '@shardlab/proto';
import { FakeOrchestrator } from './fake-orchestrator';
import { grpcError, openWatch, waitFor } from './helpers';
import { Network } from './network';

describe('gateway with cross-shard transactions, a fake orchestrator and two fake state shards', () => {
  const net = new Network(2);
  let orch: FakeOrchestrator;
  let a0: DevAccount; // on shard 0
  let b0: DevAccount; // on shard 0
  let a1: DevAccount; // on shard 1

  beforeAll(async () => {
    await net.start({ liveShards: [0, 1], orchestrator: true });
    orch = net.orchestrator!;
    [a0, b0] = net.accountsOn(0) as [DevAccount, DevAccount];
    [a1] = net.accountsOn(1) as [DevAccount];
  });
  afterAll(() => net.stop());

  /** Sends a transfer from shard 0 to shard 1 (cross-shard). */
  const sendCross = () => net.send(net.sign(a0, a1));

  /** Opens a watch and waits until the gateway follows it on the orchestrator's connected status stream. */
  async function watchLive(txHash: string) {
    const w = openWatch(net.client, txHash);
    await waitFor(() => w.messages.length === 1, 5000, 'the first status');
    // The initial read, then the re-read once the watch is registered on a connected stream.
    await waitFor(() => net.gateway.statusStream.connected && orch.getCalls.get(txHash) === 2, 5000, 'the watch on the status stream');
    return w;
  }

  it('returns crossShard from the home shard and remembers it', async () => {
    const res = await sendCross();
    expect(res).toMatchObject({ homeShard: 0, crossShard: true });
    expect(net.shards[0]!.submitted).toContain(res.txHash);
    expect(await net.getTransaction(res.txHash)).toMatchObject({
      txHash: res.txHash,
      status: TxStatus.TX_STATUS_PENDING,
      homeShard: 0,
      crossShard: true,
    });
    // Local transactions are unchanged.
    expect(await net.send(net.sign(a0, b0))).toMatchObject({ homeShard: 0, crossShard: false });
  });

  it('streams PENDING, PREPARED, COMMITTED from the orchestrator, then ends', async () => {
    const { txHash } = await sendCross();
    const subscriptions = orch.subscribeCalls;
    const w = await watchLive(txHash);
    expect(w.messages[0]).toMatchObject({ txHash, status: TxStatus.TX_STATUS_PENDING, homeShard: 0, crossShard: true });
    orch.update(txHash, TxStatus.TX_STATUS_PREPARED);
    await waitFor(() => w.messages.length === 2, 5000, 'PREPARED');
    orch.update(txHash, TxStatus.TX_STATUS_COMMITTED);
    expect(await w.ended).toEqual({ code: 0, details: '' });
    expect(w.messages.map((m) => m.status)).toEqual([TxStatus.TX_STATUS_PENDING, TxStatus.TX_STATUS_PREPARED, TxStatus.TX_STATUS_COMMITTED]);
    expect(w.messages.every((m) => m.crossShard && m.homeShard === 0 && m.txHash === txHash)).toBe(true);
    // Driven by the one status stream: no polling of the transaction's status, no stream per watch.
    expect(orch.getCalls.get(txHash)).toBe(2);
    expect(orch.subscribeCalls - subscriptions).toBeLessThanOrEqual(1);
    await waitFor(() => net.gateway.activeWatches === 0, 5000, 'the gateway to drop the watch');
  });

  it('ends with ABORTED and its reason', async () => {
    const { txHash } = await sendCross();
    const w = await watchLive(txHash);
    orch.update(txHash, TxStatus.TX_STATUS_ABORTED, { reason: 'shard 1 voted no: insufficient balance' });
    expect(await w.ended).toEqual({ code: 0, details: '' });
    expect(w.messages.map((m) => m.status)).toEqual([TxStatus.TX_STATUS_PENDING, TxStatus.TX_STATUS_ABORTED]);
    expect(w.messages[1]).toMatchObject({ txHash, crossShard: true, reason: 'shard 1 voted no: insufficient balance' });
  });

  it('fans one status stream out to several watchers and never repeats a status or goes backwards', async () => {
    const t1 = (await sendCross()).txHash;
    const t2 = (await sendCross()).txHash;
    const w1 = await watchLive(t1);
    const w1b = openWatch(net.client, t1);
    const w2 = await watchLive(t2);
    await waitFor(() => w1b.messages.length === 1 && net.gateway.activeCrossShardWatches === 3, 5000, 'the second watch of t1');
    expect(orch.streams).toBe(1);

    orch.update(t1, TxStatus.TX_STATUS_PREPARED);
    orch.push(orch.statuses.get(t1)!); // the same status again
    orch.push({ ...orch.statuses.get(t1)!, status: TxStatus.TX_STATUS_PENDING }); // an older one, late
    orch.update(t2, TxStatus.TX_STATUS_PREPARED);
    orch.update(t1, TxStatus.TX_STATUS_COMMITTED);
    orch.push({ ...orch.statuses.get(t1)!, status: TxStatus.TX_STATUS_PREPARED }); // after the end: ignored
    orch.update(t2, TxStatus.TX_STATUS_ABORTED, { reason: 'vote timeout' });
    for (const w of [w1, w1b, w2]) expect(await w.ended).toEqual({ code: 0, details: '' });
    const committed = [TxStatus.TX_STATUS_PENDING, TxStatus.TX_STATUS_PREPARED, TxStatus.TX_STATUS_COMMITTED];
    expect(w1.messages.map((m) => m.status)).toEqual(committed);
    // The second watcher of t1 may have first seen PENDING or already PREPARED; never a repeat.
    expect(committed.slice(committed.indexOf(w1b.messages[0]!.status))).toEqual(w1b.messages.map((m) => m.status));
    expect(w2.messages.map((m) => m.status)).toEqual([TxStatus.TX_STATUS_PENDING, TxStatus.TX_STATUS_PREPARED, TxStatus.TX_STATUS_ABORTED]);
  });

  it("is not ended with FINAL by the home shard's block holding the transaction", async () => {
    const shard = net.shards[0]!;
    const cross = (await sendCross()).txHash;
    const local = (await net.send(net.sign(a0, b0))).txHash;
    const wc = await watchLive(cross);
    const wl = openWatch(net.client, local);
    await waitFor(() => wl.messages.length === 1 && shard.subscribers === 1, 5000, 'the local watch on the block stream');
    // One block holds both: the local transaction becomes final, the cross-shard one only pays its fee.
    const block = shard.produceBlock([cross, local]);
    expect(await wl.ended).toEqual({ code: 0, details: '' });
    expect(wl.messages.map((m) => m.status)).toEqual([TxStatus.TX_STATUS_QUEUED, TxStatus.TX_STATUS_FINAL]);
    // The gateway has processed the block: the cross-shard watch is still open at PENDING.
    expect(net.gateway.nextStreamHeight(0)).toBe(block.height + 1);
    expect(wc.messages.map((m) => m.status)).toEqual([TxStatus.TX_STATUS_PENDING]);
    expect(net.gateway.activeCrossShardWatches).toBe(1);
    // GetTransaction prefers the orchestrator to the home shard's FINAL.
    expect(shard.txs.get(cross)).toMatchObject({ status: TxStatus.TX_STATUS_FINAL, crossShard: true });
    expect(await net.getTransaction(cross)).toMatchObject({ status: TxStatus.TX_STATUS_PENDING, crossShard: true });

    orch.update(cross, TxStatus.TX_STATUS_PREPARED);
    orch.update(cross, TxStatus.TX_STATUS_COMMITTED);
    expect(await wc.ended).toEqual({ code: 0, details: '' });
    expect(wc.messages.map((m) => m.status)).toEqual([TxStatus.TX_STATUS_PENDING, TxStatus.TX_STATUS_PREPARED, TxStatus.TX_STATUS_COMMITTED]);
  });

  it("answers GetTransaction of a cross-shard transaction with the orchestrator's status", async () => {
    const { txHash } = await sendCross();
    orch.update(txHash, TxStatus.TX_STATUS_PREPARED);
    expect(await net.getTransaction(txHash)).toMatchObject({ txHash, status: TxStatus.TX_STATUS_PREPARED, homeShard: 0, crossShard: true });
    orch.update(txHash, TxStatus.TX_STATUS_ABORTED, { reason: 'vote timeout' });
    expect(await net.getTransaction(txHash)).toMatchObject({ status: TxStatus.TX_STATUS_ABORTED, reason: 'vote timeout', crossShard: true });

    // Unknown to the gateway: the home shard reports it cross-shard, so the orchestrator answers.
    const direct = net.shards[0]!.submit(net.sign(a0, a1));
    orch.update(direct.txHash, TxStatus.TX_STATUS_COMMITTED, { homeShard: 0 });
    expect(await net.getTransaction(direct.txHash)).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, homeShard: 0, crossShard: true });

    // Known only to the orchestrator.
    const orphan = '0x' + '5a'.repeat(32);
    orch.record(orphan, TxStatus.TX_STATUS_PREPARED, { homeShard: 1 });
    expect(await net.getTransaction(orphan)).toMatchObject({ txHash: orphan, status: TxStatus.TX_STATUS_PREPARED, homeShard: 1, crossShard: true });

    // Known to nobody.
    const unknown = '0x' + 'a5'.repeat(32);
    const err = await grpcError(net.getTransaction(unknown));
    expect(err.code).toBe(status.NOT_FOUND);
    expect(orch.getCalls.get(unknown)).toBe(1);
  });

  it("answers the home shard's view, PENDING, while the orchestrator does not know a cross-shard transaction", async () => {
    const shard = net.shards[0]!;
    shard.onCrossShard = () => {}; // accepted, but the orchestrator has not recorded it (yet)
    try {
      const { txHash } = await sendCross();
      expect(await net.getTransaction(txHash)).toMatchObject({ status: TxStatus.TX_STATUS_PENDING, homeShard: 0, crossShard: true });
      shard.produceBlock([txHash]); // the shard's FINAL (fee charged) does not decide it
      const s = await net.getTransaction(txHash);
      expect(s).toMatchObject({ status: TxStatus.TX_STATUS_PENDING, crossShard: true, receipt: { txHash, success: true } });
    } finally {
      shard.onCrossShard = (h, home) => orch.update(h, TxStatus.TX_STATUS_PENDING, { homeShard: home });
    }
  });

  /** Makes the home shard's receipt of `txHash` (in a block already) that of a contract call: more gas, one log. */
  const callReceipt = (txHash: string) => {
    const r = net.shards[0]!.txs.get(txHash)!.receipt!;
    r.gasUsed = 43_210;
    r.logs = [{ address: '0x' + '11'.repeat(20), topics: [], data: Buffer.from('00'.repeat(31) + '01', 'hex') }];
    return r;
  };

  it("attaches the home shard's receipt (gas used, logs) to COMMITTED, read once from the home shard", async () => {
    const shard = net.shards[0]!;
    const { txHash } = await sendCross();
    const w = await watchLive(txHash);
    shard.produceBlock([txHash]); // the acceptance: in the home shard's block before the decision
    const receipt = callReceipt(txHash);
    orch.update(txHash, TxStatus.TX_STATUS_PREPARED);
    await waitFor(() => w.messages.length === 2, 5000, 'PREPARED');
    const readsBefore = shard.getTransactionCalls.get(txHash) ?? 0;
    orch.update(txHash, TxStatus.TX_STATUS_COMMITTED);
    expect(await w.ended).toEqual({ code: 0, details: '' });
    expect(w.messages.map((m) => m.status)).toEqual([TxStatus.TX_STATUS_PENDING, TxStatus.TX_STATUS_PREPARED, TxStatus.TX_STATUS_COMMITTED]);
    expect(w.messages[0]!.receipt).toBeUndefined();
    expect(w.messages[1]!.receipt).toBeUndefined();
    expect(w.messages[2]).toMatchObject({ txHash, status: TxStatus.TX_STATUS_COMMITTED, crossShard: true, homeShard: 0 });
    expect(w.messages[2]!.receipt).toMatchObject({ txHash, shardId: 0, success: true, gasUsed: 43_210, blockHeight: receipt.blockHeight });
    expect(w.messages[2]!.receipt!.logs).toHaveLength(1);
    expect(w.messages[2]!.receipt!.logs[0]).toMatchObject({ address: '0x' + '11'.repeat(20), topics: [] });
    expect(Buffer.from(w.messages[2]!.receipt!.logs[0]!.data).toString('hex')).toBe('00'.repeat(31) + '01');
    // One read of the home shard when the decision arrived; no polling.
    expect(shard.getTransactionCalls.get(txHash)).toBe(readsBefore + 1);
    expect(orch.getCalls.get(txHash)).toBe(2);

    // GetTransaction answers the same, from what the gateway remembers.
    const got = await net.getTransaction(txHash);
    expect(got).toMatchObject({ txHash, status: TxStatus.TX_STATUS_COMMITTED, crossShard: true, receipt: { txHash, gasUsed: 43_210 } });
    expect(got.receipt!.logs).toHaveLength(1);
    expect(shard.getTransactionCalls.get(txHash)).toBe(readsBefore + 1);
  });

  it('shares one receipt read among the watchers of a transaction', async () => {
    const shard = net.shards[0]!;
    const { txHash } = await sendCross();
    const w1 = await watchLive(txHash);
    const w2 = openWatch(net.client, txHash);
    await waitFor(() => w2.messages.length === 1 && net.gateway.activeCrossShardWatches === 2 && orch.getCalls.get(txHash) === 4, 5000, 'the second watch');
    shard.produceBlock([txHash]);
    callReceipt(txHash);
    const readsBefore = shard.getTransactionCalls.get(txHash) ?? 0;
    orch.update(txHash, TxStatus.TX_STATUS_COMMITTED);
    for (const w of [w1, w2]) {
      expect(await w.ended).toEqual({ code: 0, details: '' });
      expect(w.messages.at(-1)).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, receipt: { txHash, gasUsed: 43_210 } });
    }
    expect(shard.getTransactionCalls.get(txHash)).toBe(readsBefore + 1);
  });

  it('answers GetTransaction of a decided cross-shard transaction with the receipt, also when first asked after the decision', async () => {
    const shard = net.shards[0]!;
    // Submitted to the shard directly: the gateway learns it from the shards' answers.
    const direct = shard.submit(net.sign(a0, a1));
    shard.produceBlock([direct.txHash]);
    callReceipt(direct.txHash);
    orch.update(direct.txHash, TxStatus.TX_STATUS_COMMITTED, { homeShard: 0 });
    const got = await net.getTransaction(direct.txHash);
    expect(got).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, crossShard: true, receipt: { txHash: direct.txHash, gasUsed: 43_210 } });
    expect(got.receipt!.logs).toHaveLength(1);
    // A watch opened afterwards gets the terminal status with the receipt at once.
    const w = openWatch(net.client, direct.txHash);
    expect(await w.ended).toEqual({ code: 0, details: '' });
    expect(w.messages).toHaveLength(1);
    expect(w.messages[0]).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, receipt: { txHash: direct.txHash, gasUsed: 43_210 } });
  });

  it('streams ABORTED without a receipt when the home shard has not included the transaction, and attaches it once included', async () => {
    const shard = net.shards[0]!;
    const { txHash } = await sendCross();
    const w = await watchLive(txHash);
    orch.update(txHash, TxStatus.TX_STATUS_ABORTED, { reason: 'vote timeout' });
    expect(await w.ended).toEqual({ code: 0, details: '' });
    expect(w.messages.map((m) => m.status)).toEqual([TxStatus.TX_STATUS_PENDING, TxStatus.TX_STATUS_ABORTED]);
    expect(w.messages[1]).toMatchObject({ reason: 'vote timeout' });
    expect(w.messages[1]!.receipt).toBeUndefined();
    expect(await net.getTransaction(txHash)).toMatchObject({ status: TxStatus.TX_STATUS_ABORTED, receipt: undefined });
    // Its home block comes later (the nonce and fee are consumed): GetTransaction then has it.
    shard.produceBlock([txHash]);
    expect(await net.getTransaction(txHash)).toMatchObject({ status: TxStatus.TX_STATUS_ABORTED, reason: 'vote timeout', receipt: { txHash, success: true } });
  });

  it('reconnects the status stream after the orchestrator restarts and re-reads what changed meanwhile', async () => {
    const { txHash } = await sendCross();
    const w = await watchLive(txHash);
    const connections = net.gateway.statusStream.connections;
    const port = orch.server!.port;

    await orch.crash();
    await waitFor(() => !net.gateway.statusStream.connected, 5000, 'the gateway to lose the status stream');
    orch.record(txHash, TxStatus.TX_STATUS_PREPARED); // decided while the gateway could not hear it
    const restarted = await new FakeOrchestrator(orch.statuses).start(port);
    net.orchestrator = orch = restarted;

    // The gap is covered by re-reading the watched transaction once the stream is back.
    await waitFor(() => w.messages.length === 2, 10_000, 'PREPARED after the reconnection');
    expect(w.messages[1]).toMatchObject({ txHash, status: TxStatus.TX_STATUS_PREPARED, crossShard: true });
    expect(net.gateway.statusStream).toEqual({ connected: true, connections: connections + 1 });
    expect(restarted.subscribeCalls).toBe(1);
    expect(restarted.getCalls.get(txHash)).toBe(1);
    // And the new stream carries what follows.
    await waitFor(() => restarted.streams === 1, 5000, 'the subscription');
    restarted.update(txHash, TxStatus.TX_STATUS_COMMITTED);
    expect(await w.ended).toEqual({ code: 0, details: '' });
    expect(w.messages.map((m) => m.status)).toEqual([TxStatus.TX_STATUS_PENDING, TxStatus.TX_STATUS_PREPARED, TxStatus.TX_STATUS_COMMITTED]);
  });

  it('ends open cross-shard watches with UNAVAILABLE when the gateway shuts down', async () => {
    const { txHash } = await sendCross();
    const w = await watchLive(txHash);
    await net.gateway.close();
    const end = await w.ended;
    expect(end.code).toBe(status.UNAVAILABLE);
    expect(end.details).toMatch(/shutting down/);
    expect(net.gateway.activeWatches).toBe(0);
    expect(net.gateway.statusStream.connected).toBe(false);
  });
});

describe('gateway when the orchestrator cannot be reached', () => {
  const net = new Network(2);
  let a0: DevAccount;
  let a1: DevAccount;
  let orch: FakeOrchestrator;

  beforeAll(async () => {
    // Shards accept cross-shard transactions; no orchestrator is registered at first.
    await net.start({ liveShards: [0, 1], crossShard: true });
    [a0] = net.accountsOn(0) as [DevAccount];
    [a1] = net.accountsOn(1) as [DevAccount];
    orch = await new FakeOrchestrator().start();
  });
  afterAll(async () => {
    await net.stop();
    await orch.stop();
  });

  it('answers UNAVAILABLE for a cross-shard transaction when no orchestrator is registered', async () => {
    const { txHash, crossShard } = await net.send(net.sign(a0, a1));
    expect(crossShard).toBe(true);
    const err = await grpcError(net.getTransaction(txHash));
    expect(err.code).toBe(status.UNAVAILABLE);
    expect(err.details).toBe('orchestrator unavailable: no live orchestrator is registered with the registry');
    const w = openWatch(net.client, txHash);
    expect(await w.ended).toEqual({ code: status.UNAVAILABLE, details: err.details });
    // A transaction nobody knows is still NOT_FOUND.
    expect((await grpcError(net.getTransaction('0x' + '77'.repeat(32)))).code).toBe(status.NOT_FOUND);
  });

  it('answers UNAVAILABLE naming the orchestrator when it is registered but down, and recovers when it is back', async () => {
    const { txHash } = await net.send(net.sign(a0, a1));
    const port = orch.server!.port;
    net.state.register({ service: 'orchestrator', address: orch.address, shardId: 0, instanceId: 'orchestrator-test' });
    orch.update(txHash, TxStatus.TX_STATUS_PREPARED, { homeShard: 0 });
    expect(await net.getTransaction(txHash)).toMatchObject({ status: TxStatus.TX_STATUS_PREPARED, crossShard: true });

    await orch.crash();
    const err = await grpcError(net.getTransaction(txHash));
    expect(err.code).toBe(status.UNAVAILABLE);
    expect(err.details).toBe(`orchestrator (127.0.0.1:${port}) unavailable: OrchestratorService.GetCrossShardStatus: deadline of 1000 ms exceeded`);

    orch = await new FakeOrchestrator(orch.statuses).start(port);
    expect(await net.getTransaction(txHash)).toMatchObject({ status: TxStatus.TX_STATUS_PREPARED, crossShard: true });
  });
});
