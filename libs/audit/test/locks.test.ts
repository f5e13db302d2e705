import { SystemTxKind } from '@shardlab/proto';
import { auditNetwork } from '../src';
import { accountOf, ETHER, findSystemTx, removeSystemTx } from '@shardlab/testing';
import { a1, b0, cleanNetwork, problemsWith } from './two-shards';

describe('auditNetwork: locks', () => {
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
});
