import { auditNetwork } from '@shardlab/audit';
import fc from 'fast-check';
import { createAddressFromString, createContractAddress } from '@ethereumjs/util';
import { DEV_ACCOUNT_BALANCE, accountFromKey, createPlacement, decodeTransaction, devAccounts, shardOf, signTransaction, type DevAccount } from '@shardlab/chain';
import type { MemoryKV } from '@shardlab/storage';
import { ErrorCode, ShardLabError } from '@shardlab/common';
import { ReasonCode, SystemTxKind, TxStatus, Vote, type TransactionStatus } from '@shardlab/proto';
import { genesisAllocation, shardCoinbase } from '../src';
import { Network } from './protocol-harness';
import { rejection } from '@shardlab/testing';

const BASE_FEE = 1_000_000_000n;
/** Default EIP-1559 fee of `signTransaction`: 2 gwei cap, 1 wei tip → base fee + 1 wei per gas. */
const TRANSFER_FEE = 21_000n * (BASE_FEE + 1n);
const TIP = 21_000n;
const ETHER = 10n ** 18n;
const EMPTY_CODE_HASH = '0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470';

const dev = devAccounts();
const placement2 = createPlacement(2);
const on = (shard: number) => dev.filter((a) => shardOf(placement2, a.address) === shard);
/** Development accounts on shard 0 and shard 1 of a 2-shard network. */
const [alice, carol, dave] = on(0) as [DevAccount, DevAccount, DevAccount];
const [bob, erin, frank] = on(1) as [DevAccount, DevAccount, DevAccount];

/** A deterministic key (not a development account) whose address lies on `shard` of 2. */
function keyOn(shard: number, seed: number): DevAccount {
  for (let i = seed; ; i++) {
    const key = new Uint8Array(32);
    key[0] = 0x77;
    key[30] = (i >> 8) & 0xff;
    key[31] = i & 0xff;
    const a = accountFromKey(key);
    if (shardOf(placement2, a.address) === shard) return a;
  }
}

const balanceOf = async (net: Network, a: DevAccount | string) => {
  const acct = await net.home(typeof a === 'string' ? a : a.address).getAccount(typeof a === 'string' ? a : a.address);
  return { balance: BigInt(acct.balance), locked: BigInt(acct.locked), nonce: acct.nonce, codeHash: acct.codeHash };
};

/** Every status change the orchestrator publishes, from now on. */
function recordStatuses(net: Network): { seen: TransactionStatus[]; stop: () => Promise<void> } {
  const seen: TransactionStatus[] = [];
  const ac = new AbortController();
  const it = net.orchestrator.statusChanges(ac.signal);
  const first = it.next(); // subscribes synchronously
  const reading = (async () => {
    let r = await first;
    while (!r.done) {
      seen.push(r.value);
      r = await it.next();
    }
  })();
  return {
    seen,
    stop: async () => {
      ac.abort();
      await reading;
    },
  };
}

const statusName = (s: TxStatus) => TxStatus[s].replace('TX_STATUS_', '');

async function expectConservation(net: Network): Promise<void> {
  expect(await net.totalBalance()).toBe(net.genesisTotal() - (await net.burned()));
}

async function expectNoLocks(net: Network): Promise<void> {
  for (const [address, a] of await net.accounts()) expect({ address, locked: a.locked }).toEqual({ address, locked: 0n });
}

/** Init code: MSTORE8(0, 0); RETURN(0, 1) → one byte of runtime code (STOP). */
const INIT_CODE = Uint8Array.from([0x60, 0x00, 0x60, 0x00, 0x53, 0x60, 0x01, 0x60, 0x00, 0xf3]);

/** A 2-shard network where `bob` (shard 1) deployed a contract placed on shard 1. */
async function networkWithContract(): Promise<{ net: Network; created: string; deployHash: string }> {
  const created = createContractAddress(createAddressFromString(bob.address), 0n).toString();
  const placement = createPlacement(2, 1, [[created, 1]]);
  const net = await Network.create({ shardCount: 2, genesis: genesisAllocation(), placement });
  const deploy = await net.submit(bob, { nonce: 0n, gasLimit: 100_000n, data: INIT_CODE });
  expect(deploy).toMatchObject({ crossShard: false, status: TxStatus.TX_STATUS_QUEUED });
  await net.step();
  return { net, created, deployHash: deploy.txHash };
}

/** Makes the next write of `kv` wait until released (a slow disk); `reached` resolves when it starts waiting. */
function holdNextWrite(kv: MemoryKV): { reached: Promise<void>; release: () => void } {
  const batch = kv.batch.bind(kv);
  let release!: () => void;
  let reached!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const started = new Promise<void>((r) => (reached = r));
  kv.batch = async (ops) => {
    kv.batch = batch;
    reached();
    await released;
    return batch(ops);
  };
  return { reached: started, release };
}

describe('cross-shard value transfers (in-memory protocol harness)', () => {
  it('commits: PENDING → PREPARED → COMMITTED, exact balances, LOCK then DEBIT on the source and CREDIT on the destination', async () => {
    const net = await Network.create({ shardCount: 2, genesis: genesisAllocation() });
    const statuses = recordStatuses(net);
    const value = 3n * ETHER;
    const res = await net.submit(alice, { to: bob.address, value, nonce: 0n });
    expect(res).toEqual({ txHash: res.txHash, shardId: 0, crossShard: true, status: TxStatus.TX_STATUS_PENDING });
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

    // Round 2: committed; debit on the source, credit on the destination.
    await net.step();
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

  describe('crash recovery: the round completes exactly once', () => {
    async function finish(net: Network, h: string, value: bigint) {
      await net.settle();
      await net.step(2);
      expect(net.orchestrator.status(h).status).toBe(TxStatus.TX_STATUS_COMMITTED);
      expect(await balanceOf(net, alice)).toMatchObject({ balance: DEV_ACCOUNT_BALANCE - value - TRANSFER_FEE, locked: 0n, nonce: 1 });
      expect(await balanceOf(net, bob)).toMatchObject({ balance: DEV_ACCOUNT_BALANCE + value });
      expect(await net.systemOps(0, h)).toEqual(['LOCK', 'DEBIT']);
      expect(await net.systemOps(1, h)).toEqual(['CREDIT']);
      await expectConservation(net);
      await expectNoLocks(net);
    }

    it('the source restarts after voting: its lock survives and the commit debits once', async () => {
      const net = await Network.create({ shardCount: 2, genesis: genesisAllocation() });
      const value = 2n * ETHER;
      const { txHash: h } = await net.submit(alice, { to: bob.address, value, nonce: 0n });
      await net.step();
      const before = net.shards[0]!.head();
      await net.restartShard(0);
      expect(net.shards[0]!.head()).toEqual(before);
      expect(await balanceOf(net, alice)).toMatchObject({ locked: value, nonce: 1 });
      // The lock is enforced after the restart too.
      expect((await rejection(net.submit(alice, { to: carol.address, value: DEV_ACCOUNT_BALANCE - value, nonce: 1n }))).message).toMatch(/insufficient funds/);
      await finish(net, h, value);
    });

    it('the destination restarts after voting, with the decision delivered but not yet in a block', async () => {
      const net = await Network.create({ shardCount: 2, genesis: genesisAllocation() });
      const value = 2n * ETHER;
      const { txHash: h } = await net.submit(alice, { to: bob.address, value, nonce: 0n });
      await net.step();
      await net.orchestratorBlock(); // the commit
      await net.deliverOrchestratorBlocks();
      expect(net.shards[1]!.orchestratorCursor()).toBe(2);
      await net.restartShard(1); // the queued decision is lost with the process
      expect(net.shards[1]!.orchestratorCursor()).toBe(1);
      await finish(net, h, value);
    });

    it('the orchestrator restarts after reading the votes, before its decision block: it re-reads them', async () => {
      const net = await Network.create({ shardCount: 2, genesis: genesisAllocation() });
      const value = 2n * ETHER;
      const { txHash: h } = await net.submit(alice, { to: bob.address, value, nonce: 0n });
      await net.step();
      expect(net.orchestrator.status(h).status).toBe(TxStatus.TX_STATUS_PREPARED);
      await net.restartOrchestrator();
      expect(net.orchestrator.status(h).status).toBe(TxStatus.TX_STATUS_PENDING);
      await finish(net, h, value);
    });

    it('the orchestrator restarts after its decision block, before any shard saw it', async () => {
      const net = await Network.create({ shardCount: 2, genesis: genesisAllocation() });
      const value = 2n * ETHER;
      const { txHash: h } = await net.submit(alice, { to: bob.address, value, nonce: 0n });
      await net.step();
      await net.orchestratorBlock();
      await net.restartOrchestrator();
      expect(net.orchestrator.status(h).status).toBe(TxStatus.TX_STATUS_COMMITTED);
      await finish(net, h, value);
    });

    it('every node restarts after every move of a round', async () => {
      const net = await Network.create({ shardCount: 2, genesis: genesisAllocation() });
      const value = 2n * ETHER;
      const { txHash: h } = await net.submit(alice, { to: bob.address, value, nonce: 0n });
      const restartAll = async () => {
        await net.restartOrchestrator();
        await net.restartShard(0);
        await net.restartShard(1);
      };
      for (let round = 0; round < 3; round++) {
        await net.orchestratorBlock();
        await restartAll();
        await net.deliverOrchestratorBlocks();
        await net.shardBlocks();
        await restartAll();
        await net.deliverShardBlocks();
        await restartAll();
      }
      await finish(net, h, value);
    });

    it('the source loses its mempool after forwarding: it accepts the transaction from the ordered copy', async () => {
      const net = await Network.create({ shardCount: 2, genesis: genesisAllocation() });
      const value = 2n * ETHER;
      const { txHash: h } = await net.submit(alice, { to: bob.address, value, nonce: 0n });
      await net.restartShard(0);
      expect(net.shards[0]!.head().mempoolSize).toBe(0);
      await net.step();
      expect(await balanceOf(net, alice)).toMatchObject({ locked: value, nonce: 1 });
      await finish(net, h, value);
    });

    it('a failed block write on the source during the decision round is retried and applied once', async () => {
      const net = await Network.create({ shardCount: 2, genesis: genesisAllocation() });
      const value = 2n * ETHER;
      const { txHash: h } = await net.submit(alice, { to: bob.address, value, nonce: 0n });
      await net.step();
      await net.orchestratorBlock();
      await net.deliverOrchestratorBlocks();
      const kv = net.shardKvs[0]!;
      const batch = kv.batch.bind(kv);
      kv.batch = async () => {
        kv.batch = batch;
        throw new Error('disk full');
      };
      await expect(net.shards[0]!.produceBlock()).rejects.toThrow('disk full');
      expect(await balanceOf(net, alice)).toMatchObject({ locked: value });
      await finish(net, h, value);
    });
  });

  describe('races between the commit protocol and the mempool', () => {
    it('an abort that arrives before the source accepted the transaction: accepted later without a lock or a vote, fee and nonce consumed', async () => {
      const { net, created } = await networkWithContract();
      const hold = net.holdForwardAnswers();
      const raw = signTransaction(net.common, alice, { to: created, value: ETHER, nonce: 0n });
      const h = decodeTransaction(raw, net.common).hash;
      const submitted = net.shards[0]!.submit(raw);
      await hold.forwarded;
      // The orchestrator has it; the source's entry waits for the answer, so it is not accepted yet.
      await net.step();
      expect(net.orchestrator.status(h).status).toBe(TxStatus.TX_STATUS_PENDING);
      await net.step();
      expect(net.orchestrator.status(h)).toMatchObject({ status: TxStatus.TX_STATUS_ABORTED });
      expect(await balanceOf(net, alice)).toMatchObject({ balance: DEV_ACCOUNT_BALANCE, locked: 0n, nonce: 0 });
      expect(net.shards[0]!.head().mempoolSize).toBe(1);

      hold.release();
      expect(await submitted).toMatchObject({ txHash: h, crossShard: true });
      await net.step();
      // Accepted (nonce and fee) without locking: no LOCK, no vote.
      expect(await balanceOf(net, alice)).toMatchObject({ balance: DEV_ACCOUNT_BALANCE - TRANSFER_FEE, locked: 0n, nonce: 1 });
      const b = await net.shards[0]!.getBlock();
      expect(b.receipts.map((r) => r.txHash)).toEqual([h]);
      expect(b.tpcPrepare).toEqual([]);
      expect(await net.systemOps(0, h)).toEqual([]);
      expect(await net.shards[0]!.getTransaction(h)).toMatchObject({ status: TxStatus.TX_STATUS_ABORTED, crossShard: true });
      await net.step(2);
      expect(net.quiet()).toBe(true);
      await expectConservation(net);
      await expectNoLocks(net);
    });

    it('a transaction the source lost after skipping its ordering times out; resubmitting it afterwards is refused and locks nothing', async () => {
      const net = await Network.create({ shardCount: 2, genesis: genesisAllocation(), voteTimeoutBlocks: 2 });
      const hold = net.holdForwardAnswers();
      const raw = signTransaction(net.common, alice, { to: bob.address, value: ETHER, nonce: 0n });
      const h = decodeTransaction(raw, net.common).hash;
      const lost = net.shards[0]!.submit(raw);
      await hold.forwarded;
      await net.step(); // ordered; the source skips it (its entry is not ready yet)
      await net.restartShard(0); // ... and loses it
      hold.release();
      await lost; // answered by the crashed process: nobody hears it
      await net.step(2);
      expect(net.orchestrator.status(h)).toMatchObject({ status: TxStatus.TX_STATUS_ABORTED, reason: 'vote timeout: shard 0 did not vote within 2 orchestrator blocks' });
      expect(await balanceOf(net, alice)).toMatchObject({ balance: DEV_ACCOUNT_BALANCE, locked: 0n, nonce: 0 });
      expect(await net.systemOps(1, h)).toEqual(['ABORT']);

      // The same signed transaction again: the orchestrator refuses it, so the source does not take it.
      const again = await rejection(net.shards[0]!.submit(raw));
      expect(again.code).toBe(ErrorCode.AlreadyExists);
      expect(again.message).toMatch(new RegExp(`transaction ${h} was already aborted by the orchestrator`));
      expect(net.shards[0]!.head().mempoolSize).toBe(0);
      await net.step(3);
      expect(await balanceOf(net, alice)).toMatchObject({ balance: DEV_ACCOUNT_BALANCE, locked: 0n, nonce: 0 });
      // The nonce is still free for another transaction.
      await net.submit(alice, { to: bob.address, value: 1n, nonce: 0n });
      await net.settle();
      expect(await balanceOf(net, alice)).toMatchObject({ balance: DEV_ACCOUNT_BALANCE - 1n - TRANSFER_FEE, nonce: 1 });
      await expectConservation(net);
      await expectNoLocks(net);
    });

    it.each([
      ['in a block before the decision', true],
      ['in the block that applies the decision', false],
    ])('a duplicate admitted while the source accepts the ordered copy is dropped %s without touching the lock', async (_when, beforeDecision) => {
      const net = await Network.create({ shardCount: 2, genesis: genesisAllocation() });
      const value = ETHER;
      const raw = signTransaction(net.common, alice, { to: bob.address, value, nonce: 0n });
      const { txHash: h } = await net.shards[0]!.submit(raw);
      await net.restartShard(0); // mempool lost: the source will accept the ordered copy
      await net.orchestratorBlock();
      await net.deliverOrchestratorBlocks();
      // While the block accepting the ordered copy is being written, the same transaction is
      // submitted again: the durable state does not have it yet, so it is admitted.
      const slow = holdNextWrite(net.shardKvs[0]!);
      const accepting = net.shards[0]!.produceBlock();
      await slow.reached;
      expect(await net.shards[0]!.submit(raw)).toMatchObject({ txHash: h, crossShard: true, status: TxStatus.TX_STATUS_PENDING });
      slow.release();
      expect((await accepting).tpcPrepare).toEqual([{ txHash: h, vote: Vote.VOTE_YES, reason: '' }]);
      expect(await balanceOf(net, alice)).toMatchObject({ locked: value, nonce: 1 });
      if (beforeDecision) {
        // The duplicate fails on its nonce; the lock and the YES stand.
        const b = await net.shards[0]!.produceBlock();
        expect(b.receipts).toEqual([]);
        expect(b.tpcPrepare).toEqual([]);
        expect(await balanceOf(net, alice)).toMatchObject({ locked: value, nonce: 1 });
      }
      await net.shardBlocks();
      await net.deliverShardBlocks();
      await net.step(); // commit (and the duplicate, if still queued)
      expect(net.orchestrator.status(h).status).toBe(TxStatus.TX_STATUS_COMMITTED);
      for (const b of await net.blocks(0)) expect(b.tpcPrepare.filter((v) => v.txHash === h && v.vote !== Vote.VOTE_YES)).toEqual([]);
      await net.settle();
      await net.step();
      expect(await balanceOf(net, alice)).toMatchObject({ balance: DEV_ACCOUNT_BALANCE - value - TRANSFER_FEE, locked: 0n, nonce: 1 });
      expect(await balanceOf(net, bob)).toMatchObject({ balance: DEV_ACCOUNT_BALANCE + value });
      expect(await net.systemOps(0, h)).toEqual(['LOCK', 'DEBIT']);
      expect(await net.systemOps(1, h)).toEqual(['CREDIT']);
      await expectConservation(net);
      await expectNoLocks(net);
    });
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

  describe('property: random batches of local and cross-shard transfers', () => {
    const FUND = 2n * 10n ** 14n; // about four transfers' worth of maximum fees
    const accounts = [alice, carol, bob, erin];
    type Op = { from: number; to: number; value: bigint };
    const valueArb = fc.oneof(
      fc.constant(0n),
      fc.bigInt({ min: 1n, max: 10n ** 13n }),
      fc.bigInt({ min: 10n ** 13n, max: FUND }),
      fc.bigInt({ min: FUND, max: 3n * FUND }), // overdrafts
    );
    const opArb: fc.Arbitrary<Op> = fc.record({ from: fc.nat(accounts.length - 1), to: fc.nat(accounts.length + 1), value: valueArb });
    const batchArb = fc.record({ ops: fc.array(opArb, { minLength: 1, maxLength: 6 }), stepsAfter: fc.nat(2) });

    it('conserves ether, leaves no lock, and every accepted transaction’s outcome matches the balances', async () => {
      let refusedOverdrafts = 0;
      let acceptedCross = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(batchArb, { minLength: 1, maxLength: 3 }), async (batches) => {
          const genesis = new Map(accounts.map((a) => [a.address, FUND]));
          const net = await Network.create({ shardCount: 2, genesis });
          // Recipients: the funded accounts plus two unfunded ones (one per shard).
          const recipients = [...accounts.map((a) => a.address), dave.address, frank.address];
          const nextNonce = new Map<string, bigint>();
          const accepted: { from: DevAccount; to: string; value: bigint; hash: string; cross: boolean }[] = [];
          for (const batch of batches) {
            const txs = batch.ops.map((op) => {
              const from = accounts[op.from]!;
              const nonce = nextNonce.get(from.address) ?? 0n;
              nextNonce.set(from.address, nonce + 1n);
              return { from, to: recipients[op.to]!, value: op.value, nonce };
            });
            // Submitted concurrently: several spends of one account race for its balance.
            const results = await Promise.allSettled(txs.map((t) => net.submit(t.from, { to: t.to, value: t.value, nonce: t.nonce })));
            const refusedNonce = new Map<string, bigint>();
            results.forEach((r, i) => {
              const t = txs[i]!;
              if (r.status === 'fulfilled') {
                expect(refusedNonce.has(t.from.address)).toBe(false); // accepted ones form a nonce prefix
                const cross = net.shardOf(t.to) !== net.shardOf(t.from.address);
                expect(r.value).toMatchObject({ crossShard: cross, status: cross ? TxStatus.TX_STATUS_PENDING : TxStatus.TX_STATUS_QUEUED });
                accepted.push({ from: t.from, to: t.to, value: t.value, hash: r.value.txHash, cross });
              } else {
                const err = r.reason as ShardLabError;
                expect(err).toBeInstanceOf(ShardLabError);
                expect(err.code).toBe(ErrorCode.FailedPrecondition);
                expect(err.message).toMatch(/insufficient funds|nonce too high/);
                if (/insufficient funds/.test(err.message)) refusedOverdrafts++;
                if (!refusedNonce.has(t.from.address)) refusedNonce.set(t.from.address, t.nonce);
              }
              // An overdraft of the whole allocation is always refused.
              if (t.value > FUND) expect(r.status).toBe('rejected');
            });
            for (const [a, n] of refusedNonce) nextNonce.set(a, n);
            await net.step(batch.stepsAfter);
          }
          await net.settle();

          // Model: genesis, minus fees and moved values of accepted transactions, plus tips to the coinbases.
          const expected = new Map<string, bigint>(genesis);
          const add = (a: string, v: bigint) => expected.set(a, (expected.get(a) ?? 0n) + v);
          for (const t of accepted) {
            const home = net.home(t.from.address);
            const st = await home.getTransaction(t.hash);
            expect(st.receipt).toBeDefined();
            const r = st.receipt!;
            const price = BigInt(r.effectiveGasPrice);
            add(t.from.address, -BigInt(r.gasUsed) * price);
            add(shardCoinbase(home.shardId), BigInt(r.gasUsed) * (price - BASE_FEE));
            if (t.cross) {
              // Every recipient is an externally owned account: every accepted transfer commits.
              expect(net.orchestrator.status(t.hash)).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED });
              expect(st.status).toBe(TxStatus.TX_STATUS_COMMITTED);
              expect(await net.systemOps(home.shardId, t.hash)).toEqual(['LOCK', 'DEBIT']);
              expect(await net.systemOps(net.shardOf(t.to), t.hash)).toEqual(['CREDIT']);
            } else {
              expect(st.status).toBe(TxStatus.TX_STATUS_FINAL);
              expect(r.success).toBe(true);
            }
            add(t.from.address, -t.value);
            add(t.to, t.value);
          }
          const actual = await net.accounts();
          for (const [address, wei] of expected) {
            if (wei === 0n && !actual.has(address)) continue;
            expect({ address, balance: actual.get(address)?.balance }).toEqual({ address, balance: wei });
          }
          for (const [address, a] of actual) {
            expect({ address, balance: a.balance }).toEqual({ address, balance: expected.get(address) ?? 0n });
            expect({ address, locked: a.locked }).toEqual({ address, locked: 0n });
          }
          for (const a of accounts) {
            const n = accepted.filter((t) => t.from.address === a.address).length;
            expect((await balanceOf(net, a)).nonce).toBe(n);
          }
          await expectConservation(net);
          // And the audit of the transfer issue passes: conservation, atomicity, no lock left.
          const report = auditNetwork(await net.auditInput());
          expect(report.problems).toEqual([]);
          expect(report.ok).toBe(true);
          acceptedCross += accepted.filter((t) => t.cross).length;
        }),
        { numRuns: 12, endOnFailure: true },
      );
      // The generator did exercise both paths.
      expect(refusedOverdrafts).toBeGreaterThan(0);
      expect(acceptedCross).toBeGreaterThan(0);
    });
  });
});
