// The gateway over gRPC with fake shards, local transactions: routing, refusals, reads, block-driven WatchTransaction, batch submission, unreachable shards
import { status } from '@grpc/grpc-js';
import { RLP } from '@ethereumjs/rlp';
import { decodeTransaction, type DevAccount } from '@shardlab/chain';
import { TxStatus, type Account, type ListShardsResponse, type StateShardBlock } from '@shardlab/proto';
import { MAX_BATCH_ITEMS, startServer } from '@shardlab/rpc';
import { FakeShard } from './fake-shard';
import { grpcError, healthCheck, openWatch, rawCall, reflect, waitFor } from './helpers';
import { common, logger, Network } from './network';

/** The raw transaction with its signature's s replaced by n − s (a high-s signature, EIP-2). */
function withHighS(raw: Uint8Array): Uint8Array {
  const fields = RLP.decode(raw.subarray(1)) as Uint8Array[];
  const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
  const s = BigInt('0x' + Buffer.from(fields[11]!).toString('hex'));
  fields[11] = Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex');
  return new Uint8Array([raw[0]!, ...RLP.encode(fields)]);
}

describe('gateway over gRPC, with a registry and two fake state shards', () => {
  const net = new Network(2);
  let a0: DevAccount; // on shard 0
  let b0: DevAccount; // on shard 0
  let a1: DevAccount; // on shard 1
  let b1: DevAccount; // on shard 1

  beforeAll(async () => {
    await net.start({ liveShards: [0, 1] });
    [a0, b0] = net.accountsOn(0) as [DevAccount, DevAccount];
    [a1, b1] = net.accountsOn(1) as [DevAccount, DevAccount];
  });
  afterAll(() => net.stop());

  it('registers itself with the registry', () => {
    expect(net.state.listEndpoints('gateway').map((e) => [e.address, e.alive])).toEqual([[net.gatewayServer.address, true]]);
  });

  it("routes each transaction to its sender's home shard", async () => {
    const r0 = await net.send(net.sign(a0, b0));
    expect(r0).toMatchObject({ homeShard: 0, crossShard: false });
    expect(r0.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    const r1 = await net.send(net.sign(a1, b1));
    expect(r1).toMatchObject({ homeShard: 1, crossShard: false });
    expect(net.shards[0]!.submitted).toContain(r0.txHash);
    expect(net.shards[0]!.submitted).not.toContain(r1.txHash);
    expect(net.shards[1]!.submitted).toContain(r1.txHash);
  });

  it('rejects malformed RLP, a wrong chain id and a bad signature with INVALID_ARGUMENT before any shard sees them', async () => {
    const before = net.shards.map((s) => s.submitted.length);
    const good = net.sign(a0, b0, { nonce: 99n });
    const cases: Array<[string, Uint8Array, RegExp]> = [
      ['empty', new Uint8Array(), /empty/],
      ['malformed RLP', new Uint8Array([0xde, 0xad, 0xbe, 0xef]), /malformed transaction RLP/],
      ['truncated', good.subarray(0, good.length - 5), /malformed/],
      ['wrong chain id', net.sign(a0, b0, { nonce: 0n, chainId: 1 }), /wrong chain id: transaction is signed for chain 1, this network is chain 1337/],
      ['bad signature', withHighS(good), /Invalid Signature/],
      ['oversized', new Uint8Array(200 * 1024), /bytes, more than/],
    ];
    for (const [what, raw, message] of cases) {
      const err = await grpcError(net.send(raw));
      expect({ what, code: err.code }).toEqual({ what, code: status.INVALID_ARGUMENT });
      expect(err.details).toMatch(message);
    }
    expect(net.shards.map((s) => s.submitted.length)).toEqual(before);
  });

  it("passes the shard's errors through with their code and message", async () => {
    const raw = net.sign(a0, b0);
    await net.send(raw);
    const dup = await grpcError(net.send(raw));
    expect(dup.code).toBe(status.ALREADY_EXISTS);
    expect(dup.details).toMatch(/already known/);

    const low = await grpcError(net.send(net.sign(a0, b0, { nonce: 0n, value: 7n })));
    expect(low.code).toBe(status.FAILED_PRECONDITION);
    expect(low.details).toMatch(/^nonce too low: transaction nonce 0/);

    const high = await grpcError(net.send(net.sign(a0, b0, { nonce: 1000n })));
    expect(high.code).toBe(status.FAILED_PRECONDITION);
    expect(high.details).toMatch(/^nonce too high/);

    const cross = await grpcError(net.send(net.sign(a0, a1, { nonce: 0n })));
    expect(cross.code).toBe(status.FAILED_PRECONDITION); // nonce 0 is used: the shard checks the nonce first
    const crossOk = await grpcError(net.send(net.sign(a0, a1, { nonce: net.nextNonce(a0) })));
    expect(crossOk.code).toBe(status.UNIMPLEMENTED);
    expect(crossOk.details).toMatch(/cross-shard/);
  });

  it("reads accounts from the address's shard", async () => {
    const acc = await rawCall<Account>((cb) => net.client.getAccount({ address: a1.address.toUpperCase().replace('0X', '0x') }, cb));
    expect(acc).toMatchObject({ address: a1.address, shardId: 1, balance: (10n ** 24n).toString() });
    expect(acc.nonce).toBeGreaterThan(0);
    const err = await grpcError(rawCall((cb) => net.client.getAccount({ address: '0x1234' }, cb)));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
  });

  it('answers GetTransaction from the known home shard, from every shard when unknown, NOT_FOUND when nobody knows it', async () => {
    const { txHash } = await net.send(net.sign(a1, b1));
    expect(await net.getTransaction(txHash)).toMatchObject({ txHash, status: TxStatus.TX_STATUS_QUEUED, homeShard: 1 });

    // Submitted to the shard directly: the gateway has never seen it and asks every shard.
    const direct = net.shards[1]!.submit(net.sign(a1, b1));
    expect(await net.getTransaction(direct.txHash.toUpperCase().replace('0X', '0x'))).toMatchObject({
      txHash: direct.txHash,
      status: TxStatus.TX_STATUS_QUEUED,
      homeShard: 1,
    });
    expect(net.shards[0]!.getTransactionCalls.get(direct.txHash)).toBe(1);

    const unknown = '0x' + 'ab'.repeat(32);
    const err = await grpcError(net.getTransaction(unknown));
    expect(err.code).toBe(status.NOT_FOUND);
    expect(err.details).toMatch(/unknown to every shard/);
    expect((await grpcError(net.getTransaction('0x1234'))).code).toBe(status.INVALID_ARGUMENT);
  });

  it('streams QUEUED, then FINAL when the home shard emits the block on its stream, then ends', async () => {
    const shard = net.shards[0]!;
    const { txHash } = await net.send(net.sign(a0, b0));
    const w = openWatch(net.client, txHash);
    await waitFor(() => w.messages.length === 1, 5000, 'the first status');
    expect(w.messages[0]).toMatchObject({ txHash, status: TxStatus.TX_STATUS_QUEUED, homeShard: 0 });
    // The gateway subscribed to shard 0's blocks and re-read the status after subscribing.
    await waitFor(() => shard.subscribers === 1 && shard.getTransactionCalls.get(txHash) === 2, 5000, 'the subscription');
    expect(net.gateway.subscribedShards).toContain(0);

    const block = shard.produceBlock([txHash]);
    expect(await w.ended).toEqual({ code: 0, details: '' });
    expect(w.messages).toHaveLength(2);
    expect(w.messages[1]).toMatchObject({
      txHash,
      status: TxStatus.TX_STATUS_FINAL,
      homeShard: 0,
      crossShard: false,
      blockHeight: block.height,
      receipt: { txHash, blockHeight: block.height, success: true, gasUsed: 21_000 },
    });
    // Only the initial read and the re-check: no polling.
    expect(shard.getTransactionCalls.get(txHash)).toBe(2);
    expect(net.gateway.activeWatches).toBe(0);
  });

  it('does not miss a transaction that becomes final between the first read and the subscription', async () => {
    const shard = net.shards[1]!;
    expect(net.gateway.subscribedShards).not.toContain(1);
    const { txHash } = await net.send(net.sign(a1, b1));
    // Right after answering the first read with QUEUED, the shard finalizes the transaction in a
    // block below the height the gateway's subscription will start from.
    let finalHeight = -1;
    shard.onGetTransaction = (h, n) => {
      if (h === txHash && n === 1) finalHeight = shard.produceBlock([txHash]).height;
    };
    try {
      const w = openWatch(net.client, txHash);
      expect(await w.ended).toEqual({ code: 0, details: '' });
      expect(w.messages.map((m) => m.status)).toEqual([TxStatus.TX_STATUS_QUEUED, TxStatus.TX_STATUS_FINAL]);
      expect(w.messages[1]!.blockHeight).toBe(finalHeight);
      expect(shard.subscribeFrom[0]).toBe(finalHeight + 1);
    } finally {
      shard.onGetTransaction = undefined;
    }
  });

  it('sends a single message for a transaction that is already final', async () => {
    const shard = net.shards[1]!;
    const { txHash } = await net.send(net.sign(a1, b1));
    shard.produceBlock([txHash]);
    const w = openWatch(net.client, txHash);
    expect(await w.ended).toEqual({ code: 0, details: '' });
    expect(w.messages.map((m) => m.status)).toEqual([TxStatus.TX_STATUS_FINAL]);
  });

  it('ends a watch of an unknown transaction with NOT_FOUND', async () => {
    const w = openWatch(net.client, '0x' + 'cd'.repeat(32));
    const end = await w.ended;
    expect(end.code).toBe(status.NOT_FOUND);
    expect(w.messages).toEqual([]);
  });

  it('stops watching when the client cancels', async () => {
    const { txHash } = await net.send(net.sign(a0, b0));
    const w = openWatch(net.client, txHash);
    await waitFor(() => w.messages.length === 1 && net.gateway.activeWatches === 1, 5000, 'the watch to start');
    w.cancel();
    expect((await w.ended).code).toBe(status.CANCELLED);
    await waitFor(() => net.gateway.activeWatches === 0, 5000, 'the gateway to drop the watch');
    // A block holding the transaction afterwards is harmless.
    net.shards[0]!.produceBlock([txHash]);
  });

  it('serves shard blocks and rejects shard ids outside the network', async () => {
    const shard = net.shards[0]!;
    const head = await rawCall<StateShardBlock>((cb) => net.client.getShardBlock({ shardId: 0 }, cb));
    expect(head).toMatchObject({ shardId: 0, height: shard.head });
    const genesis = await rawCall<StateShardBlock>((cb) => net.client.getShardBlock({ shardId: 0, height: 0 }, cb));
    expect(genesis).toMatchObject({ shardId: 0, height: 0, transactions: [] });
    const missing = await grpcError(rawCall((cb) => net.client.getShardBlock({ shardId: 1, height: 999 }, cb)));
    expect(missing.code).toBe(status.NOT_FOUND);
    const bad = await grpcError(rawCall((cb) => net.client.getShardBlock({ shardId: 2 }, cb)));
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.details).toMatch(/shard 2 does not exist/);
  });

  it("forwards the registry's ListShards", async () => {
    const res = await rawCall<ListShardsResponse>((cb) => net.client.listShards({}, cb));
    expect(res.shardCount).toBe(2);
    expect(res.shards.map((s) => s.replicas.map((r) => r.address))).toEqual([[net.shards[0]!.address], [net.shards[1]!.address]]);
  });

  it('serves gRPC reflection listing the gateway service', async () => {
    const list = await reflect(net.gatewayServer.address, { listServices: '' });
    expect(list.listServicesResponse?.service.map((s) => s.name)).toContain('shardlab.v1.GatewayService');
    const file = await reflect(net.gatewayServer.address, { fileContainingSymbol: 'shardlab.v1.GatewayService' });
    expect(file.fileDescriptorResponse?.fileDescriptorProto.length).toBeGreaterThan(0);
  });

  it('answers health checks with SERVING', async () => {
    expect(await healthCheck(net.gatewayServer.address, '')).toBe('SERVING');
    expect(await healthCheck(net.gatewayServer.address, 'shardlab.v1.GatewayService')).toBe('SERVING');
  });
});

describe('gateway batch submission (SendRawTransactions), with two fake state shards', () => {
  const net = new Network(2);
  let a0: DevAccount; // on shard 0
  let b0: DevAccount; // on shard 0
  let a1: DevAccount; // on shard 1
  let b1: DevAccount; // on shard 1
  const hashOf = (raw: Uint8Array) => decodeTransaction(raw, common).hash;

  beforeAll(async () => {
    await net.start({ liveShards: [0, 1] });
    [a0, b0] = net.accountsOn(0) as [DevAccount, DevAccount];
    [a1, b1] = net.accountsOn(1) as [DevAccount, DevAccount];
  });
  afterAll(() => net.stop());

  it("routes each transaction of one call to its sender's home shard, in order, and answers in request order", async () => {
    const raws = [net.sign(a0, b0), net.sign(a1, b1), net.sign(a0, b0), net.sign(b1, a1), net.sign(a1, b1), net.sign(a0, b0)];
    const homes = [0, 1, 0, 1, 1, 0];
    const batchesBefore = net.shards.map((s) => s.submitBatches.length);
    const out = await net.sendMany(raws);
    expect(out).toEqual(raws.map((r, i) => ({ txHash: hashOf(r), homeShard: homes[i], crossShard: false })));
    // Each shard got its own transactions in request order (a sender's nonces in order), in one call.
    expect(net.shards[0]!.submitted).toEqual([0, 2, 5].map((i) => hashOf(raws[i]!)));
    expect(net.shards[1]!.submitted).toEqual([1, 3, 4].map((i) => hashOf(raws[i]!)));
    expect(net.shards.map((s, i) => s.submitBatches.slice(batchesBefore[i]))).toEqual([[3], [3]]);
    expect(net.shards.map((s) => s.submitTransactionCalls)).toEqual([0, 0]);
    // The gateway remembers where each went.
    expect(await net.getTransaction(hashOf(raws[3]!))).toMatchObject({ status: TxStatus.TX_STATUS_QUEUED, homeShard: 1 });
  });

  it("answers a garbage, oversized or refused item with its own error and accepts the others", async () => {
    const first = net.sign(a0, b0);
    const dup = net.sign(a1, b1);
    await net.send(dup);
    const raws = [
      first,
      new Uint8Array([0xde, 0xad, 0xbe, 0xef]),
      new Uint8Array(200 * 1024),
      net.sign(a0, b0, { nonce: 0n, chainId: 1 }),
      dup,
      net.sign(a1, b1, { nonce: 1000n }),
      net.sign(a0, b0),
    ];
    const before = net.shards.map((s) => s.submitted.length);
    const out = await net.sendMany(raws);
    expect(out).toHaveLength(raws.length);
    expect(out[0]).toEqual({ txHash: hashOf(first), homeShard: 0, crossShard: false });
    expect(out[1]).toMatchObject({ code: status.INVALID_ARGUMENT, message: expect.stringMatching(/malformed transaction RLP/) });
    expect(out[2]).toMatchObject({ code: status.INVALID_ARGUMENT, message: expect.stringMatching(/bytes, more than/) });
    expect(out[3]).toMatchObject({ code: status.INVALID_ARGUMENT, message: expect.stringMatching(/wrong chain id/) });
    // The shard's refusals come through with their code and message.
    expect(out[4]).toMatchObject({ code: status.ALREADY_EXISTS, message: expect.stringMatching(/already known/) });
    expect(out[5]).toMatchObject({ code: status.FAILED_PRECONDITION, message: expect.stringMatching(/^nonce too high/) });
    expect(out[6]).toEqual({ txHash: hashOf(raws[6]!), homeShard: 0, crossShard: false });
    expect(net.shards.map((s, i) => s.submitted.slice(before[i]))).toEqual([[hashOf(first), hashOf(raws[6]!)], []]);
  });

  it('refuses more than MAX_BATCH_ITEMS transactions as a whole with INVALID_ARGUMENT', async () => {
    const before = net.shards.map((s) => s.submitted.length);
    const raws = [net.sign(a0, b0, { nonce: net.nextNonce(a0) }), ...Array.from({ length: MAX_BATCH_ITEMS }, () => new Uint8Array([0xde, 0xad]))];
    const err = await grpcError(net.sendMany(raws));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toMatch(`at most ${MAX_BATCH_ITEMS} items`);
    expect(net.shards.map((s) => s.submitted.length)).toEqual(before);
  });

  it('carries submissions to one shard made together in fewer SubmitTransactions calls than transactions, in order', async () => {
    const shard = net.shards[1]!;
    const raws = Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? net.sign(a1, b1) : net.sign(b1, a1)));
    const batchesBefore = shard.submitBatches.length;
    const submittedBefore = shard.submitted.length;
    // SendRawTransaction (unary) for each, all made in the same turn.
    const res = await Promise.all(raws.map((r) => net.gateway.sendRawTransaction(r)));
    expect(res.map((r) => [r.txHash, r.homeShard])).toEqual(raws.map((r) => [hashOf(r), 1]));
    expect(shard.submitted.slice(submittedBefore)).toEqual(raws.map(hashOf));
    // All made in one turn: one SubmitTransactions call carries them all.
    expect(shard.submitBatches.slice(batchesBefore)).toEqual([raws.length]);
    expect(shard.submitTransactionCalls).toBe(0);
  });

  it("fails only the one shard's items when that shard refuses the whole batch call", async () => {
    const shard1 = net.shards[1]!;
    const address = shard1.address;
    await shard1.stop();
    const raws = [net.sign(a0, b0), net.sign(a1, b1, { nonce: net.nextNonce(a1) }), net.sign(a0, b0), net.sign(b1, a1, { nonce: net.nextNonce(b1) })];
    const out = await net.sendMany(raws);
    expect(out[0]).toEqual({ txHash: hashOf(raws[0]!), homeShard: 0, crossShard: false });
    expect(out[2]).toEqual({ txHash: hashOf(raws[2]!), homeShard: 0, crossShard: false });
    for (const i of [1, 3]) {
      expect(out[i]).toMatchObject({ code: status.UNAVAILABLE, message: expect.stringContaining(`shard 1 (${address}) unavailable`) });
    }
  });
});

describe('gateway when a shard cannot be reached', () => {
  // A frozen registry clock: registrations made by the test never expire.
  const clockMs = 1_700_000_000_000;
  const net = new Network(2);
  let deadAddress: string;
  let a0: DevAccount;
  let b0: DevAccount;
  let a1: DevAccount;
  let b1: DevAccount;

  beforeAll(async () => {
    await net.start({ now: () => clockMs, liveShards: [0] });
    [a0, b0] = net.accountsOn(0) as [DevAccount, DevAccount];
    [a1, b1] = net.accountsOn(1) as [DevAccount, DevAccount];
    const probe = await startServer({ port: 0, services: [], logger });
    deadAddress = probe.address;
    await probe.close();
  });
  afterAll(() => net.stop());

  it('answers UNAVAILABLE naming a shard without a live replica', async () => {
    const err = await grpcError(net.send(net.sign(a1, b1, { nonce: 0n })));
    expect(err.code).toBe(status.UNAVAILABLE);
    expect(err.details).toMatch(/^shard 1 unavailable: no live replica/);
  });

  it('answers UNAVAILABLE naming a registered shard that does not answer', async () => {
    net.state.register({ service: 'state-shard', address: deadAddress, shardId: 1, instanceId: 'shard-1' });
    const err = await grpcError(net.send(net.sign(a1, b1, { nonce: 0n })));
    expect(err.code).toBe(status.UNAVAILABLE);
    expect(err.details).toContain(`shard 1 (${deadAddress}) unavailable`);
    // GetTransaction cannot tell "unknown" from "on the unreachable shard".
    const unknown = await grpcError(net.getTransaction('0x' + 'ef'.repeat(32)));
    expect(unknown.code).toBe(status.UNAVAILABLE);
    expect(unknown.details).toMatch(/shard\(s\) 1 could not be asked/);
    // The live shard still works.
    expect((await net.send(net.sign(a0, b0))).homeShard).toBe(0);
  });

  it('finds a shard that moved: refreshes the endpoint after UNAVAILABLE and retries once', async () => {
    const moved = await new FakeShard(1, net.placement).start();
    net.shards[1] = moved;
    // The registry now points at the new address; the gateway still caches the dead one.
    net.state.register({ service: 'state-shard', address: moved.address, shardId: 1, instanceId: 'shard-1' });
    const res = await net.send(net.sign(a1, b1, { nonce: 0n }));
    expect(res.homeShard).toBe(1);
    expect(moved.submitted).toEqual([res.txHash]);
  });

  it('resubscribes from the last height seen + 1 when a block stream breaks, without missing blocks', async () => {
    const shard = net.shards[0]!;
    const { txHash } = await net.send(net.sign(a0, b0));
    const w = openWatch(net.client, txHash);
    await waitFor(() => shard.subscribers === 1 && shard.getTransactionCalls.get(txHash) === 2, 5000, 'the subscription');
    await waitFor(() => w.messages.length === 1, 5000, 'the first status');
    const seen = shard.produceBlock([]).height; // an empty block the gateway receives
    await waitFor(() => net.gateway.nextStreamHeight(0) === seen + 1, 5000, 'the gateway to receive the empty block');
    const from = shard.subscribeFrom.length;
    shard.breakStreams();
    const final = shard.produceBlock([txHash]); // produced while the gateway is disconnected
    expect(await w.ended).toEqual({ code: 0, details: '' });
    expect(w.messages.map((m) => m.status)).toEqual([TxStatus.TX_STATUS_QUEUED, TxStatus.TX_STATUS_FINAL]);
    expect(w.messages[1]!.blockHeight).toBe(final.height);
    expect(shard.subscribeFrom.slice(from)).toEqual([seen + 1]);
  });

  it('ends open watches with UNAVAILABLE when the gateway shuts down', async () => {
    const { txHash } = await net.send(net.sign(a0, b0));
    const w = openWatch(net.client, txHash);
    await waitFor(() => w.messages.length === 1 && net.gateway.activeWatches === 1, 5000, 'the watch to start');
    await net.gateway.close();
    const end = await w.ended;
    expect(end.code).toBe(status.UNAVAILABLE);
    expect(end.details).toMatch(/shutting down/);
    expect(net.gateway.activeWatches).toBe(0);
    expect(net.gateway.subscribedShards).toEqual([]);
  });
});
