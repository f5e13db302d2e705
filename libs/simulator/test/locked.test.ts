import { ReasonCode } from '@shardlab/proto';
import { createChainCommon, decodeTransaction, devAccounts, signTransaction, type DevAccount } from '@shardlab/chain';
import { ErrorCode, ShardLabError, errors } from '@shardlab/common';
import { DEFAULT_LOCK_TTL_MS, MAX_LOCK_BACKOFF_MS, defaultLockBackoff, lockHolderOf, lockedFailure, simulateWithLocks, type SimulationLockSpec, type StateSource } from '../src';
import { COUNTER_CODE, CountingSource, FakeWorld, addressOn, revertingCode, slotOf } from './helpers';

const common = createChainCommon({ chainId: 1337 });
const SHARDS = 2;
const ETHER = 10n ** 18n;

describe('simulateWithLocks (all-or-nothing with retry)', () => {
  let world: FakeWorld;
  let alice: DevAccount;
  const counter = addressOn(1, SHARDS, 'c1');
  const reverter = addressOn(1, SHARDS, 'dd');
  const OTHER = '0x' + '0e'.repeat(32);

  beforeAll(async () => {
    world = new FakeWorld(common, SHARDS);
    alice = devAccounts().find((d) => world.shardOf(d.address) === 0)!;
    await world.produce({
      [alice.address]: { balance: 100n * ETHER },
      [counter]: { code: COUNTER_CODE, storage: { [slotOf(0)]: '0x05' } },
      [reverter]: { code: revertingCode('closed') },
    });
  });
  afterEach(() => world.shards.forEach((s) => s.clearLocks()));

  /** A fake clock moved only by `sleep`, and the sources handed out, by attempt. */
  function harness() {
    const clock = { ms: 0 };
    const sleeps: number[] = [];
    const sources: CountingSource[] = [];
    const locks: SimulationLockSpec[] = [];
    const sourceFor = (lock: SimulationLockSpec): StateSource => {
      locks.push(lock);
      const s = world.lockingSource(lock);
      sources.push(s);
      return s;
    };
    const opts = {
      common,
      clock: () => clock.ms,
      sleep: async (ms: number) => {
        sleeps.push(ms);
        clock.ms += ms;
      },
      backoffMs: (attempt: number) => 10 * attempt,
    };
    return { clock, sleeps, sources, locks, sourceFor, opts };
  }

  const callCounter = (nonce = 0n) => signTransaction(common, alice, { to: counter, nonce, gasLimit: 100_000n });

  it('locks every read but the sender’s with the tx hash and TTL, and keeps the locks on success', async () => {
    const h = harness();
    const raw = callCounter();
    const res = await simulateWithLocks(raw, h.sourceFor, h.opts);
    expect(res.success).toBe(true);
    const hash = decodeTransaction(raw, common).hash;
    expect(h.locks).toEqual([{ txHash: hash, ttlMs: DEFAULT_LOCK_TTL_MS, unlocked: [alice.address] }]);
    expect(world.shards[0]!.lockRequests).toEqual([]);
    // The account, then its slots (each GetProof asks again: the same transaction extends its lock).
    expect(world.shards[1]!.lockRequests.length).toBeGreaterThanOrEqual(1);
    expect(new Set(world.shards[1]!.lockRequests.map((r) => JSON.stringify(r)))).toEqual(new Set([JSON.stringify({ address: counter, txHash: hash, ttlMs: DEFAULT_LOCK_TTL_MS })]));
    expect(h.sources[0]!.releaseCalls).toBe(0);
    expect([...world.shards[1]!.simLocks]).toEqual([[counter, hash]]);
    expect(h.sleeps).toEqual([]);
  });

  it('on a lock of another transaction releases everything, backs off, and reruns from scratch until it gets the state', async () => {
    const h = harness();
    world.shards[1]!.simLocks.set(counter, OTHER);
    // The holder is decided (its lock released) during the third backoff.
    const sleep = h.opts.sleep;
    const opts = {
      ...h.opts,
      lockTtlMs: 3_000,
      sleep: async (ms: number) => {
        await sleep(ms);
        if (h.sleeps.length === 3) world.shards[1]!.release(OTHER);
      },
    };
    const conflicts: { attempt: number; holder: string | undefined }[] = [];
    const res = await simulateWithLocks(callCounter(), h.sourceFor, { ...opts, onConflict: (c) => conflicts.push({ attempt: c.attempt, holder: c.holder }) });
    expect(res.success).toBe(true);
    expect(conflicts).toEqual([1, 2, 3].map((attempt) => ({ attempt, holder: OTHER })));
    expect(h.sleeps).toEqual([10, 20, 30]);
    // A fresh source per attempt (new reference heights); each failed one released its locks.
    expect(h.sources).toHaveLength(4);
    expect(h.sources.map((s) => s.releaseCalls)).toEqual([1, 1, 1, 0]);
    expect(h.locks.every((l) => l.ttlMs === 3_000)).toBe(true);
  });

  it('gives up at the deadline with `state locked by another transaction (0x…)`, holding nothing', async () => {
    const h = harness();
    world.shards[1]!.simLocks.set(counter, OTHER);
    const res = await simulateWithLocks(callCounter(), h.sourceFor, { ...h.opts, lockTtlMs: 100 });
    // Deadline: TTL + 2 s = 2100 ms of the fake clock; waits 10, 20, …: 10 × (1 + … + 20) = 2100.
    expect(res).toEqual({ success: false, error: `state locked by another transaction (${OTHER})`, cause: expect.objectContaining({ code: ReasonCode.REASON_CODE_STATE_LOCKED, transaction: OTHER }), rwSet: undefined });
    expect(h.sleeps).toEqual(Array.from({ length: 19 }, (_, i) => 10 * (i + 1)));
    expect(h.sources.every((s) => s.releaseCalls === 1)).toBe(true);
    expect([...world.shards[1]!.simLocks]).toEqual([[counter, OTHER]]);
  });

  it('stops retrying when the call is cancelled', async () => {
    const h = harness();
    world.shards[1]!.simLocks.set(counter, OTHER);
    const ac = new AbortController();
    ac.abort();
    const res = await simulateWithLocks(callCounter(), h.sourceFor, { ...h.opts, signal: ac.signal });
    expect(res.error).toBe(`state locked by another transaction (${OTHER})`);
    expect(h.sources).toHaveLength(1);
  });

  it('releases its locks when the simulation fails (revert) or the source fails (unavailable)', async () => {
    const h = harness();
    const res = await simulateWithLocks(signTransaction(common, alice, { to: reverter, nonce: 0n, gasLimit: 100_000n }), h.sourceFor, h.opts);
    expect(res).toEqual({ success: false, error: 'execution reverted: closed', cause: expect.objectContaining({ code: ReasonCode.REASON_CODE_REVERTED }), rwSet: undefined });
    expect(h.sources[0]!.releaseCalls).toBe(1);
    expect([...world.shards[1]!.simLocks]).toEqual([]);

    const down = harness();
    const failing = (lock: SimulationLockSpec): StateSource => {
      const s = down.sourceFor(lock);
      return { ...s, getAccount: s.getAccount.bind(s), getCode: async () => Promise.reject(errors.unavailable('shard 1 unavailable: not reachable')), releaseLocks: s.releaseLocks!.bind(s) };
    };
    const err = await simulateWithLocks(callCounter(), failing, down.opts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShardLabError);
    expect((err as ShardLabError).code).toBe(ErrorCode.Unavailable);
    expect(down.sources[0]!.releaseCalls).toBe(1);
    expect(down.sleeps).toEqual([]);
    expect([...world.shards[1]!.simLocks]).toEqual([]);
  });

  it('refuses a malformed transaction before taking any lock', async () => {
    const h = harness();
    await expect(simulateWithLocks(new Uint8Array([1, 2, 3]), h.sourceFor, h.opts)).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
    expect(h.sources).toHaveLength(0);
  });

  it('backs off 10–50 ms × attempt, at most 1 s; reads the holder from a shard’s message', () => {
    expect(defaultLockBackoff(1, () => 0)).toBe(10);
    expect(defaultLockBackoff(1, () => 1)).toBe(50);
    expect(defaultLockBackoff(3, () => 0.5)).toBe(90);
    expect(defaultLockBackoff(100, () => 0.5)).toBe(MAX_LOCK_BACKOFF_MS);
    for (let i = 0; i < 100; i++) {
      const b = defaultLockBackoff(2);
      expect(b).toBeGreaterThanOrEqual(20);
      expect(b).toBeLessThanOrEqual(100);
    }
    expect(lockHolderOf(`shard 1: ${counter} is locked by transaction ${OTHER.toUpperCase().replace('0X', '0x')} (simulation lock, expires in 5 ms)`)).toBe(OTHER);
    expect(lockHolderOf(`${counter} changed after height 4`)).toBeUndefined();
    expect(lockedFailure(OTHER, 'x')).toBe(`state locked by another transaction (${OTHER})`);
    expect(lockedFailure(undefined, 'shard 1: stale')).toBe('state kept changing while simulating: shard 1: stale');
  });
});
