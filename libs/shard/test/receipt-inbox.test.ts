// Tests of the shard-led ReceiptInbox: verified batches queued per source, taken by blocks, settled or put back, and exactly-once crediting across duplicates, gaps, reconnects, failed blocks and restarts (property)
import { ZERO_HASH, buildBlock, createChainCommon, receiptBatchOf, type SourceCursor } from '@shardlab/chain';
import { ErrorCode, ShardLabError } from '@shardlab/common';
import { ReceiptKind, type CrossShardReceipt, type ReceiptBatch, type StateShardBlock } from '@shardlab/proto';
import fc from 'fast-check';
import { ReceiptInbox, type InboxTake } from '../src/shard-led/inbox';

const common = createChainCommon();
/** The shard the inbox belongs to. */
const ME = 0;
/** A shard other than ME that sources also send to (its receipts must never be credited here). */
const ELSEWHERE = 9;

const hex = (n: number, bytes: number) => n.toString(16).padStart(bytes * 2, '0');
const txHashOf = (n: number) => `0x${'5a'.repeat(28)}${hex(n, 4)}`;
const addressOf = (n: number) => `0x${'c3'.repeat(16)}${hex(n, 4)}`;

/** Receipt `n` from `source` to `dest`. */
function receipt(n: number, source: number, dest: number): CrossShardReceipt {
  return { txHash: txHashOf(n), sourceShard: source, destShard: dest, from: addressOf(n), to: addressOf(50_000 + n), value: String(n * 997 + 1), kind: ReceiptKind.RECEIPT_KIND_TRANSFER, rawTransaction: Buffer.alloc(0), success: false, gasUsed: 0, error: '' };
}

/** A source shard's chain from genesis (block i carries `receipts[i]`) and its batches for ME. */
async function sourceChain(source: number, receipts: CrossShardReceipt[][]): Promise<{ blocks: StateShardBlock[]; batches: ReceiptBatch[] }> {
  const blocks: StateShardBlock[] = [];
  for (const [height, rs] of receipts.entries()) {
    blocks.push(
      await buildBlock(common, {
        shardId: source,
        height,
        parentHash: blocks.at(-1)?.hash ?? ZERO_HASH,
        timestampMs: 1_700_000_000_000 + height,
        execution: { stateRoot: new Uint8Array(32).fill(height), gasUsed: 0n, outcomes: [], touched: [] },
        outgoingReceipts: rs,
      }),
    );
  }
  return { blocks, batches: await Promise.all(blocks.map((b) => receiptBatchOf(b, ME))) };
}

const cursorOf = (b: StateShardBlock): SourceCursor => ({ height: b.height, hash: b.hash });
const hashes = (t: InboxTake) => t.receipts.map((r) => r.txHash);

/** Settled credits as the store keeps them: `wasCredited` of a new inbox reads them. */
function creditStore() {
  const credited = new Set<string>();
  return { credited, wasCredited: async (h: string) => credited.has(h) };
}

describe('ReceiptInbox', () => {
  let chain1: Awaited<ReturnType<typeof sourceChain>>;
  beforeAll(async () => {
    chain1 = await sourceChain(1, [[receipt(1, 1, ME), receipt(2, 1, ELSEWHERE)], [], [receipt(3, 1, ME), receipt(4, 1, ME)], [receipt(5, 1, ME)]]);
  });

  it('queues verified batches in order, and a block takes their receipts for ME with the last cursor', async () => {
    const store = creditStore();
    const inbox = new ReceiptInbox(common, ME, new Map(), store.wasCredited);
    expect(inbox.cursor(1)).toBe(-1);
    for (const b of chain1.batches.slice(0, 3)) await inbox.accept(1, b);
    expect(inbox.cursor(1)).toBe(2);
    const t = await inbox.take();
    expect(t.receipts).toEqual([receipt(1, 1, ME), receipt(3, 1, ME), receipt(4, 1, ME)]);
    expect(t.cursors).toEqual(new Map([[1, cursorOf(chain1.blocks[2]!)]]));
    expect(inbox.cursor(1)).toBe(2); // taken, not yet durable: still received
    expect(inbox.creditedHere(txHashOf(1))).toBe(false);
    inbox.settle(t);
    expect(inbox.creditedHere(txHashOf(1))).toBe(true);
    expect(inbox.creditedHere(txHashOf(1).toUpperCase().replace('0X', '0x'))).toBe(true);
    expect(await inbox.take()).toEqual({ receipts: [], cursors: new Map() });
  });

  it('ignores batches at or below the cursor and refuses a gap, queuing nothing', async () => {
    const inbox = new ReceiptInbox(common, ME, new Map(), creditStore().wasCredited);
    await inbox.accept(1, chain1.batches[0]!);
    await inbox.accept(1, chain1.batches[0]!); // duplicate: ignored
    const err = await inbox.accept(1, chain1.batches[2]!).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ShardLabError);
    expect((err as ShardLabError).code).toBe(ErrorCode.InvalidArgument);
    expect((err as ShardLabError).message).toContain('does not extend the chain held');
    expect(inbox.cursor(1)).toBe(0);
    await inbox.accept(1, chain1.batches[1]!);
    await inbox.accept(1, chain1.batches[0]!); // below the cursor: ignored
    const t = await inbox.take();
    expect(hashes(t)).toEqual([txHashOf(1)]);
    expect(t.cursors.get(1)).toEqual(cursorOf(chain1.blocks[1]!));
  });

  it('puts a failed block’s take back in front of the queue, and the next block takes the same receipts', async () => {
    const inbox = new ReceiptInbox(common, ME, new Map(), creditStore().wasCredited);
    await inbox.accept(1, chain1.batches[0]!);
    await inbox.accept(1, chain1.batches[1]!);
    const failed = await inbox.take();
    await inbox.accept(1, chain1.batches[2]!); // arrives while the failing block is in progress
    expect(inbox.cursor(1)).toBe(2);
    inbox.putBack(failed);
    expect(inbox.cursor(1)).toBe(2);
    const t = await inbox.take();
    expect(hashes(t)).toEqual([1, 3, 4].map(txHashOf));
    expect(t.cursors.get(1)).toEqual(cursorOf(chain1.blocks[2]!));
  });

  it('a take whose store read fails puts everything back, and the next take has the same receipts', async () => {
    let failNext = true;
    const inbox = new ReceiptInbox(common, ME, new Map(), async () => {
      if (failNext) {
        failNext = false;
        throw new Error('store read failed');
      }
      return false;
    });
    await inbox.accept(1, chain1.batches[0]!);
    await inbox.accept(1, chain1.batches[1]!);
    await inbox.accept(1, chain1.batches[2]!);
    await expect(inbox.take()).rejects.toThrow('store read failed');
    expect(inbox.cursor(1)).toBe(2);
    const t = await inbox.take();
    expect(hashes(t)).toEqual([1, 3, 4].map(txHashOf));
    expect(t.cursors.get(1)).toEqual(cursorOf(chain1.blocks[2]!));
  });

  it('after a restart, resumes after the durable cursor and skips receipts the store credited', async () => {
    const store = creditStore();
    const before = new ReceiptInbox(common, ME, new Map(), store.wasCredited);
    await before.accept(1, chain1.batches[0]!);
    const t = await before.take();
    before.settle(t);
    for (const r of t.receipts) store.credited.add(r.txHash);

    const after = new ReceiptInbox(common, ME, t.cursors, store.wasCredited);
    expect(after.cursor(1)).toBe(0);
    await after.accept(1, chain1.batches[0]!); // the old stream's last batch again: ignored
    await after.accept(1, chain1.batches[1]!);
    await after.accept(1, chain1.batches[2]!);
    expect(hashes(await after.take())).toEqual([3, 4].map(txHashOf));
  });

  it('credits a transaction once even when a source lists its receipt in two blocks', async () => {
    const twice = await sourceChain(2, [[receipt(7, 2, ME)], [receipt(7, 2, ME), receipt(8, 2, ME)]]);
    const store = creditStore();
    const inbox = new ReceiptInbox(common, ME, new Map(), store.wasCredited);
    await inbox.accept(2, twice.batches[0]!);
    await inbox.accept(2, twice.batches[1]!);
    const t = await inbox.take();
    expect(hashes(t)).toEqual([7, 8].map(txHashOf));
  });

  it('does not move a source’s cursor back when a batch being taken is delivered again during the take', async () => {
    // The store answers wasCredited only when the test opens the gate: the take is held inside
    // its first store read while the stream, reconnected, re-delivers the batch being taken.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let reads = 0;
    const inbox = new ReceiptInbox(common, ME, new Map(), async () => {
      reads += 1;
      await gate;
      return false;
    });
    await inbox.accept(1, chain1.batches[0]!);
    await inbox.accept(1, chain1.batches[1]!);
    const taking = inbox.take();
    expect(reads).toBe(1);
    expect(inbox.cursor(1)).toBe(1); // the batches being taken are still received
    await inbox.accept(1, chain1.batches[0]!); // a reconnect from cursor + 1 would not send it; a late duplicate must be ignored
    open();
    const t = await taking;
    expect(hashes(t)).toEqual([txHashOf(1)]);
    inbox.settle(t);
    expect(inbox.cursor(1)).toBe(1);
    await inbox.accept(1, chain1.batches[2]!); // the stream goes on after height 1
    expect(hashes(await inbox.take())).toEqual([3, 4].map(txHashOf));
  });
});

/** One step of the property's schedule. */
type Step =
  | { k: 'deliver'; s: number }
  | { k: 'redeliver'; s: number; d: number }
  | { k: 'reconnect'; s: number }
  | { k: 'block'; outcome: 'ok' | 'fail' | 'crash'; during?: { s: number; d: number } }
  | { k: 'restart' };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.record({ k: fc.constant('deliver' as const), s: fc.nat(2) }), weight: 5 },
  // Out of order: the batch at (the source's cursor + d): a duplicate (d ≤ 0), the next one (1) or a gap (≥ 2).
  { arbitrary: fc.record({ k: fc.constant('redeliver' as const), s: fc.nat(2), d: fc.integer({ min: -2, max: 3 }) }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant('reconnect' as const), s: fc.nat(2) }), weight: 1 },
  {
    // A block, with a delivery racing its take (a store read awaits): (s, cursor + d) as above, or none.
    arbitrary: fc.record({
      k: fc.constant('block' as const),
      outcome: fc.constantFrom('ok' as const, 'ok' as const, 'fail' as const, 'crash' as const),
      during: fc.option(fc.record({ s: fc.nat(2), d: fc.integer({ min: -2, max: 1 }) }), { nil: undefined, freq: 4 }),
    }),
    weight: 3,
  },
  { arbitrary: fc.constant({ k: 'restart' as const }), weight: 1 },
);

/**
 * Per source, per block: how many new receipts go to ME and how many elsewhere, and whether the
 * block lists again one of the source's earlier receipts for ME (a faulty source: the
 * transaction must still be credited once).
 */
const chainsArb = fc.array(
  fc.array(fc.record({ mine: fc.nat(3), other: fc.nat(1), again: fc.option(fc.nat(), { nil: undefined, freq: 3 }) }), { minLength: 1, maxLength: 5 }),
  { minLength: 2, maxLength: 3 },
);

describe('ReceiptInbox property: exactly-once crediting', () => {
  it('credits every receipt of every source block once, across duplicates, gaps, reconnects, failed blocks and restarts', async () => {
    await fc.assert(
      fc.asyncProperty(chainsArb, fc.array(stepArb, { maxLength: 40 }), async (spec, steps) => {
        // Source shards 1..n; receipts numbered globally; sent = every receipt for ME.
        let n = 0;
        const sources = await Promise.all(
          spec.map((blocks, i) => {
            const earlier: CrossShardReceipt[] = [];
            return sourceChain(
              i + 1,
              blocks.map(({ mine, other, again }) => {
                const rs = [...Array.from({ length: mine }, () => receipt(++n, i + 1, ME)), ...Array.from({ length: other }, () => receipt(++n, i + 1, ELSEWHERE))];
                earlier.push(...rs.filter((r) => r.destShard === ME));
                return again !== undefined && earlier.length > 0 ? [...rs, { ...earlier[again % earlier.length]! }] : rs;
              }),
            );
          }),
        );
        // Every transaction sent to ME (by its first listing).
        const sent = new Map<string, CrossShardReceipt>();
        for (const s of sources) for (const b of s.blocks) for (const r of b.outgoingReceipts) if (r.destShard === ME && !sent.has(r.txHash)) sent.set(r.txHash, r);
        // Position of each transaction's first listing in (source, height, index) order, for the
        // take's ordering (a later listing is never taken before the first is credited).
        const position = new Map([...sent.keys()].map((h, i) => [h, i]));

        // The durable store: credits and cursors of settled blocks. Its reads go through the event
        // loop as a database read does, so that stream deliveries interleave with a block's take.
        const store = { credited: new Set<string>(), cursors: new Map<number, SourceCursor>() };
        const wasCredited = async (h: string) => {
          await new Promise<void>((resolve) => setImmediate(resolve));
          return store.credited.has(h);
        };
        const settled: string[] = [];
        let inbox = new ReceiptInbox(common, ME, store.cursors, wasCredited);
        const sourceIds = sources.map((_, i) => i + 1);
        // Each stream's next height to send: a (re)connect resumes after the inbox's cursor.
        const next = new Map(sourceIds.map((s) => [s, inbox.cursor(s) + 1]));
        const low = new Map(sourceIds.map((s) => [s, -1])); // cursor floor since the last restart
        const checkCursors = () => {
          for (const s of sourceIds) {
            const c = inbox.cursor(s);
            expect(c).toBeGreaterThanOrEqual(low.get(s)!);
            expect(c).toBeGreaterThanOrEqual(store.cursors.get(s)?.height ?? -1);
            low.set(s, c);
          }
        };
        const at = (s: number, d: number) => Math.max(0, inbox.cursor(s) + d);
        const send = async (s: number, h: number) => {
          const batch = sources[s - 1]!.batches[h];
          if (!batch) return;
          try {
            await inbox.accept(s, batch);
            if (h === next.get(s)) next.set(s, h + 1);
          } catch (err) {
            // A refused batch (a gap) ends the connection; the stream reopens after the cursor.
            expect(err).toBeInstanceOf(ShardLabError);
            expect(h).toBeGreaterThan(inbox.cursor(s) + 1);
            next.set(s, inbox.cursor(s) + 1);
          }
        };
        const restart = () => {
          inbox = new ReceiptInbox(common, ME, new Map(store.cursors), wasCredited);
          for (const s of sourceIds) {
            next.set(s, inbox.cursor(s) + 1);
            low.set(s, inbox.cursor(s));
          }
        };
        const block = async (outcome: 'ok' | 'fail' | 'crash', during?: { s: number; d: number }) => {
          // A delivery racing the block's take, of a height chosen before the take began.
          const racing = during && sourceIds[during.s % sourceIds.length]!;
          const racingHeight = racing && at(racing, during.d);
          const [t] = await Promise.all([inbox.take(), racing ? send(racing, racingHeight!) : undefined]);
          // Never a receipt not sent, one credited before, or one twice in a block; in order.
          for (const r of t.receipts) {
            expect(sent.get(r.txHash)).toEqual(r);
            expect(store.credited.has(r.txHash)).toBe(false);
          }
          const pos = t.receipts.map((r) => position.get(r.txHash)!);
          expect(pos).toEqual([...pos].sort((a, b) => a - b));
          expect(new Set(pos).size).toBe(pos.length);
          if (outcome === 'ok') {
            // The block is durable: its credits and cursors are written in one batch, then settle.
            for (const r of t.receipts) store.credited.add(r.txHash);
            for (const [s, c] of t.cursors) {
              expect(c.height).toBeGreaterThanOrEqual(store.cursors.get(s)?.height ?? -1);
              store.cursors.set(s, c);
            }
            settled.push(...hashes(t));
            inbox.settle(t);
          } else if (outcome === 'fail') {
            inbox.putBack(t);
          } else {
            restart(); // the process died with the block in progress: nothing of it is durable
          }
        };

        for (const st of steps) {
          const s = 's' in st ? sourceIds[st.s % sourceIds.length]! : 0;
          if (st.k === 'deliver') await send(s, next.get(s)!);
          else if (st.k === 'redeliver') await send(s, at(s, st.d));
          else if (st.k === 'reconnect') next.set(s, inbox.cursor(s) + 1);
          else if (st.k === 'block') await block(st.outcome, st.during);
          else restart();
          checkCursors();
        }
        // Drain: every stream reconnects and sends the rest of its chain; blocks take it all.
        for (const s of sourceIds) {
          for (let h = inbox.cursor(s) + 1; h < sources[s - 1]!.batches.length; h++) await inbox.accept(s, sources[s - 1]!.batches[h]!);
        }
        await block('ok');
        checkCursors();
        for (const s of sourceIds) expect(store.cursors.get(s)).toEqual(cursorOf(sources[s - 1]!.blocks.at(-1)!));

        // Exactly once: the settled credits are the sent receipts, none twice, none missing.
        expect(new Set(settled).size).toBe(settled.length);
        expect([...settled].sort()).toEqual([...sent.keys()].sort());
        expect(await inbox.take()).toEqual({ receipts: [], cursors: new Map() });
      }),
      { numRuns: 150 },
    );
  });
});
