import { ErrorCode, ShardLabError } from '@shardlab/common';
import { Decision, Transaction, TxStatus, Vote, type ForwardTransactionRequest, type OrchestratorBlock, type PrepareVote, type StateShardBlock, type TransactionStatus } from '@shardlab/proto';
import { MemoryKV, type KV, type KVOp } from '@shardlab/storage';
import { silentLogger } from '@shardlab/telemetry';
import { OrchestratorNode, orchestratorBlockHash, type OrchestratorNodeOpts } from '../src';
import { rejection } from '@shardlab/testing';

const SHARDS = 3;
const shardOf = (a: string) => parseInt(a.slice(-2), 16) % SHARDS;
const hashOf = (i: number) => '0x' + i.toString(16).padStart(64, '0');
const addrOn = (shard: number) => '0x' + '11'.repeat(19) + shard.toString(16).padStart(2, '0');

function tx(i: number, toShard = 2): Transaction {
  return Transaction.fromPartial({ hash: hashOf(i), raw: Buffer.from([0xf8, i]), from: addrOn(0), to: addrOn(toShard), value: '5', nonce: i, chainId: 1337 });
}
const fwd = (i: number, home = 0, others = [2]): ForwardTransactionRequest => ({ tx: tx(i, others[0]), homeShard: home, involvedShards: others, rwSet: undefined, traceContext: {} });

/** A state-shard block at `height` carrying `votes`. */
function shardBlock(shardId: number, height: number, votes: PrepareVote[] = []): StateShardBlock {
  return {
    shardId,
    height,
    hash: hashOf(10_000 + height),
    parentHash: hashOf(9_999 + height),
    stateRoot: hashOf(0),
    transactionsRoot: hashOf(0),
    receiptsRoot: hashOf(0),
    timestampMs: height,
    gasUsed: 0,
    baseFeePerGas: '0',
    orchestratorHeight: 0,
    transactions: [],
    receipts: [],
    tpcPrepare: votes,
  };
}
const yes = (i: number): PrepareVote => ({ txHash: hashOf(i), vote: Vote.VOTE_YES, reason: '' });
const no = (i: number): PrepareVote => ({ txHash: hashOf(i), vote: Vote.VOTE_NO, reason: 'contract' });

class Clock {
  ms = 1_700_000_000_000;
  readonly now = () => this.ms;
}

function open(kv: KV, extra: Partial<OrchestratorNodeOpts> = {}): Promise<OrchestratorNode> {
  const clock = new Clock();
  return OrchestratorNode.create({ kv, logger: silentLogger(), shardCount: SHARDS, shardOf, now: clock.now, voteTimeoutBlocks: 4, ...extra });
}

/** Feeds shard `s` its blocks cursor+1..`to`, with `votes` in block `to`. */
function feed(node: OrchestratorNode, s: number, to: number, votes: PrepareVote[]): void {
  for (let h = node.shardCursor(s) + 1; h <= to; h++) node.onShardBlock(s, shardBlock(s, h, h === to ? votes : []));
}

describe('OrchestratorNode', () => {
  it('writes a genesis block on an empty store and chains blocks by parent hash', async () => {
    const kv = new MemoryKV();
    const n = await open(kv);
    const g = await n.getBlock(0);
    expect(g).toMatchObject({ height: 0, parentHash: '0x' + '00'.repeat(32), timestampMs: 0, ctToOrder: [], tpcResult: [] });
    expect(g.hash).toBe(orchestratorBlockHash({ height: 0, parentHash: g.parentHash, timestampMs: 0, ctToOrder: [], tpcResult: [] }));
    expect(n.headInfo()).toEqual({ height: 0, hash: g.hash });
    const b1 = await n.produceBlock();
    const b2 = await n.produceBlock();
    expect([b1.height, b2.height]).toEqual([1, 2]);
    expect(b1.parentHash).toBe(g.hash);
    expect(b2.parentHash).toBe(b1.hash);
    expect(b1.hash).not.toBe(b2.hash);
    expect(await n.getBlock()).toEqual(b2);
    expect((await rejection(n.getBlock(3))).code).toBe(ErrorCode.NotFound);
    for (let s = 0; s < SHARDS; s++) expect(n.shardCursor(s)).toBe(-1);
  });

  it('validates forwards: INVALID_ARGUMENT for a missing or malformed transaction and bad shard ids', async () => {
    const n = await open(new MemoryKV());
    const good = fwd(1);
    const cases: [ForwardTransactionRequest, RegExp][] = [
      [{ ...good, tx: undefined }, /tx is required/],
      [{ ...good, tx: { ...good.tx!, hash: '0x1234' } }, /tx.hash must be a 0x-prefixed 32-byte hex hash/],
      [{ ...good, tx: { ...good.tx!, raw: Buffer.alloc(0) } }, /tx.raw is required/],
      [{ ...good, homeShard: SHARDS }, new RegExp(`shard ${SHARDS} does not exist: this network has shards 0..${SHARDS - 1}`)],
      [{ ...good, involvedShards: [1, 7] }, /shard 7 does not exist/],
      [{ ...good, involvedShards: [] }, /involved_shards must name the shards besides the home shard/],
      [{ ...good, involvedShards: [good.homeShard] }, /involved_shards must name the shards besides the home shard/],
    ];
    for (const [req, message] of cases) {
      const err = await rejection(n.forward(req));
      expect(err.code).toBe(ErrorCode.InvalidArgument);
      expect(err.message).toMatch(message);
    }
    expect(n.inFlight()).toBe(0);
    expect((await n.produceBlock()).ctToOrder).toEqual([]);
  });

  it('persists a forwarded transaction before answering: a node re-created on the store finds and orders it', async () => {
    const kv = new MemoryKV();
    const n1 = await open(kv);
    expect(await n1.forward(fwd(1))).toBe(TxStatus.TX_STATUS_PENDING);
    // Duplicate forward: same status, no second record.
    expect(await n1.forward(fwd(1))).toBe(TxStatus.TX_STATUS_PENDING);
    expect(n1.inFlight()).toBe(1);

    const n2 = await open(kv);
    expect(n2.status(hashOf(1))).toMatchObject({ txHash: hashOf(1), status: TxStatus.TX_STATUS_PENDING, homeShard: 0, crossShard: true });
    expect(n2.inFlight()).toBe(1);
    const b = await n2.produceBlock();
    expect(b.ctToOrder.map((x) => [x.tx!.hash, x.sourceShard, x.involvedShards])).toEqual([[hashOf(1), 0, [0, 2]]]);
    expect(Buffer.from(b.ctToOrder[0]!.tx!.raw).toString('hex')).toBe('f801');
  });

  it('finds a transaction forwarded with an upper-case hash by its canonical (lower-case) hash', async () => {
    const n = await open(new MemoryKV());
    const h = '0x' + 'AB'.repeat(32);
    await n.forward({ ...fwd(1), tx: { ...tx(1), hash: h } });
    expect(n.status(h.toLowerCase()).status).toBe(TxStatus.TX_STATUS_PENDING);
    expect(n.status(h).status).toBe(TxStatus.TX_STATUS_PENDING);
  });

  it('answers UNKNOWN for a hash it never saw and INVALID_ARGUMENT for a malformed one', async () => {
    const n = await open(new MemoryKV());
    expect(n.status(hashOf(42))).toMatchObject({ txHash: hashOf(42), status: TxStatus.TX_STATUS_UNKNOWN, crossShard: true });
    expect((await rejection(() => n.status('0xzz'))).code).toBe(ErrorCode.InvalidArgument);
  });

  it('runs a round: ordered, votes read from shard blocks, decision in the next block, persisted with it', async () => {
    const kv = new MemoryKV();
    const n = await open(kv);
    await n.forward(fwd(1));
    await n.forward(fwd(2, 1, [2]));
    const b1 = await n.produceBlock();
    expect(b1.ctToOrder.map((x) => x.tx!.hash)).toEqual([hashOf(1), hashOf(2)]);
    expect(n.status(hashOf(1))).toMatchObject({ status: TxStatus.TX_STATUS_PENDING, blockHeight: 1 });
    feed(n, 0, 1, [yes(1)]);
    feed(n, 2, 0, []);
    n.onShardBlock(2, shardBlock(2, 1, [yes(1), no(2)]));
    expect(n.status(hashOf(1)).status).toBe(TxStatus.TX_STATUS_PREPARED);
    const b2 = await n.produceBlock();
    expect(b2.tpcResult.map((d) => [d.txHash, d.decision])).toEqual([
      [hashOf(1), Decision.DECISION_COMMIT],
      [hashOf(2), Decision.DECISION_ABORT],
    ]);
    expect(n.status(hashOf(1))).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, blockHeight: 2 });
    expect(n.status(hashOf(2))).toMatchObject({ status: TxStatus.TX_STATUS_ABORTED, reason: 'shard 2 voted NO: contract' });
    expect(n.inFlight()).toBe(0);

    const again = await open(kv);
    expect(again.status(hashOf(1)).status).toBe(TxStatus.TX_STATUS_COMMITTED);
    expect(again.status(hashOf(2)).status).toBe(TxStatus.TX_STATUS_ABORTED);
    expect(again.inFlight()).toBe(0);
    expect([again.shardCursor(0), again.shardCursor(1), again.shardCursor(2)]).toEqual([1, -1, 1]);
    expect(await again.produceBlock()).toMatchObject({ height: 3, parentHash: b2.hash, ctToOrder: [], tpcResult: [] });
  });

  it('aborts after voteTimeoutBlocks blocks without every vote', async () => {
    const n = await open(new MemoryKV(), { voteTimeoutBlocks: 2 });
    await n.forward(fwd(1));
    await n.produceBlock(); // 1: ordered
    feed(n, 0, 0, [yes(1)]);
    expect((await n.produceBlock()).tpcResult).toEqual([]); // 2
    const b3 = await n.produceBlock(); // 3: 3 - 1 >= 2
    expect(b3.tpcResult.map((d) => [d.decision, d.reason])).toEqual([[Decision.DECISION_ABORT, 'vote timeout: shard 2 did not vote within 2 orchestrator blocks']]);
  });

  it('ignores shard blocks at or below the cursor and refuses a gap with FAILED_PRECONDITION', async () => {
    const n = await open(new MemoryKV());
    await n.forward(fwd(1));
    await n.produceBlock();
    const gap = await rejection(() => n.onShardBlock(0, shardBlock(0, 1, [yes(1)])));
    expect(gap.code).toBe(ErrorCode.FailedPrecondition);
    expect(gap.message).toBe('shard 0 block 1 does not follow -1');
    expect(n.shardCursor(0)).toBe(-1);
    n.onShardBlock(0, shardBlock(0, 0));
    n.onShardBlock(0, shardBlock(0, 1, [yes(1)]));
    expect(n.shardCursor(0)).toBe(1);
    n.onShardBlock(0, shardBlock(0, 1, [no(1)])); // duplicate delivery: ignored
    n.onShardBlock(2, shardBlock(2, 0, [yes(1)]));
    expect((await n.produceBlock()).tpcResult.map((d) => d.decision)).toEqual([Decision.DECISION_COMMIT]);
  });

  it('persists cursors only with a block: after votes without a block, a re-created node re-reads them', async () => {
    const kv = new MemoryKV();
    const n1 = await open(kv);
    await n1.forward(fwd(1));
    await n1.produceBlock(); // 1: ordered
    feed(n1, 0, 2, [yes(1)]);
    feed(n1, 2, 1, [yes(1)]);
    expect(n1.status(hashOf(1)).status).toBe(TxStatus.TX_STATUS_PREPARED);
    // Crash before the next block: neither votes nor cursors are durable.
    const n2 = await open(kv);
    expect([n2.shardCursor(0), n2.shardCursor(2)]).toEqual([-1, -1]);
    expect(n2.status(hashOf(1))).toMatchObject({ status: TxStatus.TX_STATUS_PENDING, blockHeight: 1 });
    expect((await n2.produceBlock()).tpcResult).toEqual([]);
    // Re-reading the streams from the old cursor brings the votes back.
    feed(n2, 0, 2, [yes(1)]);
    feed(n2, 2, 1, [yes(1)]);
    expect(n2.status(hashOf(1)).status).toBe(TxStatus.TX_STATUS_PREPARED);
    const b = await n2.produceBlock();
    expect(b.tpcResult.map((d) => d.decision)).toEqual([Decision.DECISION_COMMIT]);
    // Now cursors are durable with that block.
    const n3 = await open(kv);
    expect([n3.shardCursor(0), n3.shardCursor(1), n3.shardCursor(2)]).toEqual([2, -1, 1]);
    expect(n3.status(hashOf(1)).status).toBe(TxStatus.TX_STATUS_COMMITTED);
    // The next block of shard 0 continues from the durable cursor; replays are ignored.
    n3.onShardBlock(0, shardBlock(0, 2, [no(1)]));
    n3.onShardBlock(0, shardBlock(0, 3));
    expect(n3.shardCursor(0)).toBe(3);
  });

  it('a failed block write publishes nothing and loses nothing: the next block orders and decides what the failed one would have', async () => {
    class FlakyKV extends MemoryKV {
      failNext = false;
      override async batch(ops: KVOp[]): Promise<void> {
        if (this.failNext) {
          this.failNext = false;
          throw new Error('disk full');
        }
        return super.batch(ops);
      }
    }
    const kv = new FlakyKV();
    const n = await open(kv);
    await n.forward(fwd(1));
    await n.forward(fwd(2));
    await n.produceBlock(); // 1: orders 1 and 2
    feed(n, 0, 0, [yes(1), yes(2)]);
    feed(n, 2, 0, [yes(1), yes(2)]);
    await n.forward(fwd(3));
    const blocks: OrchestratorBlock[] = [];
    const ac = new AbortController();
    const reading = (async () => {
      for await (const b of n.subscribe(2, ac.signal)) blocks.push(b);
    })();

    kv.failNext = true;
    await expect(n.produceBlock()).rejects.toThrow('disk full');
    expect(n.headInfo().height).toBe(1);
    await expect(n.getBlock(2)).rejects.toMatchObject({ code: ErrorCode.NotFound });
    // Nothing was decided durably, so nothing is reported as decided.
    expect(n.status(hashOf(1)).status).toBe(TxStatus.TX_STATUS_PREPARED);

    const b2 = await n.produceBlock();
    expect(b2.height).toBe(2);
    expect(b2.ctToOrder.map((x) => x.tx!.hash)).toEqual([hashOf(3)]);
    expect(b2.tpcResult.map((d) => [d.txHash, d.decision])).toEqual([
      [hashOf(1), Decision.DECISION_COMMIT],
      [hashOf(2), Decision.DECISION_COMMIT],
    ]);
    ac.abort();
    await reading;
    expect(blocks.map((b) => b.height)).toEqual([2]);
    const again = await open(kv);
    expect(again.status(hashOf(1)).status).toBe(TxStatus.TX_STATUS_COMMITTED);
    expect(again.status(hashOf(3))).toMatchObject({ status: TxStatus.TX_STATUS_PENDING, blockHeight: 2 });
    expect([again.shardCursor(0), again.shardCursor(2)]).toEqual([0, 0]);
  });

  it('statusChanges emits pending, prepared and committed (and aborted) as they happen', async () => {
    const n = await open(new MemoryKV());
    const ac = new AbortController();
    const seen: TransactionStatus[] = [];
    const it = n.statusChanges(ac.signal);
    // The first next() subscribes synchronously; the loop reads until aborted.
    const first = it.next();
    const reading = (async () => {
      let r = await first;
      while (!r.done) {
        seen.push(r.value);
        r = await it.next();
      }
    })();
    await n.forward(fwd(1));
    await n.forward(fwd(2));
    await n.forward(fwd(1)); // duplicate: no event
    await n.produceBlock();
    feed(n, 0, 0, [yes(1), yes(2)]);
    feed(n, 2, 0, [yes(1), no(2)]);
    await n.produceBlock();
    ac.abort();
    await reading;
    expect(seen.map((s) => [s.txHash, TxStatus[s.status]])).toEqual([
      [hashOf(1), 'TX_STATUS_PENDING'],
      [hashOf(2), 'TX_STATUS_PENDING'],
      [hashOf(1), 'TX_STATUS_PREPARED'],
      [hashOf(1), 'TX_STATUS_COMMITTED'],
      [hashOf(2), 'TX_STATUS_ABORTED'],
    ]);
    expect(seen.at(-1)!.reason).toBe('shard 2 voted NO: contract');
    expect(seen.every((s) => s.crossShard && s.homeShard === 0)).toBe(true);
  });

  it('subscribe yields stored history from any height, then live blocks, and ends on abort', async () => {
    const kv = new MemoryKV();
    const n1 = await open(kv);
    await n1.produceBlock();
    await n1.produceBlock();
    const n = await open(kv); // history comes from the store
    const ac = new AbortController();
    const it = n.subscribe(1, ac.signal);
    expect((await it.next()).value).toEqual(await n1.getBlock(1));
    expect((await it.next()).value!.height).toBe(2);
    const pending = it.next();
    await n.forward(fwd(1));
    const b3 = await n.produceBlock();
    expect((await pending).value).toEqual(b3);
    const b4 = await n.produceBlock();
    const b5 = await n.produceBlock();
    expect((await it.next()).value).toEqual(b4);
    expect((await it.next()).value).toEqual(b5);
    const waiting = it.next();
    ac.abort();
    expect(await waiting).toEqual({ done: true, value: undefined });
    // From the head + 1 it waits; from 0 it starts at genesis.
    const all = n.subscribe(0, new AbortController().signal);
    expect((await all.next()).value!.height).toBe(0);
    await all.return(undefined);
  });

  it('stop ends every stream and a stopped node’s streams end at once', async () => {
    const n = await open(new MemoryKV());
    const blocks = n.subscribe(1, new AbortController().signal);
    const statuses = n.statusChanges(new AbortController().signal);
    const pb = blocks.next();
    const ps = statuses.next();
    await n.stop();
    expect(await pb).toEqual({ done: true, value: undefined });
    expect(await ps).toEqual({ done: true, value: undefined });
    expect(await n.subscribe(0, new AbortController().signal).next()).toEqual({ done: true, value: undefined });
  });
});

/** A MemoryKV that records every batch write and can fail the next ones. */
class RecordingKV extends MemoryKV {
  readonly batches: KVOp[][] = [];
  failNext = 0;
  /** When set, the next batch waits for this promise, then fails if it resolves false. */
  gate: Promise<boolean> | undefined;
  override async batch(ops: KVOp[]): Promise<void> {
    this.batches.push(ops);
    const gate = this.gate;
    this.gate = undefined;
    if (gate && !(await gate)) throw new Error('disk full');
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('disk full');
    }
    return super.batch(ops);
  }
}

/** The record keys a batch write puts. */
const recordPuts = (ops: KVOp[]) => ops.filter((o) => o.type === 'put' && o.key.startsWith('r:')).map((o) => o.key);

describe('forwardMany', () => {
  it('makes several new forwards durable in one store write and answers each PENDING', async () => {
    const kv = new RecordingKV();
    const n = await open(kv);
    kv.batches.length = 0;
    const out = await n.forwardMany([fwd(1), fwd(2, 1, [2]), fwd(3, 0, [1, 2])]);
    expect(out).toEqual([TxStatus.TX_STATUS_PENDING, TxStatus.TX_STATUS_PENDING, TxStatus.TX_STATUS_PENDING]);
    expect(kv.batches).toHaveLength(1);
    expect(recordPuts(kv.batches[0]!)).toEqual([`r:${hashOf(1)}`, `r:${hashOf(2)}`, `r:${hashOf(3)}`]);
    expect(n.inFlight()).toBe(3);

    // Durable: a node re-created on the store knows all three and orders them in request order.
    const again = await open(kv);
    expect([1, 2, 3].map((i) => again.status(hashOf(i)).status)).toEqual([TxStatus.TX_STATUS_PENDING, TxStatus.TX_STATUS_PENDING, TxStatus.TX_STATUS_PENDING]);
    const b = await again.produceBlock();
    expect(b.ctToOrder.map((x) => [x.tx!.hash, x.sourceShard, x.involvedShards])).toEqual([
      [hashOf(1), 0, [0, 2]],
      [hashOf(2), 1, [1, 2]],
      [hashOf(3), 0, [0, 1, 2]],
    ]);
  });

  it('fails an invalid item alone: the others are accepted and written', async () => {
    const kv = new RecordingKV();
    const n = await open(kv);
    kv.batches.length = 0;
    const out = await n.forwardMany([fwd(1), { ...fwd(2), homeShard: SHARDS }, fwd(3), { ...fwd(4), tx: undefined }]);
    expect(out[0]).toBe(TxStatus.TX_STATUS_PENDING);
    expect(out[2]).toBe(TxStatus.TX_STATUS_PENDING);
    expect(out[1]).toBeInstanceOf(ShardLabError);
    expect(out[1]).toMatchObject({ code: ErrorCode.InvalidArgument, message: `shard ${SHARDS} does not exist: this network has shards 0..${SHARDS - 1}` });
    expect(out[3]).toMatchObject({ code: ErrorCode.InvalidArgument, message: 'tx is required' });
    expect(kv.batches.map(recordPuts)).toEqual([[`r:${hashOf(1)}`, `r:${hashOf(3)}`]]);
    expect(n.status(hashOf(2)).status).toBe(TxStatus.TX_STATUS_UNKNOWN);
    expect((await n.produceBlock()).ctToOrder.map((x) => x.tx!.hash)).toEqual([hashOf(1), hashOf(3)]);
  });

  it('answers a transaction it already holds with its status, and one already decided with ALREADY_EXISTS, without writing them again', async () => {
    const kv = new RecordingKV();
    const n = await open(kv);
    await n.forwardMany([fwd(1), fwd(2), fwd(4)]);
    await n.produceBlock(); // 1: orders 1, 2 and 4
    feed(n, 0, 0, [yes(1), no(2)]);
    feed(n, 2, 0, [yes(1)]);
    await n.produceBlock(); // 2: commits 1, aborts 2
    feed(n, 0, 1, [yes(4)]);
    feed(n, 2, 1, [yes(4)]);
    expect([1, 2, 4].map((i) => n.status(hashOf(i)).status)).toEqual([TxStatus.TX_STATUS_COMMITTED, TxStatus.TX_STATUS_ABORTED, TxStatus.TX_STATUS_PREPARED]);
    kv.batches.length = 0;
    const out = await n.forwardMany([fwd(4), fwd(1), fwd(3), fwd(2)]);
    expect(out[0]).toBe(TxStatus.TX_STATUS_PREPARED);
    expect(out[1]).toMatchObject({ code: ErrorCode.AlreadyExists });
    expect((out[1] as Error).message).toMatch(/already committed/);
    expect(out[2]).toBe(TxStatus.TX_STATUS_PENDING);
    expect(out[3]).toMatchObject({ code: ErrorCode.AlreadyExists });
    expect((out[3] as Error).message).toMatch(/already aborted/);
    expect(kv.batches.map(recordPuts)).toEqual([[`r:${hashOf(3)}`]]);
  });

  it('gives the same hash twice in one batch the first one’s outcome and records it once', async () => {
    const kv = new RecordingKV();
    const n = await open(kv);
    const ac = new AbortController();
    const events = n.statusChanges(ac.signal);
    const firstEvent = events.next();
    kv.batches.length = 0;
    const out = await n.forwardMany([fwd(1), fwd(2), fwd(1)]);
    expect(out).toEqual([TxStatus.TX_STATUS_PENDING, TxStatus.TX_STATUS_PENDING, TxStatus.TX_STATUS_PENDING]);
    expect(kv.batches.map(recordPuts)).toEqual([[`r:${hashOf(1)}`, `r:${hashOf(2)}`]]);
    expect(n.inFlight()).toBe(2);
    // One PENDING event per transaction, not per item.
    const seen = [(await firstEvent).value!, (await events.next()).value!];
    const third = events.next();
    ac.abort();
    expect((await third).done).toBe(true);
    expect(seen.map((s) => [s.txHash, s.status])).toEqual([
      [hashOf(1), TxStatus.TX_STATUS_PENDING],
      [hashOf(2), TxStatus.TX_STATUS_PENDING],
    ]);
    expect((await n.produceBlock()).ctToOrder.map((x) => x.tx!.hash)).toEqual([hashOf(1), hashOf(2)]);
  });

  it('fails every new item when the store write fails, forgets them, and accepts them when forwarded again', async () => {
    const kv = new RecordingKV();
    const n = await open(kv);
    await n.forward(fwd(9)); // held before the failing batch
    kv.batches.length = 0;
    kv.failNext = 1;
    const out = await n.forwardMany([fwd(1), fwd(9), { ...fwd(5), homeShard: SHARDS }, fwd(2), fwd(1)]);
    expect(kv.batches.map(recordPuts)).toEqual([[`r:${hashOf(1)}`, `r:${hashOf(2)}`]]);
    for (const i of [0, 3, 4]) {
      expect(out[i]).toBeInstanceOf(Error);
      expect((out[i] as Error).message).toBe('disk full');
    }
    // The items that were not new keep their own outcome.
    expect(out[1]).toBe(TxStatus.TX_STATUS_PENDING);
    expect(out[2]).toMatchObject({ code: ErrorCode.InvalidArgument });
    // Not durable, so not known: no status, nothing in flight, nothing ordered.
    expect(n.status(hashOf(1)).status).toBe(TxStatus.TX_STATUS_UNKNOWN);
    expect(n.status(hashOf(2)).status).toBe(TxStatus.TX_STATUS_UNKNOWN);
    expect(n.inFlight()).toBe(1);
    expect((await n.produceBlock()).ctToOrder.map((x) => x.tx!.hash)).toEqual([hashOf(9)]);

    // Forwarded again (the home shard retries), it is new and accepted.
    expect(await n.forward(fwd(1))).toBe(TxStatus.TX_STATUS_PENDING);
    expect(await n.forwardMany([fwd(2)])).toEqual([TxStatus.TX_STATUS_PENDING]);
    expect((await n.produceBlock()).ctToOrder.map((x) => x.tx!.hash)).toEqual([hashOf(1), hashOf(2)]);
    const again = await open(kv);
    expect(again.status(hashOf(1)).status).toBe(TxStatus.TX_STATUS_PENDING);
    expect(again.status(hashOf(2)).status).toBe(TxStatus.TX_STATUS_PENDING);
  });

  it('answers an empty batch without writing', async () => {
    const kv = new RecordingKV();
    const n = await open(kv);
    kv.batches.length = 0;
    expect(await n.forwardMany([])).toEqual([]);
    expect(kv.batches).toEqual([]);
  });

  it('while a forward is being written, no block orders or writes it, and a second forward of it waits for the write', async () => {
    for (const durable of [true, false]) {
      const kv = new RecordingKV();
      const n = await open(kv);
      let finish!: (ok: boolean) => void;
      kv.gate = new Promise<boolean>((r) => (finish = r));
      const first = n.forwardMany([fwd(1)]);
      const second = n.forwardMany([fwd(1)]);
      const block = await n.produceBlock();
      expect(block.ctToOrder).toEqual([]);
      expect(kv.batches.flatMap(recordPuts).filter((k) => k === `r:${hashOf(1)}`)).toHaveLength(1); // only the forward's own write
      finish(durable);
      const [a, b] = await Promise.all([first, second]);
      if (durable) {
        expect([a[0], b[0]]).toEqual([TxStatus.TX_STATUS_PENDING, TxStatus.TX_STATUS_PENDING]);
        expect((await n.produceBlock()).ctToOrder.map((x) => x.tx!.hash)).toEqual([hashOf(1)]);
      } else {
        expect(a[0]).toBeInstanceOf(Error);
        expect(b[0]).toMatchObject({ code: ErrorCode.Unavailable });
        expect(n.status(hashOf(1)).status).toBe(TxStatus.TX_STATUS_UNKNOWN);
        expect((await n.produceBlock()).ctToOrder).toEqual([]);
        expect(await kv.get(`r:${hashOf(1)}`)).toBeUndefined();
      }
    }
  });
});

describe('records of decided transactions leave memory', () => {
  /** Every shard reports, in its next block, that it applied orchestrator height `orch`. */
  const applyEverywhere = (n: OrchestratorNode, orch: number) => {
    for (let s = 0; s < SHARDS; s++) n.onShardBlock(s, { ...shardBlock(s, n.shardCursor(s) + 1), orchestratorHeight: orch });
  };

  it('once every shard applied the decision and pruneAfterBlocks more blocks passed; the store still answers for it', async () => {
    const kv = new MemoryKV();
    const n = await open(kv, { pruneAfterBlocks: 3 });
    await n.forward(fwd(1));
    const ordered = await n.produceBlock(); // orders tx 1
    n.onShardBlock(0, shardBlock(0, 0, [yes(1)]));
    n.onShardBlock(2, shardBlock(2, 0, [yes(1)]));
    const decided = await n.produceBlock(); // commits tx 1
    expect(decided.tpcResult.map((d) => d.txHash)).toEqual([hashOf(1)]);
    expect(ordered.height).toBe(decided.height - 1);
    // Shard 1 has not applied the decision yet: kept however many blocks pass.
    for (let s = 0; s < SHARDS; s++) n.onShardBlock(s, { ...shardBlock(s, n.shardCursor(s) + 1), orchestratorHeight: s === 1 ? decided.height - 1 : decided.height + 10 });
    for (let i = 0; i < 6; i++) await n.produceBlock();
    expect(n.status(hashOf(1)).status).toBe(TxStatus.TX_STATUS_COMMITTED);
    // Every shard applied it: still kept for pruneAfterBlocks blocks, then dropped from memory.
    applyEverywhere(n, decided.height + 2);
    await n.produceBlock();
    expect(n.status(hashOf(1)).status).toBe(TxStatus.TX_STATUS_COMMITTED);
    applyEverywhere(n, decided.height + 3);
    await n.produceBlock();
    expect(n.status(hashOf(1)).status).toBe(TxStatus.TX_STATUS_UNKNOWN);
    expect(n.recordsInMemory()).toBe(0);
    // The store answers status queries and refuses a repeated forward, as before.
    expect(await n.lookup(hashOf(1))).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, blockHeight: decided.height });
    expect(await rejection(n.forward(fwd(1)))).toMatchObject({ code: ErrorCode.AlreadyExists, message: expect.stringMatching(/already committed/) });
    expect((await n.produceBlock()).ctToOrder).toEqual([]);
    // A new transaction is still accepted (the store is asked and knows nothing of it).
    expect(await n.forward(fwd(2))).toBe(TxStatus.TX_STATUS_PENDING);
    expect(await n.lookup(hashOf(3))).toMatchObject({ status: TxStatus.TX_STATUS_UNKNOWN });
  });

  it('keeps open transactions in memory whatever the shards applied', async () => {
    const n = await open(new MemoryKV(), { pruneAfterBlocks: 1, voteTimeoutBlocks: 1000 });
    await n.forward(fwd(1));
    await n.produceBlock();
    for (let i = 0; i < 5; i++) {
      applyEverywhere(n, 100 + i);
      await n.produceBlock();
    }
    expect(n.status(hashOf(1)).status).toBe(TxStatus.TX_STATUS_PENDING);
    expect(n.recordsInMemory()).toBe(1);
  });

  it('refuses a repeated forward of a transaction dropped from memory while its batch waited for the store', async () => {
    class GatedKV extends MemoryKV {
      gate: Promise<void> | undefined;
      override async get(key: string): Promise<Uint8Array | undefined> {
        if (this.gate) await this.gate;
        return super.get(key);
      }
    }
    const kv = new GatedKV();
    const n = await open(kv, { pruneAfterBlocks: 1, voteTimeoutBlocks: 4 });
    const decide = async (i: number) => {
      await n.forward(fwd(i));
      await n.produceBlock();
      n.onShardBlock(0, shardBlock(0, n.shardCursor(0) + 1, [yes(i)]));
      n.onShardBlock(2, shardBlock(2, n.shardCursor(2) + 1, [yes(i)]));
      return (await n.produceBlock()).height;
    };
    const hA = await decide(1);
    const hB = await decide(2);
    applyEverywhere(n, hA + 1);
    await n.produceBlock(); // drops A; B (decided later) stays
    expect([n.status(hashOf(1)).status, n.status(hashOf(2)).status]).toEqual([TxStatus.TX_STATUS_UNKNOWN, TxStatus.TX_STATUS_COMMITTED]);
    let open_!: () => void;
    kv.gate = new Promise((r) => (open_ = r));
    const batch = n.forwardMany([fwd(1), fwd(2)]); // A needs the store: the batch waits
    kv.gate = undefined;
    applyEverywhere(n, hB + 1);
    await n.produceBlock(); // meanwhile B is dropped too
    expect(n.status(hashOf(2)).status).toBe(TxStatus.TX_STATUS_UNKNOWN);
    open_();
    const out = await batch;
    expect(out.map((o) => (o instanceof ShardLabError ? o.code : o))).toEqual([ErrorCode.AlreadyExists, ErrorCode.AlreadyExists]);
    expect((await n.produceBlock()).ctToOrder).toEqual([]);
    expect(await n.lookup(hashOf(2))).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED });
  });

  it('ignores a late vote for a transaction dropped from memory (never learns it again)', async () => {
    const n = await open(new MemoryKV(), { pruneAfterBlocks: 1 });
    await n.forward(fwd(1));
    await n.produceBlock();
    n.onShardBlock(0, shardBlock(0, n.shardCursor(0) + 1, [yes(1)]));
    n.onShardBlock(2, shardBlock(2, n.shardCursor(2) + 1, [yes(1)]));
    const h = (await n.produceBlock()).height;
    applyEverywhere(n, h + 1);
    await n.produceBlock();
    expect(n.status(hashOf(1)).status).toBe(TxStatus.TX_STATUS_UNKNOWN);
    // Shard 0's block carries the transaction and a vote for it again.
    const late = { ...shardBlock(0, n.shardCursor(0) + 1, [yes(1)]), transactions: [{ kind: { $case: 'user' as const, value: tx(1) } }] } as StateShardBlock;
    n.onShardBlock(0, late);
    expect(n.status(hashOf(1)).status).toBe(TxStatus.TX_STATUS_UNKNOWN);
    expect((await n.produceBlock()).ctToOrder).toEqual([]);
    expect(await n.lookup(hashOf(1))).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED });
  });
});
