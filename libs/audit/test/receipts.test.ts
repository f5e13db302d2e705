// Tests of the audit's shard-led receipts check: a credited receipt is sound, one not credited yet is in flight with its value in transit, and each misuse of a receipt is reported naming the transaction
import { SystemTxKind } from '@shardlab/proto';
import { addressOn, ETHER, NetBuilder } from '@shardlab/testing';
import { auditNetwork, type AuditInput } from '../src';
import { checkReceipts } from '../src/receipts';
import { indexShards } from '../src/shard-index';
import { appendBlock, creditReceipt, moveBalance, outgoingReceiptOf, receiptSystemTx, sendReceipt, shardLedHash, type ShardLedTransfer } from './shard-led';
import { a0, a1, b0, b1, FEE_BURN, GENESIS, problemsWith } from './two-shards';

/** An account on a third shard. */
const c2 = addressOn(2, 5);
const VALUE = 3n * ETHER;

/** Genesis of three shards, no other block. */
const network = (): AuditInput => new NetBuilder(3, [...GENESIS, [c2, 10n * ETHER]]).input();
/** Transfer `n`: a0 (shard 0) → a1 (shard 1) of VALUE unless told otherwise. */
const transfer = (n: number, over: Partial<ShardLedTransfer> = {}): ShardLedTransfer => ({ hash: shardLedHash(n), from: a0, to: a1, value: VALUE, source: 0, dest: 1, ...over });
/** Height of the head block of shard `s`. */
const headOf = (input: AuditInput, s: number) => input.shards[s]!.blocks.length - 1;

describe('checkReceipts and the audit of shard-led receipts', () => {
  it('passes a receipt debited at its source and credited once at its destination, with exact books', () => {
    const input = network();
    const t = transfer(1);
    sendReceipt(input, t);
    creditReceipt(input, 1, t.hash, t.to, t.value);
    const r = auditNetwork(input);
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.receipts).toEqual({ sent: 1, credited: 1, inFlight: 0, inFlightWei: 0n, ok: true });
    expect(r.conservation).toMatchObject({ ok: true, inTransitWei: 0n, differenceWei: 0n, burnedWei: FEE_BURN });
    expect(r.shards[0]).toMatchObject({ debitedWei: VALUE, creditedWei: 0n, balanced: true, systemTxs: expect.objectContaining({ RECEIPT_DEBIT: 1, RECEIPT_CREDIT: 0 }) });
    expect(r.shards[1]).toMatchObject({ debitedWei: 0n, creditedWei: VALUE, balanced: true, systemTxs: expect.objectContaining({ RECEIPT_DEBIT: 0, RECEIPT_CREDIT: 1 }) });
  });

  it('reads hashes and addresses in any case', () => {
    const input = network();
    const t = transfer(1);
    sendReceipt(input, { ...t, hash: t.hash.toUpperCase().replace('0X', '0x'), to: t.to.toUpperCase().replace('0X', '0x') });
    creditReceipt(input, 1, t.hash, t.to, t.value);
    expect(checkReceipts(indexShards(input.shards))).toEqual({ report: { sent: 1, credited: 1, inFlight: 0, inFlightWei: 0n, ok: true }, inTransitWei: 0n, findings: [] });
  });

  it('counts a receipt sent and not credited as in flight, its value in transit, and is not ok until it is credited', () => {
    const input = network();
    const t1 = transfer(1);
    const t2 = transfer(2, { from: b1, to: c2, value: 5n, source: 1, dest: 2 });
    sendReceipt(input, t1);
    sendReceipt(input, t2);
    let r = auditNetwork(input);
    expect(r.problems).toEqual([]);
    expect(r.receipts).toEqual({ sent: 2, credited: 0, inFlight: 2, inFlightWei: VALUE + 5n, ok: false });
    expect(r.conservation).toMatchObject({ ok: true, inTransitWei: VALUE + 5n, differenceWei: 0n });
    expect(r.conservation.actualWei).toBe(r.conservation.expectedWei - VALUE - 5n);
    expect(r.ok).toBe(false);

    creditReceipt(input, 2, t2.hash, t2.to, t2.value);
    r = auditNetwork(input);
    expect(r.problems).toEqual([]);
    expect(r.receipts).toEqual({ sent: 2, credited: 1, inFlight: 1, inFlightWei: VALUE, ok: false });
    expect(r.conservation).toMatchObject({ ok: true, inTransitWei: VALUE });

    creditReceipt(input, 1, t1.hash, t1.to, t1.value);
    r = auditNetwork(input);
    expect(r.ok).toBe(true);
    expect(r.receipts).toMatchObject({ inFlight: 0, inFlightWei: 0n, ok: true });
  });

  describe('reports, naming the transaction', () => {
    /** Audits `input` and returns the report, checking the receipts check is not ok and `h`'s problem is listed once. */
    const audited = (input: AuditInput, h: string, ...words: string[]) => {
      const r = auditNetwork(input);
      expect(r.ok).toBe(false);
      expect(r.receipts.ok).toBe(false);
      expect(problemsWith(r, `tx ${h}`, ...words)).toHaveLength(1);
      return r;
    };

    it('a receipt credited twice (value created)', () => {
      const input = network();
      const t = transfer(1);
      sendReceipt(input, t);
      creditReceipt(input, 1, t.hash, t.to, t.value);
      const first = headOf(input, 1);
      creditReceipt(input, 1, t.hash, t.to, t.value);
      const r = audited(input, t.hash, `receipt credited 2 times (shards 1@${first}, 1@${first + 1})`);
      expect(r.receipts).toMatchObject({ sent: 1, credited: 1, inFlight: 0 });
      expect(r.conservation).toMatchObject({ ok: false, differenceWei: VALUE });
      expect(problemsWith(r, 'conservation', `difference ${VALUE} wei`)).toHaveLength(1);
    });

    it.each<[string, (t: ShardLedTransfer) => [number, string, bigint], string]>([
      ['another address', (t) => [1, b1, t.value], `credited ${VALUE} wei to ${b1} on shard 1, but the receipt says ${VALUE} wei to ${a1} on shard 1`],
      ['another amount', (t) => [1, t.to, t.value + 1n], `credited ${VALUE + 1n} wei to ${a1} on shard 1, but the receipt says ${VALUE} wei to ${a1} on shard 1`],
      ['another shard', (t) => [2, t.to, t.value], `credited ${VALUE} wei to ${a1} on shard 2, but the receipt says ${VALUE} wei to ${a1} on shard 1`],
    ])('a credit to %s', (_name, credit, message) => {
      const input = network();
      const t = transfer(1);
      sendReceipt(input, t);
      const [shard, to, amount] = credit(t);
      creditReceipt(input, shard, t.hash, to, amount);
      const r = audited(input, t.hash, message);
      // Not in flight: the receipt was credited, wrongly.
      expect(r.receipts).toMatchObject({ credited: 1, inFlight: 0, inFlightWei: 0n });
    });

    it('a credit for a receipt no shard sent (value created)', () => {
      const input = network();
      const h = shardLedHash(9);
      creditReceipt(input, 1, h, a1, VALUE);
      const r = audited(input, h, 'RECEIPT_CREDIT on shard 1 for a receipt no shard sent');
      expect(r.receipts).toMatchObject({ sent: 0, credited: 0, inFlight: 0 });
      expect(r.conservation.differenceWei).toBe(VALUE);
    });

    it('a debit without an outgoing receipt (value lost: nothing will credit it)', () => {
      const input = network();
      const t = transfer(1);
      sendReceipt(input, t, { receipt: false });
      const r = audited(input, t.hash, 'RECEIPT_DEBIT on shard 0 without an outgoing receipt');
      expect(r.receipts).toMatchObject({ sent: 0, inFlight: 0, inFlightWei: 0n });
      expect(r.conservation.differenceWei).toBe(-VALUE);
    });

    it('a receipt sent twice', () => {
      const input = network();
      const t = transfer(1);
      sendReceipt(input, t);
      const first = headOf(input, 0);
      appendBlock(input, 0, { outgoingReceipts: [outgoingReceiptOf(t)] });
      creditReceipt(input, 1, t.hash, t.to, t.value);
      const r = audited(input, t.hash, `receipt sent 2 times (shards 0@${first}, 0@${first + 1})`);
      expect(r.receipts).toMatchObject({ sent: 1, credited: 1 });
    });

    it('a receipt without its RECEIPT_DEBIT, or with it in another block', () => {
      const input = network();
      const t = transfer(1);
      sendReceipt(input, t, { debit: false });
      const sentAt = headOf(input, 0);
      creditReceipt(input, 1, t.hash, t.to, t.value);
      audited(input, t.hash, `0 RECEIPT_DEBITs, 0 of them in the sending block (shard 0 block ${sentAt}); exactly one expected`);

      moveBalance(input, 0, t.from, -t.value);
      appendBlock(input, 0, { transactions: [receiptSystemTx(SystemTxKind.SYSTEM_TX_KIND_RECEIPT_DEBIT, t.hash, t.from, t.value)] });
      const r = audited(input, t.hash, '1 RECEIPT_DEBITs, 0 of them in the sending block');
      expect(r.conservation.ok).toBe(true); // the value moved once, only recorded in the wrong block
    });

    it('a RECEIPT_DEBIT from another sender or of another amount than its receipt', () => {
      for (const [from, amount] of [
        [b0, VALUE],
        [a0, VALUE - 1n],
      ] as const) {
        const input = network();
        const t = transfer(1);
        sendReceipt(input, t, { debit: false });
        const block = input.shards[0]!.blocks.at(-1)!;
        block.transactions.push(receiptSystemTx(SystemTxKind.SYSTEM_TX_KIND_RECEIPT_DEBIT, t.hash, from, amount));
        moveBalance(input, 0, from, -amount);
        creditReceipt(input, 1, t.hash, t.to, t.value);
        audited(input, t.hash, `RECEIPT_DEBIT of ${amount} wei from ${from}, but the receipt says ${VALUE} wei from ${a0}`);
      }
    });

    it('each transaction on its own: a sound receipt beside a faulty one stays sound', () => {
      const input = network();
      const good = transfer(1);
      const bad = transfer(2, { from: b0, to: b1 });
      sendReceipt(input, good);
      sendReceipt(input, bad);
      creditReceipt(input, 1, good.hash, good.to, good.value);
      creditReceipt(input, 1, bad.hash, bad.to, bad.value + 1n);
      const r = auditNetwork(input);
      expect(r.problems.filter((p) => p.includes(good.hash))).toEqual([]);
      expect(problemsWith(r, `tx ${bad.hash}`)).toHaveLength(1);
      expect(r.receipts).toEqual({ sent: 2, credited: 2, inFlight: 0, inFlightWei: 0n, ok: false });
    });
  });
});
