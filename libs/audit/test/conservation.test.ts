import { auditNetwork, formatReport } from '../src';
import { accountOf, ETHER, NetBuilder } from '@shardlab/testing';
import { a0, a1, b1, cleanNetwork, GENESIS, problemsWith } from './two-shards';

describe('auditNetwork: conservation of ether', () => {
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
});
