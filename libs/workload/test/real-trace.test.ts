import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { createChainCommon, decodeTransaction } from '@shardlab/chain';
import { planReplay, readTrace, type Trace } from '../src';

/**
 * The mainnet sample kept outside the repository (../shared/data, see its README): 19,999
 * transactions of blocks 3,300,000–3,302,204 in the ethereum-etl layout. Skipped when absent.
 */
const TRACE = resolve(__dirname, '../../../../shared/data/eth-mainnet-3.3M-20k.csv.gz');
const describeIfTrace = existsSync(TRACE) ? describe : describe.skip;

describeIfTrace('the real mainnet trace (../shared/data)', () => {
  let trace: Trace;
  beforeAll(async () => {
    trace = await readTrace(TRACE, { onMalformed: 'stop' });
  });

  it('has the figures its README states', () => {
    expect(trace.format).toBe('ethereum-etl');
    expect(trace.issues).toEqual([]);
    expect(trace.rows).toHaveLength(19_999);
    const addresses = new Set<string>();
    const senders = new Set<string>();
    for (const r of trace.rows) {
      addresses.add(r.from);
      senders.add(r.from);
      if (r.to) addresses.add(r.to);
    }
    expect(addresses.size).toBe(10_905);
    expect(senders.size).toBe(5_986);
    expect(trace.rows.filter((r) => r.value > 0n)).toHaveLength(17_945);
    expect(trace.rows.filter((r) => r.hasCalldata)).toHaveLength(3_333);
    const creations = trace.rows.filter((r) => r.to === undefined);
    expect(creations).toHaveLength(31);
    for (const c of creations) expect(c.createdAddress).toMatch(/^0x[0-9a-f]{40}$/);
    // Sorted by block, then position in block; the file itself is not.
    for (let i = 1; i < trace.rows.length; i++) {
      const a = trace.rows[i - 1]!;
      const b = trace.rows[i]!;
      expect(a.blockNumber < b.blockNumber || (a.blockNumber === b.blockNumber && a.txIndex <= b.txIndex)).toBe(true);
    }
    expect(trace.rows[0]!.blockNumber).toBe(3_300_000);
    expect(trace.rows.at(-1)!.blockNumber).toBe(3_302_204);
    expect(trace.rows.some((r, i) => r.line !== i + 2)).toBe(true);
  });

  it('plans a replay at S=4 with the cross-shard ratio of the trace', () => {
    const common = createChainCommon();
    const plan = planReplay(trace.rows, { common, shardCount: 4 });
    expect(plan.stats).toMatchObject({
      rows: 19_999,
      transfers: 16_666,
      calldataConverted: 3_302,
      creationsConverted: 31,
      senders: 5_986,
      addresses: 10_928, // 10,905 + 23 created addresses not otherwise in the trace
    });
    expect(plan.genesis.size).toBe(5_986);
    // Same ratio as the real addresses under `last byte mod 4`, creations going to the created address.
    const lastByte = (a: string) => parseInt(a.slice(-2), 16) % 4;
    const real = trace.rows.filter((r) => lastByte(r.from) !== lastByte(r.to ?? r.createdAddress!)).length;
    expect(plan.stats.crossShard).toBe(real);
    // The README's 0.686 counts rows with a recipient (a creation has none); the 31 creations
    // replayed as transfers to their created address add 19 more cross-shard transactions.
    const withRecipient = plan.txs.filter((t, i) => t.crossShard && trace.rows[i]!.to !== undefined).length;
    expect(Math.abs(withRecipient / 19_999 - 0.686)).toBeLessThanOrEqual(0.001);
    expect(Math.abs(plan.stats.crossShardRatio - 0.687)).toBeLessThanOrEqual(0.001);
    // Nonces consecutive per sender; a sample decodes to its hash.
    const next = new Map<string, bigint>();
    for (const t of plan.txs) {
      expect(t.nonce).toBe(next.get(t.from) ?? 0n);
      next.set(t.from, t.nonce + 1n);
    }
    for (const t of plan.txs.filter((_, i) => i % 997 === 0)) expect(decodeTransaction(t.raw, common).hash).toBe(t.hash);
  });
});
