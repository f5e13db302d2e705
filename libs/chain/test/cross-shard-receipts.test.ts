// Tests of the shard-led receipt batches: receiptBatchOf proves a block's outgoing receipts for one destination, verifyReceiptBatch accepts a source's chain and refuses forgeries, wrong proofs and broken links
import { ErrorCode, ShardLabError } from '@shardlab/common';
import { ReceiptKind, type CrossShardReceipt, type ReceiptBatch, type StateShardBlock } from '@shardlab/proto';
import fc from 'fast-check';
import { ZERO_HASH, blockHash, buildBlock, createChainCommon, headerOnly, receiptBatchOf, verifyReceiptBatch, type BlockExecution, type SourceCursor } from '../src';

const common = createChainCommon();
const SOURCE = 1;
const DEST = 0;

const hex = (n: number, bytes: number) => n.toString(16).padStart(bytes * 2, '0');
/** A distinct 32-byte transaction hash per `n`. */
const txHashOf = (n: number) => `0x${'ab'.repeat(28)}${hex(n, 4)}`;
/** A distinct address per `n`. */
const addressOf = (n: number) => `0x${'cd'.repeat(16)}${hex(n, 4)}`;

/** The receipt of transfer `n` of `SOURCE` to `dest`. */
function receipt(n: number, dest: number, value = BigInt(n) * 1_000n + 1n): CrossShardReceipt {
  return { txHash: txHashOf(n), sourceShard: SOURCE, destShard: dest, from: addressOf(n), to: addressOf(10_000 + n), value: value.toString(), kind: ReceiptKind.RECEIPT_KIND_TRANSFER, rawTransaction: Buffer.alloc(0), success: false, gasUsed: 0, error: '' };
}

/** An execution holding one RECEIPT_DEBIT per receipt (what a source block records beside its outgoing receipts). */
function executionOf(receipts: readonly CrossShardReceipt[], salt: number): BlockExecution {
  return {
    stateRoot: new Uint8Array(32).fill(salt & 0xff),
    gasUsed: 0n,
    outcomes: receipts.map((r) => ({ kind: 'system', op: { kind: 'receipt-debit', txHash: r.txHash, address: r.from, amount: BigInt(r.value) } })),
    touched: [],
  };
}

/** A block of `shardId` at `height` on `parentHash` with these outgoing receipts. */
function block(height: number, parentHash: string, receipts: CrossShardReceipt[], shardId = SOURCE, timestampMs = 1_700_000_000_000 + height): Promise<StateShardBlock> {
  return buildBlock(common, { shardId, height, parentHash, timestampMs, execution: executionOf(receipts, height), outgoingReceipts: receipts });
}

/** A chain of source blocks from genesis, block i carrying `receiptsPerBlock[i]`. */
async function chain(receiptsPerBlock: CrossShardReceipt[][], shardId = SOURCE): Promise<StateShardBlock[]> {
  const out: StateShardBlock[] = [];
  for (const [height, receipts] of receiptsPerBlock.entries()) out.push(await block(height, out.at(-1)?.hash ?? ZERO_HASH, receipts, shardId));
  return out;
}

const cursorOf = (b: StateShardBlock): SourceCursor => ({ height: b.height, hash: b.hash });

/** Awaits a verification expected to fail; returns its error after checking it is INVALID_ARGUMENT. */
async function refused(p: Promise<unknown>): Promise<ShardLabError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ShardLabError);
  expect((err as ShardLabError).code).toBe(ErrorCode.InvalidArgument);
  return err as ShardLabError;
}

/** A deep copy of a batch to tamper with. */
function copy(batch: ReceiptBatch): ReceiptBatch {
  return {
    header: batch.header && { ...batch.header },
    receipts: batch.receipts.map((p) => ({ receipt: p.receipt && { ...p.receipt }, index: p.index, proof: p.proof.map((x) => Buffer.from(x)) })),
  };
}

describe('receiptBatchOf', () => {
  it('carries the header without bodies and the destination’s receipts with their indices, in block order', async () => {
    const receipts = [receipt(1, 0), receipt(2, 2), receipt(3, 0), receipt(4, 3)];
    const b = await block(0, ZERO_HASH, receipts);
    const batch = await receiptBatchOf(b, DEST);
    expect(batch.header).toEqual(headerOnly(b));
    expect(batch.header).toMatchObject({ hash: b.hash, outgoingReceiptsRoot: b.outgoingReceiptsRoot, transactions: [], receipts: [], tpcPrepare: [], outgoingReceipts: [] });
    expect(b.transactions).toHaveLength(4); // headerOnly copies: the block keeps its bodies
    expect(batch.receipts.map((p) => [p.index, p.receipt])).toEqual([
      [0, receipts[0]],
      [2, receipts[2]],
    ]);
    for (const p of batch.receipts) expect(p.proof.length).toBeGreaterThan(0);
    expect((await receiptBatchOf(b, 5)).receipts).toEqual([]);
  });
});

describe('verifyReceiptBatch', () => {
  it('accepts a source chain from genesis, block by block, returning exactly the receipts for the destination', async () => {
    const blocks = await chain([
      [receipt(1, 0), receipt(2, 2)],
      [],
      [receipt(3, 2), receipt(4, 0), receipt(5, 0), receipt(6, 3)],
      [receipt(7, 3)],
    ]);
    let prev: SourceCursor | undefined;
    const credited: CrossShardReceipt[] = [];
    for (const b of blocks) {
      const { cursor, receipts } = await verifyReceiptBatch(common, await receiptBatchOf(b, DEST), SOURCE, DEST, prev);
      expect(cursor).toEqual(cursorOf(b));
      expect(receipts).toEqual(b.outgoingReceipts.filter((r) => r.destShard === DEST));
      credited.push(...receipts);
      prev = cursor;
    }
    expect(credited.map((r) => r.txHash)).toEqual([1, 4, 5].map(txHashOf));

    // Another destination following the same chain gets its own receipts.
    prev = undefined;
    const toTwo: string[] = [];
    for (const b of blocks) {
      const v = await verifyReceiptBatch(common, await receiptBatchOf(b, 2), SOURCE, 2, prev);
      toTwo.push(...v.receipts.map((r) => r.txHash));
      prev = v.cursor;
    }
    expect(toTwo).toEqual([2, 3].map(txHashOf));
  });

  it('proves every receipt of a block with 300 receipts for several destinations', async () => {
    const dests = [0, 2, 3, 5];
    const receipts = Array.from({ length: 300 }, (_, i) => receipt(i, dests[(i * 7 + (i >> 3)) % dests.length]!));
    const b = await block(0, ZERO_HASH, receipts);
    const seen: number[] = [];
    for (const d of dests) {
      const batch = await receiptBatchOf(b, d);
      const { receipts: got } = await verifyReceiptBatch(common, batch, SOURCE, d, undefined);
      expect(got).toEqual(receipts.filter((r) => r.destShard === d));
      seen.push(...batch.receipts.map((p) => p.index));
    }
    expect(seen.sort((a, b) => a - b)).toEqual(receipts.map((_, i) => i));
  });

  it('returns the destination’s receipts for random blocks (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ dest: fc.constantFrom(0, 2, 3), value: fc.bigInt({ min: 0n, max: 10n ** 24n }) }), { maxLength: 40 }), fc.constantFrom(0, 2, 3), async (spec, dest) => {
        const receipts = spec.map((s, i) => receipt(i, s.dest, s.value));
        const b = await block(0, ZERO_HASH, receipts);
        const { receipts: got } = await verifyReceiptBatch(common, await receiptBatchOf(b, dest), SOURCE, dest, undefined);
        expect(got).toEqual(receipts.filter((r) => r.destShard === dest));
      }),
      { numRuns: 40 },
    );
  });

  describe('refuses', () => {
    let blocks: StateShardBlock[];
    let batch: ReceiptBatch;
    beforeAll(async () => {
      // Block 1 has enough receipts that proofs span several trie nodes.
      const many = Array.from({ length: 40 }, (_, i) => receipt(100 + i, i % 3 === 0 ? 0 : 2));
      blocks = await chain([[receipt(1, 0)], many, [receipt(2, 0)]]);
      batch = await receiptBatchOf(blocks[1]!, DEST);
    });
    /** Verifies `b` on SOURCE's stream at DEST after `prev` (by default block 0; null: before genesis). */
    const verify = (b: ReceiptBatch, prev: SourceCursor | null = cursorOf(blocks[0]!)) => verifyReceiptBatch(common, b, SOURCE, DEST, prev ?? undefined);

    it('nothing from the untouched batch (the baseline of the cases below)', async () => {
      expect((await verify(batch)).receipts).toHaveLength(14);
    });

    it.each<[string, (r: CrossShardReceipt) => void]>([
      ['value raised', (r) => (r.value = (BigInt(r.value) + 1n).toString())],
      ['value to zero', (r) => (r.value = '0')],
      ['recipient changed', (r) => (r.to = addressOf(9_999))],
      ['sender changed', (r) => (r.from = addressOf(9_998))],
      ['transaction hash changed', (r) => (r.txHash = txHashOf(9_997))],
    ])('a receipt forged after proving: %s', async (_name, forge) => {
      const forged = copy(batch);
      forge(forged.receipts[3]!.receipt!);
      const err = await refused(verify(forged));
      expect(err.message).toContain(`shard ${SOURCE} block 1`);
      expect(err.message).toContain(`receipt of tx ${forged.receipts[3]!.receipt!.txHash}`);
      expect(err.message).toMatch(/not in the block's outgoing receipts at index \d+|invalid proof/);
    });

    it('a receipt carrying the proof of another index', async () => {
      const wrong = copy(batch);
      wrong.receipts[0]!.proof = wrong.receipts[1]!.proof;
      expect((await refused(verify(wrong))).message).toMatch(new RegExp(`receipt of tx ${wrong.receipts[0]!.receipt!.txHash}: (invalid proof|.*not in the block's outgoing receipts)`));
    });

    it('a receipt claiming another index than its own', async () => {
      const wrong = copy(batch);
      wrong.receipts[0]!.index = wrong.receipts[1]!.index;
      expect((await refused(verify(wrong))).message).toMatch(/invalid proof|not in the block's outgoing receipts/);
    });

    it.each<[string, (proof: Buffer[]) => Buffer[]]>([
      ['truncated', (p) => p.slice(0, -1)],
      ['without its root node', (p) => p.slice(1)],
      ['empty', () => []],
      ['garbage', () => [Buffer.from('not a trie node')]],
      ['with a flipped byte in its leaf', (p) => p.map((n, i) => (i === p.length - 1 ? Buffer.from(n.map((x, j) => (j === n.length - 2 ? x ^ 1 : x))) : n))],
    ])('a receipt whose proof is %s', async (_name, edit) => {
      const wrong = copy(batch);
      expect(wrong.receipts[2]!.proof.length).toBeGreaterThan(1);
      wrong.receipts[2]!.proof = edit(wrong.receipts[2]!.proof as Buffer[]);
      expect((await refused(verify(wrong))).message).toMatch(new RegExp(`receipt of tx ${wrong.receipts[2]!.receipt!.txHash}: (invalid proof|.*not in the block's outgoing receipts)`));
    });

    it('a receipt for another destination, even with a valid proof', async () => {
      const other = await receiptBatchOf(blocks[1]!, 2);
      const mixed = copy(batch);
      mixed.receipts.push(other.receipts[0]!);
      expect((await refused(verify(mixed))).message).toContain(`receipt of tx ${other.receipts[0]!.receipt!.txHash} is from shard ${SOURCE} to shard 2, not ${SOURCE} → ${DEST}`);
      // The same batch verifies for destination 2's own stream only when every receipt is for 2.
      await expect(verifyReceiptBatch(common, other, SOURCE, 2, cursorOf(blocks[0]!))).resolves.toMatchObject({ receipts: blocks[1]!.outgoingReceipts.filter((r) => r.destShard === 2) });
    });

    it('a receipt whose source shard is not the stream’s', async () => {
      const wrong = copy(batch);
      wrong.receipts[0]!.receipt!.sourceShard = 3;
      expect((await refused(verify(wrong))).message).toContain('is from shard 3 to shard 0');
    });

    it.each<[string, Partial<StateShardBlock>]>([
      ['timestamp', { timestampMs: 1 }],
      ['state root', { stateRoot: '0x' + '77'.repeat(32) }],
      ['outgoing receipts root', { outgoingReceiptsRoot: '0x' + '88'.repeat(32) }],
      ['gas used', { gasUsed: 5 }],
      ['hash', { hash: '0x' + '99'.repeat(32) }],
    ])('a header whose hash does not match its fields (%s changed)', async (_name, change) => {
      const wrong = copy(batch);
      wrong.header = { ...wrong.header!, ...change };
      expect((await refused(verify(wrong))).message).toMatch(/shard 1 block 1: header hash 0x[0-9a-f]{64} does not match its fields/);
    });

    it('a header re-hashed over a forged outgoing receipts root that does not extend the chain held', async () => {
      // A relay that rebuilds the root over forged receipts must re-hash the header, which breaks the child's parent link.
      const forgedReceipts = blocks[1]!.outgoingReceipts.map((r) => ({ ...r, value: '1' }));
      const forged = await block(1, blocks[0]!.hash, forgedReceipts, SOURCE, blocks[1]!.timestampMs);
      expect(forged.hash).not.toBe(blocks[1]!.hash);
      const forgedBatch = await receiptBatchOf(forged, DEST);
      // Alone it is a valid block 1 (the destination cannot tell a fork from the chain): what protects
      // the destination is that the next real block does not extend it.
      const v = await verify(forgedBatch);
      expect((await refused(verify(await receiptBatchOf(blocks[2]!, DEST), v.cursor))).message).toContain('does not extend the chain held');
    });

    it('a header that skips a height', async () => {
      const skip = await receiptBatchOf(blocks[2]!, DEST);
      expect((await refused(verify(skip, cursorOf(blocks[0]!)))).message).toBe(
        `shard 1 block 2: does not extend the chain held (expected height 1 with parent ${blocks[0]!.hash}, got parent ${blocks[1]!.hash})`,
      );
    });

    it('a header at the right height naming a different parent', async () => {
      const sibling = await block(1, '0x' + '42'.repeat(32), [receipt(500, 0)]);
      const err = await refused(verify(await receiptBatchOf(sibling, DEST)));
      expect(err.message).toContain(`expected height 1 with parent ${blocks[0]!.hash}, got parent 0x${'42'.repeat(32)}`);
    });

    it('a block already held, and any block but genesis without a cursor, and genesis with one', async () => {
      expect((await refused(verify(batch, cursorOf(blocks[1]!)))).message).toContain('expected height 2');
      expect((await refused(verify(batch, null))).message).toContain(`expected height 0 with parent ${ZERO_HASH}`);
      expect((await refused(verify(await receiptBatchOf(blocks[0]!, DEST), cursorOf(blocks[0]!)))).message).toContain('expected height 1');
      // The right height with the hash of another block at the held height.
      expect((await refused(verify(batch, { height: 0, hash: '0x' + '11'.repeat(32) }))).message).toContain('does not extend the chain held');
    });

    it('a genesis block whose parent is not the zero hash', async () => {
      const g = await block(0, '0x' + '01'.repeat(32), [receipt(1, 0)]);
      expect((await refused(verify(await receiptBatchOf(g, DEST), null))).message).toContain(`expected height 0 with parent ${ZERO_HASH}`);
    });

    it('a batch from another source shard', async () => {
      const otherShard = await chain([[{ ...receipt(1, 0), sourceShard: 2 }]], 2);
      const b = await receiptBatchOf(otherShard[0]!, DEST);
      expect((await refused(verifyReceiptBatch(common, b, SOURCE, DEST, undefined))).message).toBe('shard 1 block 0: header of shard 2');
      // The same batch verifies on shard 2's stream.
      await expect(verifyReceiptBatch(common, b, 2, DEST, undefined)).resolves.toMatchObject({ cursor: cursorOf(otherShard[0]!) });
    });

    it.each<[string, (r: CrossShardReceipt) => void, RegExp]>([
      ['a non-decimal value', (r) => (r.value = 'abc'), /value must be a decimal amount in wei/],
      ['a negative value', (r) => (r.value = '-5'), /value must be a decimal amount in wei/],
      ['a recipient that is not hex', (r) => (r.to = '0x' + 'zz'.repeat(20)), /to must be a 0x-prefixed 20-byte hex address/],
      ['a transaction hash of 31 bytes', (r) => (r.txHash = r.txHash.slice(0, -2)), /txHash must be a 0x-prefixed 32-byte hex hash/],
    ])('a receipt with %s, as INVALID_ARGUMENT naming the field', async (_name, forge, message) => {
      const wrong = copy(batch);
      forge(wrong.receipts[1]!.receipt!);
      const err = await refused(verify(wrong));
      expect(err.message).toContain('shard 1 block 1: receipt of tx');
      expect(err.message).toMatch(message);
    });

    it('a receipt whose recipient is spelled with its leading zero dropped (the same bytes, another string)', async () => {
      // Leaf bytes do not tell 0x0f… from 0xf… (hex is padded to even length): the strings must be canonical.
      const r = { ...receipt(1, 0), to: '0x0f' + 'ee'.repeat(19) };
      const [g] = await chain([[r]]);
      const good = await receiptBatchOf(g!, DEST);
      await expect(verify(good, null)).resolves.toMatchObject({ receipts: [r] });
      const respelled = copy(good);
      respelled.receipts[0]!.receipt!.to = '0xf' + 'ee'.repeat(19);
      expect((await refused(verify(respelled, null))).message).toMatch(/to must be a 0x-prefixed 20-byte hex address/);
    });

    it('a batch listing one receipt twice, or out of block order', async () => {
      const twice = copy(batch);
      twice.receipts.splice(2, 0, copy(batch).receipts[1]!);
      expect((await refused(verify(twice))).message).toMatch(/shard 1 block 1: receipt of tx 0x[0-9a-f]{64} at index \d+ does not follow index \d+/);
      const swapped = copy(batch);
      [swapped.receipts[0], swapped.receipts[1]] = [swapped.receipts[1]!, swapped.receipts[0]!];
      expect((await refused(verify(swapped))).message).toContain('does not follow index');
    });

    it.each<[string, Partial<StateShardBlock>]>([
      ['state root', { stateRoot: '0xzz' }],
      ['outgoing receipts root', { outgoingReceiptsRoot: 'nothex' }],
      ['parent hash', { parentHash: '' }],
    ])('a header with a malformed %s, as INVALID_ARGUMENT', async (_name, change) => {
      const wrong = copy(batch);
      wrong.header = { ...wrong.header!, ...change };
      expect((await refused(verify(wrong))).message).toMatch(/shard 1 block 1: malformed header/);
    });

    it('a batch without a header, or a proven receipt without a receipt', async () => {
      expect((await refused(verify({ header: undefined, receipts: batch.receipts }))).message).toContain('without a header');
      const empty = copy(batch);
      empty.receipts[0]!.receipt = undefined;
      expect((await refused(verify(empty))).message).toContain('proven receipt without a receipt');
    });
  });

  it('hashes the header it checks the same way as blockHash (a batch header is its block’s header)', async () => {
    const [b] = await chain([[receipt(1, 0)]]);
    const { hash, transactions: _t, receipts: _r, tpcPrepare: _v, outgoingReceipts: _o, ...header } = (await receiptBatchOf(b!, DEST)).header!;
    expect(blockHash(common, header)).toBe(hash);
  });
});
