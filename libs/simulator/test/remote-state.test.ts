import { Account, createAddressFromString } from '@ethereumjs/util';
import { createChainCommon, devAccounts } from '@shardlab/chain';
import { fromHex, toHex } from '@shardlab/common';
import { CodeCache, RemoteStateManager } from '../src';
import { COUNTER_CODE, FakeWorld, addressOn, slotOf } from './helpers';

const common = createChainCommon({ chainId: 1337 });
const SHARDS = 2;
const key = (n: number) => fromHex(slotOf(n));
const val = (v: Uint8Array) => (v.length === 0 ? 0n : BigInt(toHex(v)));

describe('RemoteStateManager', () => {
  let world: FakeWorld;
  const alice = devAccounts()[0]!.address;
  const contract = addressOn(1, SHARDS, 'c1');
  const nobody = addressOn(0, SHARDS, 'ee');
  const sink = addressOn(0, SHARDS, 'fe');

  beforeEach(async () => {
    world = new FakeWorld(common, SHARDS);
    await world.produce({
      [alice]: { balance: 1000n, nonce: 2n },
      [contract]: { code: COUNTER_CODE, storage: { [slotOf(0)]: '0x29', [slotOf(3)]: '0x07' } },
    });
  });

  it('fetches lazily, once per account and slot, and records each first read with its proof', async () => {
    const source = world.source();
    const sm = new RemoteStateManager({ source });
    const c = createAddressFromString(contract);
    expect(source.getAccountCalls).toEqual([]);
    expect(val(await sm.getStorage(c, key(0)))).toBe(0x29n);
    expect(val(await sm.getStorage(c, key(0)))).toBe(0x29n);
    expect(val(await sm.getStorage(c, key(9)))).toBe(0n);
    expect((await sm.getAccount(c))?.nonce).toBe(0n);
    // The first storage read brings the account too; each new slot is one more GetProof.
    expect(source.getAccountCalls).toEqual([
      { address: contract, slots: [slotOf(0)] },
      { address: contract, slots: [slotOf(9)] },
    ]);
    const [t] = await sm.touched();
    expect(t!.address).toBe(contract);
    expect(t!.shardId).toBe(1);
    expect(t!.reads.map((r) => [r.slot, val(r.value), r.proof.length > 0])).toEqual([
      [slotOf(0), 0x29n, true],
      [slotOf(9), 0n, true],
    ]);
    expect(t!.writes).toEqual([]);
  });

  it('knows every slot of an absent account is zero without asking, and says so with an empty proof', async () => {
    const source = world.source();
    const sm = new RemoteStateManager({ source });
    const n = createAddressFromString(nobody);
    expect(await sm.getAccount(n)).toBeUndefined();
    expect(val(await sm.getStorage(n, key(1)))).toBe(0n);
    expect(source.getAccountCalls).toEqual([{ address: nobody, slots: [] }]);
    const [t] = await sm.touched();
    expect(t!.before).toBeUndefined();
    expect(t!.beforeRlp).toEqual(new Uint8Array());
    expect(t!.reads).toEqual([{ slot: slotOf(1), value: new Uint8Array(), proof: [] }]);
  });

  it('undoes writes on revert and keeps them on commit, across nested checkpoints', async () => {
    const sm = new RemoteStateManager({ source: world.source() });
    const c = createAddressFromString(contract);
    const a = createAddressFromString(alice);
    await sm.checkpoint();
    await sm.putStorage(c, key(0), Uint8Array.from([0x01]));
    await sm.checkpoint();
    await sm.putStorage(c, key(0), Uint8Array.from([0x02]));
    await sm.putStorage(c, key(5), Uint8Array.from([0x05]));
    await sm.putAccount(a, new Account(3n, 10n));
    await sm.revert();
    expect(val(await sm.getStorage(c, key(0)))).toBe(1n);
    expect(val(await sm.getStorage(c, key(5)))).toBe(0n);
    expect((await sm.getAccount(a))?.balance).toBe(1000n);
    await sm.checkpoint();
    await sm.clearStorage(c);
    expect(val(await sm.getStorage(c, key(3)))).toBe(0n);
    await sm.revert();
    expect(val(await sm.getStorage(c, key(3)))).toBe(7n);
    await sm.checkpoint();
    await sm.putStorage(c, key(3), new Uint8Array(32));
    await sm.modifyAccountFields(a, { balance: 400n });
    await sm.commit();
    await sm.commit();
    const touched = await sm.touched();
    const t = touched.find((x) => x.address === contract)!;
    expect(t.writes.map((w) => [w.slot, val(w.oldValue), val(w.newValue)])).toEqual([
      [slotOf(0), 0x29n, 1n],
      [slotOf(3), 7n, 0n],
    ]);
    const al = touched.find((x) => x.address === alice)!;
    expect([al.before?.balance, al.after?.balance, al.after?.nonce]).toEqual([1000n, 400n, 2n]);
  });

  it('a write back to the reference value is no write', async () => {
    const sm = new RemoteStateManager({ source: world.source() });
    const c = createAddressFromString(contract);
    await sm.checkpoint();
    await sm.putStorage(c, key(0), Uint8Array.from([0x30]));
    await sm.putStorage(c, key(0), Uint8Array.from([0x29]));
    await sm.commit();
    expect((await sm.touched())[0]!.writes).toEqual([]);
  });

  it('serves code by code hash from the shared cache, checking the hash of fetched code', async () => {
    const cache = new CodeCache();
    const s1 = world.source();
    const c = createAddressFromString(contract);
    expect(toHex(await new RemoteStateManager({ source: s1, codeCache: cache }).getCode(c))).toBe(COUNTER_CODE);
    const s2 = world.source();
    const sm2 = new RemoteStateManager({ source: s2, codeCache: cache });
    expect(toHex(await sm2.getCode(c))).toBe(COUNTER_CODE);
    expect(await sm2.getCodeSize(createAddressFromString(alice))).toBe(0);
    expect([s1.getCodeCalls, s2.getCodeCalls]).toEqual([[contract], []]);
    expect([cache.hits, cache.misses]).toEqual([1, 1]);
  });

  it('code put by the simulation is served from the overlay and reported as created', async () => {
    const sm = new RemoteStateManager({ source: world.source() });
    const n = createAddressFromString(nobody);
    await sm.checkpoint();
    await sm.putAccount(n, new Account(1n, 0n));
    await sm.putCode(n, fromHex(COUNTER_CODE));
    await sm.commit();
    expect(toHex(await sm.getCode(n))).toBe(COUNTER_CODE);
    const [t] = await sm.touched();
    expect(toHex(t!.createdCode!)).toBe(COUNTER_CODE);
  });

  it('serves local accounts without fetching and leaves them out of the result', async () => {
    const source = world.source();
    const sm = new RemoteStateManager({ source, localAccounts: [sink] });
    const s = createAddressFromString(sink);
    expect(await sm.getAccount(s)).toBeUndefined();
    await sm.checkpoint();
    await sm.putAccount(s, new Account(0n, 42n));
    await sm.commit();
    expect(sm.localAccount(sink)?.balance).toBe(42n);
    expect(source.getAccountCalls).toEqual([]);
    expect(await sm.touched()).toEqual([]);
    expect(sm.referenceBlocks()).toEqual([]);
  });

  it('balanceRead: a debit or an observed balance counts, even when reverted; a credit alone does not', async () => {
    const sm = new RemoteStateManager({ source: world.source() });
    const a = createAddressFromString(alice);
    const c = createAddressFromString(contract);
    const n = createAddressFromString(nobody);
    await sm.checkpoint();
    await sm.modifyAccountFields(c, { balance: 5n }); // credited
    await sm.checkpoint();
    await sm.modifyAccountFields(a, { balance: 990n }); // debited, then reverted
    await sm.revert();
    await sm.getAccount(n);
    sm.observeBalance('0x' + nobody.slice(2).toUpperCase()); // e.g. BALANCE(nobody); any case
    await sm.commit();
    const read = Object.fromEntries((await sm.touched()).map((t) => [t.address, t.balanceRead]));
    expect(read).toEqual({ [contract]: false, [alice]: true, [nobody]: true });
  });

  it('computes no state roots', async () => {
    const sm = new RemoteStateManager({ source: world.source() });
    await expect(sm.getStateRoot()).rejects.toThrow(/no state root/);
    expect(() => sm.shallowCopy()).toThrow();
  });
});
