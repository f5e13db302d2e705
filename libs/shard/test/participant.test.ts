import { Decision, ReasonCode, Transaction, Vote, type CrossShardTx, type OrchestratorBlock, type TpcResult } from '@shardlab/proto';
import { Participant, decodeRecord, encodeRecord, type PlanContext, type TpcRecord } from '../src/tpc/participant';

const SOURCE = 0;
const DEST = 1;
const hashOf = (i: number) => '0x' + i.toString(16).padStart(64, '0');
/** An address whose last byte is its shard (2 shards in these tests: last byte mod 2 = shard). */
const addr = (shard: number, salt = 1) => '0x' + salt.toString(16).padStart(2, '0').repeat(19) + shard.toString(16).padStart(2, '0');
const alice = addr(SOURCE, 0xa1 - 1); // ends in 00 → shard 0
const bob = addr(DEST, 0xb0); // ends in 01 → shard 1
const contract = addr(DEST, 0xcc);
const elsewhere = addr(2, 0xee); // shard 2: neither source nor destination

function tx(i: number, to = bob, value = 1000n): Transaction {
  return Transaction.fromPartial({ hash: hashOf(i), raw: Buffer.from([i]), from: alice, to, value: value.toString(), nonce: i });
}

const order = (t: Transaction, involved = [SOURCE, DEST], source = SOURCE): CrossShardTx => ({ tx: t, involvedShards: involved, rwSet: undefined, sourceShard: source, traceContext: {} });
const decide = (h: string, commit: boolean, involved = [SOURCE, DEST]): TpcResult => ({
  txHash: h,
  decision: commit ? Decision.DECISION_COMMIT : Decision.DECISION_ABORT,
  reason: commit ? '' : 'some reason',
  involvedShards: involved,
  traceContext: {},
});
const oblock = (height: number, ctToOrder: CrossShardTx[] = [], tpcResult: TpcResult[] = []): OrchestratorBlock => ({
  height,
  hash: hashOf(1000 + height),
  parentHash: hashOf(999 + height),
  timestampMs: height,
  ctToOrder,
  tpcResult,
});

/** A plan context for `shardId`, with a set of contract addresses and a mempool. */
function ctx(shardId: number, opts: { contracts?: string[]; mempool?: string[] } = {}): PlanContext & { asked: string[] } {
  const asked: string[] = [];
  return {
    shardId,
    asked,
    shardOf: (a) => parseInt(a.slice(-2), 16) % 3,
    isContract: async (a) => {
      asked.push(a);
      return (opts.contracts ?? []).includes(a);
    },
    inMempool: (h) => (opts.mempool ?? []).includes(h),
  };
}

const locked = (i: number, amount = 1000n): TpcRecord => ({ txHash: hashOf(i), role: 'source', address: alice, amount, phase: 'locked' });
const prepared = (i: number, amount = 1000n): TpcRecord => ({ txHash: hashOf(i), role: 'destination', address: bob, amount, phase: 'prepared' });

describe('Participant.plan', () => {
  describe('destination prepare', () => {
    it('votes YES with a pending credit for an externally owned recipient placed here', async () => {
      const p = new Participant();
      const plan = await p.plan([oblock(1, [order(tx(1))])], ctx(DEST), 0);
      expect(plan.votes).toEqual([{ txHash: hashOf(1), vote: Vote.VOTE_YES, reason: '' }]);
      expect(plan.writes.get(hashOf(1))).toEqual(prepared(1));
      expect(plan.finalize).toEqual([]);
      expect(plan.accepts).toEqual([]);
      expect(plan.orchestratorHeight).toBe(1);
      // Pure: nothing changes until the block is durable and its writes applied.
      expect(p.get(hashOf(1))).toBeUndefined();
      p.apply(plan.writes);
      expect(p.get(hashOf(1))).toEqual(prepared(1));
      expect(p.size).toBe(1);
      // A pending credit locks nothing.
      expect(p.lockedOf(bob)).toBe(0n);
    });

    it('votes NO when the recipient holds code, naming it', async () => {
      const c = ctx(DEST, { contracts: [contract] });
      const plan = await new Participant().plan([oblock(1, [order(tx(1, contract))])], c, 0);
      expect(c.asked).toEqual([contract]);
      expect(plan.votes).toHaveLength(1);
      expect(plan.votes[0]).toMatchObject({ txHash: hashOf(1), vote: Vote.VOTE_NO });
      expect(plan.votes[0]!.reason).toBe(`recipient ${contract} is a contract: cross-shard contract calls need the simulator`);
      expect(plan.writes.get(hashOf(1))).toMatchObject({ role: 'destination', phase: 'refused' });
    });

    it('votes NO when the recipient is placed on another shard (without asking for code)', async () => {
      const c = ctx(DEST);
      const plan = await new Participant().plan([oblock(1, [order(tx(1, elsewhere))])], c, 0);
      expect(c.asked).toEqual([]);
      expect(plan.votes[0]).toEqual({ txHash: hashOf(1), vote: Vote.VOTE_NO, reason: `recipient ${elsewhere} is not placed on shard ${DEST}`, cause: expect.objectContaining({ code: ReasonCode.REASON_CODE_WRONG_SHARD, address: elsewhere, shards: [DEST] }) });
      expect(plan.writes.get(hashOf(1))).toMatchObject({ phase: 'refused' });
    });

    it('votes NO on a contract creation', async () => {
      const plan = await new Participant().plan([oblock(1, [order(tx(1, ''))])], ctx(DEST), 0);
      expect(plan.votes[0]).toMatchObject({ vote: Vote.VOTE_NO, reason: 'contract creation cannot be prepared as a value transfer' });
    });

    it('ignores transactions that do not involve this shard', async () => {
      const plan = await new Participant().plan([oblock(1, [order(tx(1), [SOURCE, 2])], [decide(hashOf(9), true, [SOURCE, 2])])], ctx(DEST), 0);
      expect(plan.votes).toEqual([]);
      expect(plan.writes.size).toBe(0);
      expect(plan.decided.size).toBe(0);
    });

    it('is idempotent: an ordering seen again (record exists) casts no second vote', async () => {
      const p = new Participant([prepared(1)]);
      const plan = await p.plan([oblock(2, [order(tx(1))])], ctx(DEST), 1);
      expect(plan.votes).toEqual([]);
      expect(plan.writes.size).toBe(0);
    });
  });

  describe('source side of ct_to_order', () => {
    it('does nothing for a transaction already accepted here or waiting in the mempool', async () => {
      const p = new Participant([locked(1)]);
      const plan = await p.plan([oblock(1, [order(tx(1)), order(tx(2))])], ctx(SOURCE, { mempool: [hashOf(2)] }), 0);
      expect(plan).toMatchObject({ finalize: [], votes: [], accepts: [] });
      expect(plan.writes.size).toBe(0);
    });

    it('accepts a transaction it never saw (lost mempool) from the ordered copy, once', async () => {
      const t = tx(3);
      const plan = await new Participant().plan([oblock(1, [order(t)]), oblock(2, [order(t)])], ctx(SOURCE), 0);
      expect(plan.accepts).toEqual([t]);
      expect(plan.votes).toEqual([]);
      expect(plan.orchestratorHeight).toBe(2);
    });
  });

  describe('decisions', () => {
    it('commit on the source: debit of the locked value, record cleared, lock released once applied', async () => {
      const p = new Participant([locked(1, 700n)]);
      expect(p.lockedOf(alice)).toBe(700n);
      const plan = await p.plan([oblock(5, [], [decide(hashOf(1), true)])], ctx(SOURCE), 4);
      expect(plan.finalize).toEqual([{ kind: 'debit', txHash: hashOf(1), address: alice, amount: 700n }]);
      expect(plan.decided.get(hashOf(1))).toBe('commit');
      expect(plan.writes.get(hashOf(1))).toBeNull();
      expect(p.lockedOf(alice)).toBe(700n);
      p.apply(plan.writes);
      expect(p.lockedOf(alice)).toBe(0n);
      expect(p.size).toBe(0);
    });

    it('abort on the source: unlock (after every finalize op), record cleared', async () => {
      const p = new Participant([locked(1, 700n), locked(2, 5n), prepared(3, 9n)]);
      expect(p.lockedOf(alice)).toBe(705n);
      const plan = await p.plan([oblock(5, [], [decide(hashOf(1), false), decide(hashOf(3), true), decide(hashOf(2), true)])], ctx(SOURCE), 4);
      expect(plan.finalize).toEqual([
        { kind: 'credit', txHash: hashOf(3), address: bob, amount: 9n },
        { kind: 'debit', txHash: hashOf(2), address: alice, amount: 5n },
        { kind: 'unlock', txHash: hashOf(1), address: alice, amount: 700n },
      ]);
      expect(plan.decided).toEqual(new Map([[hashOf(1), 'abort'], [hashOf(3), 'commit'], [hashOf(2), 'commit']]));
      p.apply(plan.writes);
      expect(p.lockedOf(alice)).toBe(0n);
    });

    it('commit on the destination: credit of the pending amount; abort: an abort marker, no credit', async () => {
      const p = new Participant([prepared(1, 11n), prepared(2, 22n)]);
      const plan = await p.plan([oblock(3, [], [decide(hashOf(1), true), decide(hashOf(2), false)])], ctx(DEST), 2);
      expect(plan.finalize).toEqual([
        { kind: 'credit', txHash: hashOf(1), address: bob, amount: 11n },
        { kind: 'abort', txHash: hashOf(2), address: bob, amount: 22n },
      ]);
      expect([...plan.writes]).toEqual([
        [hashOf(1), null],
        [hashOf(2), null],
      ]);
    });

    it('a refused record (voted NO) is simply cleared by the abort', async () => {
      const refused: TpcRecord = { ...prepared(1), phase: 'refused' };
      const p = new Participant([refused, { ...locked(2), phase: 'refused' }]);
      const plan = await p.plan([oblock(3, [], [decide(hashOf(1), false), decide(hashOf(2), false)])], ctx(DEST), 2);
      expect(plan.finalize).toEqual([]);
      expect([...plan.writes.values()]).toEqual([null, null]);
      expect(p.lockedOf(alice)).toBe(0n);
    });

    it('is idempotent: the same decision twice (in one batch, or once applied) finalizes once', async () => {
      const p = new Participant([locked(1, 7n)]);
      const twice = await p.plan([oblock(3, [], [decide(hashOf(1), true)]), oblock(4, [], [decide(hashOf(1), true)])], ctx(SOURCE), 2);
      expect(twice.finalize).toEqual([{ kind: 'debit', txHash: hashOf(1), address: alice, amount: 7n }]);
      p.apply(twice.writes);
      const again = await p.plan([oblock(5, [], [decide(hashOf(1), true)])], ctx(SOURCE), 4);
      expect(again.finalize).toEqual([]);
      expect(again.writes.size).toBe(0);
      expect(again.accepts).toEqual([]);
    });

    it('abort before acceptance on the source leaves an abortedEarly record (tx still in the mempool)', async () => {
      const p = new Participant();
      const plan = await p.plan([oblock(1, [order(tx(1))]), oblock(2, [], [decide(hashOf(1), false)])], ctx(SOURCE, { mempool: [hashOf(1)] }), 0);
      expect(plan.finalize).toEqual([]);
      expect(plan.accepts).toEqual([]);
      expect(plan.writes.get(hashOf(1))).toEqual({ txHash: hashOf(1), role: 'source', address: '', amount: 0n, phase: 'abortedEarly' });
      expect(plan.decided.get(hashOf(1))).toBe('abort');
      p.apply(plan.writes);
      // Nothing locked; a later acceptance without lock clears the record.
      expect(p.lockedOf(alice)).toBe(0n);
      expect(p.acceptanceWrites([{ txHash: hashOf(1), address: alice, amount: 1000n, locked: false, ok: true }])).toEqual(new Map([[hashOf(1), null]]));
      // A second decision for it does nothing.
      const again = await p.plan([oblock(3, [], [decide(hashOf(1), false)])], ctx(SOURCE, { mempool: [hashOf(1)] }), 2);
      expect(again.writes.size).toBe(0);
      expect(again.finalize).toEqual([]);
    });

    it('an abort of a transaction never seen and not in the mempool is only noted; its acceptance from the ordered copy is dropped', async () => {
      const p = new Participant();
      const plan = await p.plan([oblock(1, [order(tx(1))]), oblock(2, [], [decide(hashOf(1), false)])], ctx(SOURCE), 0);
      expect(plan.accepts).toEqual([]);
      expect(plan.writes.size).toBe(0);
      expect(plan.decided.get(hashOf(1))).toBe('abort');
    });

    it('drops the vote of a destination prepare whose decision arrives in the same batch', async () => {
      const p = new Participant();
      const plan = await p.plan([oblock(1, [order(tx(1)), order(tx(2))]), oblock(4, [], [decide(hashOf(1), false)])], ctx(DEST), 0);
      expect(plan.votes.map((v) => v.txHash)).toEqual([hashOf(2)]);
      expect(plan.finalize).toEqual([{ kind: 'abort', txHash: hashOf(1), address: bob, amount: 1000n }]);
      expect(plan.writes.get(hashOf(1))).toBeNull();
      expect(plan.writes.get(hashOf(2))).toEqual(prepared(2));
      expect(plan.orchestratorHeight).toBe(4);
    });

    it('keeps the durable orchestrator height when there is nothing to process', async () => {
      const plan = await new Participant().plan([], ctx(SOURCE), 17);
      expect(plan).toMatchObject({ orchestratorHeight: 17, finalize: [], votes: [], accepts: [] });
    });
  });

  describe('acceptanceWrites and locks', () => {
    it('records locked (YES) or refused (NO) acceptances; locks add up per address', () => {
      const p = new Participant();
      const w = p.acceptanceWrites([
        { txHash: hashOf(1), address: alice, amount: 10n, locked: true, ok: true },
        { txHash: hashOf(2), address: alice, amount: 32n, locked: true, ok: true },
        { txHash: hashOf(3), address: alice, amount: 99n, locked: true, ok: false },
      ]);
      expect(w.get(hashOf(3))).toMatchObject({ phase: 'refused' });
      p.apply(w);
      expect(p.lockedOf(alice)).toBe(42n);
      expect(p.lockedOf(bob)).toBe(0n);
      p.apply(new Map([[hashOf(1), null]]));
      expect(p.lockedOf(alice)).toBe(32n);
      // Re-applying the same locked record does not double the lock.
      p.apply(new Map([[hashOf(2), locked(2, 32n)]]));
      expect(p.lockedOf(alice)).toBe(32n);
    });

    it('restores locks from stored records', () => {
      const records = [locked(1, 3n), locked(2, 4n), prepared(3, 100n), { ...locked(4, 50n), phase: 'refused' as const }];
      const p = new Participant(records.map((r) => decodeRecord(encodeRecord(r))));
      expect(p.lockedOf(alice)).toBe(7n);
      expect(p.size).toBe(4);
    });

    it('encodes records with exact amounts beyond 2^53', () => {
      const r = locked(1, 2n ** 200n + 1n);
      expect(decodeRecord(encodeRecord(r))).toEqual(r);
    });
  });
});
