// Tests of the audit of client-led two-phase commit: decisions recorded in shard blocks (StateShardBlock.decisions) stand in for the orchestrator's; consistent commits and aborts pass with exact books, a commit on one shard and an abort on another, a missing decision and a lock left are reported
import { SystemTxKind } from '@shardlab/proto';
import { accountOf, ETHER, findSystemTx, NetBuilder } from '@shardlab/testing';
import { auditNetwork, formatReport, type AuditInput } from '../src';
import { clientLedHash, decide, idle, LOCK_TIMEOUT, prepare, reserve, type ClientLedTx } from './client-led';
import { a0, a1, b0, b1, FEE_BURN, GENESIS, problemsWith } from './two-shards';

/** Genesis of two shards (and one empty orchestrator block), nothing else. */
const network = (): AuditInput => new NetBuilder(2, GENESIS).input();
const VALUE = 3n * ETHER;
/** Transaction `n`: a0 (shard 0) → a1 (shard 1) of VALUE unless told otherwise. */
const tx = (n: number, over: Partial<ClientLedTx> = {}): ClientLedTx => ({ hash: clientLedHash(n), from: a0, to: a1, value: VALUE, source: 0, dest: 1, ...over });
const headOf = (input: AuditInput, s: number) => input.shards[s]!.blocks.length - 1;
const audited = (r: ReturnType<typeof auditNetwork>, h: string) => r.atomicity.transactions.find((t) => t.txHash === h)!;

describe('auditNetwork: client-led two-phase commit', () => {
  /** A commit, an abort of the coordinator after a NO vote, and an abort by the lock timeout of both shards. */
  function settled() {
    const input = network();
    const committed = tx(1);
    prepare(input, committed);
    const decidedAt = decide(input, committed, 0, true);
    decide(input, committed, 1, true);
    const abortedNo = tx(2, { from: b1, to: b0, value: 2n * ETHER, source: 1, dest: 0 });
    prepare(input, abortedNo, { destYes: false });
    decide(input, abortedNo, 1, false);
    decide(input, abortedNo, 0, false);
    const timedOut = tx(3, { to: b1, value: 1n * ETHER });
    prepare(input, timedOut);
    idle(input, 0, LOCK_TIMEOUT);
    idle(input, 1, LOCK_TIMEOUT);
    decide(input, timedOut, 0, false, { lockTimeout: true });
    decide(input, timedOut, 1, false, { lockTimeout: true });
    return { input, committed, decidedAt, abortedNo, timedOut };
  }

  it('passes consistent commits and aborts, with exact books and no orchestrator block needed', () => {
    const { input, committed, decidedAt, abortedNo, timedOut } = settled();
    for (const i of [input, { ...input, orchestratorBlocks: [] }]) {
      const r = auditNetwork(i);
      expect(r.problems).toEqual([]);
      expect(r.ok).toBe(true);
      expect(r.atomicity).toMatchObject({ committed: 1, aborted: 2, inFlight: 0, ok: true });
      expect(r.atomicity.transactions.map((t) => [t.txHash, t.decision, t.state, t.clientLed])).toEqual([
        [committed.hash, 'commit', 'settled', true],
        [abortedNo.hash, 'abort', 'settled', true],
        [timedOut.hash, 'abort', 'settled', true],
      ]);
      expect(audited(r, committed.hash)).toMatchObject({ sourceShard: 0, involvedShards: [0, 1], valueWei: VALUE, orderedAt: undefined, decidedAt });
      // LOCK, UNLOCK, DEBIT and CREDIT are accounted as block-2PC's: only the commit moved value.
      expect(r.conservation).toMatchObject({ ok: true, inTransitWei: 0n, differenceWei: 0n, burnedWei: 3n * FEE_BURN });
      expect(r.shards[0]).toMatchObject({ debitedWei: VALUE, creditedWei: 0n, balanced: true, systemTxs: expect.objectContaining({ LOCK: 2, DEBIT: 1, UNLOCK: 1 }) });
      expect(r.shards[1]).toMatchObject({ debitedWei: 0n, creditedWei: VALUE, balanced: true, systemTxs: expect.objectContaining({ LOCK: 1, UNLOCK: 1, CREDIT: 3, ABORT: 1 }) }); // CREDIT: 2 genesis + 1
      expect(r.locks).toEqual({ lockedWei: 0n, accountsWithLocks: [], openLocks: [], ok: true });
      expect(r.clientLed).toEqual({ transactions: 3, decisions: 6, lockTimeouts: 2, lockTimeoutBlocks: LOCK_TIMEOUT });
    }
    expect(formatReport(auditNetwork(input))).toContain(`client-led      3 transactions, 6 decisions recorded by shards, 2 by lock timeout (lock timeout ${LOCK_TIMEOUT} blocks)`);
  });

  it('flags a commit on one shard and an abort by the lock timeout on the other, naming the transaction and the shards', () => {
    const input = network();
    const t = tx(1);
    prepare(input, t);
    const committedAt = decide(input, t, 0, true);
    idle(input, 1, LOCK_TIMEOUT);
    const abortedAt = decide(input, t, 1, false, { lockTimeout: true });
    const r = auditNetwork(input);
    expect(problemsWith(r, `tx ${t.hash}`, 'not atomic', `committed on shard 0 (block ${committedAt})`, `aborted on shard 1 (block ${abortedAt}, lock timeout)`)).toHaveLength(1);
    // Checked against the coordinator's commit: the abort's effects and the missing credit are named too.
    expect(problemsWith(r, t.hash, 'ABORT on shard 1', 'although it was committed')).toHaveLength(1);
    expect(problemsWith(r, t.hash, 'committed by its coordinator, but no CREDIT on its destination shard 1')).toHaveLength(1);
    expect(audited(r, t.hash)).toMatchObject({ decision: 'commit', state: 'violated' });
    expect(r.ok).toBe(false);
    // The value left shard 0 and never arrived: not in transit, since shard 1 applied a decision.
    expect(r.conservation).toMatchObject({ ok: false, inTransitWei: 0n, differenceWei: -VALUE });
  });

  it('flags a decision a shard recorded twice', () => {
    const { input, committed } = settled();
    const block = input.shards[1]!.blocks.find((b) => b.decisions.some((d) => d.txHash === committed.hash))!;
    block.decisions.push({ ...block.decisions[0]! });
    const r = auditNetwork(input);
    expect(problemsWith(r, committed.hash, 'shard 1 recorded 2 decisions', `blocks ${block.height}, ${block.height}`)).toHaveLength(1);
  });

  it('takes a decision not recorded yet by a shard that voted YES as in flight, and as a lock left once its lock timeout has passed', () => {
    const input = network();
    const t = tx(1);
    prepare(input, t);
    decide(input, t, 0, true);
    const yesAt = t.preparedAt!.get(1)!;
    const withTimeout = () => ({ ...input, lockTimeoutBlocks: LOCK_TIMEOUT });

    let r = auditNetwork(withTimeout());
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(false);
    expect(r.atomicity.inFlightTxs).toEqual([{ txHash: t.hash, stage: 'committing', detail: `decision on shard 1 (it voted YES at block ${yesAt}); CREDIT on shard 1` }]);
    // Debited on shard 0, not yet credited on shard 1: in transit.
    expect(r.conservation).toMatchObject({ ok: true, inTransitWei: VALUE, differenceWei: 0n });

    // Up to the lock timeout the shard may still record the decision.
    idle(input, 1, LOCK_TIMEOUT);
    expect(headOf(input, 1)).toBe(yesAt + LOCK_TIMEOUT);
    expect(auditNetwork(withTimeout()).problems).toEqual([]);

    idle(input, 1, 1);
    r = auditNetwork(withTimeout());
    expect(problemsWith(r, t.hash, `shard 1 voted YES at block ${yesAt} but recorded no decision by its head ${yesAt + LOCK_TIMEOUT + 1}`, `lock timeout of ${LOCK_TIMEOUT} blocks`)).toHaveLength(1);
    expect(audited(r, t.hash).state).toBe('violated');
    // Without a lock timeout (given, or learnt from a lock-timeout abort) it cannot be told from one in flight.
    r = auditNetwork(input);
    expect(r.problems).toEqual([]);
    expect(r.atomicity.inFlight).toBe(1);
  });

  it('takes a prepared transaction no shard decided as awaiting its decision under client-led, and its locks as left past the timeout', () => {
    const input = network();
    const t = tx(1);
    prepare(input, t);
    const asClientLed = () => ({ ...input, protocol: 'client-led', lockTimeoutBlocks: LOCK_TIMEOUT });
    let r = auditNetwork(asClientLed());
    expect(r.problems).toEqual([]);
    const [yes0, yes1] = [t.preparedAt!.get(0)!, t.preparedAt!.get(1)!];
    expect(r.atomicity.inFlightTxs).toEqual([
      { txHash: t.hash, stage: 'awaiting-decision', detail: `decision on shard 0 (it voted YES at block ${yes0}); decision on shard 1 (it voted YES at block ${yes1})` },
    ]);
    expect(r.locks.openLocks).toEqual([{ txHash: t.hash, shardId: 0, height: yes0, address: a0, amountWei: VALUE }]);
    expect(r.clientLed).toMatchObject({ transactions: 1, decisions: 0 });

    idle(input, 0, LOCK_TIMEOUT + 1);
    idle(input, 1, LOCK_TIMEOUT + 1);
    r = auditNetwork(asClientLed());
    expect(problemsWith(r, t.hash, 'shard 0 voted YES', 'recorded no decision')).toHaveLength(1);
    expect(problemsWith(r, t.hash, 'shard 1 voted YES', 'recorded no decision')).toHaveLength(1);

    // Told nothing and with no decision recorded anywhere, the audit cannot know the network is client-led: block-2PC's rules apply.
    expect(problemsWith(auditNetwork(input), t.hash, 'never ordered')).not.toHaveLength(0);
  });

  it('settles a nonce reservation its coordinator never prepared, aborted by the timeout of its shard, and learns no vote lock timeout from it', () => {
    const input = network();
    const t = tx(5, { call: true });
    reserve(input, t);
    idle(input, 0, 2);
    decide(input, t, 0, false, { lockTimeout: true, timeoutBlocks: 360 });
    const r = auditNetwork(input);
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(audited(r, t.hash)).toMatchObject({ decision: 'abort', state: 'settled', sourceShard: 0, involvedShards: [0] });
    expect(r.clientLed).toEqual({ transactions: 1, decisions: 1, lockTimeouts: 1, lockTimeoutBlocks: null });
    expect(r.conservation).toMatchObject({ ok: true, burnedWei: FEE_BURN });
  });

  it('audits a client-led call without its RwSet: passes one that only moves value, flags one that creates value', () => {
    const input = network();
    const t = tx(4, { to: b1, value: 2n * ETHER, call: true });
    prepare(input, t);
    decide(input, t, 0, true);
    const creditedAt = decide(input, t, 1, true);
    let r = auditNetwork(input);
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(audited(r, t.hash)).toMatchObject({ decision: 'commit', state: 'settled', clientLed: true });
    expect(r.shards[1]!.systemTxs.WRITE_SET).toBe(1);

    // The contract's shard credits 1 wei more than the sender's shard debited (its own books agree).
    const at = findSystemTx(input, 1, SystemTxKind.SYSTEM_TX_KIND_CREDIT, t.hash);
    expect(at.height).toBe(creditedAt);
    const credit = input.shards[1]!.blocks[at.height]!.transactions[at.index]!;
    if (credit.kind?.$case !== 'system') throw new Error('not a system transaction');
    credit.kind.value.amount = (t.value + 1n).toString();
    accountOf(input, b1).balance = (BigInt(accountOf(input, b1).balance) + 1n).toString();
    r = auditNetwork(input);
    expect(problemsWith(r, t.hash, 'credits − debits total 1 wei', 'only moves value')).toHaveLength(1);
    expect(r.shards[1]!.balanced).toBe(true);
    expect(r.conservation.differenceWei).toBe(1n);
  });
});
