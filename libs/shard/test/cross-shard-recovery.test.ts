// Crash recovery of a cross-shard value transfer (in-memory protocol harness): whichever node restarts, or whatever write fails, the round completes exactly once.
import { DEV_ACCOUNT_BALANCE } from '@shardlab/chain';
import { TxStatus } from '@shardlab/proto';
import { rejection } from '@shardlab/testing';
import { genesisAllocation } from '../src';
import { Network } from './protocol-harness';
import { ETHER, alice, balanceOf, bob, carol, expectTransferAppliedOnce } from './cross-shard-fixtures';

describe('cross-shard value transfers (in-memory protocol harness)', () => {
  describe('crash recovery: the round completes exactly once', () => {
    async function finish(net: Network, h: string, value: bigint) {
      await net.settle();
      await net.step(2);
      expect(net.orchestrator.status(h).status).toBe(TxStatus.TX_STATUS_COMMITTED);
      await expectTransferAppliedOnce(net, h, value);
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
});
