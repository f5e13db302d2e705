// The KV interface every ShardLab store is built on (get, atomic batch, prefix scan), with its in-memory and LevelDB implementations.
import { ClassicLevel } from 'classic-level';

/** One write of an atomic batch. */
export type KVOp = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string };

/** The narrow key-value interface every ShardLab store is built on (string keys, byte values). */
export interface KV {
  get(key: string): Promise<Uint8Array | undefined>;
  /** Applies every op atomically: after a crash either all or none are visible. */
  batch(ops: KVOp[]): Promise<void>;
  /**
   * Entries whose key starts with `prefix`, in key order, strictly after `after` when given, at
   * most `limit` of them.
   */
  entries(prefix: string, opts?: { after?: string; limit?: number }): Promise<[string, Uint8Array][]>;
  close(): Promise<void>;
}

/** An in-memory {@link KV} for tests and benchmarks. */
export class MemoryKV implements KV {
  private readonly map = new Map<string, Uint8Array>();
  async get(key: string): Promise<Uint8Array | undefined> {
    return this.map.get(key);
  }
  async batch(ops: KVOp[]): Promise<void> {
    for (const op of ops) {
      if (op.type === 'put') this.map.set(op.key, op.value);
      else this.map.delete(op.key);
    }
  }
  async entries(prefix: string, opts: { after?: string; limit?: number } = {}): Promise<[string, Uint8Array][]> {
    const keys = [...this.map.keys()].filter((k) => k.startsWith(prefix) && (opts.after === undefined || k > opts.after)).sort();
    return keys.slice(0, opts.limit ?? keys.length).map((k) => [k, this.map.get(k)!]);
  }
  async close(): Promise<void> {}
  /** Number of keys held. */
  get size(): number {
    return this.map.size;
  }
}

/** A {@link KV} on LevelDB (`classic-level`), one directory per service instance (docs/ARCHITECTURE.md §4). */
export class LevelKV implements KV {
  private constructor(private readonly db: ClassicLevel<string, Uint8Array>) {}

  /**
   * Opens (creating if needed) the LevelDB database in `dir`.
   * @throws Error when the directory is locked by another process or cannot be created.
   */
  static async open(dir: string): Promise<LevelKV> {
    const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    await db.open();
    return new LevelKV(db);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return (await this.db.get(key)) ?? undefined;
  }

  async batch(ops: KVOp[]): Promise<void> {
    await this.db.batch(ops.map((op) => (op.type === 'put' ? { type: 'put' as const, key: op.key, value: op.value } : { type: 'del' as const, key: op.key })));
  }

  async entries(prefix: string, opts: { after?: string; limit?: number } = {}): Promise<[string, Uint8Array][]> {
    const range = { ...(opts.after !== undefined ? { gt: opts.after } : { gte: prefix }), lt: prefix + '\xff', ...(opts.limit !== undefined ? { limit: opts.limit } : {}) };
    return (await this.db.iterator(range).all()) as [string, Uint8Array][];
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
