import { LockField, LockMode, type AddressRwSet, type LockKey, type RwSet } from '@shardlab/proto';
import { addressOfKeyId, compatibleModes, describeLockKey, joinModes, localWriteAllowed, lockKeyId, lockKeysOf, modeCovers } from '../src';

const { LOCK_MODE_SHARED: S, LOCK_MODE_EXCLUSIVE: X, LOCK_MODE_CREDIT: C, LOCK_MODE_UNSPECIFIED: U } = LockMode;
const { LOCK_FIELD_BALANCE: BALANCE, LOCK_FIELD_NONCE: NONCE, LOCK_FIELD_CODE: CODE, LOCK_FIELD_SLOT: SLOT } = LockField;
const MODES = [S, X, C] as const;
const NAME: Record<number, string> = { [S]: 'S', [X]: 'X', [C]: 'C', [U]: '-' };

const addr = (fill: string, last: string) => '0x' + fill.repeat(19) + last;
const slot = (n: number) => '0x' + n.toString(16).padStart(64, '0');
const SENDER = addr('5e', '00');

/** An RwSet item: `reads` / `writes` are slot numbers (the account read, slot '', is always there). */
function item(address: string, shardId: number, f: { reads?: number[]; writes?: number[]; delta?: bigint; balanceRead?: boolean; newNonce?: number; createdCode?: string } = {}): AddressRwSet {
  return {
    address,
    shardId,
    reads: [{ slot: '', value: '0x', proof: [] }, ...(f.reads ?? []).map((n) => ({ slot: slot(n), value: slot(0), proof: [] }))],
    writes: (f.writes ?? []).map((n) => ({ slot: slot(n), oldValue: slot(0), newValue: slot(1) })),
    balanceDelta: (f.delta ?? 0n).toString(),
    createdCode: f.createdCode ?? '',
    balanceRead: f.balanceRead ?? false,
    ...(f.newNonce !== undefined ? { newNonce: f.newNonce } : {}),
  };
}
const rwSet = (...addresses: AddressRwSet[]): RwSet => ({ referenceBlocks: [], addresses, logs: [], gasUsed: 0 });
const key = (shardId: number, address: string, field: LockField, mode: LockMode, slotKey = ''): LockKey & { shardId: number } => ({ shardId, address, field, slot: slotKey, mode });
/** lockKeysOf of a single item, without the sender. */
const keysOf = (it: AddressRwSet) => lockKeysOf(rwSet(it), SENDER);

describe('lock keys', () => {
  const a = addr('aa', '01');

  it('lockKeyId names an account field or a slot, lowercase; addressOfKeyId and describeLockKey read it back', () => {
    const A = a.toUpperCase().replace('0X', '0x');
    expect(lockKeyId({ address: A, field: BALANCE, slot: '' })).toBe(`${a}|b`);
    expect(lockKeyId({ address: a, field: NONCE, slot: '' })).toBe(`${a}|n`);
    expect(lockKeyId({ address: a, field: CODE, slot: '' })).toBe(`${a}|c`);
    expect(lockKeyId({ address: a, field: SLOT, slot: slot(0xab).toUpperCase().replace('0X', '0x') })).toBe(`${a}|s|${slot(0xab)}`);
    expect(() => lockKeyId({ address: a, field: LockField.LOCK_FIELD_UNSPECIFIED, slot: '' })).toThrow(/no field/);
    expect(addressOfKeyId(`${a}|s|${slot(1)}`)).toBe(a);
    expect(addressOfKeyId(`${a}|b`)).toBe(a);
    expect(describeLockKey({ address: a, field: BALANCE, slot: '' })).toBe(`balance of ${a}`);
    expect(describeLockKey({ address: a, field: NONCE, slot: '' })).toBe(`nonce of ${a}`);
    expect(describeLockKey({ address: a, field: CODE, slot: '' })).toBe(`code of ${a}`);
    expect(describeLockKey({ address: a, field: SLOT, slot: slot(1) })).toBe(`slot ${slot(1)} of ${a}`);
  });

  describe('modes', () => {
    /** Each function as a table over S, X, C (rows: first argument). */
    const tableOf = (f: (x: LockMode, y: LockMode) => unknown) => Object.fromEntries(MODES.map((x) => [NAME[x], Object.fromEntries(MODES.map((y) => [NAME[y], f(x, y)]))]));

    it('compatibleModes: shared with shared, credit with credit, nothing else', () => {
      expect(tableOf(compatibleModes)).toEqual({
        S: { S: true, X: false, C: false },
        X: { S: false, X: false, C: false },
        C: { S: false, X: false, C: true },
      });
      expect(compatibleModes(U, U)).toBe(false);
    });

    it('joinModes: equal modes stay, any two different ones make exclusive, no mode joined with a mode is that mode', () => {
      expect(tableOf((x, y) => NAME[joinModes(x, y)])).toEqual({
        S: { S: 'S', X: 'X', C: 'X' },
        X: { S: 'X', X: 'X', C: 'X' },
        C: { S: 'X', X: 'X', C: 'C' },
      });
      for (const m of MODES) expect(joinModes(undefined, m)).toBe(m);
    });

    it('modeCovers: the same mode, or exclusive; nothing held covers nothing', () => {
      // Rows: held; columns: needed.
      expect(tableOf(modeCovers)).toEqual({
        S: { S: true, X: false, C: false },
        X: { S: true, X: true, C: true },
        C: { S: false, X: false, C: true },
      });
      for (const m of MODES) expect(modeCovers(undefined, m)).toBe(false);
    });

    it('a joined mode covers both of its parts', () => {
      for (const x of MODES) for (const y of MODES) expect([modeCovers(joinModes(x, y), x), modeCovers(joinModes(x, y), y)]).toEqual([true, true]);
    });

    it('localWriteAllowed: only under a credit holder', () => {
      expect(MODES.map(localWriteAllowed)).toEqual([false, false, true]);
    });
  });

  describe('lockKeysOf', () => {
    it('slots: written ones exclusive, read and not written shared, read and written exclusive (once); the account read is no slot', () => {
      expect(keysOf(item(a, 1, { reads: [1, 2], writes: [2, 3] }))).toEqual([
        key(1, a, SLOT, S, slot(1)),
        key(1, a, SLOT, X, slot(2)),
        key(1, a, SLOT, X, slot(3)),
      ]);
    });

    it.each([
      ['read and credited', { balanceRead: true, delta: 5n }, X],
      ['read and debited', { balanceRead: true, delta: -5n }, X],
      ['read only', { balanceRead: true }, S],
      ['credited only', { delta: 5n }, C],
      ['debited without a read flag (a debit is a read)', { delta: -5n }, X],
      ['unchanged and unread', {}, undefined],
    ] as const)('balance %s', (_what, f, mode) => {
      expect(keysOf(item(a, 1, f))).toEqual(mode === undefined ? [] : [key(1, a, BALANCE, mode)]);
    });

    it('nonce exclusive when the call changes it; code and nonce exclusive when it deploys code', () => {
      expect(keysOf(item(a, 1, { newNonce: 2 }))).toEqual([key(1, a, NONCE, X)]);
      // 0 is a nonce too (present, not absent).
      expect(keysOf(item(a, 1, { newNonce: 0 }))).toEqual([key(1, a, NONCE, X)]);
      expect(keysOf(item(a, 1, { createdCode: '0x6000', newNonce: 1, delta: 3n }))).toEqual([key(1, a, BALANCE, C), key(1, a, CODE, X), key(1, a, NONCE, X)]);
    });

    it('leaves out the sender’s item (any case), keeps everyone else’s', () => {
      const sender = item(SENDER.toUpperCase().replace('0X', '0x'), 0, { balanceRead: true, delta: -100n, reads: [1], writes: [1], newNonce: 1 });
      expect(lockKeysOf(rwSet(sender, item(a, 1, { delta: 100n })), SENDER)).toEqual([key(1, a, BALANCE, C)]);
      expect(lockKeysOf(rwSet(sender), SENDER.toUpperCase().replace('0X', '0x'))).toEqual([]);
    });

    it('lowercases addresses and slots', () => {
      const A = a.toUpperCase().replace('0X', '0x');
      const it1 = item(A, 1, { balanceRead: true });
      it1.reads.push({ slot: slot(0xab).toUpperCase().replace('0X', '0x'), value: slot(0), proof: [] });
      it1.writes.push({ slot: slot(0xcd).toUpperCase().replace('0X', '0x'), oldValue: slot(0), newValue: slot(1) });
      expect(lockKeysOf(rwSet(it1), SENDER)).toEqual([key(1, a, BALANCE, S), key(1, a, SLOT, S, slot(0xab)), key(1, a, SLOT, X, slot(0xcd))]);
    });

    it('sorts by (shard, key id), whatever the order of the RwSet', () => {
      const b = addr('bb', '02');
      const c = addr('cc', '00');
      const d = addr('0d', '01');
      const keys = lockKeysOf(rwSet(item(b, 2, { writes: [9], delta: 1n }), item(c, 0, { reads: [3, 1] }), item(a, 1, { balanceRead: true, reads: [2] }), item(d, 1, { delta: -1n, newNonce: 4 })), SENDER);
      expect(keys.map((k) => [k.shardId, lockKeyId(k), NAME[k.mode]])).toEqual([
        [0, `${c}|s|${slot(1)}`, 'S'],
        [0, `${c}|s|${slot(3)}`, 'S'],
        [1, `${d}|b`, 'X'],
        [1, `${d}|n`, 'X'],
        [1, `${a}|b`, 'S'],
        [1, `${a}|s|${slot(2)}`, 'S'],
        [2, `${b}|b`, 'C'],
        [2, `${b}|s|${slot(9)}`, 'X'],
      ]);
      const ids = keys.map((k) => `${k.shardId}/${lockKeyId(k)}`);
      expect(keys.map((k) => k.shardId)).toEqual([...keys.map((k) => k.shardId)].sort((x, y) => x - y));
      expect(new Set(ids).size).toBe(ids.length);
    });

    it('an empty RwSet, or one of the sender only, locks nothing', () => {
      expect(lockKeysOf(rwSet(), SENDER)).toEqual([]);
      expect(lockKeysOf(rwSet(item(SENDER, 0, { balanceRead: true, delta: -1n })), SENDER)).toEqual([]);
    });
  });
});
