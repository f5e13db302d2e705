import fc from 'fast-check';
import { SystemTxKind, Vote } from '@shardlab/proto';
import { auditNetwork, formatReport, GENESIS_TX_HASH, type AuditReport } from '../src';
import {
  accountOf,
  addressOn,
  BASE_FEE,
  ETHER,
  findSystemTx,
  GAS,
  NetBuilder,
  removeSystemTx,
  systemTxPositions,
} from '@shardlab/testing';

const FEE_BURN = BigInt(GAS) * BASE_FEE;

// Two shards; accounts a0, b0 on shard 0 and a1, b1 on shard 1.
const a0 = addressOn(0, 1);
const b0 = addressOn(0, 2);
const a1 = addressOn(1, 3);
const b1 = addressOn(1, 4);
const GENESIS: [string, bigint][] = [
  [a0, 100n * ETHER],
  [b0, 50n * ETHER],
  [a1, 70n * ETHER],
  [b1, 30n * ETHER],
];

/** Every problem mentioning all of `words`. */
const problemsWith = (r: AuditReport, ...words: string[]) => r.problems.filter((p) => words.every((w) => p.includes(w)));

/** A settled network: local transfers, two commits and three kinds of abort. */
function cleanNetwork() {
  const net = new NetBuilder(2, GENESIS);
  net.local(a0, b0, 1n * ETHER);
  const committed = net.transfer(a0, a1, 3n * ETHER);
  const committedBack = net.transfer(b1, b0, 2n * ETHER);
  const abortedDestNo = net.transfer(a0, b1, 5n * ETHER, { destYes: false });
  const abortedSourceNo = net.transfer(a1, b0, 4n * ETHER, { sourceYes: false });
  const abortedTimeout = net.transfer(b0, a1, 1n * ETHER, { commit: false });
  net.local(a1, b1, 7n);
  return { net, committed, committedBack, abortedDestNo, abortedSourceNo, abortedTimeout };
}

describe('auditNetwork', () => {
  it('passes a settled network and reports exact figures', () => {
    const { net, committed, abortedTimeout } = cleanNetwork();
    const r = auditNetwork(net.input());
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);

    const genesis = 250n * ETHER;
    const userTxs = 7n; // 2 local + 5 cross-shard (each pays its fee on the source)
    expect(r.conservation).toEqual({
      genesisWei: genesis,
      burnedWei: userTxs * FEE_BURN,
      expectedWei: genesis - userTxs * FEE_BURN,
      actualWei: genesis - userTxs * FEE_BURN,
      inTransitWei: 0n,
      differenceWei: 0n,
      ok: true,
    });
    expect(r.atomicity).toMatchObject({ committed: 2, aborted: 3, inFlight: 0, inFlightTxs: [], ok: true });
    expect(r.atomicity.transactions.map((t) => [t.txHash, t.decision, t.state])).toEqual([
      [committed, 'commit', 'settled'],
      [expect.any(String), 'commit', 'settled'],
      [expect.any(String), 'abort', 'settled'],
      [expect.any(String), 'abort', 'settled'],
      [abortedTimeout, 'abort', 'settled'],
    ]);
    expect(r.atomicity.transactions[0]).toMatchObject({ sourceShard: 0, involvedShards: [0, 1], valueWei: 3n * ETHER, orderedAt: 1, decidedAt: 2 });
    expect(r.locks).toEqual({ lockedWei: 0n, accountsWithLocks: [], openLocks: [], ok: true });
    expect(r.orchestrator).toEqual({ blocks: 11, headHeight: 10, ordered: 5, decided: 5 });

    const [s0, s1] = r.shards;
    expect(s0).toMatchObject({ shardId: 0, userTxs: 4, genesisWei: 150n * ETHER, creditedWei: 2n * ETHER, debitedWei: 3n * ETHER, balanced: true });
    // LOCKs of a0→a1 (committed), a0→b1 and b0→a1 (aborted, unlocked); CREDITs: 2 genesis + b1→b0.
    expect(s0!.systemTxs).toEqual({ LOCK: 3, DEBIT: 1, CREDIT: 3, WRITE_SET: 0, UNLOCK: 2, ABORT: 1, UNSPECIFIED: 0 });
    expect(s1).toMatchObject({ shardId: 1, userTxs: 3, genesisWei: 100n * ETHER, creditedWei: 3n * ETHER, debitedWei: 2n * ETHER, balanced: true });
    expect(s1!.blocks).toBe(s1!.headHeight + 1);
  });

  it('gives a JSON form with wei as decimal strings, and a readable text form', () => {
    const { net } = cleanNetwork();
    const r = auditNetwork(net.input());
    const json = JSON.parse(JSON.stringify(r)) as Record<string, any>;
    expect(json['ok']).toBe(true);
    expect(json['conservation']['genesisWei']).toBe((250n * ETHER).toString());
    expect(json['atomicity']['transactions'][0]['valueWei']).toBe((3n * ETHER).toString());
    expect(json['toJSON']).toBeUndefined();
    expect(r.toJSON().conservation.burnedWei).toBe((7n * FEE_BURN).toString());

    const text = formatReport(r, { source: 'registry 127.0.0.1:1' });
    expect(text).toContain('ShardLab audit of registry 127.0.0.1:1: OK');
    expect(text).toContain(`genesis       250 ether (${250n * ETHER} wei)`);
    expect(text).toContain('2 committed, 3 aborted, 0 in flight, 0 violated');
  });

  it('fails when a committed transaction has no CREDIT, naming the transaction and the shard', () => {
    const { net, committed } = cleanNetwork();
    const input = net.input();
    // The destination never credited: neither its blocks nor the recipient's balance show it.
    removeSystemTx(input, findSystemTx(input, 1, SystemTxKind.SYSTEM_TX_KIND_CREDIT, committed));
    accountOf(input, a1).balance = (BigInt(accountOf(input, a1).balance) - 3n * ETHER).toString();
    const r = auditNetwork(input);
    expect(r.ok).toBe(false);
    expect(problemsWith(r, committed, 'no CREDIT', 'shard 1')).toHaveLength(1);
    expect(r.conservation.ok).toBe(false);
    expect(r.conservation.differenceWei).toBe(-3n * ETHER);
    expect(r.shards[1]!.balanced).toBe(true);
    expect(r.atomicity.transactions.find((t) => t.txHash === committed)!.state).toBe('violated');
    expect(r.atomicity.inFlight).toBe(0);
  });

  it('fails on a double DEBIT, naming the transaction and the shard', () => {
    const { net, committed } = cleanNetwork();
    const input = net.input();
    const at = findSystemTx(input, 0, SystemTxKind.SYSTEM_TX_KIND_DEBIT, committed);
    const block = input.shards[0]!.blocks[at.height]!;
    block.transactions.push(block.transactions[at.index]!);
    accountOf(input, a0).balance = (BigInt(accountOf(input, a0).balance) - 3n * ETHER).toString();
    const r = auditNetwork(input);
    expect(r.ok).toBe(false);
    expect(problemsWith(r, committed, 'duplicate DEBIT on shard 0')).toHaveLength(1);
    // The shard's own books balance (the second DEBIT was applied), the network's do not.
    expect(r.shards[0]!.balanced).toBe(true);
    expect(r.conservation.differenceWei).toBe(-3n * ETHER);
  });

  it('fails on a DEBIT of an aborted transaction', () => {
    const { net, abortedTimeout } = cleanNetwork();
    const input = net.input();
    const unlock = findSystemTx(input, 0, SystemTxKind.SYSTEM_TX_KIND_UNLOCK, abortedTimeout);
    const entry = input.shards[0]!.blocks[unlock.height]!.transactions[unlock.index]!;
    if (entry.kind?.$case !== 'system') throw new Error('not a system tx');
    entry.kind.value.kind = SystemTxKind.SYSTEM_TX_KIND_DEBIT;
    const r = auditNetwork(input);
    expect(r.ok).toBe(false);
    expect(problemsWith(r, abortedTimeout, 'DEBIT on shard 0', 'although it was aborted')).toHaveLength(1);
  });

  it('fails on a leftover lock: an aborted transaction never unlocked, and a lock no LOCK explains', () => {
    const { net, abortedTimeout } = cleanNetwork();
    const input = net.input();
    removeSystemTx(input, findSystemTx(input, 0, SystemTxKind.SYSTEM_TX_KIND_UNLOCK, abortedTimeout));
    accountOf(input, b0).locked = (1n * ETHER).toString();
    accountOf(input, a1).locked = '5';
    const r = auditNetwork(input);
    expect(r.ok).toBe(false);
    expect(problemsWith(r, abortedTimeout, 'never unlocked', 'source shard 0')).toHaveLength(1);
    expect(problemsWith(r, 'shard 1', a1, '5 wei locked', 'no open LOCK')).toHaveLength(1);
    expect(r.locks.ok).toBe(false);
    expect(r.locks.lockedWei).toBe(1n * ETHER + 5n);
    expect(r.locks.accountsWithLocks.sort()).toEqual([b0, a1].sort());
    expect(r.locks.openLocks).toEqual([{ txHash: abortedTimeout, shardId: 0, height: expect.any(Number), address: b0, amountWei: 1n * ETHER }]);
    // Balances are untouched by locks: conservation still holds.
    expect(r.conservation.ok).toBe(true);
  });

  it('fails on a wrong balance, naming the shard', () => {
    const { net } = cleanNetwork();
    const input = net.input();
    accountOf(input, b1).balance = (BigInt(accountOf(input, b1).balance) + 1n).toString();
    const r = auditNetwork(input);
    expect(r.ok).toBe(false);
    expect(r.conservation).toMatchObject({ ok: false, differenceWei: 1n });
    expect(r.shards.map((s) => s.balanced)).toEqual([true, false]);
    expect(problemsWith(r, 'shard 1:', 'difference 1 wei')).toHaveLength(1);
    expect(problemsWith(r, 'conservation', 'difference 1 wei')).toHaveLength(1);
  });

  it('counts value between DEBIT and CREDIT as in transit, and is not ok until it lands', () => {
    const net = new NetBuilder(2, GENESIS);
    const h = net.order(a0, a1, 3n * ETHER);
    net.prepare(h);

    // Ordered and prepared, no decision: in flight with an open lock, nothing violated.
    let r = auditNetwork(net.input());
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(false);
    expect(r.conservation.ok).toBe(true);
    expect(r.atomicity.inFlightTxs).toEqual([{ txHash: h, stage: 'awaiting-decision', detail: expect.stringContaining('locked on shard 0') }]);
    expect(r.locks).toMatchObject({ ok: false, lockedWei: 3n * ETHER, accountsWithLocks: [a0] });

    // Committed, debited on the source; the destination has not processed the decision yet.
    net.decide(h, true);
    net.applySource(h);
    r = auditNetwork(net.input());
    expect(r.problems).toEqual([]);
    expect(r.conservation).toMatchObject({ ok: true, inTransitWei: 3n * ETHER, differenceWei: 0n });
    expect(r.conservation.actualWei).toBe(r.conservation.expectedWei - 3n * ETHER);
    expect(r.atomicity.inFlightTxs).toEqual([{ txHash: h, stage: 'committing', detail: 'CREDIT on shard 1' }]);
    expect(r.locks.ok).toBe(true);
    expect(r.ok).toBe(false);
    expect(formatReport(r)).toContain('in flight (1)');

    net.applyDest(h);
    r = auditNetwork(net.input());
    expect(r.ok).toBe(true);
    expect(r.conservation.inTransitWei).toBe(0n);
  });

  it('counts a CREDIT applied before its DEBIT as negative in-transit value', () => {
    const net = new NetBuilder(2, GENESIS);
    const h = net.order(a0, a1, 2n * ETHER);
    net.prepare(h);
    net.decide(h, true);
    net.applyDest(h);
    const r = auditNetwork(net.input());
    expect(r.problems).toEqual([]);
    expect(r.conservation).toMatchObject({ ok: true, inTransitWei: -2n * ETHER, differenceWei: 0n });
    expect(r.atomicity.inFlightTxs).toEqual([{ txHash: h, stage: 'committing', detail: 'DEBIT on source shard 0' }]);
  });

  it('reports every cross-shard system transaction as unexplained without orchestrator blocks', () => {
    const { net, committed, abortedTimeout } = cleanNetwork();
    const input = { ...net.input(), orchestratorBlocks: [], notes: ['no orchestrator is registered'] };
    const r = auditNetwork(input);
    expect(r.ok).toBe(false);
    expect(r.notes).toEqual(['no orchestrator is registered']);
    for (const kind of ['LOCK', 'DEBIT']) expect(problemsWith(r, committed, `${kind} on shard 0`, 'never ordered')).toHaveLength(1);
    expect(problemsWith(r, committed, 'CREDIT on shard 1', 'never ordered')).toHaveLength(1);
    expect(problemsWith(r, abortedTimeout, 'UNLOCK on shard 0', 'never ordered')).toHaveLength(1);
    // Genesis credits are not cross-shard transactions.
    expect(r.problems.some((p) => p.includes(GENESIS_TX_HASH))).toBe(false);
  });

  it('takes a LOCK the orchestrator has not ordered yet as in flight, and as unexplained without orchestrator blocks', () => {
    const net = new NetBuilder(2, GENESIS);
    const h = net.order(a0, a1, 3n * ETHER);
    net.prepare(h);
    const input = net.input();
    // The home shard locked (and voted) before the orchestrator ordered it; the destination knows nothing yet.
    input.orchestratorBlocks[1]!.ctToOrder = [];
    for (const b of input.shards[1]!.blocks) b.tpcPrepare = [];
    let r = auditNetwork(input);
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(false);
    expect(r.atomicity.inFlightTxs).toEqual([{ txHash: h, stage: 'awaiting-order', detail: expect.stringContaining('locked on shard 0') }]);
    expect(r.locks.openLocks).toHaveLength(1);

    r = auditNetwork({ ...input, orchestratorBlocks: [] });
    expect(problemsWith(r, h, 'LOCK on shard 0', 'never ordered')).toHaveLength(1);
  });

  it('fails on a commit despite a NO vote, a credit to the wrong account, and a wrong amount', () => {
    const net = new NetBuilder(2, GENESIS);
    const forced = net.transfer(a0, a1, 1n * ETHER, { destYes: false, commit: true });
    const h = net.transfer(a0, b1, 2n * ETHER);
    const input = net.input();
    const credit = findSystemTx(input, 1, SystemTxKind.SYSTEM_TX_KIND_CREDIT, h);
    const entry = input.shards[1]!.blocks[credit.height]!.transactions[credit.index]!;
    if (entry.kind?.$case !== 'system') throw new Error('not a system tx');
    entry.kind.value.address = a1;
    const lock = findSystemTx(input, 0, SystemTxKind.SYSTEM_TX_KIND_LOCK, h);
    const lockEntry = input.shards[0]!.blocks[lock.height]!.transactions[lock.index]!;
    if (lockEntry.kind?.$case !== 'system') throw new Error('not a system tx');
    lockEntry.kind.value.amount = '1';
    const r = auditNetwork(input);
    expect(problemsWith(r, forced, 'committed although shard 1 voted NO')).toHaveLength(1);
    expect(problemsWith(r, h, `is for ${a1}`, `recipient ${b1}`)).toHaveLength(1);
    expect(problemsWith(r, h, 'LOCK on shard 0', 'moves 1 wei', `expected ${2n * ETHER} wei`)).toHaveLength(1);
  });

  it('checks block continuity and one receipt per user transaction', () => {
    const net = new NetBuilder(2, GENESIS);
    net.local(a0, b0, 1n);
    net.local(a0, b0, 1n);
    const input = net.input();
    input.shards[0]!.blocks.splice(1, 1); // a gap: heights 0, 2
    input.shards[1]!.blocks[0]!.receipts.push(input.shards[0]!.blocks[1]!.receipts[0]!);
    const r = auditNetwork(input);
    expect(problemsWith(r, 'shard 0', 'position 1 has height 2')).toHaveLength(1);
    expect(problemsWith(r, 'shard 1', 'block 0 has 0 user transactions but 1 receipts')).toHaveLength(1);
  });

  it('treats a missing ABORT or UNLOCK as pending until the shard processes the decision', () => {
    const net = new NetBuilder(2, GENESIS);
    const h = net.order(a0, a1, 1n * ETHER);
    net.prepare(h);
    net.decide(h, false);
    let r = auditNetwork(net.input());
    expect(r.problems).toEqual([]);
    expect(r.atomicity.inFlightTxs).toEqual([{ txHash: h, stage: 'aborting', detail: 'UNLOCK on source shard 0; ABORT on shard 1' }]);
    net.applySource(h);
    net.applyDest(h);
    r = auditNetwork(net.input());
    expect(r.ok).toBe(true);
  });

  it('flags votes and system transactions of unknown transactions and conflicting decisions', () => {
    const { net, committed } = cleanNetwork();
    const input = net.input();
    input.shards[1]!.blocks[1]!.tpcPrepare.push({ txHash: '0x' + 'ab'.repeat(32), vote: Vote.VOTE_YES, reason: '' });
    const last = input.orchestratorBlocks[input.orchestratorBlocks.length - 1]!;
    last.tpcResult.push({ ...input.orchestratorBlocks[2]!.tpcResult[0]!, decision: 2 });
    const r = auditNetwork(input);
    expect(problemsWith(r, '0x' + 'ab'.repeat(32), 'shard 1 voted', 'never ordered')).toHaveLength(1);
    expect(problemsWith(r, committed, 'decided both commit and abort')).toHaveLength(1);
  });
});

describe('auditNetwork properties', () => {
  const shardCountArb = fc.integer({ min: 2, max: 4 });
  type Op =
    | { kind: 'local'; from: number; to: number; value: bigint }
    | { kind: 'cross'; from: number; to: number; value: bigint; sourceYes: boolean; destYes: boolean; timeout: boolean };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('local' as const), from: fc.nat(63), to: fc.nat(63), value: fc.bigInt({ min: 0n, max: ETHER }) }),
    fc.record({
      kind: fc.constant('cross' as const),
      from: fc.nat(63),
      to: fc.nat(63),
      value: fc.bigInt({ min: 1n, max: ETHER }),
      sourceYes: fc.boolean(),
      destYes: fc.boolean(),
      timeout: fc.boolean(),
    }),
  );

  /** Builds a network from ops; accounts: 4 per shard, 1000 ether each. */
  function build(shards: number, ops: Op[]) {
    const accounts: string[] = [];
    for (let s = 0; s < shards; s++) for (let i = 1; i <= 4; i++) accounts.push(addressOn(s, i * 16 + s));
    const net = new NetBuilder(shards, accounts.map((a) => [a, 1000n * ETHER] as const));
    const pick = (i: number) => accounts[i % accounts.length]!;
    for (const op of ops) {
      const from = pick(op.from);
      if (op.kind === 'local') {
        // Another account of the sender's shard.
        const sameShard = accounts.filter((a) => net.shardOf(a) === net.shardOf(from));
        net.local(from, sameShard[op.to % sameShard.length]!, op.value);
      } else {
        const others = accounts.filter((a) => net.shardOf(a) !== net.shardOf(from));
        const commit = op.sourceYes && op.destYes && !op.timeout;
        net.transfer(from, others[op.to % others.length]!, op.value, { sourceYes: op.sourceYes, destYes: op.destYes, commit });
      }
    }
    return net;
  }

  it('passes any consistent history of local and committed/aborted cross-shard transfers', () => {
    fc.assert(
      fc.property(shardCountArb, fc.array(opArb, { maxLength: 12 }), (shards, ops) => {
        const r = auditNetwork(build(shards, ops).input());
        expect(r.problems).toEqual([]);
        expect(r.ok).toBe(true);
        expect(r.atomicity.committed + r.atomicity.aborted).toBe(ops.filter((o) => o.kind === 'cross').length);
      }),
      { numRuns: 60 },
    );
  });

  it('fails when any one system transaction is removed', () => {
    fc.assert(
      fc.property(shardCountArb, fc.array(opArb, { minLength: 1, maxLength: 8 }), (shards, ops) => {
        const net = build(shards, ops);
        const positions = systemTxPositions(net.input());
        for (const p of positions) {
          const input = net.input();
          removeSystemTx(input, p);
          const r = auditNetwork(input);
          if (r.ok) throw new Error(`still ok without ${SystemTxKind[p.kind]} of ${p.txHash} on shard ${p.shardId} block ${p.height}`);
          // The problem names the transaction (or, for a genesis credit, the shard whose books no longer balance).
          const named = p.txHash === GENESIS_TX_HASH ? `shard ${p.shardId}: balances total` : `tx ${p.txHash}`;
          expect(r.problems.some((x) => x.includes(named))).toBe(true);
        }
      }),
      { numRuns: 40 },
    );
  });
});
