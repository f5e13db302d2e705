import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { OrchestratorServiceClient, Transaction, TxStatus, Vote, type ForwardTransactionRequest, type OrchestratorBlock, type StateShardBlock, type TransactionStatus } from '@shardlab/proto';
import { ShardLabError } from '@shardlab/common';
import { checkHealth, createClient, startServer, streamCall, unaryCall, type RunningServer } from '@shardlab/rpc';
import { MemoryKV } from '@shardlab/storage';
import { silentLogger } from '@shardlab/telemetry';
import { ORCHESTRATOR_SERVICE_NAME, OrchestratorNode, orchestratorService } from '../src';


type Invoke<Res> = (md: Metadata, opts: { deadline: Date }, cb: (err: ServiceError | null, res?: Res) => void) => unknown;

/** Resolves with the response of a unary call. */
function ok<Res>(invoke: Invoke<Res>): Promise<Res> {
  return new Promise((resolve, reject) => invoke(new Metadata(), { deadline: new Date(Date.now() + 5000) }, (err, res) => (err ? reject(err) : resolve(res as Res))));
}

/** Resolves with the error of a unary call that is expected to fail. */
function failure<Res>(invoke: Invoke<Res>): Promise<ServiceError> {
  return new Promise((resolve, reject) =>
    invoke(new Metadata(), { deadline: new Date(Date.now() + 5000) }, (err) => (err ? resolve(err) : reject(new Error('call unexpectedly succeeded')))),
  );
}

/** A deferred promise. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const SHARDS = 3;
const hashOf = (i: number) => '0x' + i.toString(16).padStart(64, '0');
const tx = (i: number) => Transaction.fromPartial({ hash: hashOf(i), raw: Buffer.from([0xf8, i]), from: '0x' + '11'.repeat(20), to: '0x' + '22'.repeat(19) + '02', value: '1', nonce: i });
const fwd = (i: number): ForwardTransactionRequest => ({ tx: tx(i), homeShard: 0, involvedShards: [2], rwSet: undefined, traceContext: {} });

describe('OrchestratorService contract', () => {
  let node: OrchestratorNode;
  let server: RunningServer;
  let client: OrchestratorServiceClient;
  /** Resolved when a server-side status subscription has registered (resp. ended). */
  let statusSubscribed = deferred<AbortSignal>();
  let statusEnded = deferred<AbortSignal>();
  let blocksEnded = deferred<AbortSignal>();

  beforeAll(async () => {
    node = await OrchestratorNode.create({ kv: new MemoryKV(), logger: silentLogger(), shardCount: SHARDS, shardOf: (a) => parseInt(a.slice(-2), 16) % SHARDS });
    // The real node, with its streams observed (a fake passed in, no module mocking).
    const n = node;
    const observed: Pick<OrchestratorNode, 'forward' | 'status' | 'lookup' | 'getBlock' | 'subscribe' | 'statusChanges'> = {
      forward: (req) => n.forward(req),
      status: (h) => n.status(h),
      lookup: (h) => n.lookup(h),
      getBlock: (h) => n.getBlock(h),
      statusChanges: (signal) => {
        const inner = n.statusChanges(signal);
        // The first next() runs the generator up to its first await: it has subscribed by then.
        const first = inner.next();
        statusSubscribed.resolve(signal);
        return (async function* () {
          try {
            let r = await first;
            while (!r.done) {
              yield r.value;
              r = await inner.next();
            }
          } finally {
            await inner.return(undefined);
            statusEnded.resolve(signal);
          }
        })();
      },
      subscribe: (from, signal) => {
        const inner = n.subscribe(from, signal);
        return (async function* () {
          try {
            yield* inner;
          } finally {
            blocksEnded.resolve(signal);
          }
        })();
      },
    };
    server = await startServer({ port: 0, services: [orchestratorService(observed as OrchestratorNode, silentLogger())], logger: silentLogger() });
    client = createClient(OrchestratorServiceClient, server.address);
  });

  afterAll(async () => {
    client.close();
    await server.close();
    await node.stop();
  });

  it('binds a real port when asked for port 0', () => {
    expect(server.port).toBeGreaterThan(0);
  });

  describe('ForwardTransaction', () => {
    const bad: [string, ForwardTransactionRequest, RegExp][] = [
      ['a missing tx', { ...fwd(1), tx: undefined }, /^tx is required$/],
      ['a malformed hash', { ...fwd(1), tx: { ...tx(1), hash: '0x' + 'ab'.repeat(31) } }, /tx\.hash must be a 0x-prefixed 32-byte hex hash/],
      ['a non-hex hash', { ...fwd(1), tx: { ...tx(1), hash: '0x' + 'zz'.repeat(32) } }, /tx\.hash must be a 0x-prefixed 32-byte hex hash/],
      ['empty raw bytes', { ...fwd(1), tx: { ...tx(1), raw: Buffer.alloc(0) } }, /^tx\.raw is required$/],
      ['a home shard out of range', { ...fwd(1), homeShard: SHARDS }, /^shard 3 does not exist: this network has shards 0\.\.2$/],
      ['an involved shard out of range', { ...fwd(1), involvedShards: [1, 99] }, /^shard 99 does not exist/],
      ['no involved shards', { ...fwd(1), involvedShards: [] }, /involved_shards must name the shards besides the home shard/],
      ['only the home shard involved', { ...fwd(1), involvedShards: [0] }, /involved_shards must name the shards besides the home shard/],
    ];
    it.each(bad)('answers INVALID_ARGUMENT for %s', async (_name, req, message) => {
      const err = await failure((md, o, cb) => client.forwardTransaction(req, md, o, cb));
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(err.details).toMatch(message);
      expect(node.inFlight()).toBe(0);
    });

    it('accepts a good forward with PENDING, idempotently, and the status is readable at once', async () => {
      expect(await ok((md, o, cb) => client.forwardTransaction(fwd(1), md, o, cb))).toEqual({ status: TxStatus.TX_STATUS_PENDING });
      expect(await ok((md, o, cb) => client.forwardTransaction(fwd(1), md, o, cb))).toEqual({ status: TxStatus.TX_STATUS_PENDING });
      const st = await ok<TransactionStatus>((md, o, cb) => client.getCrossShardStatus({ txHash: hashOf(1) }, md, o, cb));
      expect(st).toMatchObject({ txHash: hashOf(1), status: TxStatus.TX_STATUS_PENDING, homeShard: 0, crossShard: true, involvedShards: [0, 2], applied: false });
      expect(node.inFlight()).toBe(1);
    });

    it('reaches ShardLab clients as an INVALID_ARGUMENT ShardLabError', async () => {
      const call = unaryCall('orchestrator', (md, opts, cb) => client.forwardTransaction({ ...fwd(2), homeShard: 7 }, md, opts, cb));
      await expect(call).rejects.toBeInstanceOf(ShardLabError);
      await expect(call).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('shard 7 does not exist') });
    });
  });

  describe('GetCrossShardStatus', () => {
    it('answers TX_STATUS_UNKNOWN for a hash never forwarded', async () => {
      const st = await ok<TransactionStatus>((md, o, cb) => client.getCrossShardStatus({ txHash: hashOf(777) }, md, o, cb));
      expect(st).toMatchObject({ txHash: hashOf(777), status: TxStatus.TX_STATUS_UNKNOWN });
    });

    it('answers INVALID_ARGUMENT for a malformed hash', async () => {
      for (const txHash of ['', '0x12', 'not a hash']) {
        const err = await failure((md, o, cb) => client.getCrossShardStatus({ txHash }, md, o, cb));
        expect(err.code).toBe(status.INVALID_ARGUMENT);
        expect(err.details).toMatch(/tx_hash must be a 0x-prefixed 32-byte hex hash/);
      }
    });
  });

  describe('GetBlock', () => {
    it('answers the head without a height, a block by height, and NOT_FOUND beyond the head', async () => {
      const produced = await node.produceBlock();
      const head = await ok<OrchestratorBlock>((md, o, cb) => client.getBlock({}, md, o, cb));
      expect(head).toEqual(produced);
      const genesis = await ok<OrchestratorBlock>((md, o, cb) => client.getBlock({ height: 0 }, md, o, cb));
      expect(genesis).toMatchObject({ height: 0, ctToOrder: [], tpcResult: [] });
      expect(produced.parentHash).toBe(genesis.hash);
      const err = await failure((md, o, cb) => client.getBlock({ height: produced.height + 1 }, md, o, cb));
      expect(err.code).toBe(status.NOT_FOUND);
      expect(err.details).toBe(`the orchestrator has no block at height ${produced.height + 1} (head is ${produced.height})`);
    });
  });

  describe('streams', () => {
    it('SubscribeBlocks streams history then live blocks, and a client cancel ends the server-side subscription', async () => {
      blocksEnded = deferred();
      const ac = new AbortController();
      const stream = streamCall<OrchestratorBlock>('orchestrator', (md, o) => client.subscribeBlocks({ fromHeight: 0 }, md, o), ac.signal);
      const head = node.headInfo().height;
      for (let h = 0; h <= head; h++) expect((await stream.next()).value!.height).toBe(h);
      // History delivered: the subscription listens for new blocks now.
      await node.forward(fwd(3));
      const live = await node.produceBlock();
      const got: OrchestratorBlock = (await stream.next()).value;
      expect(got).toEqual(live);
      expect(got.ctToOrder.map((x) => x.tx!.hash)).toContain(hashOf(3));
      const pending = stream.next();
      ac.abort();
      expect((await pending).done).toBe(true);
      expect((await blocksEnded.promise).aborted).toBe(true);
    });

    it('SubscribeStatus streams every status change, and a client cancel ends the server-side subscription', async () => {
      statusSubscribed = deferred();
      statusEnded = deferred();
      const ac = new AbortController();
      const stream = streamCall<TransactionStatus>('orchestrator', (md, o) => client.subscribeStatus({}, md, o), ac.signal);
      const firstMsg = stream.next();
      await statusSubscribed.promise;
      await node.forward(fwd(4));
      expect((await firstMsg).value).toMatchObject({ txHash: hashOf(4), status: TxStatus.TX_STATUS_PENDING, crossShard: true, involvedShards: [0, 2] });
      await node.produceBlock(); // orders 4
      const vote = (shardId: number, height: number): StateShardBlock => ({
        shardId,
        height,
        hash: hashOf(50 + height),
        parentHash: hashOf(0),
        stateRoot: hashOf(0),
        transactionsRoot: hashOf(0),
        receiptsRoot: hashOf(0),
        timestampMs: 1,
        gasUsed: 0,
        baseFeePerGas: '0',
        orchestratorHeight: 0, outgoingReceipts: [], outgoingReceiptsRoot: '', decisions: [],
        transactions: [],
        receipts: [],
        tpcPrepare: [{ txHash: hashOf(4), vote: Vote.VOTE_NO, reason: 'recipient is a contract' }],
      });
      node.onShardBlock(2, vote(2, 0));
      await node.produceBlock();
      const aborted = (await stream.next()).value!;
      expect(aborted).toMatchObject({ txHash: hashOf(4), status: TxStatus.TX_STATUS_ABORTED, reason: 'shard 2 voted NO: recipient is a contract' });
      const pending = stream.next();
      ac.abort();
      expect((await pending).done).toBe(true);
      expect((await statusEnded.promise).aborted).toBe(true);
    });
  });

  it('serves the standard health service: SERVING overall and for the orchestrator', async () => {
    await expect(checkHealth(server.address, '')).resolves.toBe('SERVING');
    await expect(checkHealth(server.address, ORCHESTRATOR_SERVICE_NAME)).resolves.toBe('SERVING');
  });

  it('health answers NOT_FOUND for an unknown service', async () => {
    await expect(checkHealth(server.address, 'shardlab.v1.NoSuchService')).rejects.toMatchObject({ code: status.NOT_FOUND });
  });
});
