import { SystemTxKind, Vote } from '@shardlab/proto';
import { auditNetwork, GENESIS_TX_HASH } from '../src';
import { accountOf, ETHER, findSystemTx, NetBuilder, removeSystemTx } from '@shardlab/testing';
import { a0, a1, b1, cleanNetwork, GENESIS, problemsWith } from './two-shards';

describe('auditNetwork: atomicity of cross-shard transfers', () => {
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
