// Cross-shard value transfers through the in-memory protocol harness: commit, abort on a contract recipient, locked funds, vote timeout, three shards.
import { DEV_ACCOUNT_BALANCE, createPlacement, shardOf } from '@shardlab/chain';
import { ErrorCode } from '@shardlab/common';
import { Decision, ReasonCode, SystemTxKind, TxStatus, Vote } from '@shardlab/proto';
import { genesisAllocation, shardCoinbase } from '../src';
import { Network } from './protocol-harness';
import { rejection } from '@shardlab/testing';
import {
  BASE_FEE,
  EMPTY_CODE_HASH,
  ETHER,
  TIP,
  TRANSFER_FEE,
  alice,
  balanceOf,
  bob,
  carol,
  dev,
  expectConservation,
  expectNoLocks,
  keyOn,
  networkWithContract,
  recordStatuses,
  statusName,
} from './cross-shard-fixtures';

describe('cross-shard value transfers (in-memory protocol harness)', () => {
  it('commits: PENDING → PREPARED → COMMITTED, exact balances, LOCK then DEBIT on the source and CREDIT on the destination', async () => {
    const net = await Network.create({ shardCount: 2, genesis: genesisAllocation() });
    const statuses = recordStatuses(net);
    const value = 3n * ETHER;
    const res = await net.submit(alice, { to: bob.address, value, nonce: 0n });
    expect(res).toEqual({ txHash: res.txHash, shardId: 0, crossShard: true, status: TxStatus.TX_STATUS_PENDING, clientCoordinated: false });
    const h = res.txHash;
    expect(net.orchestrator.status(h)).toMatchObject({ status: TxStatus.TX_STATUS_PENDING, homeShard: 0, crossShard: true });
    expect(await net.shards[0]!.getTransaction(h)).toMatchObject({ status: TxStatus.TX_STATUS_PENDING, crossShard: true });
    // A second submission of the same transaction is a duplicate.
    expect((await rejection(net.submit(alice, { to: bob.address, value, nonce: 0n }))).code).toBe(ErrorCode.AlreadyExists);

    // Round 1: ordered; the source accepts it (nonce + fee, value locked) and votes YES, the destination votes YES.
    await net.step();
    expect(net.orchestrator.status(h).status).toBe(TxStatus.TX_STATUS_PREPARED);
    expect(await balanceOf(net, alice)).toMatchObject({ balance: DEV_ACCOUNT_BALANCE - TRANSFER_FEE, locked: value, nonce: 1 });
    expect(await balanceOf(net, bob)).toMatchObject({ balance: DEV_ACCOUNT_BALANCE, locked: 0n });
    const src = await net.shards[0]!.getBlock();
    expect(src.tpcPrepare).toEqual([{ txHash: h, vote: Vote.VOTE_YES, reason: '' }]);
    expect(src.receipts.map((r) => [r.txHash, r.gasUsed, r.effectiveGasPrice])).toEqual([[h, 21_000, (BASE_FEE + 1n).toString()]]);
    // The user transaction, then its LOCK.
    expect(src.transactions.map((t) => (t.kind?.$case === 'user' ? t.kind.value.hash : SystemTxKind[t.kind!.value.kind]))).toEqual([h, 'SYSTEM_TX_KIND_LOCK']);
    expect((await net.shards[1]!.getBlock()).tpcPrepare).toEqual([{ txHash: h, vote: Vote.VOTE_YES, reason: '' }]);
    expect(await net.shards[0]!.getTransaction(h)).toMatchObject({ status: TxStatus.TX_STATUS_PENDING, crossShard: true, blockHeight: 1 });
    // Prepared, not decided: no shard has applied a decision.
    for (const s of net.shards) expect(await s.getDecision(h)).toEqual({ decision: Decision.DECISION_UNSPECIFIED, height: 0 });

    // Round 2: committed; debit on the source, credit on the destination.
    await net.step();
    // Each shard applied the commit in its block of round 2 (GetDecision names that block).
    for (const s of net.shards) expect(await s.getDecision(h)).toEqual({ decision: Decision.DECISION_COMMIT, height: (await s.getBlock()).height });
    expect(net.orchestrator.status(h)).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, blockHeight: 2, reason: '' });
    expect(await balanceOf(net, alice)).toMatchObject({ balance: DEV_ACCOUNT_BALANCE - value - TRANSFER_FEE, locked: 0n, nonce: 1 });
    expect(await balanceOf(net, bob)).toMatchObject({ balance: DEV_ACCOUNT_BALANCE + value, locked: 0n, nonce: 0 });
    expect(await balanceOf(net, shardCoinbase(0))).toMatchObject({ balance: TIP });
    expect(await net.systemOps(0, h)).toEqual(['LOCK', 'DEBIT']);
    expect(await net.systemOps(1, h)).toEqual(['CREDIT']);
    const st = await net.shards[0]!.getTransaction(h);
    expect(st).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, crossShard: true, blockHeight: 1 });
    expect(st.receipt).toMatchObject({ txHash: h, success: true, gasUsed: 21_000 });

    // Nothing more happens in later rounds.
    await net.step(2);
    expect(await net.systemOps(0, h)).toEqual(['LOCK', 'DEBIT']);
    expect(await net.systemOps(1, h)).toEqual(['CREDIT']);
    await statuses.stop();
    expect(statuses.seen.filter((s) => s.txHash === h).map((s) => statusName(s.status))).toEqual(['PENDING', 'PREPARED', 'COMMITTED']);
    await expectConservation(net);
    await expectNoLocks(net);
    expect(net.quiet()).toBe(true);
  });

  it('aborts a transfer to a contract on the destination: the lock is released, the fee stays paid and the nonce consumed', async () => {
    const { net, created, deployHash } = await networkWithContract();
    const dr = await net.shards[1]!.getTransaction(deployHash);
    expect(dr).toMatchObject({ status: TxStatus.TX_STATUS_FINAL });
    expect(dr.receipt).toMatchObject({ success: true, contractAddress: created });
    expect((await balanceOf(net, created)).codeHash).not.toBe(EMPTY_CODE_HASH);

    const value = ETHER;
    const { txHash: h } = await net.submit(alice, { to: created, value, nonce: 0n });
    await net.step();
    // The source voted YES (locked), the destination NO.
    expect(await balanceOf(net, alice)).toMatchObject({ locked: value, nonce: 1 });
    expect((await net.shards[1]!.getBlock()).tpcPrepare).toEqual([
      { txHash: h, vote: Vote.VOTE_NO, reason: `recipient ${created} is a contract: cross-shard contract calls need the simulator`, cause: expect.objectContaining({ code: ReasonCode.REASON_CODE_NEEDS_SIMULATION, address: created }) },
    ]);
    await net.step();
    const reason = `shard 1 voted NO: recipient ${created} is a contract: cross-shard contract calls need the simulator`;
    expect(net.orchestrator.status(h)).toMatchObject({ status: TxStatus.TX_STATUS_ABORTED, reason, cause: expect.objectContaining({ code: ReasonCode.REASON_CODE_SHARD_VOTED_NO, shards: [1] }) });
    expect(await balanceOf(net, alice)).toMatchObject({ balance: DEV_ACCOUNT_BALANCE - TRANSFER_FEE, locked: 0n, nonce: 1 });
    expect((await balanceOf(net, created)).balance).toBe(0n);
    expect(await net.systemOps(0, h)).toEqual(['LOCK', 'UNLOCK']);
    expect(await net.systemOps(1, h)).toEqual([]);
    expect(await net.shards[0]!.getTransaction(h)).toMatchObject({ status: TxStatus.TX_STATUS_ABORTED, crossShard: true });
    // The destination that voted NO applied the abort too, though its block holds no step of it.
    for (const s of net.shards) expect(await s.getDecision(h)).toEqual({ decision: Decision.DECISION_ABORT, height: (await s.getBlock()).height });
    // After a restart the decision is still known (it is durable), its block height no longer.
    expect(await (await net.restartShard(1)).getDecision(h)).toEqual({ decision: Decision.DECISION_ABORT, height: 0 });
    await expect(net.shards[1]!.getDecision('0x1234')).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });

    // The nonce stays consumed: the same transaction is a duplicate, nonce 1 is next.
    expect((await rejection(net.submit(alice, { to: created, value, nonce: 0n }))).code).toBe(ErrorCode.AlreadyExists);
    expect((await rejection(net.submit(alice, { to: bob.address, value: 1n, nonce: 0n, maxPriorityFeePerGas: 2n }))).message).toMatch(/nonce too low/);
    await net.submit(alice, { to: bob.address, value: 1n, nonce: 1n });
    await net.settle();
    expect(await balanceOf(net, alice)).toMatchObject({ balance: DEV_ACCOUNT_BALANCE - 2n * TRANSFER_FEE - 1n, nonce: 2 });
    await expectConservation(net);
    await expectNoLocks(net);
  });

  it('a local transaction cannot spend funds locked (or reserved) by a cross-shard transaction', async () => {
    const poor = keyOn(0, 1);
    const net = await Network.create({ shardCount: 2, genesis: genesisAllocation(new Map([[poor.address, ETHER]])) });
    const value = (9n * ETHER) / 10n;
    const { txHash: h } = await net.submit(poor, { to: bob.address, value, nonce: 0n });
    // While queued, the cross-shard transaction's cost is reserved.
    const queued = await rejection(net.submit(poor, { to: carol.address, value: ETHER / 2n, nonce: 1n }));
    expect(queued.code).toBe(ErrorCode.FailedPrecondition);
    expect(queued.message).toMatch(/insufficient funds/);

    await net.step();
    expect(await balanceOf(net, poor)).toEqual(expect.objectContaining({ balance: ETHER - TRANSFER_FEE, locked: value, nonce: 1 }));
    // Once accepted, the value is locked: available = balance − locked.
    const available = ETHER - TRANSFER_FEE - value;
    const locked = await rejection(net.submit(poor, { to: carol.address, value: available, nonce: 1n }));
    expect(locked.code).toBe(ErrorCode.FailedPrecondition);
    expect(locked.message).toMatch(new RegExp(`insufficient funds: ${poor.address} has ${available} wei available`));
    // What is not locked can be spent.
    const spend = available - 21_000n * 2n * BASE_FEE;
    const local = await net.submit(poor, { to: carol.address, value: spend, nonce: 1n });
    await net.step();
    expect(net.orchestrator.status(h).status).toBe(TxStatus.TX_STATUS_COMMITTED);
    expect((await net.shards[0]!.getTransaction(local.txHash)).status).toBe(TxStatus.TX_STATUS_FINAL);
    expect(await balanceOf(net, poor)).toMatchObject({ balance: ETHER - value - spend - 2n * TRANSFER_FEE, locked: 0n, nonce: 2 });
    // The debit ran before the local transaction in that block.
    const b = await net.shards[0]!.getBlock();
    expect(b.transactions.map((t) => (t.kind?.$case === 'user' ? 'user' : SystemTxKind[t.kind!.value.kind]))).toEqual(['SYSTEM_TX_KIND_DEBIT', 'user']);
    await expectConservation(net);
  });

  it('times out: a destination whose votes never reach the orchestrator aborts after voteTimeoutBlocks, releasing the lock', async () => {
    const voteTimeoutBlocks = 3;
    const net = await Network.create({ shardCount: 2, genesis: genesisAllocation(), voteTimeoutBlocks });
    net.feedOrchestrator[1] = false;
    const value = 5n * ETHER;
    const { txHash: h } = await net.submit(alice, { to: bob.address, value, nonce: 0n });
    await net.step(voteTimeoutBlocks);
    expect(net.orchestrator.status(h).status).toBe(TxStatus.TX_STATUS_PENDING);
    expect((await balanceOf(net, alice)).locked).toBe(value);
    await net.step();
    expect(net.orchestrator.status(h)).toMatchObject({
      status: TxStatus.TX_STATUS_ABORTED,
      reason: `vote timeout: shard 1 did not vote within ${voteTimeoutBlocks} orchestrator blocks`,
    });
    expect(await balanceOf(net, alice)).toMatchObject({ balance: DEV_ACCOUNT_BALANCE - TRANSFER_FEE, locked: 0n, nonce: 1 });
    expect(await balanceOf(net, bob)).toMatchObject({ balance: DEV_ACCOUNT_BALANCE });
    expect(await net.systemOps(0, h)).toEqual(['LOCK', 'UNLOCK']);
    // The destination had a pending credit: the abort drops it without crediting.
    expect(await net.systemOps(1, h)).toEqual(['ABORT']);

    // The lost votes arrive late: they change nothing.
    net.feedOrchestrator[1] = true;
    await net.step(2);
    expect(net.orchestrator.status(h).status).toBe(TxStatus.TX_STATUS_ABORTED);
    expect(await net.systemOps(0, h)).toEqual(['LOCK', 'UNLOCK']);
    expect(await net.systemOps(1, h)).toEqual(['ABORT']);
    await expectConservation(net);
    await expectNoLocks(net);
  });

  it('three shards: concurrent cross-shard transfers in both directions commit and conserve ether', async () => {
    const placement3 = createPlacement(3);
    const by = (s: number) => dev.filter((a) => shardOf(placement3, a.address) === s);
    const [s0, s1, s2] = [by(0)[0]!, by(1)[0]!, by(2)[0]!];
    const net = await Network.create({ shardCount: 3, genesis: genesisAllocation() });
    const hashes = [
      (await net.submit(s0, { to: s1.address, value: 1n, nonce: 0n })).txHash,
      (await net.submit(s0, { to: s2.address, value: 2n, nonce: 1n })).txHash,
      (await net.submit(s1, { to: s0.address, value: 4n, nonce: 0n })).txHash,
      (await net.submit(s2, { to: s1.address, value: 8n, nonce: 0n })).txHash,
      (await net.submit(s2, { to: by(2)[1]!.address, value: 16n, nonce: 1n })).txHash, // local
    ];
    await net.settle();
    for (const h of hashes.slice(0, 4)) expect(net.orchestrator.status(h).status).toBe(TxStatus.TX_STATUS_COMMITTED);
    expect((await balanceOf(net, s0)).balance).toBe(DEV_ACCOUNT_BALANCE - 1n - 2n + 4n - 2n * TRANSFER_FEE);
    expect((await balanceOf(net, s1)).balance).toBe(DEV_ACCOUNT_BALANCE + 1n - 4n + 8n - TRANSFER_FEE);
    expect((await balanceOf(net, s2)).balance).toBe(DEV_ACCOUNT_BALANCE + 2n - 8n - 16n - 2n * TRANSFER_FEE);
    await expectConservation(net);
    await expectNoLocks(net);
  });
});
