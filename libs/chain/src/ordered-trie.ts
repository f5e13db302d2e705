// Merkle Patricia root of an ordered list (rlp(index) → item) built bottom-up, each node hashed once: the transactions and receipts roots of blocks
import { RLP, type Input } from '@ethereumjs/rlp';

/** Root of the empty Merkle Patricia trie: keccak256(rlp('')). */
export const EMPTY_TRIE_ROOT_BYTES = Uint8Array.from(Buffer.from('56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421', 'hex'));

type Entry = { nibbles: number[]; value: Uint8Array };

function toNibbles(key: Uint8Array): number[] {
  const out: number[] = [];
  for (const b of key) out.push(b >> 4, b & 15);
  return out;
}

/** Hex-prefix encoding of a nibble path (yellow paper appendix C). */
function hexPrefix(nibbles: number[], leaf: boolean): Uint8Array {
  const odd = nibbles.length % 2 === 1;
  const flag = (leaf ? 2 : 0) + (odd ? 1 : 0);
  const out = new Uint8Array(Math.floor(nibbles.length / 2) + 1);
  let i = 0;
  if (odd) {
    out[0] = (flag << 4) | nibbles[0]!;
    i = 1;
  } else {
    out[0] = flag << 4;
  }
  for (let o = 1; i < nibbles.length; i += 2, o++) out[o] = (nibbles[i]! << 4) | nibbles[i + 1]!;
  return out;
}

/**
 * Root of the Merkle Patricia trie holding `rlp(i) → items[i]` (Ethereum's transactions and
 * receipts roots, yellow paper section 4.3), built bottom-up from the sorted keys so that every
 * node is encoded and hashed exactly once — unlike inserting keys one by one into a trie, which
 * re-hashes the path on every insert. Equal to the root a `MerklePatriciaTrie` gives for the same
 * inserts (tested against it).
 */
export function orderedTrieRootBytes(items: readonly Uint8Array[], keccak256: (b: Uint8Array) => Uint8Array): Uint8Array {
  if (items.length === 0) return EMPTY_TRIE_ROOT_BYTES;
  const entries: Entry[] = items.map((value, i) => ({ key: RLP.encode(i), value }))
    .sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)))
    .map(({ key, value }) => ({ nibbles: toNibbles(key), value }));
  // A child is referenced by its hash, or embedded when its encoding is shorter than 32 bytes.
  const ref = (node: Input[]): Input => {
    const enc = RLP.encode(node);
    return enc.length < 32 ? node : keccak256(enc);
  };
  const build = (es: Entry[], depth: number): Input[] => {
    if (es.length === 1) return [hexPrefix(es[0]!.nibbles.slice(depth), true), es[0]!.value];
    let common = 0;
    const first = es[0]!.nibbles;
    for (;;) {
      const n = first[depth + common];
      if (n === undefined || !es.every((e) => e.nibbles[depth + common] === n)) break;
      common += 1;
    }
    if (common > 0) return [hexPrefix(first.slice(depth, depth + common), false), ref(build(es, depth + common))];
    const branch: Input[] = Array.from({ length: 17 }, () => new Uint8Array());
    let start = 0;
    while (start < es.length) {
      const e = es[start]!;
      const n = e.nibbles[depth];
      if (n === undefined) {
        branch[16] = e.value;
        start += 1;
        continue;
      }
      let end = start + 1;
      while (end < es.length && es[end]!.nibbles[depth] === n) end += 1;
      branch[n] = ref(build(es.slice(start, end), depth + 1));
      start = end;
    }
    return branch;
  };
  return keccak256(RLP.encode(build(entries, 0)));
}
