// OrchestratorNode's cross-shard records: batched forwards (forwardMany) made durable in one store write, and decided records leaving memory while the store answers for them
import { ErrorCode, ShardLabError } from '@shardlab/common';
import { TxStatus, type StateShardBlock } from '@shardlab/proto';
import { MemoryKV, type KVOp } from '@shardlab/storage';
import { OrchestratorNode } from '../src';
import { rejection } from '@shardlab/testing';
import { feed, fwd, hashOf, no, open, SHARDS, shardBlock, tx, yes } from './node-fixtures';

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
