import { Decision, Transaction, TxStatus, Vote, type PrepareVote, type StateShardBlock } from '@shardlab/proto';
import { Coordinator, decodeCrossRecord, encodeCrossRecord, isDecided, statusOf, type CrossRecord } from '../src';

/** Shard of an address in these tests: its last byte mod 4. */
const shardOf = (a: string) => parseInt(a.slice(-2), 16) % 4;

const hashOf = (i: number) => '0x' + i.toString(16).padStart(64, '0');
const addrOn = (shard: number, salt = 0) => '0x' + (salt % 256).toString(16).padStart(2, '0').repeat(19) + shard.toString(16).padStart(2, '0');

/** A cross-shard transfer of 5 wei from shard 0 to shard 2 (a distinct hash per `i`). */
function tx(i: number, to = addrOn(2)): Transaction {
  return Transaction.fromPartial({ hash: hashOf(i), raw: Buffer.from([0xf8, i & 0xff]), from: addrOn(0), to, value: '5', data: Buffer.from([0xca, 0xfe]), nonce: i, chainId: 1337 });
}

/** A state-shard block carrying only votes (and optionally the voted transactions). */
function shardBlock(shardId: number, votes: PrepareVote[], txs: Transaction[] = []): StateShardBlock {
  return {
    shardId,
    height: 1,
    hash: hashOf(999),
    parentHash: hashOf(0),
    stateRoot: hashOf(0),
    transactionsRoot: hashOf(0),
    receiptsRoot: hashOf(0),
    timestampMs: 1,
    gasUsed: 0,
    baseFeePerGas: '0',
    orchestratorHeight: 0, outgoingReceipts: [], outgoingReceiptsRoot: '', decisions: [],
    transactions: txs.map((t) => ({ kind: { $case: 'user' as const, value: t } })),
    receipts: [],
    tpcPrepare: votes,
  };
}

const yes = (h: string): PrepareVote => ({ txHash: h, vote: Vote.VOTE_YES, reason: '' });
const no = (h: string, reason = 'recipient is a contract'): PrepareVote => ({ txHash: h, vote: Vote.VOTE_NO, reason });

const mk = (voteTimeoutBlocks = 5, restored: CrossRecord[] = []) => new Coordinator({ voteTimeoutBlocks, shardOf }, restored);

describe('Coordinator', () => {
  describe('forward', () => {
    it('registers a pending record with the home shard first, then the other shards sorted and deduplicated', () => {
      const c = mk();
      const { record, isNew } = c.forward(tx(1), 1, [3, 0, 3, 1, 2], undefined, { traceparent: 'tp' }, 42);
      expect(isNew).toBe(true);
      expect(record).toMatchObject({ homeShard: 1, involved: [1, 0, 2, 3], votes: {}, phase: 'pending', reason: '', traceContext: { traceparent: 'tp' }, updatedAtMs: 42 });
      expect(record.orderedAt).toBeUndefined();
      expect(c.get(hashOf(1))).toBe(record);
      expect(c.inFlight()).toEqual([record]);
      expect(statusOf(record)).toMatchObject({ txHash: hashOf(1), status: TxStatus.TX_STATUS_PENDING, homeShard: 1, crossShard: true, blockHeight: 0 });
    });

    it('is idempotent: a second forward of the same hash returns the existing record and queues nothing', () => {
      const c = mk();
      const first = c.forward(tx(1), 0, [2], undefined, {}, 1).record;
      const again = c.forward(tx(1), 3, [1], undefined, {}, 2);
      expect(again.isNew).toBe(false);
      expect(again.record).toBe(first);
      expect(first.involved).toEqual([0, 2]);
      const plan = c.planBlock(1, 3);
      expect(plan.ctToOrder.map((x) => x.tx!.hash)).toEqual([hashOf(1)]);
    });
  });

  describe('planBlock', () => {
    it('orders queued transactions once, with source shard and involved shards, a sender’s in nonce order', () => {
      const c = mk();
      c.forward(tx(2), 0, [2], undefined, { traceparent: 'a' }, 1);
      c.forward(tx(1), 1, [3], undefined, {}, 1);
      const p1 = c.planBlock(1, 10);
      // Both come from one sender here: its transactions are ordered by nonce.
      expect(p1.ctToOrder.map((x) => [x.tx!.hash, x.sourceShard, x.involvedShards])).toEqual([
        [hashOf(1), 1, [1, 3]],
        [hashOf(2), 0, [0, 2]],
      ]);
      expect(p1.ctToOrder[1]!.traceContext).toEqual({ traceparent: 'a' });
      expect(p1.tpcResult).toEqual([]);
      expect(c.get(hashOf(2))!.orderedAt).toBe(1);
      expect(statusOf(c.get(hashOf(2))!).blockHeight).toBe(1);
      // Ordered once only.
      expect(c.planBlock(2, 11).ctToOrder).toEqual([]);
    });

    it('keeps arrival order across senders', () => {
      const c = mk();
      const a = Transaction.fromPartial({ ...tx(5), hash: hashOf(5), from: addrOn(1), nonce: 9 });
      c.forward(a, 1, [2], undefined, {}, 1);
      c.forward(tx(1), 0, [2], undefined, {}, 1);
      expect(c.planBlock(1, 2).ctToOrder.map((x) => x.tx!.hash)).toEqual([hashOf(5), hashOf(1)]);
    });

    it('reports changed records once per block (to persist with it)', () => {
      const c = mk();
      c.forward(tx(1), 0, [2], undefined, {}, 1);
      expect(c.planBlock(1, 2).changed.map((r) => r.tx.hash)).toEqual([hashOf(1)]);
      expect(c.planBlock(2, 3).changed).toEqual([]);
      c.onShardBlock(0, shardBlock(0, [yes(hashOf(1))]), 4);
      expect(c.planBlock(3, 5).changed.map((r) => r.tx.hash)).toEqual([hashOf(1)]);
    });

    it('commits when every involved shard voted YES, in the block after the votes', () => {
      const c = mk();
      c.forward(tx(1), 0, [2], undefined, { traceparent: 'x' }, 1);
      c.planBlock(1, 1);
      expect(c.onShardBlock(0, shardBlock(0, [yes(hashOf(1))]), 2)).toEqual([]);
      expect(c.get(hashOf(1))!.phase).toBe('pending');
      expect(c.planBlock(2, 3).tpcResult).toEqual([]);
      const prepared = c.onShardBlock(2, shardBlock(2, [yes(hashOf(1))]), 4);
      expect(prepared.map((r) => r.tx.hash)).toEqual([hashOf(1)]);
      expect(c.get(hashOf(1))).toMatchObject({ phase: 'prepared', votes: { 0: 'yes', 2: 'yes' }, updatedAtMs: 4 });
      expect(statusOf(c.get(hashOf(1))!).status).toBe(TxStatus.TX_STATUS_PREPARED);
      const p = c.planBlock(3, 5);
      expect(p.tpcResult).toEqual([{ txHash: hashOf(1), decision: Decision.DECISION_COMMIT, reason: '', involvedShards: [0, 2], traceContext: { traceparent: 'x' } }]);
      const r = c.get(hashOf(1))!;
      expect(r).toMatchObject({ phase: 'committed', decidedAt: 3, orderedAt: 1 });
      expect(isDecided(r.phase)).toBe(true);
      expect(statusOf(r)).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, blockHeight: 3 });
      expect(c.inFlight()).toEqual([]);
      // Decided once only.
      expect(c.planBlock(4, 6).tpcResult).toEqual([]);
    });

    it('aborts on the first NO vote without waiting for the other shards, keeping the first reason', () => {
      const c = mk();
      c.forward(tx(1), 0, [2, 3], undefined, {}, 1);
      c.planBlock(1, 1);
      c.onShardBlock(2, shardBlock(2, [no(hashOf(1), 'recipient 0xab is a contract')]), 2);
      c.onShardBlock(3, shardBlock(3, [no(hashOf(1), 'second reason')]), 2);
      const p = c.planBlock(2, 3);
      expect(p.tpcResult).toHaveLength(1);
      expect(p.tpcResult[0]).toMatchObject({ txHash: hashOf(1), decision: Decision.DECISION_ABORT, involvedShards: [0, 2, 3] });
      expect(p.tpcResult[0]!.reason).toBe('shard 2 voted NO: recipient 0xab is a contract');
      expect(c.get(hashOf(1))).toMatchObject({ phase: 'aborted', decidedAt: 2 });
      expect(statusOf(c.get(hashOf(1))!)).toMatchObject({ status: TxStatus.TX_STATUS_ABORTED, reason: 'shard 2 voted NO: recipient 0xab is a contract' });
    });

    it('a NO after a YES from every other shard still aborts; a NO without a reason says so', () => {
      const c = mk();
      c.forward(tx(1), 0, [2], undefined, {}, 1);
      c.planBlock(1, 1);
      c.onShardBlock(0, shardBlock(0, [yes(hashOf(1))]), 2);
      c.onShardBlock(2, shardBlock(2, [no(hashOf(1), '')]), 2);
      const p = c.planBlock(2, 3);
      expect(p.tpcResult[0]).toMatchObject({ decision: Decision.DECISION_ABORT, reason: 'shard 2 voted NO: no reason given' });
    });

    it('keeps votes that arrive before ordering, and never decides in the block that ordered the transaction', () => {
      const c = mk();
      c.forward(tx(1), 0, [2], undefined, {}, 1);
      c.onShardBlock(0, shardBlock(0, [yes(hashOf(1))]), 1);
      c.onShardBlock(2, shardBlock(2, [yes(hashOf(1))]), 1);
      expect(c.get(hashOf(1))!.phase).toBe('prepared');
      const ordering = c.planBlock(1, 2);
      expect(ordering.ctToOrder.map((x) => x.tx!.hash)).toEqual([hashOf(1)]);
      expect(ordering.tpcResult).toEqual([]);
      const next = c.planBlock(2, 3);
      expect(next.tpcResult.map((d) => [d.txHash, d.decision])).toEqual([[hashOf(1), Decision.DECISION_COMMIT]]);

      // Same with a NO: the abort waits for the block after ordering.
      c.forward(tx(2), 0, [2], undefined, {}, 4);
      c.onShardBlock(2, shardBlock(2, [no(hashOf(2))]), 4);
      const ordering2 = c.planBlock(3, 5);
      expect(ordering2.ctToOrder.map((x) => x.tx!.hash)).toEqual([hashOf(2)]);
      expect(ordering2.tpcResult).toEqual([]);
      expect(c.planBlock(4, 6).tpcResult.map((d) => [d.txHash, d.decision])).toEqual([[hashOf(2), Decision.DECISION_ABORT]]);
    });

    it('ignores duplicate votes: a later NO after a YES of the same shard changes nothing', () => {
      const c = mk();
      c.forward(tx(1), 0, [2], undefined, {}, 1);
      c.planBlock(1, 1);
      c.onShardBlock(2, shardBlock(2, [yes(hashOf(1))]), 2);
      c.onShardBlock(2, shardBlock(2, [no(hashOf(1)), no(hashOf(1))]), 3);
      expect(c.get(hashOf(1))!.votes).toEqual({ 2: 'yes' });
      expect(c.get(hashOf(1))!.reason).toBe('');
      c.onShardBlock(0, shardBlock(0, [yes(hashOf(1))]), 4);
      expect(c.planBlock(2, 5).tpcResult[0]!.decision).toBe(Decision.DECISION_COMMIT);
    });

    it('ignores votes from shards that are not involved and votes on decided transactions', () => {
      const c = mk();
      c.forward(tx(1), 0, [2], undefined, {}, 1);
      c.planBlock(1, 1);
      c.onShardBlock(3, shardBlock(3, [no(hashOf(1))]), 2);
      expect(c.get(hashOf(1))!.votes).toEqual({});
      expect(c.planBlock(2, 3).tpcResult).toEqual([]);
      c.onShardBlock(0, shardBlock(0, [yes(hashOf(1))]), 4);
      c.onShardBlock(2, shardBlock(2, [yes(hashOf(1))]), 4);
      c.planBlock(3, 5);
      expect(c.get(hashOf(1))!.phase).toBe('committed');
      c.onShardBlock(2, shardBlock(2, [no(hashOf(1))]), 6);
      expect(c.get(hashOf(1))).toMatchObject({ phase: 'committed', reason: '', votes: { 0: 'yes', 2: 'yes' } });
      expect(c.planBlock(4, 7)).toEqual({ ctToOrder: [], tpcResult: [], changed: [] });
    });

    it('aborts after voteTimeoutBlocks blocks without a decision, naming the shards that did not vote', () => {
      const c = mk(3);
      c.forward(tx(1), 0, [1, 2], undefined, {}, 1);
      c.planBlock(10, 1);
      c.onShardBlock(0, shardBlock(0, [yes(hashOf(1))]), 2);
      expect(c.planBlock(11, 2).tpcResult).toEqual([]);
      expect(c.planBlock(12, 3).tpcResult).toEqual([]);
      const p = c.planBlock(13, 4);
      expect(p.tpcResult).toHaveLength(1);
      expect(p.tpcResult[0]).toMatchObject({ txHash: hashOf(1), decision: Decision.DECISION_ABORT, involvedShards: [0, 1, 2] });
      expect(p.tpcResult[0]!.reason).toBe('vote timeout: shards 1, 2 did not vote within 3 orchestrator blocks');
      expect(c.get(hashOf(1))).toMatchObject({ phase: 'aborted', decidedAt: 13 });
    });

    it('names a single missing shard in the singular', () => {
      const c = mk(1);
      c.forward(tx(1), 0, [2], undefined, {}, 1);
      c.planBlock(1, 1);
      c.onShardBlock(0, shardBlock(0, [yes(hashOf(1))]), 2);
      expect(c.planBlock(2, 2).tpcResult[0]!.reason).toBe('vote timeout: shard 2 did not vote within 1 orchestrator blocks');
    });

    it('does not time out a transaction still queued (the clock starts at ordering)', () => {
      const c = mk(1);
      c.planBlock(1, 1);
      c.planBlock(2, 2);
      c.forward(tx(1), 0, [2], undefined, {}, 3);
      const p = c.planBlock(3, 3);
      expect(p.ctToOrder).toHaveLength(1);
      expect(p.tpcResult).toEqual([]);
      expect(c.planBlock(4, 4).tpcResult.map((d) => d.decision)).toEqual([Decision.DECISION_ABORT]);
    });

    it('prefers a commit over a timeout when the last vote arrives in time', () => {
      const c = mk(2);
      c.forward(tx(1), 0, [2], undefined, {}, 1);
      c.planBlock(1, 1);
      c.planBlock(2, 2);
      c.onShardBlock(0, shardBlock(0, [yes(hashOf(1))]), 3);
      c.onShardBlock(2, shardBlock(2, [yes(hashOf(1))]), 3);
      expect(c.planBlock(3, 4).tpcResult[0]).toMatchObject({ decision: Decision.DECISION_COMMIT, reason: '' });
    });
  });

  describe('revertPlan (the block could not be written)', () => {
    it('re-queues what the plan ordered and re-opens what it decided, so the next plan at the same height repeats it', () => {
      const c = mk(2);
      c.forward(tx(1), 0, [2], undefined, {}, 1); // commits
      c.forward(tx(2), 0, [2], undefined, {}, 1); // NO
      c.forward(tx(3), 0, [2], undefined, {}, 1); // times out
      c.planBlock(1, 1);
      c.onShardBlock(0, shardBlock(0, [yes(hashOf(1)), yes(hashOf(2)), yes(hashOf(3))]), 2);
      c.onShardBlock(2, shardBlock(2, [yes(hashOf(1)), no(hashOf(2), 'code')]), 2);
      c.forward(tx(4), 0, [2], undefined, {}, 2);
      const failed = c.planBlock(3, 3);
      expect(failed.ctToOrder.map((x) => x.tx!.hash)).toEqual([hashOf(4)]);
      expect(failed.tpcResult.map((d) => d.txHash)).toEqual([hashOf(1), hashOf(2), hashOf(3)]);
      c.forward(tx(5), 0, [2], undefined, {}, 4); // arrives while the block is being written

      c.revertPlan(failed);
      expect(c.get(hashOf(1))).toMatchObject({ phase: 'prepared', reason: '' });
      expect(c.get(hashOf(2))).toMatchObject({ phase: 'pending', reason: 'shard 2 voted NO: code' });
      expect(c.get(hashOf(3))).toMatchObject({ phase: 'pending', reason: '' });
      for (const i of [1, 2, 3, 4]) expect(c.get(hashOf(i))!.decidedAt).toBeUndefined();
      expect(c.get(hashOf(4))!.orderedAt).toBeUndefined();
      expect(c.inFlight()).toHaveLength(5);

      const retry = c.planBlock(3, 5);
      expect(retry.ctToOrder.map((x) => x.tx!.hash)).toEqual([hashOf(4), hashOf(5)]);
      expect(retry.tpcResult.map((d) => [d.txHash, d.decision, d.reason])).toEqual([
        [hashOf(1), Decision.DECISION_COMMIT, ''],
        [hashOf(2), Decision.DECISION_ABORT, 'shard 2 voted NO: code'],
        [hashOf(3), Decision.DECISION_ABORT, 'vote timeout: shard 2 did not vote within 2 orchestrator blocks'],
      ]);
      // Every record the failed plan changed is written with the retried block.
      expect(retry.changed.map((r) => r.tx.hash).sort()).toEqual([1, 2, 3, 4, 5].map(hashOf));
    });
  });

  describe('onShardBlock learning a transaction whose forward was lost', () => {
    it('learns the transaction from the voting block, with the voter as home shard and the recipient’s shard', () => {
      const c = mk();
      const t = tx(7, addrOn(3));
      c.onShardBlock(1, shardBlock(1, [yes(t.hash)], [tx(8), t]), 5);
      const r = c.get(t.hash)!;
      expect(r).toMatchObject({ homeShard: 1, involved: [1, 3], votes: { 1: 'yes' }, phase: 'pending' });
      expect(r.tx).toEqual(t);
      const p = c.planBlock(1, 6);
      expect(p.ctToOrder.map((x) => [x.tx!.hash, x.sourceShard, x.involvedShards])).toEqual([[t.hash, 1, [1, 3]]]);
      c.onShardBlock(3, shardBlock(3, [yes(t.hash)]), 7);
      expect(c.planBlock(2, 8).tpcResult.map((d) => d.decision)).toEqual([Decision.DECISION_COMMIT]);
    });

    it('ignores a vote for an unknown transaction that is not in the block, or that has no recipient', () => {
      const c = mk();
      c.onShardBlock(1, shardBlock(1, [yes(hashOf(5))], [tx(6)]), 1);
      const creation = Transaction.fromPartial({ ...tx(9), to: '' });
      c.onShardBlock(1, shardBlock(1, [yes(creation.hash)], [creation]), 1);
      expect(c.get(hashOf(5))).toBeUndefined();
      expect(c.get(creation.hash)).toBeUndefined();
      expect(c.planBlock(1, 2)).toEqual({ ctToOrder: [], tpcResult: [], changed: [] });
    });
  });

  describe('restore', () => {
    it('re-queues restored records not yet ordered, keeps ordered ones open, and leaves decided ones alone', () => {
      const src = mk(3);
      src.forward(tx(1), 0, [2], undefined, {}, 1); // will be ordered
      src.forward(tx(2), 0, [2], undefined, {}, 1); // will commit
      src.planBlock(1, 1);
      src.forward(tx(3), 0, [2], undefined, {}, 2); // queued only
      src.onShardBlock(0, shardBlock(0, [yes(hashOf(2)), yes(hashOf(1))]), 2);
      src.onShardBlock(2, shardBlock(2, [yes(hashOf(2))]), 2);
      src.planBlock(2, 3);
      expect(src.get(hashOf(2))!.phase).toBe('committed');
      expect(src.get(hashOf(3))!.orderedAt).toBe(2);
      src.forward(tx(4), 0, [2], undefined, {}, 4); // queued only

      const records = [1, 2, 3, 4].map((i) => decodeCrossRecord(encodeCrossRecord(src.get(hashOf(i))!)));
      const c = mk(3, records);
      expect(c.inFlight().map((r) => r.tx.hash).sort()).toEqual([hashOf(1), hashOf(3), hashOf(4)]);
      const p = c.planBlock(3, 5);
      // Only the unordered record is ordered again; tx 1 (ordered at 1) times out at 4, not now.
      expect(p.ctToOrder.map((x) => x.tx!.hash)).toEqual([hashOf(4)]);
      expect(p.tpcResult).toEqual([]);
      const p4 = c.planBlock(4, 6);
      expect(p4.tpcResult.map((d) => [d.txHash, d.reason])).toEqual([[hashOf(1), 'vote timeout: shard 2 did not vote within 3 orchestrator blocks']]);
      expect(c.get(hashOf(2))!.phase).toBe('committed');
    });

    it('a restored record keeps its votes: the missing vote completes it', () => {
      const src = mk();
      src.forward(tx(1), 0, [2], undefined, {}, 1);
      src.planBlock(1, 1);
      src.onShardBlock(0, shardBlock(0, [yes(hashOf(1))]), 2);
      const c = mk(5, [decodeCrossRecord(encodeCrossRecord(src.get(hashOf(1))!))]);
      c.onShardBlock(0, shardBlock(0, [no(hashOf(1))]), 3); // duplicate vote of shard 0: ignored
      c.onShardBlock(2, shardBlock(2, [yes(hashOf(1))]), 3);
      expect(c.planBlock(2, 4).tpcResult.map((d) => d.decision)).toEqual([Decision.DECISION_COMMIT]);
    });
  });

  describe('encodeCrossRecord / decodeCrossRecord', () => {
    it('round-trips every field, bytes included', () => {
      const c = mk();
      const r = c.forward(tx(1), 0, [2, 3], undefined, { traceparent: '00-abc-def-01', tracestate: 'k=v' }, 1234).record;
      c.planBlock(1, 1);
      c.onShardBlock(2, shardBlock(2, [no(hashOf(1), 'nope')]), 5);
      c.planBlock(2, 6);
      const back = decodeCrossRecord(encodeCrossRecord(r));
      expect(back).toEqual(r);
      expect(Buffer.from(back.tx.raw).equals(Buffer.from(r.tx.raw))).toBe(true);
      expect(Buffer.from(back.tx.data).toString('hex')).toBe('cafe');
      expect(back.votes[2]).toBe('no');
      expect(back).toMatchObject({ phase: 'aborted', orderedAt: 1, decidedAt: 2, reason: 'shard 2 voted NO: nope', updatedAtMs: 6 });
    });

    it('round-trips a fresh record without optional fields', () => {
      const r = mk().forward(tx(3), 1, [0], undefined, {}, 1).record;
      const back = decodeCrossRecord(encodeCrossRecord(r));
      expect(back).toEqual(r);
      expect('orderedAt' in back).toBe(false);
    });
  });
});
