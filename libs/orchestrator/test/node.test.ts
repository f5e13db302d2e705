// OrchestratorNode: genesis and chained blocks, forward validation and durability, two-phase-commit rounds and timeouts, shard cursors, failed block writes, status and block streams
import { ErrorCode } from '@shardlab/common';
import { Decision, TxStatus, type ForwardTransactionRequest, type OrchestratorBlock, type TransactionStatus } from '@shardlab/proto';
import { MemoryKV, type KVOp } from '@shardlab/storage';
import { orchestratorBlockHash } from '../src';
import { rejection } from '@shardlab/testing';
import { feed, fwd, hashOf, no, open, SHARDS, shardBlock, tx, yes } from './node-fixtures';

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
