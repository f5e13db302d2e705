import fc from 'fast-check';
import { SystemTxKind, type Decision } from '@shardlab/proto';
import { auditNetwork, formatReport, GENESIS_TX_HASH } from '../src';
import { accountOf, addressOn, ETHER, findSystemTx, NetBuilder, removeSystemTx, systemTxPositions } from '@shardlab/testing';
import { a0, b0, cleanNetwork, FEE_BURN } from './two-shards';

// The whole report. Each invariant has its own file: continuity, conservation, atomicity (and
// atomicity-calls), locks.

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
    expect(s0!.systemTxs).toEqual({ LOCK: 3, DEBIT: 1, CREDIT: 3, WRITE_SET: 0, UNLOCK: 2, ABORT: 1, RECEIPT_DEBIT: 0, RECEIPT_CREDIT: 0, UNSPECIFIED: 0 });
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

  it('lists problems shard by shard (blocks, accounts, balance), then orchestrator blocks, transactions, locks and the conservation total', () => {
    const { net, abortedTimeout } = cleanNetwork();
    const input = net.input();
    input.shards[0]!.blocks[1]!.parentHash = '0xbad';
    accountOf(input, a0).balance = 'x';
    accountOf(input, b0).locked = (BigInt(accountOf(input, b0).balance) + 1n).toString();
    input.shards.push({ ...input.shards[1]!, blocks: [] });
    const decided = input.orchestratorBlocks[2]!;
    decided.tpcResult.push({ ...decided.tpcResult[0]!, decision: 7 as Decision });
    const unlock = findSystemTx(input, 0, SystemTxKind.SYSTEM_TX_KIND_UNLOCK, abortedTimeout);
    const entry = input.shards[0]!.blocks[unlock.height]!.transactions[unlock.index]!;
    if (entry.kind?.$case !== 'system') throw new Error('not a system tx');
    entry.kind.value.kind = SystemTxKind.SYSTEM_TX_KIND_DEBIT;
    const r = auditNetwork(input);
    expect(r.problems).toEqual([
      expect.stringMatching(/^shard 0: block 1 has parent hash 0xbad, but block 0 has hash /),
      `shard 0: account ${a0} has a malformed balance "x"`,
      expect.stringMatching(new RegExp(`^shard 0: account ${b0} has \\d+ wei locked but a balance of only \\d+ wei$`)),
      expect.stringMatching(/^shard 0: balances total \d+ wei, but its blocks imply /),
      'shard 1: listed twice in the audit input; only the first listing is audited',
      expect.stringMatching(/^tx 0x[0-9a-f]{64}: orchestrator block 2 records a decision that is neither commit nor abort \(7\)$/),
      expect.stringMatching(new RegExp(`^tx ${abortedTimeout}: DEBIT on shard 0 \\(block ${unlock.height}\\) of ${ETHER} wei, although it was aborted$`)),
      expect.stringMatching(new RegExp(`^tx ${abortedTimeout}: aborted at orchestrator block \\d+, but the ${ETHER} wei locked on source shard 0 for ${b0} was never unlocked`)),
      expect.stringMatching(new RegExp(`^shard 0: account ${b0} has \\d+ wei locked, but its open LOCKs total 0 wei \\(no open LOCK\\)$`)),
      expect.stringMatching(/^conservation: balances total \d+ wei, but genesis /),
    ]);
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
