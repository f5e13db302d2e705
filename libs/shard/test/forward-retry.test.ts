/**
 * A forward to the orchestrator whose outcome is unknown (deadline exceeded) keeps the nonce
 * reserved and is retried in the background; one the orchestrator refused or never received is
 * removed and reported at once.
 */
import { createChainCommon, createPlacement, devAccounts, shardOf, signTransaction, type DecodedTx } from '@shardlab/chain';
import { ErrorCode, ShardLabError, errors } from '@shardlab/common';
import { TxStatus } from '@shardlab/proto';
import { MemoryKV, ShardStore } from '@shardlab/storage';
import { silentLogger } from '@shardlab/telemetry';
import { waitFor } from '@shardlab/testing';
import { createShardNode, genesisAllocation, type Forwarder } from '../src';

const common = createChainCommon();
const placement = createPlacement(2);
const sender = devAccounts().find((a) => shardOf(placement, a.address) === 0)!;
const remote = '0x' + '55'.repeat(19) + '01';

async function nodeWith(forwarder: Forwarder) {
  const store = await ShardStore.open(new MemoryKV());
  return createShardNode({ shardId: 0, placement, common, store, logger: silentLogger(), genesis: genesisAllocation(), forwarder });
}

const raw = (nonce: bigint) => signTransaction(common, sender, { to: remote, value: 10n, nonce });

test('a forward that timed out is retried in the background, and the transaction is accepted once it lands', async () => {
  const calls: string[] = [];
  const forwarder: Forwarder = {
    forward: async (d: DecodedTx) => {
      calls.push(d.hash);
      if (calls.length === 1) throw new ShardLabError(ErrorCode.Unavailable, 'orchestrator unavailable: deadline exceeded', { grpcCode: 4 });
    },
  };
  const n = await nodeWith(forwarder);
  const res = await n.submit(raw(0n));
  expect(res).toMatchObject({ crossShard: true, status: TxStatus.TX_STATUS_PENDING });
  // Not in a block until the orchestrator holds it; the nonce stays reserved meanwhile.
  const first = await n.produceBlock();
  expect(first.transactions).toHaveLength(0);
  await expect(n.submit(raw(0n))).rejects.toMatchObject({ code: ErrorCode.AlreadyExists });
  await waitFor(() => calls.length === 2, 10_000, 'the retry');
  const b = await n.produceBlock();
  expect(b.transactions.map((t) => (t.kind?.$case === 'user' ? t.kind.value.hash : t.kind?.value.kind))).toContain(res.txHash);
  expect((await n.getAccount(sender.address)).locked).toBe('10');
  await n.stop();
});

test('a forward the orchestrator refused, or that never reached it, frees the nonce at once', async () => {
  let answer: Error = errors.unavailable('orchestrator unavailable: not reachable');
  const n = await nodeWith({ forward: async () => { throw answer; } });
  await expect(n.submit(raw(0n))).rejects.toMatchObject({ code: ErrorCode.Unavailable });
  answer = errors.alreadyExists('already aborted');
  await expect(n.submit(raw(0n))).rejects.toMatchObject({ code: ErrorCode.AlreadyExists });
  expect((await n.head()).mempoolSize).toBe(0);
  await n.stop();
});
