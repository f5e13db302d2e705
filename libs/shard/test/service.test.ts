import type { GetCodeResponse, GetProofResponse } from '@shardlab/proto';
import { status, type Metadata, type CallOptions, type ServiceError } from '@grpc/grpc-js';
import { createChainCommon, createPlacement, decodeTransaction, devAccounts, shardOf, signTransaction, type DevAccount, type SignaturePool, type TxRequest } from '@shardlab/chain';
import { Decision, StateShardServiceClient, StateShardServiceService, TxStatus, type Account, type GetDecisionResponse, type StateShardBlock, type SubmitTransactionsResponse, type TransactionStatus } from '@shardlab/proto';
import { createClient, MAX_BATCH_ITEMS, startServer, streamCall, type RunningServer } from '@shardlab/rpc';
import { MemoryKV, ShardStore } from '@shardlab/storage';
import { silentLogger } from '@shardlab/telemetry';
import { serveShard } from './serve';
import { STATE_SHARD_SERVICE_NAME, createShardNode, genesisAllocation, stateShardService, type ShardNode } from '../src';

const common = createChainCommon();
const placement = createPlacement(4);
const SHARD = 0;
const dev = devAccounts();
const local = dev.filter((a) => shardOf(placement, a.address) === SHARD);
const remote = dev.filter((a) => shardOf(placement, a.address) !== SHARD);
const [alice, bob, carol, dave] = local as [DevAccount, DevAccount, DevAccount, DevAccount];

const sign = (from: DevAccount, req: Partial<TxRequest> & { nonce: bigint }) => signTransaction(common, from, { to: bob.address, value: 1n, ...req });

/** Promisifies a generated-client unary call; rejects with the raw gRPC ServiceError. */
function call<Res>(invoke: (cb: (err: ServiceError | null, res: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => invoke((err, res) => (err ? reject(err) : resolve(res))));
}

/** SubmitTransactions with `raws`, each without a trace context. */
function submitMany(client: StateShardServiceClient, raws: Uint8Array[]): Promise<SubmitTransactionsResponse> {
  return call((cb) => client.submitTransactions({ transactions: raws.map((r) => ({ rawTransaction: Buffer.from(r), traceContext: {} })) }, cb));
}

/** The outcomes of a SubmitTransactions answer: a tx hash when accepted, else the item's error. */
const outcomes = (res: SubmitTransactionsResponse) =>
  res.results.map((r) => (r.outcome?.$case === 'accepted' ? { txHash: r.outcome.value.txHash } : { code: r.outcome?.value.code, message: r.outcome?.value.message }));

/** The gRPC status a call failed with; fails the test when it succeeded. */
async function grpcError(p: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as ServiceError;
    return { code: e.code, details: e.details };
  }
  throw new Error('expected the call to fail');
}

describe('StateShardService over gRPC', () => {
  let node: ShardNode;
  let server: RunningServer;
  let client: StateShardServiceClient;
  const logger = silentLogger();

  const submit = (raw: Uint8Array) => call((cb) => client.submitTransaction({ traceContext: {}, rawTransaction: Buffer.from(raw) }, cb));

  beforeAll(async () => {
    node = await createShardNode({ shardId: SHARD, placement, common, store: await ShardStore.open(new MemoryKV()), logger, genesis: genesisAllocation() });
    server = await startServer({
      port: 0,
      services: [{ name: STATE_SHARD_SERVICE_NAME, definition: StateShardServiceService, implementation: stateShardService(node, logger) }],
      logger,
    });
    expect(server.port).toBeGreaterThan(0);
    client = createClient(StateShardServiceClient, server.address);
  });

  afterAll(async () => {
    client.close();
    await server.close();
    await node.stop();
  });

  it('SubmitTransaction queues a good transaction and GetTransaction follows it to FINAL', async () => {
    const raw = sign(alice, { nonce: 0n, value: 42n });
    const hash = decodeTransaction(raw, common).hash;
    expect(await submit(raw)).toEqual({ txHash: hash, shardId: SHARD, crossShard: false, status: TxStatus.TX_STATUS_QUEUED, clientCoordinated: false });
    expect(await call((cb) => client.getTransaction({ txHash: hash }, cb))).toMatchObject({ txHash: hash, status: TxStatus.TX_STATUS_QUEUED });
    expect(await call((cb) => client.getHead({}, cb))).toMatchObject({ mempoolSize: 1 });

    const block = await node.produceBlock();
    const st = await call<TransactionStatus>((cb) => client.getTransaction({ txHash: hash }, cb));
    expect(st).toMatchObject({ status: TxStatus.TX_STATUS_FINAL, blockHeight: block.height, homeShard: SHARD });
    expect(st.receipt).toMatchObject({ txHash: hash, success: true, gasUsed: 21_000, blockHash: block.hash });

    // Then the same transaction again is a duplicate, and its nonce is spent.
    const dup = await grpcError(submit(raw));
    expect(dup.code).toBe(status.ALREADY_EXISTS);
    expect(dup.details).toContain(hash);
    const low = await grpcError(submit(sign(alice, { nonce: 0n, value: 43n })));
    expect(low.code).toBe(status.FAILED_PRECONDITION);
    expect(low.details).toMatch(/nonce too low/);
  });

  it('SubmitTransaction answers ALREADY_EXISTS for a queued duplicate', async () => {
    const raw = sign(bob, { nonce: 0n, to: alice.address });
    await submit(raw);
    expect((await grpcError(submit(raw))).code).toBe(status.ALREADY_EXISTS);
    await node.produceBlock();
  });

  it.each([
    ['empty raw', new Uint8Array(), /raw_transaction is empty/],
    ['garbage bytes', Uint8Array.from([0xde, 0xad, 0xbe, 0xef]), /malformed transaction/],
    ['unsupported type', Uint8Array.from([0x05, 0xc0]), /unsupported transaction type/],
    ['wrong chain id', signTransaction(createChainCommon({ chainId: 1 }), dev[1]!, { to: dev[2]!.address, nonce: 0n }), /wrong chain id/],
  ])('SubmitTransaction maps %s to INVALID_ARGUMENT', async (_name, raw, details) => {
    const err = await grpcError(submit(raw));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toMatch(details);
  });

  it('SubmitTransaction maps a nonce gap to FAILED_PRECONDITION', async () => {
    const err = await grpcError(submit(sign(alice, { nonce: 50n })));
    expect(err.code).toBe(status.FAILED_PRECONDITION);
    expect(err.details).toMatch(/nonce too high/);
  });

  it('SubmitTransaction maps a sender on another shard to FAILED_PRECONDITION', async () => {
    const err = await grpcError(submit(signTransaction(common, remote[0]!, { to: alice.address, nonce: 0n })));
    expect(err.code).toBe(status.FAILED_PRECONDITION);
    expect(err.details).toMatch(/placed on shard \d, not shard 0/);
  });

  it('SubmitTransaction maps a cross-shard transfer to UNIMPLEMENTED', async () => {
    const err = await grpcError(submit(sign(alice, { nonce: 1n, to: remote[0]!.address })));
    expect(err.code).toBe(status.UNIMPLEMENTED);
    expect(err.details).toMatch(/cross-shard/);
  });

  it('GetAccount answers balances and maps bad or foreign addresses', async () => {
    const acct = await call<Account>((cb) => client.getAccount({ address: bob.address.toUpperCase().replace('0X', '0x') }, cb));
    expect(acct).toMatchObject({ address: bob.address, shardId: SHARD, nonce: 1, locked: '0' });
    expect(BigInt(acct.balance)).toBeGreaterThan(0n);
    for (const address of ['', '0x12', 'not an address']) {
      const err = await grpcError(call((cb) => client.getAccount({ address }, cb)));
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(err.details).toMatch(/address/);
    }
    expect((await grpcError(call((cb) => client.getAccount({ address: remote[0]!.address }, cb)))).code).toBe(status.FAILED_PRECONDITION);
  });

  it('GetTransaction answers UNKNOWN for an unknown hash and INVALID_ARGUMENT for a malformed one', async () => {
    const unknown = await call<TransactionStatus>((cb) => client.getTransaction({ txHash: '0x' + '5a'.repeat(32) }, cb));
    expect(unknown).toMatchObject({ status: TxStatus.TX_STATUS_UNKNOWN, homeShard: SHARD });
    expect(unknown.receipt).toBeUndefined();
    const err = await grpcError(call((cb) => client.getTransaction({ txHash: '0x1234' }, cb)));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
  });

  it('GetDecision answers no decision for a transaction not decided here and INVALID_ARGUMENT for a malformed hash', async () => {
    expect(await call<GetDecisionResponse>((cb) => client.getDecision({ txHash: '0x' + '5a'.repeat(32) }, cb))).toEqual({ decision: Decision.DECISION_UNSPECIFIED, height: 0 });
    const err = await grpcError(call((cb) => client.getDecision({ txHash: 'not a hash' }, cb)));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/tx_hash must be a 0x-prefixed 32-byte hex hash/);
  });

  it('GetBlock answers the head without a height, a given height, and NOT_FOUND beyond the head', async () => {
    const head = node.head();
    const headBlock = await call<StateShardBlock>((cb) => client.getBlock({}, cb));
    expect(headBlock).toMatchObject({ height: head.height, hash: head.hash, stateRoot: head.stateRoot });
    const genesis = await call<StateShardBlock>((cb) => client.getBlock({ height: 0 }, cb));
    expect(genesis.height).toBe(0);
    expect(genesis.hash).toBe((await node.getBlock(0)).hash);
    const err = await grpcError(call((cb) => client.getBlock({ height: head.height + 1 }, cb)));
    expect(err.code).toBe(status.NOT_FOUND);
    expect(err.details).toMatch(new RegExp(`no block at height ${head.height + 1}`));
  });

  it('GetBlock returns blocks with their transactions and receipts intact', async () => {
    const local = await node.getBlock(1);
    const remoteBlock = await call<StateShardBlock>((cb) => client.getBlock({ height: 1 }, cb));
    expect(remoteBlock).toEqual(local);
  });

  it('GetHead answers shard, height, hash, state root and mempool size', async () => {
    const h = node.head();
    expect(await call((cb) => client.getHead({}, cb))).toEqual({ shardId: SHARD, height: h.height, hash: h.hash, stateRoot: h.stateRoot, mempoolSize: h.mempoolSize });
  });

  it('SubscribeBlocks streams history from 0, then new blocks, until cancelled', async () => {
    const ac = new AbortController();
    const stream = streamCall<StateShardBlock>(
      'shard 0',
      (md: Metadata, opts: CallOptions) => client.subscribeBlocks({ fromHeight: 0 }, md, opts),
      ac.signal,
    );
    const head = node.head().height;
    const seen: number[] = [];
    for (let h = 0; h <= head; h++) {
      const r = await stream.next();
      expect(r.done).toBe(false);
      seen.push(r.value!.height);
    }
    expect(seen).toEqual(Array.from({ length: head + 1 }, (_, i) => i));

    const next = stream.next();
    const produced = await node.produceBlock();
    const r = await next;
    expect(r.value).toMatchObject({ height: produced.height, hash: produced.hash });

    ac.abort();
    expect((await stream.next()).done).toBe(true);
  });

  it('SubscribeBlocks from a later height starts there', async () => {
    const ac = new AbortController();
    const stream = streamCall<StateShardBlock>('shard 0', (md, opts) => client.subscribeBlocks({ fromHeight: 2 }, md, opts), ac.signal);
    expect((await stream.next()).value!.height).toBe(2);
    ac.abort();
    expect((await stream.next()).done).toBe(true);
  });

  it('GetProof and GetCode answer for an account of this shard', async () => {
    const proof = await call<GetProofResponse>((cb) => client.getProof({ address: alice.address, slots: [] }, cb));
    expect(proof.account?.address).toBe(alice.address);
    expect(proof.accountProof.length).toBeGreaterThan(0);
    const code = await call<GetCodeResponse>((cb) => client.getCode({ address: alice.address }, cb));
    expect(code.code.length).toBe(0);
  });

  it("SubmitTransactions accepts a sender's nonces 0..N-1 in one batch and answers in request order", async () => {
    const N = 12;
    const raws = Array.from({ length: N }, (_, i) => sign(carol, { nonce: BigInt(i), value: BigInt(100 + i) }));
    const hashes = raws.map((r) => decodeTransaction(r, common).hash);
    const res = await submitMany(client, raws);
    expect(res.results).toHaveLength(N);
    expect(res.results.map((r) => r.outcome)).toEqual(
      hashes.map((txHash) => ({ $case: 'accepted', value: { txHash, shardId: SHARD, crossShard: false, status: TxStatus.TX_STATUS_QUEUED, clientCoordinated: false } })),
    );
    // All of them execute, in nonce order, in the next block.
    const block = await node.produceBlock();
    const included = block.receipts.filter((r) => hashes.includes(r.txHash));
    expect(included.map((r) => [r.txHash, r.success])).toEqual(hashes.map((h) => [h, true]));
    expect(await call<Account>((cb) => client.getAccount({ address: carol.address }, cb))).toMatchObject({ nonce: N });
  });

  it('SubmitTransactions answers a malformed item with its own error and accepts the others', async () => {
    const raws = [
      sign(dave, { nonce: 0n }),
      Uint8Array.from([0xde, 0xad, 0xbe, 0xef]),
      sign(dave, { nonce: 1n }),
      new Uint8Array(),
      sign(dave, { nonce: 5n }),
      signTransaction(common, remote[0]!, { to: alice.address, nonce: 0n }),
      sign(dave, { nonce: 2n }),
    ];
    const mempoolBefore = node.head().mempoolSize;
    const out = outcomes(await submitMany(client, raws));
    const hashOf = (i: number) => ({ txHash: decodeTransaction(raws[i]!, common).hash });
    expect(out[0]).toEqual(hashOf(0));
    expect(out[1]).toMatchObject({ code: status.INVALID_ARGUMENT, message: expect.stringMatching(/malformed transaction/) });
    expect(out[2]).toEqual(hashOf(2));
    expect(out[3]).toEqual({ code: status.INVALID_ARGUMENT, message: 'raw_transaction is empty' });
    expect(out[4]).toMatchObject({ code: status.FAILED_PRECONDITION, message: expect.stringMatching(/nonce too high/) });
    expect(out[5]).toMatchObject({ code: status.FAILED_PRECONDITION, message: expect.stringMatching(/placed on shard \d, not shard 0/) });
    expect(out[6]).toEqual(hashOf(6));
    expect(node.head().mempoolSize).toBe(mempoolBefore + 3);
    for (const i of [0, 2, 6]) {
      expect(await call<TransactionStatus>((cb) => client.getTransaction({ txHash: hashOf(i).txHash }, cb))).toMatchObject({ status: TxStatus.TX_STATUS_QUEUED });
    }
  });

  it('SubmitTransactions refuses more than MAX_BATCH_ITEMS items as a whole with INVALID_ARGUMENT', async () => {
    const mempoolBefore = node.head().mempoolSize;
    const raws = [sign(dave, { nonce: 3n }), ...Array.from({ length: MAX_BATCH_ITEMS }, () => Uint8Array.from([0xde, 0xad]))];
    const err = await grpcError(submitMany(client, raws));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toMatch(new RegExp(`at most ${MAX_BATCH_ITEMS} items; got ${MAX_BATCH_ITEMS + 1}`));
    // Nothing of it was admitted, not even its good first item.
    expect(node.head().mempoolSize).toBe(mempoolBefore);
    expect((await submitMany(client, [sign(dave, { nonce: 3n })])).results[0]!.outcome?.$case).toBe('accepted');
  });

  it('SubmitTransactions answers an empty batch with no results', async () => {
    expect(await submitMany(client, [])).toEqual({ results: [] });
  });
});

describe('StateShardService edge behaviour (fake node)', () => {
  const logger = silentLogger();
  let server: RunningServer;
  let client: StateShardServiceClient;
  let subscriptionEnded!: Promise<AbortSignal>;
  let endSubscription!: (signal: AbortSignal) => void;

  const block = (height: number): StateShardBlock => ({
    shardId: 0,
    height,
    hash: '0x' + height.toString(16).padStart(64, '0'),
    parentHash: '0x' + '00'.repeat(32),
    stateRoot: '0x' + '00'.repeat(32),
    transactionsRoot: '0x' + '00'.repeat(32),
    receiptsRoot: '0x' + '00'.repeat(32),
    timestampMs: 0,
    gasUsed: 0,
    baseFeePerGas: '0',
    orchestratorHeight: 0, outgoingReceipts: [], outgoingReceiptsRoot: '', decisions: [],
    transactions: [],
    receipts: [],
    tpcPrepare: [],
  });

  /** Only what the handlers under test call; everything else is absent. */
  const fake = {
    shardId: 0,
    head: () => {
      throw new Error('secret: /var/lib/shardlab/db is corrupt');
    },
    async *subscribe(fromHeight: number, signal: AbortSignal): AsyncGenerator<StateShardBlock> {
      try {
        yield block(fromHeight);
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      } finally {
        endSubscription(signal);
      }
    },
  };

  beforeAll(async () => {
    subscriptionEnded = new Promise((resolve) => (endSubscription = resolve));
    ({ server, client } = await serveShard(fake as unknown as ShardNode, logger));
  });

  afterAll(async () => {
    client.close();
    await server.close();
  });

  it('answers INTERNAL without leaking the message of an unexpected error', async () => {
    const err = await grpcError(call((cb) => client.getHead({}, cb)));
    expect(err.code).toBe(status.INTERNAL);
    expect(err.details).toBe('internal error');
    expect(err.details).not.toMatch(/secret/);
  });

  it('propagates a client cancelling SubscribeBlocks to the node subscription', async () => {
    const ac = new AbortController();
    const stream = streamCall<StateShardBlock>('shard 0', (md, opts) => client.subscribeBlocks({ fromHeight: 7 }, md, opts), ac.signal);
    expect((await stream.next()).value!.height).toBe(7);
    const pending = stream.next();
    ac.abort();
    expect((await pending).done).toBe(true);
    // The server-side generator ends because its signal was aborted (times out otherwise).
    const signal = await subscriptionEnded;
    expect(signal.aborted).toBe(true);
  });
});

describe('SubmitTransactions when signature recovery finishes out of order', () => {
  const logger = silentLogger();
  let node: ShardNode;
  let server: RunningServer;
  let client: StateShardServiceClient;
  let recovered = 0;

  /**
   * A signature pool whose recoveries, asked in one event-loop turn, all finish at the next turn
   * in reverse order (as batches on several workers may); it recovers nothing, so the node
   * decodes each transaction itself.
   */
  const reversingPool = {
    pending: [] as (() => void)[],
    recover(): Promise<Uint8Array | undefined> {
      return new Promise((resolve) => {
        if (this.pending.length === 0) {
          setImmediate(() => {
            const all = this.pending.splice(0).reverse();
            for (const done of all) {
              recovered++;
              done();
            }
          });
        }
        this.pending.push(() => resolve(undefined));
      });
    },
  };

  beforeAll(async () => {
    node = await createShardNode({
      shardId: SHARD,
      placement,
      common,
      store: await ShardStore.open(new MemoryKV()),
      logger,
      genesis: genesisAllocation(),
      signaturePool: reversingPool as unknown as SignaturePool,
    });
    ({ server, client } = await serveShard(node, logger));
  });

  afterAll(async () => {
    client.close();
    await server.close();
    await node.stop();
  });

  it("admits a sender's nonces in request order although the last recovery finishes first", async () => {
    const N = 8;
    const raws = Array.from({ length: N }, (_, i) => sign(alice, { nonce: BigInt(i) }));
    const res = await submitMany(client, raws);
    expect(recovered).toBe(N);
    expect(outcomes(res)).toEqual(raws.map((r) => ({ txHash: decodeTransaction(r, common).hash })));
    expect(node.head().mempoolSize).toBe(N);
  });
});
