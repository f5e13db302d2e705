import { SystemTxKind } from '@shardlab/proto';
import { auditNetwork, type AuditInput, type AuditReport } from '../src';
import { addressOn, BASE_FEE, ETHER, findSystemTx, NetBuilder, removeSystemTx, systemTxPositions, TIP } from '@shardlab/testing';

// Three shards: alice and a contract D on shard 0, a contract C on shard 1, bob on shard 2.
const alice = addressOn(0, 1);
const d0 = addressOn(0, 2);
const c1 = addressOn(1, 3);
const bob = addressOn(2, 4);
const GENESIS: [string, bigint][] = [
  [alice, 100n * ETHER],
  [c1, 20n * ETHER],
  [bob, 5n * ETHER],
];
const word = (n: bigint) => '0x' + n.toString(16).padStart(64, '0');
const SLOT0 = word(0n);
const SLOT1 = word(1n);

/** Every problem mentioning all of `words`. */
const problemsWith = (r: AuditReport, ...words: string[]) => r.problems.filter((p) => words.every((w) => p.includes(w)));
const kindsOf = (input: AuditInput, shardId: number, txHash: string) =>
  systemTxPositions(input)
    .filter((p) => p.shardId === shardId && p.txHash === txHash)
    .map((p) => SystemTxKind[p.kind].replace('SYSTEM_TX_KIND_', ''));

/**
 * alice (shard 0) calls C (shard 1) with 10 ether; C keeps 6, forwards 4 to bob (shard 2) and
 * writes its slot 0 and D's (shard 0) slot 1. Then a second call sends alice 1 ether back from C
 * (refund CREDIT to the sender, DEBIT of C on shard 1).
 */
function callNetwork() {
  const net = new NetBuilder(3, GENESIS);
  const forward = net.call(alice, c1, {
    value: 10n * ETHER,
    gasUsed: 60_000,
    deltas: [
      [c1, 6n * ETHER],
      [bob, 4n * ETHER],
    ],
    writes: [
      [c1, [[SLOT0, word(1n)]]],
      [d0, [[SLOT1, word(7n)]]],
    ],
  });
  const payBack = net.call(alice, c1, { gasUsed: 40_000, deltas: [[c1, -1n * ETHER]], writes: [[c1, [[SLOT0, word(2n)]]]] });
  return { net, forward, payBack };
}

describe('auditNetwork: cross-shard contract calls (RwSet)', () => {
  it('passes a committed call with a third-party value transfer, a write set on the source and a refund to the sender', () => {
    const { net, forward, payBack } = callNetwork();
    const input = net.input();
    expect(kindsOf(input, 0, forward)).toEqual(['LOCK', 'DEBIT', 'WRITE_SET']);
    expect(kindsOf(input, 1, forward)).toEqual(['WRITE_SET', 'CREDIT']);
    expect(kindsOf(input, 2, forward)).toEqual(['CREDIT']);
    expect(kindsOf(input, 0, payBack)).toEqual(['LOCK', 'DEBIT', 'CREDIT']);
    expect(kindsOf(input, 1, payBack)).toEqual(['WRITE_SET', 'DEBIT']);

    const r = auditNetwork(input);
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.conservation.differenceWei).toBe(0n);
    expect(r.atomicity).toMatchObject({ committed: 2, aborted: 0, inFlight: 0 });
    expect(r.atomicity.transactions.find((t) => t.txHash === forward)).toMatchObject({ decision: 'commit', state: 'settled', sourceShard: 0, involvedShards: [0, 1, 2] });
    // The sender paid value + fee of the first call, got 1 ether back (less the fee) from the second.
    expect(net.balanceOf(alice)).toBe(100n * ETHER - 10n * ETHER - 60_000n * (BASE_FEE + TIP) + 1n * ETHER - 40_000n * (BASE_FEE + TIP));
    expect(net.balanceOf(bob)).toBe(9n * ETHER);
  });

  it('passes an aborted call (UNLOCK on the source, ABORT where a shard voted YES, nothing applied)', () => {
    const net = new NetBuilder(3, GENESIS);
    const h = net.call(alice, c1, { value: ETHER, deltas: [[c1, ETHER]], writes: [[c1, [[SLOT0, word(1n)]]]], no: [1] });
    net.call(alice, c1, { value: ETHER, deltas: [[c1, ETHER / 2n], [bob, ETHER / 2n]], no: [2] });
    const input = net.input();
    expect(kindsOf(input, 0, h)).toEqual(['LOCK', 'UNLOCK']);
    const r = auditNetwork(input);
    expect(r.problems).toEqual([]);
    expect(r.atomicity).toMatchObject({ committed: 0, aborted: 2, inFlight: 0 });
  });

  it('fails when a committed call misses its WRITE_SET on one shard, naming the transaction and the shard', () => {
    const { net, forward } = callNetwork();
    const input = net.input();
    removeSystemTx(input, findSystemTx(input, 1, SystemTxKind.SYSTEM_TX_KIND_WRITE_SET, forward));
    const r = auditNetwork(input);
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([`tx ${forward}: committed at orchestrator block 2, but shard 1 recorded no WRITE_SET for ${c1} (it processed orchestrator blocks up to 4)`]);
    expect(r.atomicity.transactions.find((t) => t.txHash === forward)!.state).toBe('violated');
  });

  it('a nonce the RwSet changes (a contract that ran CREATE) must be in the WRITE_SET, after created code and before storage', () => {
    const { net, forward } = callNetwork();
    const input = net.input();
    const ordered = input.orchestratorBlocks.flatMap((b) => b.ctToOrder).find((c) => c.tx?.hash === forward)!;
    ordered.rwSet!.addresses.find((a) => a.address === c1)!.newNonce = 3;
    // The shard applied the storage write but not the nonce.
    const r = auditNetwork(input);
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([
      `tx ${forward}: WRITE_SET of ${c1} on shard 1 (block ${findSystemTx(input, 1, SystemTxKind.SYSTEM_TX_KIND_WRITE_SET, forward).height}) writes [${SLOT0}=${word(1n)}], but its RwSet writes [nonce=${word(3n)}, ${SLOT0}=${word(1n)}]`,
    ]);
    // With the nonce entry first (slot 'nonce', a 32-byte word), as the participant builds it.
    const at = findSystemTx(input, 1, SystemTxKind.SYSTEM_TX_KIND_WRITE_SET, forward);
    const ws = input.shards[1]!.blocks[at.height]!.transactions[at.index]!;
    if (ws.kind?.$case !== 'system') throw new Error('not a system transaction');
    ws.kind.value.writes.unshift({ slot: 'nonce', oldValue: word(2n), newValue: word(3n) });
    expect(auditNetwork(input).problems).toEqual([]);
  });

  it('fails when a write set is applied twice', () => {
    const { net, forward } = callNetwork();
    const input = net.input();
    const at = findSystemTx(input, 1, SystemTxKind.SYSTEM_TX_KIND_WRITE_SET, forward);
    const block = input.shards[1]!.blocks[at.height]!;
    block.transactions.splice(at.index + 1, 0, structuredClone(block.transactions[at.index]!));
    const r = auditNetwork(input);
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([`tx ${forward}: write set of ${c1} applied 2 times on shard 1 (blocks ${at.height}, ${at.height}); exactly once is expected`]);
  });

  it('fails on an aborted call with a WRITE_SET', () => {
    const net = new NetBuilder(3, GENESIS);
    const h = net.call(alice, c1, { value: ETHER, deltas: [[c1, ETHER / 2n], [bob, ETHER / 2n]], writes: [[c1, [[SLOT0, word(1n)]]]], no: [2] });
    const input = net.input();
    const abort = findSystemTx(input, 1, SystemTxKind.SYSTEM_TX_KIND_ABORT, h);
    input.shards[1]!.blocks[abort.height]!.transactions.push({
      kind: { $case: 'system', value: { kind: SystemTxKind.SYSTEM_TX_KIND_WRITE_SET, txHash: h, address: c1, amount: '0', writes: [{ slot: SLOT0, oldValue: word(0n), newValue: word(1n) }] } },
    });
    const r = auditNetwork(input);
    expect(r.ok).toBe(false);
    expect(problemsWith(r, h, 'WRITE_SET on shard 1', 'although it was aborted')).toHaveLength(1);
    expect(r.problems).toHaveLength(1);
  });

  it('fails when a value transfer to a third party is credited with the wrong amount or to the wrong account', () => {
    const { net, forward } = callNetwork();
    const input = net.input();
    const at = findSystemTx(input, 2, SystemTxKind.SYSTEM_TX_KIND_CREDIT, forward);
    const credit = input.shards[2]!.blocks[at.height]!.transactions[at.index]!;
    if (credit.kind?.$case !== 'system') throw new Error('not a system tx');
    credit.kind.value.amount = (3n * ETHER).toString();
    const r = auditNetwork(input);
    expect(problemsWith(r, forward, 'on shard 2', bob, 'credited 3000000000000000000', 'expected its RwSet balance delta 4000000000000000000')).toHaveLength(1);
    expect(problemsWith(r, forward, 'credits − debits total')).toHaveLength(1);

    const input2 = net.input();
    const credit2 = input2.shards[2]!.blocks[at.height]!.transactions[at.index]!;
    if (credit2.kind?.$case !== 'system') throw new Error('not a system tx');
    credit2.kind.value.address = addressOn(2, 9);
    const r2 = auditNetwork(input2);
    expect(problemsWith(r2, forward, `CREDIT of ${addressOn(2, 9)} on shard 2`, 'RwSet names no')).toHaveLength(1);
    expect(problemsWith(r2, forward, `on shard 2, ${bob} was credited 0`)).toHaveLength(1);
  });

  it('keeps a commit whose shard has not processed the decision in flight, counting its value as in transit', () => {
    const { net, forward } = callNetwork();
    const input = net.input();
    // Shard 2 never got to the decision: drop its last block (the CREDIT to bob) and its accounts' view.
    const s2 = input.shards[2]!;
    s2.blocks.pop();
    s2.accounts.find((a) => a.address === bob)!.balance = (5n * ETHER).toString();
    const r = auditNetwork(input);
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(false);
    expect(r.conservation.inTransitWei).toBe(4n * ETHER);
    expect(r.atomicity.inFlightTxs).toEqual([{ txHash: forward, stage: 'committing', detail: 'commit effects on shard 2' }]);
  });

  it('fails when any one system transaction of a call is removed', () => {
    const { net } = callNetwork();
    const positions = systemTxPositions(net.input()).filter((p) => p.height > 0);
    expect(positions.length).toBeGreaterThan(10);
    for (const p of positions) {
      const input = net.input();
      removeSystemTx(input, p);
      const r = auditNetwork(input);
      expect({ removed: p, ok: r.ok, problems: r.problems.length > 0 }).toEqual({ removed: p, ok: false, problems: true });
    }
  });
});
