import { mkdtemp, rm } from 'node:fs/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Receipt, StateShardBlock } from '@shardlab/proto';
import { LevelKV, MemoryKV, ShardStore, type KV, type KVOp } from '../src';

const hex32 = (n: number) => '0x' + n.toString(16).padStart(64, '0');
const bytes = (...xs: number[]) => Uint8Array.from(xs);

function receipt(txHash: string, height: number, i: number): Receipt {
  return {
    txHash,
    shardId: 1,
    blockHeight: height,
    blockHash: hex32(1000 + height),
    txIndex: i,
    success: i % 2 === 0,
    gasUsed: 21_000,
    cumulativeGasUsed: 21_000 * (i + 1),
    effectiveGasPrice: '1000000001',
    contractAddress: '',
    logs: [{ address: '0x' + '11'.repeat(20), topics: [hex32(7)], data: Buffer.from([1, 2, 3]) }],
    error: '',
  };
}

/** A block at `height` whose receipts carry `txHashes` (hash and roots derived from the height). */
function block(height: number, txHashes: string[] = []): StateShardBlock {
  return {
    shardId: 1,
    height,
    hash: hex32(1000 + height),
    parentHash: height === 0 ? hex32(0) : hex32(999 + height),
    stateRoot: hex32(2000 + height),
    transactionsRoot: hex32(3000 + height),
    receiptsRoot: hex32(4000 + height),
    timestampMs: 1_700_000_000_000 + height * 250,
    gasUsed: 21_000 * txHashes.length,
    transactions: [],
    receipts: txHashes.map((h, i) => receipt(h, height, i)),
    tpcPrepare: [],
    baseFeePerGas: '1000000000',
    orchestratorHeight: 0,
    outgoingReceipts: [],
    outgoingReceiptsRoot: '',
    decisions: [],
  };
}

/** A KV that records batches and can be told to fail the next one. */
class RecordingKV implements KV {
  readonly inner = new MemoryKV();
  readonly batches: KVOp[][] = [];
  failNext = false;
  get(key: string): Promise<Uint8Array | undefined> {
    return this.inner.get(key);
  }
  async batch(ops: KVOp[]): Promise<void> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('disk full');
    }
    this.batches.push(ops);
    await this.inner.batch(ops);
  }
  entries(prefix: string, opts?: { after?: string; limit?: number }): Promise<[string, Uint8Array][]> {
    return this.inner.entries(prefix, opts);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

describe('MemoryKV', () => {
  it('applies puts and deletes and reports undefined for missing keys', async () => {
    const kv = new MemoryKV();
    expect(await kv.get('a')).toBeUndefined();
    await kv.batch([
      { type: 'put', key: 'a', value: bytes(1) },
      { type: 'put', key: 'b', value: bytes(2) },
      { type: 'del', key: 'a' },
    ]);
    expect(await kv.get('a')).toBeUndefined();
    expect(await kv.get('b')).toEqual(bytes(2));
    expect(kv.size).toBe(1);
  });
});

describe('ShardStore', () => {
  it('starts empty: no head and no blocks', async () => {
    const store = await ShardStore.open(new MemoryKV());
    expect(store.head()).toBeUndefined();
    expect(await store.getBlock(0)).toBeUndefined();
    expect(await store.txLocation(hex32(5))).toBeUndefined();
    expect(store.pendingTrieWrites).toBe(0);
  });

  it('commits blocks, moves the head and indexes transactions by hash', async () => {
    const store = await ShardStore.open(new MemoryKV());
    await store.commitBlock(block(0));
    expect(store.head()).toEqual({ height: 0, hash: hex32(1000), stateRoot: hex32(2000) });
    const b1 = block(1, [hex32(0xa1), hex32(0xa2)]);
    await store.commitBlock(b1);
    await store.commitBlock(block(2, [hex32(0xb1)]));
    expect(store.head()).toEqual({ height: 2, hash: hex32(1002), stateRoot: hex32(2002) });
    expect(await store.getBlock(1)).toEqual(b1);
    expect(await store.getBlock(3)).toBeUndefined();
    expect(await store.txLocation(hex32(0xa1))).toEqual({ height: 1, receiptIndex: 0 });
    expect(await store.txLocation(hex32(0xa2))).toEqual({ height: 1, receiptIndex: 1 });
    expect(await store.txLocation(hex32(0xb1))).toEqual({ height: 2, receiptIndex: 0 });
    expect(await store.txLocation(hex32(0xc1))).toBeUndefined();
  });

  it('serves committed blocks from the KV after reopening (not only from memory)', async () => {
    const kv = new MemoryKV();
    const store = await ShardStore.open(kv);
    const blocks = [block(0), block(1, [hex32(0xa1)]), block(2)];
    for (const b of blocks) await store.commitBlock(b);
    const reopened = await ShardStore.open(kv);
    expect(reopened.head()).toEqual(store.head());
    for (const b of blocks) expect(await reopened.getBlock(b.height)).toEqual(b);
    expect(await reopened.txLocation(hex32(0xa1))).toEqual({ height: 1, receiptIndex: 0 });
    // And keeps extending the chain.
    await reopened.commitBlock(block(3));
    expect(reopened.head()!.height).toBe(3);
  });

  it('serves blocks older than the in-memory window from the KV', async () => {
    const store = await ShardStore.open(new MemoryKV());
    const n = ShardStore.RECENT_BLOCKS + 5;
    for (let h = 0; h < n; h++) await store.commitBlock(block(h, [hex32(0x10000 + h)]));
    expect(await store.getBlock(0)).toEqual(block(0, [hex32(0x10000)]));
    expect(await store.getBlock(n - 1)).toEqual(block(n - 1, [hex32(0x10000 + n - 1)]));
    expect(await store.txLocation(hex32(0x10000))).toEqual({ height: 0, receiptIndex: 0 });
  });

  it.each([
    ['a first block that is not genesis', [] as number[], 1, /block height 1 does not extend head \(expected 0\)/],
    ['a second genesis', [0], 0, /block height 0 does not extend head \(expected 1\)/],
    ['a gap', [0, 1], 3, /block height 3 does not extend head \(expected 2\)/],
    ['a replay of the head', [0, 1], 1, /expected 2/],
  ])('refuses %s and writes nothing', async (_name, committed, height, message) => {
    const kv = new RecordingKV();
    const store = await ShardStore.open(kv);
    for (const h of committed) await store.commitBlock(block(h));
    await store.trie.put('n1', bytes(9));
    const before = kv.batches.length;
    const headBefore = store.head();
    await expect(store.commitBlock(block(height, [hex32(0xdd)]))).rejects.toThrow(message);
    expect(kv.batches.length).toBe(before);
    expect(store.head()).toEqual(headBefore);
    expect(await store.txLocation(hex32(0xdd))).toBeUndefined();
    expect(store.pendingTrieWrites).toBe(1);
  });

  describe('trie database', () => {
    it('buffers writes until the block commit, reading its own writes meanwhile', async () => {
      const kv = new MemoryKV();
      const store = await ShardStore.open(kv);
      await store.trie.put('aa', bytes(1));
      await store.trie.batch([
        { type: 'put', key: 'bb', value: bytes(2) },
        { type: 'put', key: 'cc', value: bytes(3) },
      ]);
      expect(store.pendingTrieWrites).toBe(3);
      expect(await store.trie.get('aa')).toEqual(bytes(1));
      expect(await store.trie.get('cc')).toEqual(bytes(3));
      expect(kv.size).toBe(0); // nothing durable yet

      await store.commitBlock(block(0));
      expect(store.pendingTrieWrites).toBe(0);
      expect(await kv.get('t:aa')).toEqual(bytes(1));
      expect(await kv.get('t:bb')).toEqual(bytes(2));
      // Visible through a store reopened on the same KV.
      const reopened = await ShardStore.open(kv);
      expect(await reopened.trie.get('cc')).toEqual(bytes(3));
      expect(await reopened.trie.get('zz')).toBeUndefined();
    });

    it('buffers deletes: hidden at once, removed from the KV at the commit', async () => {
      const kv = new MemoryKV();
      const store = await ShardStore.open(kv);
      await store.trie.put('aa', bytes(1));
      await store.trie.put('bb', bytes(2));
      await store.commitBlock(block(0));
      await store.trie.del('aa');
      await store.trie.batch([{ type: 'del', key: 'bb' }]);
      expect(await store.trie.get('aa')).toBeUndefined();
      expect(await store.trie.get('bb')).toBeUndefined();
      expect(await kv.get('t:aa')).toEqual(bytes(1));
      await store.commitBlock(block(1));
      expect(await kv.get('t:aa')).toBeUndefined();
      expect(await kv.get('t:bb')).toBeUndefined();
    });

    it('discardPending drops buffered writes and deletes', async () => {
      const kv = new MemoryKV();
      const store = await ShardStore.open(kv);
      await store.trie.put('keep', bytes(1));
      await store.commitBlock(block(0));
      await store.trie.put('drop', bytes(2));
      await store.trie.del('keep');
      store.discardPending();
      expect(store.pendingTrieWrites).toBe(0);
      expect(await store.trie.get('drop')).toBeUndefined();
      expect(await store.trie.get('keep')).toEqual(bytes(1));
      await store.commitBlock(block(1));
      expect(await kv.get('t:drop')).toBeUndefined();
      expect(await kv.get('t:keep')).toEqual(bytes(1));
    });

    it('shallowCopy shares the buffer', async () => {
      const store = await ShardStore.open(new MemoryKV());
      const copy = store.trie.shallowCopy();
      await copy.put('x', bytes(5));
      expect(await store.trie.get('x')).toEqual(bytes(5));
      expect(store.pendingTrieWrites).toBe(1);
    });
  });

  describe('atomicity', () => {
    it('writes trie nodes, block, tx index and head in one batch', async () => {
      const kv = new RecordingKV();
      const store = await ShardStore.open(kv);
      await store.trie.put('n1', bytes(1));
      await store.trie.put('n2', bytes(2));
      await store.commitBlock(block(0, [hex32(0xa1)]));
      expect(kv.batches).toHaveLength(1);
      const keys = kv.batches[0]!.map((op) => op.key);
      expect(keys).toEqual(expect.arrayContaining(['t:n1', 't:n2', 'm:head', `x:${hex32(0xa1)}`]));
      expect(keys.filter((k) => k.startsWith('b:'))).toHaveLength(1);
      // After the one batch, trie writes and the block are both visible.
      const reopened = await ShardStore.open(kv.inner);
      expect(await reopened.trie.get('n1')).toEqual(bytes(1));
      expect(await reopened.getBlock(0)).toEqual(block(0, [hex32(0xa1)]));
      expect(reopened.head()!.height).toBe(0);
    });

    it('leaves no trace of a block whose batch failed, and can retry it', async () => {
      const kv = new RecordingKV();
      const store = await ShardStore.open(kv);
      await store.commitBlock(block(0));
      await store.trie.put('n1', bytes(1));
      kv.failNext = true;
      await expect(store.commitBlock(block(1, [hex32(0xa1)]))).rejects.toThrow('disk full');
      expect(store.head()!.height).toBe(0);
      expect(await store.getBlock(1)).toBeUndefined();
      expect(await store.txLocation(hex32(0xa1))).toBeUndefined();
      expect(await kv.get('t:n1')).toBeUndefined();
      // The buffered writes survive the failure (the caller decides to retry or discard).
      expect(store.pendingTrieWrites).toBe(1);
      await store.commitBlock(block(1, [hex32(0xa1)]));
      expect(await kv.get('t:n1')).toEqual(bytes(1));
      expect(await store.txLocation(hex32(0xa1))).toEqual({ height: 1, receiptIndex: 0 });
    });
  });
});

describe('ShardStore on LevelKV', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shardlab-store-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps head, blocks, tx index and trie nodes across close and reopen', async () => {
    const blocks = [block(0), block(1, [hex32(0xa1), hex32(0xa2)]), block(2, [hex32(0xb1)])];
    const store = await ShardStore.open(await LevelKV.open(dir));
    for (const [i, b] of blocks.entries()) {
      await store.trie.put(`node${i}`, bytes(i, i));
      await store.commitBlock(b);
    }
    await store.trie.put('uncommitted', bytes(7));
    const head = store.head();
    await store.close();

    const reopened = await ShardStore.open(await LevelKV.open(dir));
    try {
      expect(reopened.head()).toEqual(head);
      expect(reopened.head()).toEqual({ height: 2, hash: hex32(1002), stateRoot: hex32(2002) });
      for (const b of blocks) expect(await reopened.getBlock(b.height)).toEqual(b);
      expect(await reopened.txLocation(hex32(0xa2))).toEqual({ height: 1, receiptIndex: 1 });
      for (let i = 0; i < 3; i++) expect(await reopened.trie.get(`node${i}`)).toEqual(bytes(i, i));
      expect(await reopened.trie.get('uncommitted')).toBeUndefined();
      await expect(reopened.commitBlock(block(2))).rejects.toThrow(/expected 3/);
      await reopened.commitBlock(block(3));
      expect(reopened.head()!.height).toBe(3);
    } finally {
      await reopened.close();
    }
  });

  it('returns undefined for missing keys and bytes for present ones', async () => {
    const kv = await LevelKV.open(dir);
    try {
      expect(await kv.get('missing')).toBeUndefined();
      await kv.batch([{ type: 'put', key: 'k', value: bytes(1, 2) }]);
      const v = await kv.get('k');
      expect(v).toBeInstanceOf(Uint8Array);
      expect(Array.from(v!)).toEqual([1, 2]);
      await kv.batch([{ type: 'del', key: 'k' }]);
      expect(await kv.get('k')).toBeUndefined();
    } finally {
      await kv.close();
    }
  });

  it('refuses to open a directory another instance holds', async () => {
    const kv = await LevelKV.open(dir);
    try {
      await expect(LevelKV.open(dir)).rejects.toThrow();
    } finally {
      await kv.close();
    }
  });
});

describe('metadata and the accounts index', () => {
  it.each([
    ['MemoryKV', async () => new MemoryKV()],
  ])('%s: commitBlock writes and deletes metadata and indexes touched accounts in order', async (_name, make) => {
    const store = await ShardStore.open(await make());
    const a = '0x' + '01'.repeat(20);
    const b = '0x' + '02'.repeat(20);
    const c = '0x' + '03'.repeat(20);
    await store.commitBlock(block(0), [c, a], new Map([['tpc:x', Buffer.from('1')], ['tpc:y', Buffer.from('2')]]));
    await store.commitBlock(block(1), [b, a], new Map([['tpc:x', null]]));
    expect((await store.metaEntries('tpc:')).map(([k, v]) => [k, Buffer.from(v).toString()])).toEqual([['tpc:y', '2']]);
    expect(await store.accounts(undefined, 10)).toEqual([a, b, c]);
    expect(await store.accounts(a, 1)).toEqual([b]);
    expect(await store.accounts(c, 10)).toEqual([]);
  });

  it('LevelKV pages entries by prefix after a key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shardlab-kv-'));
    const kv = await LevelKV.open(dir);
    try {
      await kv.batch(['a:1', 'a:2', 'a:3', 'b:1'].map((key) => ({ type: 'put' as const, key, value: Buffer.from(key) })));
      expect((await kv.entries('a:')).map(([k]) => k)).toEqual(['a:1', 'a:2', 'a:3']);
      expect((await kv.entries('a:', { after: 'a:1', limit: 1 })).map(([k]) => k)).toEqual(['a:2']);
      expect((await kv.entries('c:')).length).toBe(0);
    } finally {
      await kv.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
