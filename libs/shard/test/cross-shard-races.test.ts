// Races between the cross-shard commit protocol and a source shard's mempool (in-memory protocol harness): early aborts, lost transactions, duplicates admitted mid-block.
import { DEV_ACCOUNT_BALANCE, decodeTransaction, signTransaction } from '@shardlab/chain';
import { ErrorCode } from '@shardlab/common';
import { TxStatus, Vote } from '@shardlab/proto';
import { rejection } from '@shardlab/testing';
import { genesisAllocation } from '../src';
import { Network } from './protocol-harness';
import { ETHER, TRANSFER_FEE, alice, balanceOf, bob, expectConservation, expectNoLocks, expectTransferAppliedOnce, holdNextWrite, networkWithContract } from './cross-shard-fixtures';

describe('cross-shard value transfers (in-memory protocol harness)', () => {
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
      await expectTransferAppliedOnce(net, h, value);
    });
  });
});
