import { MerklePatriciaTrie } from '@ethereumjs/mpt';
import { RLP } from '@ethereumjs/rlp';
import fc from 'fast-check';
import { nativeKeccak256 } from '../src/crypto';
import { EMPTY_TRIE_ROOT_BYTES, orderedTrieRootBytes } from '../src/ordered-trie';

async function reference(items: Uint8Array[]): Promise<string> {
  const trie = new MerklePatriciaTrie();
  for (let i = 0; i < items.length; i++) await trie.put(RLP.encode(i), items[i]!);
  return Buffer.from(trie.root()).toString('hex');
}

const root = (items: Uint8Array[]) => Buffer.from(orderedTrieRootBytes(items, nativeKeccak256)).toString('hex');

describe('orderedTrieRootBytes', () => {
  it('gives the empty trie root for no items', async () => {
    expect(root([])).toBe(Buffer.from(EMPTY_TRIE_ROOT_BYTES).toString('hex'));
    expect(root([])).toBe(await reference([]));
  });

  it.each([1, 2, 15, 16, 17, 127, 128, 129, 255, 256, 300, 1000])('equals a MerklePatriciaTrie with %i inserts', async (n) => {
    const items = Array.from({ length: n }, (_, i) => Uint8Array.from(Buffer.from(`item-${i}-${'x'.repeat(i % 40)}`)));
    expect(root(items)).toBe(await reference(items));
  });

  it('equals a MerklePatriciaTrie for random values, including values short enough to embed nodes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ minLength: 1, maxLength: 40 }), { maxLength: 300 }), async (items) => {
        expect(root(items)).toBe(await reference(items));
      }),
      { numRuns: 60 },
    );
  });
});
