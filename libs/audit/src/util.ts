// Small helpers shared by the audit's modules: parsing wei amounts, grouping into maps.

/**
 * Parses an unsigned decimal wei string; the empty string is zero when `emptyIsZero`.
 * Returns undefined when malformed (the caller reports it).
 */
export function parseWeiOrUndefined(s: string, emptyIsZero: boolean): bigint | undefined {
  if (s === '' && emptyIsZero) return 0n;
  return /^\d+$/.test(s) ? BigInt(s) : undefined;
}

/** Parses a signed decimal wei string (an RwSet balance delta); empty means zero, undefined when malformed. */
export function parseSignedWei(s: string): bigint | undefined {
  if (s === '') return 0n;
  return /^-?\d+$/.test(s) ? BigInt(s) : undefined;
}

/** Appends `v` to the list of `k` in `m`, creating the list on first use. */
export function pushTo<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

/** The map of `k` in `m`, created (empty) on first use. */
export function mapOf<K, K2, V>(m: Map<K, Map<K2, V>>, k: K): Map<K2, V> {
  let inner = m.get(k);
  if (!inner) m.set(k, (inner = new Map()));
  return inner;
}
