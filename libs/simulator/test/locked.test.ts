import { createChainCommon, decodeTransaction, devAccounts, lockKeyId, lockKeysOf, modeCovers, signTransaction, type DevAccount } from '@shardlab/chain';
import { ErrorCode, ShardLabError, errors } from '@shardlab/common';
import { LockField, LockMode, ReasonCode, type LockKey, type RwSet } from '@shardlab/proto';
import { DEFAULT_LOCK_TTL_MS, DEFAULT_LOCK_WAIT_MS, lockHolderOf, lockedFailure, simulate, simulateWithLocks, type LockClient, type LockedSimulateOpts, type StateSource } from '../src';
import { COUNTER_CODE, FakeWorld, addressOn, callerCode, revertingCode, slotOf, type AccountSpec, type LockCall } from './helpers';

const common = createChainCommon({ chainId: 1337 });
const SHARDS = 3;
const NOW = 1_700_000_000_000;
const ETHER = 10n ** 18n;
const OTHER = '0x' + '0e'.repeat(32);

/** Runtime: SSTORE(1, SLOAD(SLOAD(0))): follows the pointer in slot 0 and copies what it points to into slot 1. */
const POINTER_CODE = '0x' + '6000' + '54' + '54' + '6001' + '55' + '00';
/** Runtime: v = SLOAD(0); REVERT(0, 0) when v is 0, else SSTORE(0, v + 1). */
const GATE_CODE = '0x' + '6000' + '54' + '80' + '600c' + '57' + '6000' + '6000' + 'fd' + '5b' + '6001' + '01' + '6000' + '55' + '00';

type Acquire = Extract<LockCall, { op: 'acquire' }>;

/** Keys as the simulator asks a shard for them (without the shard id). */
const strip = (keys: (LockKey & { shardId: number })[]): LockKey[] => keys.map(({ shardId: _, ...k }) => k);
/** Keys sorted by key id (the order inside one shard's request is not part of the contract). */
const byId = (keys: readonly LockKey[]): LockKey[] => [...keys].sort((a, b) => (lockKeyId(a) < lockKeyId(b) ? -1 : 1));
const slotKey = (address: string, n: number, mode: LockMode): LockKey => ({ address, field: LockField.LOCK_FIELD_SLOT, slot: slotOf(n), mode });
const slotKeys = (keys: readonly LockKey[]) => byId(keys.filter((k) => k.field === LockField.LOCK_FIELD_SLOT));

describe('simulateWithLocks (reconnaissance, ordered acquisition, run under locks)', () => {
  let world: FakeWorld;
  let alice: DevAccount;
  let poor: DevAccount;
  // Placed so that a call from alice (shard 0) to `caller` (shard 2) reaches `counter` (shard 1):
  // the keys are asked of shard 1 before shard 2, against the order of the RwSet.
  const counter = addressOn(1, SHARDS, 'c1');
  const caller = addressOn(2, SHARDS, 'ca');
  const reverter = addressOn(1, SHARDS, 'dd');
  const pointerB = addressOn(1, SHARDS, 'b1');
  const pointerF = addressOn(1, SHARDS, 'f1');
  const gateD = addressOn(1, SHARDS, 'd1');
  const gateE = addressOn(1, SHARDS, 'e1');

  beforeAll(async () => {
    world = new FakeWorld(common, SHARDS);
    alice = devAccounts().find((d) => world.shardOf(d.address) === 0)!;
    poor = devAccounts().find((d) => d.address !== alice.address && world.shardOf(d.address) === 0)!;
    await world.produce({
      [alice.address]: { balance: 100n * ETHER },
      [counter]: { code: COUNTER_CODE, storage: { [slotOf(0)]: '0x05' } },
      [caller]: { code: callerCode(counter, 0) },
      [reverter]: { code: revertingCode('closed') },
    });
  });
  afterEach(() => world.shards.forEach((s) => s.clearLocks()));

  const opts = (extra: Partial<LockedSimulateOpts> = {}): LockedSimulateOpts => ({ common, now: () => NOW, ...extra });
  const sign = (to: string, extra: { value?: bigint; from?: DevAccount } = {}) =>
    signTransaction(common, extra.from ?? alice, { to, nonce: 0n, gasLimit: 200_000n, ...(extra.value !== undefined ? { value: extra.value } : {}) });
  const hashOf = (raw: Uint8Array) => decodeTransaction(raw, common).hash;
  /** Puts `address` (runtime `code`) with exactly `storage` (slot number → value) into a new block. */
  const put = (address: string, code: string, storage: Record<number, bigint>) =>
    world.produce({ [address]: { code, storage: Object.fromEntries(Object.entries(storage).map(([k, v]) => [slotOf(Number(k)), '0x' + v.toString(16)])) } satisfies AccountSpec });
  /** What every shard's table holds for `txHash`: shard → key id → mode (empty shards left out). */
  const held = (txHash: string) => new Map(world.shards.map((s) => [s.shardId, s.heldBy(txHash)] as const).filter(([, m]) => m.size > 0));
  const heldMap = (keys: readonly (LockKey & { shardId: number })[]) => {
    const out = new Map<number, Map<string, LockMode>>();
    for (const k of keys) {
      let m = out.get(k.shardId);
      if (!m) out.set(k.shardId, (m = new Map()));
      m.set(lockKeyId(k), k.mode);
    }
    return out;
  };
  /** The RwSet the transaction has over the current state, without locks. */
  const rwSetNow = async (raw: Uint8Array): Promise<RwSet> => {
    const res = await simulate(raw, world.source(), opts());
    expect(res.success).toBe(true);
    return res.rwSet!;
  };

  it('(a) acquires exactly lockKeysOf(its RwSet), in ascending shard order, one request per shard, and keeps the locks on success', async () => {
    const raw = sign(caller, { value: 1000n });
    const hash = hashOf(raw);
    const locks = world.lockClient();
    const res = await simulateWithLocks(raw, () => world.source(), locks, opts());
    expect(res.success).toBe(true);
    // The answer is the run under locks': the same as a plain simulation of the same state.
    expect(res).toEqual(await simulate(raw, world.source(), opts()));

    const keys = lockKeysOf(res.rwSet!, alice.address);
    // The RwSet lists the caller (shard 2) before the counter (shard 1); the sender (shard 0) has no keys.
    expect(res.rwSet!.addresses.map((a) => a.shardId)).toEqual([0, 2, 1]);
    expect([...new Set(keys.map((k) => k.shardId))]).toEqual([1, 2]);
    expect(locks.calls).toEqual(
      [1, 2].map((shardId) => ({ op: 'acquire', shardId, txHash: hash, keys: strip(keys.filter((k) => k.shardId === shardId)), ttlMs: DEFAULT_LOCK_TTL_MS, waitMs: DEFAULT_LOCK_WAIT_MS })),
    );
    // Slot granularity: the counter's slot 0 read (shared), slot 1 written (exclusive); the caller's slot 5 written.
    expect(slotKeys(locks.acquisitions[0]!.keys)).toEqual([slotKey(counter, 0, LockMode.LOCK_MODE_SHARED), slotKey(counter, 1, LockMode.LOCK_MODE_EXCLUSIVE)]);
    expect(slotKeys(locks.acquisitions[1]!.keys)).toEqual([slotKey(caller, 5, LockMode.LOCK_MODE_EXCLUSIVE)]);
    expect(held(hash)).toEqual(heldMap(keys));
  });

  it('answers with the reconnaissance when the shards’ values of every locked key equal what it read: one run only', async () => {
    const raw = sign(caller, { value: 1000n });
    const locks = world.lockClient();
    locks.valuesOnGrant = true;
    let sources = 0;
    const res = await simulateWithLocks(raw, () => (sources++, world.source()), locks, opts());
    expect(res.success).toBe(true);
    expect(sources).toBe(1);
    expect(res).toEqual(await simulate(raw, world.source(), opts()));
    expect(locks.acquisitions.map((c) => c.shardId)).toEqual([1, 2]);
  });

  it('runs again under the locks when a value the reconnaissance read changed before the grant, and answers the new state', async () => {
    await put(pointerB, POINTER_CODE, { 0: 2n, 2: 0x2an, 3: 0x2bn });
    const raw = sign(pointerB);
    const locks = world.lockClient();
    locks.valuesOnGrant = true;
    // A commit lands between the reconnaissance and the grant: the pointer now names slot 3.
    locks.beforeAcquire = async (_call, index) => {
      if (index === 0) await put(pointerB, POINTER_CODE, { 0: 3n, 2: 0x2an, 3: 0x2bn });
    };
    let sources = 0;
    const res = await simulateWithLocks(raw, () => (sources++, world.source()), locks, opts());
    expect(res.success).toBe(true);
    expect(sources).toBeGreaterThan(1);
    expect(res).toEqual(await simulate(raw, world.source(), opts()));
  });

  it('passes its TTL and wait bound to every request', async () => {
    const locks = world.lockClient();
    const res = await simulateWithLocks(sign(caller), () => world.source(), locks, opts({ lockTtlMs: 3_000, lockWaitMs: 250 }));
    expect(res.success).toBe(true);
    expect(locks.acquisitions.map((c) => [c.shardId, c.ttlMs, c.waitMs])).toEqual([
      [1, 3_000, 250],
      [2, 3_000, 250],
    ]);
  });

  it('is not blocked by other transactions’ locks on other slots of the same contract, or on the same slot shared', async () => {
    world.shards[1]!.hold(OTHER, { address: counter, field: LockField.LOCK_FIELD_SLOT, slot: slotOf(7) }, LockMode.LOCK_MODE_EXCLUSIVE);
    world.shards[1]!.hold(OTHER, { address: counter, field: LockField.LOCK_FIELD_SLOT, slot: slotOf(0) }, LockMode.LOCK_MODE_SHARED);
    const raw = sign(counter);
    const locks = world.lockClient();
    const res = await simulateWithLocks(raw, () => world.source(), locks, opts());
    expect(res.success).toBe(true);
    expect(locks.releases).toEqual([]);
    expect(world.shards[1]!.heldBy(hashOf(raw)).get(lockKeyId(slotKey(counter, 0, LockMode.LOCK_MODE_SHARED)))).toBe(LockMode.LOCK_MODE_SHARED);
  });

  it('(b) when the run under locks needs keys the reconnaissance did not predict: releases everything, acquires the union, then succeeds', async () => {
    await put(pointerB, POINTER_CODE, { 0: 2n, 2: 0x2an, 3: 0x2bn });
    const raw = sign(pointerB);
    const hash = hashOf(raw);
    const reconKeys = lockKeysOf(await rwSetNow(raw), alice.address);
    const locks = world.lockClient();
    // A commit lands between the reconnaissance and the grant: the pointer now names slot 3.
    locks.beforeAcquire = async (_call, index) => {
      if (index === 0) await put(pointerB, POINTER_CODE, { 0: 3n, 2: 0x2an, 3: 0x2bn });
    };
    const conflicts: { attempt: number; holder: string | undefined; message: string }[] = [];
    const res = await simulateWithLocks(raw, () => world.source(), locks, opts({ onConflict: (c) => conflicts.push(c) }));

    expect(res.success).toBe(true);
    const item = res.rwSet!.addresses.find((a) => a.address === pointerB)!;
    expect(item.writes.map((w) => [w.slot, BigInt(w.newValue)])).toEqual([[slotOf(1), 0x2bn]]);
    expect(locks.calls.map((c) => [c.op, c.shardId])).toEqual([
      ['acquire', 1],
      ['release', 1],
      ['acquire', 1],
    ]);
    const [first, second] = locks.acquisitions as [Acquire, Acquire];
    expect(first.keys).toEqual(strip(reconKeys));
    expect(slotKeys(first.keys)).toEqual([slotKey(pointerB, 0, LockMode.LOCK_MODE_SHARED), slotKey(pointerB, 1, LockMode.LOCK_MODE_EXCLUSIVE), slotKey(pointerB, 2, LockMode.LOCK_MODE_SHARED)]);
    // The union: what the reconnaissance predicted plus what the run under locks needed.
    const needed = lockKeysOf(res.rwSet!, alice.address);
    const union = new Map([...strip(reconKeys), ...strip(needed)].map((k) => [lockKeyId(k), k] as const));
    expect(byId(second.keys)).toEqual(byId([...union.values()]));
    expect(slotKeys(second.keys)).toEqual([...slotKeys(first.keys), slotKey(pointerB, 3, LockMode.LOCK_MODE_SHARED)]);
    expect(held(hash)).toEqual(new Map([[1, new Map(second.keys.map((k) => [lockKeyId(k), k.mode]))]]));
    expect(conflicts).toEqual([{ attempt: 1, holder: undefined, message: expect.stringContaining(`${pointerB}|s|${slotOf(3)}`), backoffMs: 0 }]);
  });

  it('(c) when a wait bound passes (ABORTED naming the holder): answers `state locked by another transaction (0x<holder>)` and releases what it held', async () => {
    // Shard 1 grants; shard 2 (asked second) has the caller's slot 5 held by another transaction.
    world.shards[2]!.hold(OTHER, { address: caller, field: LockField.LOCK_FIELD_SLOT, slot: slotOf(5) }, LockMode.LOCK_MODE_EXCLUSIVE);
    const raw = sign(caller);
    const hash = hashOf(raw);
    const locks = world.lockClient();
    const conflicts: { attempt: number; holder: string | undefined }[] = [];
    const res = await simulateWithLocks(raw, () => world.source(), locks, opts({ onConflict: (c) => conflicts.push({ attempt: c.attempt, holder: c.holder }) }));

    expect(res).toEqual({
      success: false,
      error: `state locked by another transaction (${OTHER})`,
      cause: expect.objectContaining({ code: ReasonCode.REASON_CODE_STATE_LOCKED, transaction: OTHER }),
      rwSet: undefined,
    });
    expect(conflicts).toEqual([{ attempt: 1, holder: OTHER }]);
    expect(locks.acquisitions.map((c) => c.shardId)).toEqual([1, 2]);
    expect(world.shards[1]!.lockRequests).toHaveLength(1);
    // Shard 1's keys were granted, then released; nothing of the transaction is left anywhere.
    expect(locks.releases.map((c) => c.shardId)).toContain(1);
    expect(held(hash)).toEqual(new Map());
    expect(world.shards[2]!.heldBy(OTHER).size).toBe(1);
  });

  it('answers `state kept changing while simulating: …` when a wait bound passes without a named holder', async () => {
    const raw = sign(counter);
    const inner = world.lockClient();
    const message = `balance of ${counter} is wanted by a local transaction (waited 5000 ms)`;
    const locks: LockClient = {
      acquire: async () => Promise.reject(errors.aborted(message)),
      release: (s, h) => inner.release(s, h),
      senderReady: (s) => inner.senderReady(s),
    };
    const res = await simulateWithLocks(raw, () => world.source(), locks, opts());
    expect(res).toEqual({ success: false, error: `state kept changing while simulating: ${message}`, cause: expect.objectContaining({ code: ReasonCode.REASON_CODE_STATE_LOCKED }), rwSet: undefined });
    expect(inner.releases.map((c) => c.shardId)).toEqual([1]);
  });

  it('(d) a run under locks that reverts releases its locks', async () => {
    await put(gateD, GATE_CODE, { 0: 1n });
    const raw = sign(gateD);
    const hash = hashOf(raw);
    const reconKeys = lockKeysOf(await rwSetNow(raw), alice.address);
    const locks = world.lockClient();
    // Between the reconnaissance (it succeeded) and the grant, the gate closes.
    locks.beforeAcquire = async (_call, index) => {
      if (index === 0) await put(gateD, GATE_CODE, { 0: 0n });
    };
    const res = await simulateWithLocks(raw, () => world.source(), locks, opts());
    expect(res).toEqual({ success: false, error: 'execution reverted', cause: expect.objectContaining({ code: ReasonCode.REASON_CODE_REVERTED }), rwSet: undefined });
    expect(locks.calls).toEqual([
      { op: 'acquire', shardId: 1, txHash: hash, keys: strip(reconKeys), ttlMs: DEFAULT_LOCK_TTL_MS, waitMs: DEFAULT_LOCK_WAIT_MS },
      { op: 'release', shardId: 1, txHash: hash },
    ]);
    expect(held(hash)).toEqual(new Map());
  });

  it('(e) a reconnaissance that reverts (torn state) still acquires the keys it fetched, and the run under locks decides', async () => {
    // Slot 9 keeps the gate's storage non-empty, so that slot 0 is fetched (with a proof) when read.
    await put(gateE, GATE_CODE, { 0: 0n, 9: 1n });
    const raw = sign(gateE);
    const hash = hashOf(raw);
    expect((await simulate(raw, world.source(), opts())).error).toBe('execution reverted');
    const locks = world.lockClient();
    // The commit that opens the gate lands after the reconnaissance read it.
    locks.beforeAcquire = async (_call, index) => {
      if (index === 0) await put(gateE, GATE_CODE, { 0: 5n, 9: 1n });
    };
    const res = await simulateWithLocks(raw, () => world.source(), locks, opts());
    expect(res.success).toBe(true);
    expect(res.rwSet!.addresses.find((a) => a.address === gateE)!.writes.map((w) => [w.slot, BigInt(w.oldValue), BigInt(w.newValue)])).toEqual([[slotOf(0), 5n, 6n]]);
    // What the reverted reconnaissance fetched (the sender's account excepted): the gate's balance
    // shared, its slot 0 exclusive (a failed run says nothing of what it would write).
    expect(locks.calls).toEqual([
      {
        op: 'acquire',
        shardId: 1,
        txHash: hash,
        keys: [{ address: gateE, field: LockField.LOCK_FIELD_BALANCE, slot: '', mode: LockMode.LOCK_MODE_SHARED }, slotKey(gateE, 0, LockMode.LOCK_MODE_EXCLUSIVE)],
        ttlMs: DEFAULT_LOCK_TTL_MS,
        waitMs: DEFAULT_LOCK_WAIT_MS,
      },
    ]);
    // Its keys cover what the run under locks needed; they stay held.
    for (const k of lockKeysOf(res.rwSet!, alice.address)) expect(modeCovers(world.shards[1]!.heldBy(hash).get(lockKeyId(k)), k.mode)).toBe(true);
    expect(held(hash).get(1)?.size).toBe(2);
  });

  // A slot of an account without storage is zero by the account proof alone and never fetched:
  // the run's own record of what it read must still lock it.
  it('a reverted reconnaissance also locks the slots it read of an account without storage', async () => {
    const gate = addressOn(1, SHARDS, '9a');
    await put(gate, GATE_CODE, {}); // slot 0 is zero: the gate is closed, its storage empty
    const raw = sign(gate);
    const locks = world.lockClient();
    const res = await simulateWithLocks(raw, () => world.source(), locks, opts());
    expect(res.error).toBe('execution reverted');
    // The revert was decided on slot 0 of the gate: it must have been held.
    expect(locks.acquisitions.flatMap((c) => slotKeys(c.keys))).toContainEqual(slotKey(gate, 0, LockMode.LOCK_MODE_EXCLUSIVE));
  });

  it('(f) gives up after lockAttempts misses with `state kept changing while simulating`, holding nothing', async () => {
    await put(pointerF, POINTER_CODE, { 0: 2n });
    const raw = sign(pointerF);
    const hash = hashOf(raw);
    const locks = world.lockClient();
    // Every grant comes after yet another commit that moves the pointer (to slots 3, 4, 5).
    locks.beforeAcquire = async (_call, index) => {
      await put(pointerF, POINTER_CODE, { 0: BigInt(3 + index) });
    };
    const conflicts: number[] = [];
    const res = await simulateWithLocks(raw, () => world.source(), locks, opts({ lockAttempts: 3, onConflict: (c) => conflicts.push(c.attempt) }));
    expect(res).toEqual({
      success: false,
      error: expect.stringMatching(/^state kept changing while simulating: the run under locks needed 1 key\(s\) the previous run did not/),
      cause: expect.objectContaining({ code: ReasonCode.REASON_CODE_STATE_LOCKED }),
      rwSet: undefined,
    });
    expect(res.error).toContain(`${pointerF}|s|${slotOf(5)}`);
    expect(conflicts).toEqual([1, 2, 3]);
    expect(locks.calls.map((c) => c.op)).toEqual(['acquire', 'release', 'acquire', 'release', 'acquire', 'release']);
    // Each attempt asks for what every earlier run needed.
    expect(locks.acquisitions.map((c) => slotKeys(c.keys).map((k) => Number(BigInt(k.slot))))).toEqual([
      [0, 1, 2],
      [0, 1, 2, 3],
      [0, 1, 2, 3, 4],
    ]);
    expect(held(hash)).toEqual(new Map());
  });

  it('refuses a malformed transaction before any run or lock, and answers a refused transaction (cannot pay) without locks', async () => {
    const locks = world.lockClient();
    let sources = 0;
    const sourceFor = (): StateSource => {
      sources++;
      return world.source();
    };
    await expect(simulateWithLocks(new Uint8Array([1, 2, 3]), sourceFor, locks, opts())).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
    expect(sources).toBe(0);

    const res = await simulateWithLocks(sign(counter, { from: poor }), sourceFor, locks, opts());
    expect(res.success).toBe(false);
    expect(res.error).toMatch(/^transaction refused: /);
    expect(sources).toBe(1);
    expect(locks.calls).toEqual([]);
  });

  it('releases its locks when the source fails during the run under locks (UNAVAILABLE), and throws', async () => {
    const raw = sign(caller);
    const locks = world.lockClient();
    let runs = 0;
    const sourceFor = (): StateSource => {
      const s = world.source();
      if (++runs === 1) return s;
      return { getAccount: (a, slots) => s.getAccount(a, slots), getCode: async () => Promise.reject(errors.unavailable('shard 2 unavailable: not reachable', { shardId: 2 })) };
    };
    const err = await simulateWithLocks(raw, sourceFor, locks, opts()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShardLabError);
    expect((err as ShardLabError).code).toBe(ErrorCode.Unavailable);
    expect(locks.acquisitions.map((c) => c.shardId)).toEqual([1, 2]);
    expect(locks.releases.map((c) => c.shardId).sort()).toEqual([1, 2]);
    expect(held(hashOf(raw))).toEqual(new Map());
  });

  it('releases what it holds when a shard cannot be reached for a lock (UNAVAILABLE), and throws', async () => {
    const raw = sign(caller);
    const inner = world.lockClient();
    const locks: LockClient = {
      acquire: async (shardId, txHash, keys, ttlMs, waitMs) => {
        if (shardId === 2) throw errors.unavailable('shard 2 unavailable: connection refused', { shardId });
        return inner.acquire(shardId, txHash, keys, ttlMs, waitMs);
      },
      release: (s, h) => inner.release(s, h),
      senderReady: (s) => inner.senderReady(s),
    };
    await expect(simulateWithLocks(raw, () => world.source(), locks, opts())).rejects.toMatchObject({ code: ErrorCode.Unavailable });
    expect(inner.acquisitions.map((c) => c.shardId)).toEqual([1]);
    expect(inner.releases.map((c) => c.shardId)).toContain(1);
    expect(held(hashOf(raw))).toEqual(new Map());
  });

  it('takes no lock once the call is cancelled', async () => {
    const raw = sign(caller);
    const locks = world.lockClient();
    const ac = new AbortController();
    ac.abort();
    await expect(simulateWithLocks(raw, () => world.source(), locks, opts({ signal: ac.signal }))).rejects.toThrow(/cancelled/);
    expect(locks.acquisitions).toEqual([]);
    expect(held(hashOf(raw))).toEqual(new Map());
  });

  it('reads the holder from a shard’s message; words the failures', () => {
    expect(lockHolderOf(`shard 1: slot ${slotOf(0)} of ${counter} is locked by transaction ${OTHER.toUpperCase().replace('0X', '0x')} (waited 5000 ms)`)).toBe(OTHER);
    expect(lockHolderOf(`balance of ${counter} is wanted by a local transaction (waited 5000 ms)`)).toBeUndefined();
    expect(lockedFailure(OTHER, 'x')).toBe(`state locked by another transaction (${OTHER})`);
    expect(lockedFailure(undefined, 'shard 1: stale')).toBe('state kept changing while simulating: shard 1: stale');
  });
});
