// ShardStore: a state shard's durable storage over a KV: blocks, tx index, account index, 2PC metadata and buffered trie nodes, committed with the head in one atomic batch.
import type { BatchDBOp, DB, EncodingOpts } from '@ethereumjs/util';
import { StateShardBlock } from '@shardlab/proto';
import type { KV, KVOp } from './kv';

/** The durable head of a shard chain. */
export interface HeadInfo {
  height: number;
  /** Block hash, 0x hex. */
  hash: string;
  /** State root after the head block, 0x hex. */
  stateRoot: string;
}

/** Where a transaction sits in the chain. */
export interface TxLocation {
  height: number;
  /** Index among the block's user-transaction receipts. */
  receiptIndex: number;
}

const HEAD_KEY = 'm:head';
const accountKey = (address: string) => `a:${address}`;
const metaKey = (key: string) => `p:${key}`;
const blockKey = (height: number) => `b:${height.toString(16).padStart(12, '0')}`;
const txKey = (hash: string) => `x:${hash}`;
const trieKey = (key: string) => `t:${key}`;

/**
 * The trie-node database handed to the state trie: reads go to pending writes, then the KV;
 * writes are buffered until {@link ShardStore.commitBlock} writes them in the block's atomic batch.
 */
class BufferedTrieDB implements DB<string, Uint8Array> {
  /**
   * Recently written or read nodes. Nodes are addressed by their hash, so an entry never goes
   * stale; it only saves an asynchronous LevelDB read (the trie's own cache skips its writes).
   */
  private readonly recent = new Map<string, Uint8Array>();

  constructor(
    private readonly kv: KV,
    readonly pending: Map<string, Uint8Array | null>,
    private readonly cacheSize: number,
  ) {}
  async get(key: string, _opts?: EncodingOpts): Promise<Uint8Array | undefined> {
    const p = this.pending.get(key);
    if (p !== undefined) return p ?? undefined;
    const r = this.recent.get(key);
    if (r) return r;
    const v = await this.kv.get(trieKey(key));
    if (v) this.remember(key, v);
    return v;
  }
  /** Moves committed writes into the recent-node cache. */
  committed(): void {
    for (const [k, v] of this.pending) {
      if (v) this.remember(k, v);
      else this.recent.delete(k);
    }
  }
  private remember(key: string, value: Uint8Array): void {
    this.recent.delete(key);
    this.recent.set(key, value);
    if (this.recent.size > this.cacheSize) this.recent.delete(this.recent.keys().next().value!);
  }
  async put(key: string, val: Uint8Array): Promise<void> {
    this.pending.set(key, val);
  }
  async del(key: string): Promise<void> {
    this.pending.set(key, null);
  }
  async batch(ops: BatchDBOp<string, Uint8Array>[]): Promise<void> {
    for (const op of ops) {
      if (op.type === 'put') this.pending.set(op.key, op.value);
      else this.pending.set(op.key, null);
    }
  }
  shallowCopy(): DB<string, Uint8Array> {
    return this;
  }
  async open(): Promise<void> {}
}

/**
 * Durable storage of one state shard (docs/ARCHITECTURE.md §4): blocks by height (with their
 * receipts), a transaction-hash index, the state trie's nodes and the head pointer. A block and
 * every trie node it created are written in one atomic batch, so after a crash the store holds
 * exactly the blocks it acknowledged and their state.
 */
export class ShardStore {
  /** Trie-node database for the executor (writes buffered until the next commit). */
  readonly trie: DB<string, Uint8Array>;
  private readonly pending = new Map<string, Uint8Array | null>();
  private readonly recent = new Map<number, StateShardBlock>();
  private headInfo: HeadInfo | undefined;

  /** Blocks kept decoded in memory for stream subscribers. */
  static readonly RECENT_BLOCKS = 512;

  private readonly trieDb: BufferedTrieDB;

  /** Trie nodes kept in memory after they are committed or read (about 100 bytes each). */
  static readonly TRIE_NODE_CACHE = 500_000;

  private constructor(private readonly kv: KV) {
    this.trieDb = new BufferedTrieDB(kv, this.pending, ShardStore.TRIE_NODE_CACHE);
    this.trie = this.trieDb;
  }

  /** Opens a store over `kv` and loads its head, if any. */
  static async open(kv: KV): Promise<ShardStore> {
    const store = new ShardStore(kv);
    const head = await kv.get(HEAD_KEY);
    if (head) store.headInfo = JSON.parse(Buffer.from(head).toString('utf8')) as HeadInfo;
    return store;
  }

  /** The durable head, or undefined for a store without genesis. */
  head(): HeadInfo | undefined {
    return this.headInfo;
  }

  /** A block by height, or undefined beyond the head. */
  async getBlock(height: number): Promise<StateShardBlock | undefined> {
    const cached = this.recent.get(height);
    if (cached) return cached;
    if (!this.headInfo || height > this.headInfo.height) return undefined;
    const bytes = await this.kv.get(blockKey(height));
    return bytes ? StateShardBlock.decode(bytes) : undefined;
  }

  /** Where a transaction was included, or undefined if it never was. */
  async txLocation(hash: string): Promise<TxLocation | undefined> {
    const bytes = await this.kv.get(txKey(hash));
    return bytes ? (JSON.parse(Buffer.from(bytes).toString('utf8')) as TxLocation) : undefined;
  }

  /** Trie writes buffered since the last commit. */
  get pendingTrieWrites(): number {
    return this.pending.size;
  }

  /**
   * Protocol metadata (two-phase-commit records) stored under `key`, as written by
   * {@link commitBlock}'s `meta` argument; every entry whose key starts with `prefix`.
   */
  async metaEntries(prefix: string): Promise<[string, Uint8Array][]> {
    const rows = await this.kv.entries(metaKey(prefix));
    return rows.map(([k, v]) => [k.slice(2), v]);
  }

  /** One metadata value written by {@link commitBlock}, or undefined. */
  async meta(key: string): Promise<Uint8Array | undefined> {
    return this.kv.get(metaKey(key));
  }

  /**
   * Addresses of accounts this shard has written, in order, after `after`, at most `limit`
   * (the accounts index, for ListAccounts and audits).
   */
  async accounts(after: string | undefined, limit: number): Promise<string[]> {
    const rows = await this.kv.entries('a:', { ...(after !== undefined ? { after: accountKey(after) } : {}), limit });
    return rows.map(([k]) => k.slice(2));
  }

  /**
   * Durably appends `block` with the trie nodes buffered since the last commit, indexes its
   * receipts by transaction hash and the accounts it `touched`, applies the protocol metadata
   * writes `meta` (value null deletes), and moves the head, all in one atomic batch.
   * @throws Error when `block.height` is not head + 1 (or 0 for genesis on an empty store).
   */
  async commitBlock(block: StateShardBlock, touched: readonly string[] = [], meta: ReadonlyMap<string, Uint8Array | null> = new Map()): Promise<void> {
    const expected = this.headInfo ? this.headInfo.height + 1 : 0;
    if (block.height !== expected) throw new Error(`block height ${block.height} does not extend head (expected ${expected})`);
    const ops: KVOp[] = [];
    for (const [key, value] of this.pending) {
      ops.push(value === null ? { type: 'del', key: trieKey(key) } : { type: 'put', key: trieKey(key), value });
    }
    ops.push({ type: 'put', key: blockKey(block.height), value: StateShardBlock.encode(block).finish() });
    block.receipts.forEach((r, i) =>
      ops.push({ type: 'put', key: txKey(r.txHash), value: Buffer.from(JSON.stringify({ height: block.height, receiptIndex: i })) }),
    );
    const empty = new Uint8Array();
    for (const a of touched) ops.push({ type: 'put', key: accountKey(a), value: empty });
    for (const [k, v] of meta) ops.push(v === null ? { type: 'del', key: metaKey(k) } : { type: 'put', key: metaKey(k), value: v });
    const head: HeadInfo = { height: block.height, hash: block.hash, stateRoot: block.stateRoot };
    ops.push({ type: 'put', key: HEAD_KEY, value: Buffer.from(JSON.stringify(head)) });
    await this.kv.batch(ops);
    this.trieDb.committed();
    this.pending.clear();
    this.headInfo = head;
    this.recent.set(block.height, block);
    this.recent.delete(block.height - ShardStore.RECENT_BLOCKS);
  }

  /** Drops trie writes buffered since the last commit (after a failed block execution). */
  discardPending(): void {
    this.pending.clear();
  }

  async close(): Promise<void> {
    await this.kv.close();
  }
}
