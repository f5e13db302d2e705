// BoundedMap: a map of bounded capacity that evicts the least recently written entry, for the gateway's transaction index and receipts
/**
 * A map that holds at most `capacity` entries, forgetting the least recently written one first.
 * The gateway uses it to remember each transaction's home shard without growing without bound.
 */
export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();

  /** @throws RangeError when capacity is not a positive integer. */
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }

  /** Number of entries held. */
  get size(): number {
    return this.map.size;
  }

  /** The value of `key`, if still held (reading does not refresh it). */
  get(key: K): V | undefined {
    return this.map.get(key);
  }

  /** Forgets `key`; whether it was held. */
  delete(key: K): boolean {
    return this.map.delete(key);
  }

  /** Writes an entry (making it the most recent), evicting the oldest ones beyond capacity. */
  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.capacity) {
      const oldest = this.map.keys().next();
      if (oldest.done) break;
      this.map.delete(oldest.value);
    }
  }
}
