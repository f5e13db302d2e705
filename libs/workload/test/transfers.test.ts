import { createChainCommon, createPlacement, decodeTransaction, devAccounts, shardOf } from '@shardlab/chain';
import { planLocalTransfers, type LocalTransferOpts } from '../src';

const common = createChainCommon();
const placement = createPlacement(4);
const accounts = devAccounts();
const opts: LocalTransferOpts = { common, placement, accounts, count: 200, seed: 7 };

describe('planLocalTransfers', () => {
  it('is deterministic per seed', () => {
    const a = planLocalTransfers(opts);
    expect(planLocalTransfers(opts).map((t) => t.hash)).toEqual(a.map((t) => t.hash));
    expect(planLocalTransfers({ ...opts, seed: 8 }).map((t) => t.hash)).not.toEqual(a.map((t) => t.hash));
  });

  it('signs transfers round-robin over the senders, each sender\'s nonces in order from its start nonce', () => {
    const start = new Map([[accounts[3]!.address, 5n]]);
    const plan = planLocalTransfers({ ...opts, startNonces: start });
    expect(plan).toHaveLength(200);
    const next = new Map<string, bigint>();
    plan.forEach((t, i) => {
      expect(t.from).toBe(accounts[i % accounts.length]!.address);
      const want = next.get(t.from) ?? start.get(t.from) ?? 0n;
      expect(t.nonce).toBe(want);
      next.set(t.from, want + 1n);
      const d = decodeTransaction(t.raw, common);
      expect(t.hash).toBe(d.hash);
      expect(d.from).toBe(t.from);
      expect(d.nonce).toBe(t.nonce);
      expect(d.to).toBe(t.to);
      expect(d.value).toBe(t.value);
      expect(t.value >= 1_000_000_000n && t.value <= 1_000_000_000_000n).toBe(true);
      expect(t.kind).toBe('transfer');
    });
  });

  it('keeps recipients on the sender\'s shard, or sends the given share to another shard', () => {
    for (const t of planLocalTransfers(opts)) {
      expect(t.crossShard).toBe(false);
      expect(shardOf(placement, t.to)).toBe(t.homeShard);
      expect(t.shards).toEqual([t.homeShard]);
    }
    const cross = planLocalTransfers({ ...opts, crossShardRatio: 1 });
    for (const t of cross) {
      expect(t.crossShard).toBe(true);
      expect(shardOf(placement, t.to)).not.toBe(t.homeShard);
      expect(t.shards).toEqual([t.homeShard, shardOf(placement, t.to)]);
    }
  });
});
