import fc from 'fast-check';
import { compatibleModes, lockKeyId } from '@shardlab/chain';
import { ErrorCode } from '@shardlab/common';
import { LockField, LockMode } from '@shardlab/proto';
import { thrown } from '@shardlab/testing';
import { DEFAULT_SIMULATION_LOCK_TTL_MS, KeyLocks, MAX_SIMULATION_LOCK_TTL_MS, type LockWaiter } from '../src';

const { LOCK_MODE_SHARED: S, LOCK_MODE_EXCLUSIVE: X, LOCK_MODE_CREDIT: C } = LockMode;
const MODES = [S, X, C] as const;
const NAME: Record<number, string> = { [S]: 'S', [X]: 'X', [C]: 'C' };

const ADDR = '0x' + 'ab'.repeat(20);
const slot = (n: number) => lockKeyId({ address: ADDR, field: LockField.LOCK_FIELD_SLOT, slot: '0x' + n.toString(16).padStart(64, '0') });
const BAL = lockKeyId({ address: ADDR, field: LockField.LOCK_FIELD_BALANCE, slot: '' });
const K1 = slot(1);
const K2 = slot(2);
const tx = (n: number) => '0x' + n.toString(16).padStart(64, '0');
const [A, B, D, E] = [tx(0xa), tx(0xb), tx(0xd), tx(0xe)];

/** A table over a clock the test moves. */
function table(opts: { defaultTtlMs?: number; maxTtlMs?: number } = {}) {
  const clock = { ms: 1_000 };
  const locks = new KeyLocks({ now: () => clock.ms, ...opts });
  return { clock, locks };
}
const keys = (...entries: [string, LockMode][]) => new Map(entries);
const waiterOf = (r: ReturnType<KeyLocks['acquire']>): LockWaiter => {
  if ('granted' in r) throw new Error('expected the request to wait');
  return r.waiter;
};

describe('KeyLocks', () => {
  it('refuses non-positive TTLs; caps requested TTLs at the maximum', () => {
    expect(thrown(() => new KeyLocks({ maxTtlMs: 0 })).code).toBe(ErrorCode.InvalidArgument);
    expect(thrown(() => new KeyLocks({ defaultTtlMs: -1 })).code).toBe(ErrorCode.InvalidArgument);
    const { locks } = table();
    expect(locks.defaultTtlMs).toBe(DEFAULT_SIMULATION_LOCK_TTL_MS);
    expect(locks.grantedTtl()).toBe(DEFAULT_SIMULATION_LOCK_TTL_MS);
    expect(locks.grantedTtl(5)).toBe(5);
    expect(locks.grantedTtl(10 * MAX_SIMULATION_LOCK_TTL_MS)).toBe(MAX_SIMULATION_LOCK_TTL_MS);
    expect(new KeyLocks({ defaultTtlMs: 500, maxTtlMs: 200 }).defaultTtlMs).toBe(200);
  });

  describe('modes', () => {
    // held by A × asked by B: granted at once?
    const cases: [LockMode, LockMode, boolean][] = [
      [S, S, true],
      [C, C, true],
      [S, C, false],
      [C, S, false],
      [X, S, false],
      [X, X, false],
      [X, C, false],
      [S, X, false],
      [C, X, false],
    ];
    it.each(cases.map(([h, a, ok]) => [NAME[h], NAME[a], ok, h, a] as const))('%s held, %s asked: granted %s', (_h, _a, ok, held, asked) => {
      const { locks } = table();
      expect(locks.acquire(A, keys([K1, held]))).toEqual({ granted: true });
      const r = locks.acquire(B, keys([K1, asked]));
      if (ok) {
        expect(r).toEqual({ granted: true });
        expect(locks.state(K1, B, asked)).toBe('held');
        expect(locks.conflictOn(K1, asked, B)).toBeUndefined();
      } else {
        expect(r).toMatchObject({ blocker: A, waiter: { txHash: B } });
        expect(locks.state(K1, B, asked)).toBe('not held');
        expect(locks.conflictOn(K1, asked, B)).toBe(A);
        expect(locks.waiting).toBe(1);
      }
      expect(locks.state(K1, A, held)).toBe('held');
    });

    it('a request is granted all at once or not at all', () => {
      const { locks } = table();
      locks.acquire(A, keys([K2, X]));
      const r = locks.acquire(B, keys([K1, X], [K2, S], [BAL, C]));
      expect(r).toMatchObject({ blocker: A });
      expect([K1, K2, BAL].map((k) => locks.state(k, B, S))).toEqual(['not held', 'not held', 'not held']);
      expect(locks.has(B)).toBe(false);
    });

    it('one transaction may ask again: keys are added, modes joined (S then C is X)', () => {
      const { locks } = table();
      locks.acquire(A, keys([K1, S]));
      expect(locks.acquire(A, keys([K1, C], [K2, S]))).toEqual({ granted: true });
      expect(locks.list().map((l) => [l.key, l.mode, l.txHash])).toEqual([
        [K1, X, A],
        [K2, S, A],
      ]);
    });
  });

  describe('first come, first served', () => {
    it('a later request that conflicts with an earlier waiter waits, even when the holders would allow it', () => {
      const { locks } = table();
      locks.acquire(A, keys([K1, S]));
      const b = waiterOf(locks.acquire(B, keys([K1, X])));
      // D's S is compatible with A's S, but B (X) asked first.
      expect(locks.acquire(D, keys([K1, S]))).toMatchObject({ blocker: B });
      // A request on other keys goes through.
      expect(locks.acquire(E, keys([K2, X]))).toEqual({ granted: true });
      expect(locks.pump()).toEqual([]);
      locks.release(A);
      expect(locks.pump()).toEqual([b]);
      expect(locks.state(K1, B, X)).toBe('held');
      expect(locks.state(K1, D, S)).toBe('not held');
      locks.release(B);
      expect(locks.pump().map((w) => w.txHash)).toEqual([D]);
      expect(locks.waiting).toBe(0);
    });

    it('pump grants in queue order, and skips a waiter that an earlier one now blocks', () => {
      const { locks } = table();
      locks.acquire(A, keys([K1, X]));
      const b = waiterOf(locks.acquire(B, keys([K1, S])));
      const d = waiterOf(locks.acquire(D, keys([K1, X])));
      const e = waiterOf(locks.acquire(E, keys([K1, S])));
      expect([b.seq < d.seq, d.seq < e.seq]).toEqual([true, true]);
      locks.release(A);
      // B is granted; D conflicts with B (a holder now); E is compatible with B but D asked first.
      expect(locks.pump()).toEqual([b]);
      locks.release(B);
      expect(locks.pump()).toEqual([d]);
      locks.release(D);
      expect(locks.pump()).toEqual([e]);
    });

    it('pump grants compatible waiters together, in queue order', () => {
      const { locks } = table();
      locks.acquire(A, keys([K1, X], [K2, X]));
      const b = waiterOf(locks.acquire(B, keys([K1, S])));
      const d = waiterOf(locks.acquire(D, keys([K2, C])));
      const e = waiterOf(locks.acquire(E, keys([K1, S], [K2, C])));
      locks.release(A);
      expect(locks.pump()).toEqual([b, d, e]);
    });

    it('cancel removes a waiter (its wait bound passed) and says what blocks it; later requests no longer wait for it', () => {
      const { locks } = table();
      locks.acquire(A, keys([K1, S]));
      const b = waiterOf(locks.acquire(B, keys([K1, X])));
      expect(locks.acquire(D, keys([K1, S]))).toMatchObject({ blocker: B });
      expect(locks.cancel(b)).toBe(A);
      expect(locks.waiting).toBe(1);
      expect(locks.pump().map((w) => w.txHash)).toEqual([D]); // D waited only for B
      locks.release(A);
      locks.release(D);
      expect(locks.pump()).toEqual([]);
      expect(locks.has(B)).toBe(false);
      expect(locks.acquire(E, keys([K1, S]))).toEqual({ granted: true });
    });
  });

  describe('TTLs', () => {
    it('a holder expires after its TTL: it no longer blocks, and a conflicting request takes the key over', () => {
      const { clock, locks } = table();
      locks.acquire(A, keys([K1, X], [K2, S]), 100);
      expect(locks.list().map((l) => l.expiresAtMs)).toEqual([1_100, 1_100]);
      clock.ms = 1_099;
      expect(locks.state(K1, A, X)).toBe('held');
      expect(locks.conflictOn(K1, S, B)).toBe(A);
      expect(locks.blocksLocalWrite(K1)).toBe(true);
      clock.ms = 1_100;
      expect(locks.state(K1, A, X)).toBe('expired');
      expect(locks.conflictOn(K1, S, B)).toBeUndefined();
      expect(locks.blocksLocalWrite(K1)).toBe(false);
      expect(locks.acquire(B, keys([K1, S]))).toEqual({ granted: true });
      // Taken over: A no longer holds K1 (not merely expired); its other key stays, expired.
      expect(locks.state(K1, A, X)).toBe('not held');
      expect(locks.state(K2, A, S)).toBe('expired');
      expect(locks.list().map((l) => [l.key, l.txHash])).toEqual([
        [K1, B],
        [K2, A],
      ]);
      expect(locks.has(A)).toBe(true);
    });

    it('a waiter is granted once the holder it waits for has expired', () => {
      const { clock, locks } = table();
      locks.acquire(A, keys([K1, X]), 100);
      const b = waiterOf(locks.acquire(B, keys([K1, X]), 50));
      clock.ms += 99;
      expect(locks.pump()).toEqual([]);
      clock.ms += 1;
      expect(locks.pump()).toEqual([b]);
      // The waiter's TTL counts from its grant.
      expect(locks.list()).toEqual([{ key: K1, mode: X, txHash: B, expiresAtMs: clock.ms + 50 }]);
    });

    it('a takeover of an expired holder is a real lock: a third conflicting request waits for the new holder', () => {
      const { clock, locks } = table();
      locks.acquire(A, keys([K1, X]), 100);
      clock.ms += 100;
      expect(locks.acquire(B, keys([K1, X]))).toEqual({ granted: true });
      expect(locks.acquire(D, keys([K1, X]))).toMatchObject({ blocker: B });
    });

    it('asking again extends the TTL; the default and the cap apply', () => {
      const { clock, locks } = table({ defaultTtlMs: 300, maxTtlMs: 1_000 });
      locks.acquire(A, keys([K1, S]));
      expect(locks.list()[0]!.expiresAtMs).toBe(1_300);
      clock.ms = 1_200;
      locks.acquire(A, keys([K1, S]), 5_000);
      expect(locks.list()[0]!.expiresAtMs).toBe(2_200);
      // A shorter TTL never shortens the lock.
      locks.acquire(A, keys([K1, S]), 10);
      expect(locks.list()[0]!.expiresAtMs).toBe(2_200);
    });

    it('a pin (the prepare) keeps the locks past any TTL, with keys added, until released', () => {
      const { clock, locks } = table();
      locks.acquire(A, keys([K1, S]), 100);
      locks.pin(A, keys([K2, X]));
      expect(locks.pinned(A)).toBe(true);
      expect(locks.pinned(B)).toBe(false);
      clock.ms += 10 * MAX_SIMULATION_LOCK_TTL_MS;
      expect(locks.state(K1, A, S)).toBe('held');
      expect(locks.state(K2, A, X)).toBe('held');
      expect(locks.list().map((l) => l.expiresAtMs)).toEqual([Infinity, Infinity]);
      const b = waiterOf(locks.acquire(B, keys([K2, S])));
      expect(locks.sweep(0)).toBe(0);
      expect(locks.pump()).toEqual([]);
      expect(locks.release(A)).toBe(2);
      expect(locks.pinned(A)).toBe(false);
      expect(locks.pump()).toEqual([b]);
    });

    it('asking again after a pin does not unpin', () => {
      const { clock, locks } = table();
      locks.acquire(A, keys([K1, S]), 100);
      locks.pin(A, new Map());
      locks.acquire(A, keys([K2, S]), 100);
      clock.ms += 1_000;
      expect(locks.state(K2, A, S)).toBe('held');
    });

    it('sweep forgets transactions whose locks expired more than the grace ago (default the maximum TTL)', () => {
      const { clock, locks } = table();
      locks.acquire(A, keys([K1, S]), 100);
      locks.acquire(B, keys([K2, S]), 1_000);
      clock.ms = 1_100 + 49;
      expect(locks.sweep(50)).toBe(0);
      clock.ms = 1_100 + 50;
      expect(locks.sweep(50)).toBe(1);
      expect(locks.has(A)).toBe(false);
      expect(locks.has(B)).toBe(true);
      expect(locks.size).toBe(1);
      clock.ms = 2_000 + MAX_SIMULATION_LOCK_TTL_MS - 1;
      expect(locks.sweep()).toBe(0);
      clock.ms += 1;
      expect(locks.sweep()).toBe(1);
      expect(locks.list()).toEqual([]);
    });
  });

  it('state: held, expired or not held, in a mode covering the one asked (exclusive covers all)', () => {
    const { clock, locks } = table();
    locks.acquire(A, keys([K1, X], [K2, S], [BAL, C]), 100);
    expect(MODES.map((m) => locks.state(K1, A, m))).toEqual(['held', 'held', 'held']);
    expect(MODES.map((m) => locks.state(K2, A, m))).toEqual(['held', 'not held', 'not held']);
    expect(MODES.map((m) => locks.state(BAL, A, m))).toEqual(['not held', 'not held', 'held']);
    expect(locks.state(K1, B, S)).toBe('not held');
    expect(locks.state(slot(9), A, S)).toBe('not held');
    clock.ms += 100;
    expect(MODES.map((m) => locks.state(K1, A, m))).toEqual(['expired', 'expired', 'expired']);
    expect(locks.state(K2, A, X)).toBe('not held');
    // A time may be given.
    expect(locks.state(K1, A, X, clock.ms - 1)).toBe('held');
  });

  it('keys wanted by local transactions hold back new shared and exclusive grants (not credits) until the next block', () => {
    const { locks } = table();
    locks.setLocalWanted(new Set([K1, BAL]));
    expect(locks.acquire(A, keys([K1, S]))).toMatchObject({ blocker: 'a local transaction' });
    expect(locks.acquire(B, keys([K2, X], [BAL, X]))).toMatchObject({ blocker: 'a local transaction' });
    expect(locks.acquire(D, keys([K2, C]))).toMatchObject({ blocker: B }); // FCFS behind B on K2
    const e = locks.acquire(E, keys([slot(7), X]));
    expect(e).toEqual({ granted: true });
    expect(locks.pump()).toEqual([]);
    locks.setLocalWanted(new Set());
    expect(locks.pump().map((w) => w.txHash)).toEqual([A, B]);
    // A credit is never held back by a local transaction's want.
    const fresh = table().locks;
    fresh.setLocalWanted(new Set([BAL]));
    expect(fresh.acquire(A, keys([BAL, C]))).toEqual({ granted: true });
  });

  it('blocksLocalWrite: shared and exclusive holders make a local write wait, credit holders do not', () => {
    const { clock, locks } = table();
    expect(locks.blocksLocalWrite(K1)).toBe(false);
    locks.acquire(A, keys([K1, S], [K2, X]), 100);
    locks.acquire(B, keys([BAL, C]), 1_000);
    locks.acquire(D, keys([BAL, C]), 1_000);
    expect([K1, K2, BAL].map((k) => locks.blocksLocalWrite(k))).toEqual([true, true, false]);
    clock.ms += 100; // A expired
    expect([K1, K2, BAL].map((k) => locks.blocksLocalWrite(k))).toEqual([false, false, false]);
  });

  it('release frees every key of a transaction, expired or not, and reports how many', () => {
    const { clock, locks } = table();
    locks.acquire(A, keys([K1, S], [K2, X]), 100);
    clock.ms += 500;
    expect(locks.has(A)).toBe(true);
    expect(locks.release(A)).toBe(2);
    expect(locks.release(A)).toBe(0);
    expect(locks.has(A)).toBe(false);
    expect(locks.list()).toEqual([]);
    expect(locks.size).toBe(0);
  });

  describe('safety (property)', () => {
    const TXS = [A, B, D, E];
    const KEYS = [K1, K2, BAL];
    const modeArb = fc.constantFrom(S, X, C);
    const opArb = fc.oneof(
      fc.record({
        op: fc.constant('acquire' as const),
        tx: fc.nat(TXS.length - 1),
        keys: fc.uniqueArray(fc.tuple(fc.nat(KEYS.length - 1), modeArb), { minLength: 1, maxLength: 3, selector: ([k]) => k }),
        ttl: fc.option(fc.integer({ min: 1, max: 300 }), { nil: undefined }),
      }),
      fc.record({ op: fc.constant('release' as const), tx: fc.nat(TXS.length - 1) }),
      fc.record({ op: fc.constant('pump' as const) }),
      fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 200 }) }),
      fc.record({ op: fc.constant('cancel' as const), index: fc.nat(10) }),
      fc.record({ op: fc.constant('localWanted' as const), keys: fc.subarray([0, 1, 2]) }),
      fc.record({ op: fc.constant('sweep' as const), grace: fc.integer({ min: 0, max: 300 }) }),
    );

    it('after any sequence of operations, no two live holders of a key have incompatible modes; what is granted is held', () => {
      fc.assert(
        fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
          const { clock, locks } = table({ defaultTtlMs: 100, maxTtlMs: 250 });
          const waiters: LockWaiter[] = [];
          const expectHeld = (txHash: string, ks: ReadonlyMap<string, LockMode>) => {
            for (const [k, m] of ks) expect(locks.state(k, txHash, m)).toBe('held');
          };
          for (const o of ops) {
            switch (o.op) {
              case 'acquire': {
                const ks = new Map(o.keys.map(([k, m]) => [KEYS[k]!, m] as const));
                const r = locks.acquire(TXS[o.tx]!, ks, o.ttl);
                if ('granted' in r) expectHeld(TXS[o.tx]!, ks);
                else waiters.push(r.waiter);
                break;
              }
              case 'release':
                locks.release(TXS[o.tx]!);
                break;
              case 'pump':
                for (const w of locks.pump()) {
                  expectHeld(w.txHash, w.keys);
                  waiters.splice(waiters.indexOf(w), 1);
                }
                break;
              case 'advance':
                clock.ms += o.ms;
                break;
              case 'cancel': {
                const w = waiters[o.index % Math.max(1, waiters.length)];
                if (w) {
                  locks.cancel(w);
                  waiters.splice(waiters.indexOf(w), 1);
                }
                break;
              }
              case 'localWanted':
                locks.setLocalWanted(new Set(o.keys.map((k) => KEYS[k]!)));
                break;
              case 'sweep':
                locks.sweep(o.grace);
                break;
            }
            expect(locks.waiting).toBe(waiters.length);
            const live = locks.list().filter((l) => clock.ms < l.expiresAtMs);
            for (const a of live) {
              for (const b of live) {
                if (a.key === b.key && a.txHash !== b.txHash && !compatibleModes(a.mode, b.mode)) {
                  throw new Error(`${a.key}: ${a.txHash} holds ${NAME[a.mode]} and ${b.txHash} holds ${NAME[b.mode]}, both live at ${clock.ms}`);
                }
              }
              // Each live holder is seen as such, and nobody else conflicts with it.
              expect(locks.state(a.key, a.txHash, a.mode)).toBe('held');
              expect(locks.conflictOn(a.key, a.mode, a.txHash)).toBeUndefined();
            }
          }
        }),
        { numRuns: 300 },
      );
    });
  });
});
