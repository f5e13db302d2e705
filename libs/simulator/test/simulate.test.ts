import { verifyMerkleProof } from '@ethereumjs/mpt';
import { createAddressFromString, createContractAddress, hexToBytes } from '@ethereumjs/util';
import { createChainCommon, devAccounts, signTransaction, toProtoTransaction, decodeTransaction, type DevAccount } from '@shardlab/chain';
import { ErrorCode, ShardLabError, errors, fromHex, toHex } from '@shardlab/common';
import { ReasonCode, type AddressRwSet, type SimulateResponse } from '@shardlab/proto';
import { CodeCache, FEE_SINK, simulate, type StateSource } from '../src';
import {
  COUNTER_CODE,
  FakeWorld,
  addressOn,
  callerCode,
  creatingCode,
  initCode,
  revertingCode,
  slotOf,
} from './helpers';

const common = createChainCommon({ chainId: 1337 });
const SHARDS = 3;
const NOW = 1_700_000_000_000;
const ETHER = 10n ** 18n;
const GWEI = 10n ** 9n;
const opts = (codeCache?: CodeCache) => ({ common, now: () => NOW, ...(codeCache ? { codeCache } : {}) });

/** A development account placed on `shard`. */
function devOn(world: FakeWorld, shard: number): DevAccount {
  const a = devAccounts().find((d) => world.shardOf(d.address) === shard);
  if (!a) throw new Error(`no dev account on shard ${shard}`);
  return a;
}

function item(res: SimulateResponse, address: string): AddressRwSet {
  const found = res.rwSet?.addresses.find((a) => a.address === address.toLowerCase());
  if (!found) throw new Error(`${address} not in the RwSet: ${res.rwSet?.addresses.map((a) => a.address).join(', ')}`);
  return found;
}

/**
 * The correctness oracle: runs the same transaction directly with one VM over the merged state
 * and checks that the RwSet describes exactly its effects: gas, logs, every write's new value,
 * every balance change (and no changed account outside the RwSet).
 */
async function checkAgainstDirectRun(world: FakeWorld, raw: Uint8Array, res: SimulateResponse): Promise<void> {
  expect(res.success).toBe(true);
  const rw = res.rwSet!;
  const { result, state } = await world.directRun(raw, NOW);
  const sender = decodeTransaction(raw, common).from;
  expect(result.execResult.exceptionError).toBeUndefined();
  expect(BigInt(rw.gasUsed)).toBe(result.totalGasSpent);
  expect(rw.logs.map((l) => ({ address: l.address, topics: l.topics, data: toHex(l.data) }))).toEqual(
    result.receipt.logs.map(([a, t, d]) => ({ address: toHex(a), topics: t.map(toHex), data: toHex(d) })),
  );
  for (const a of rw.addresses) {
    const address = createAddressFromString(a.address);
    for (const w of a.writes) {
      const after = await state.getStorage(address, fromHex(w.slot));
      expect(BigInt(w.newValue)).toBe(after.length === 0 ? 0n : BigInt(toHex(after)));
      const before = await world.merged.getStorage(address, fromHex(w.slot));
      expect(BigInt(w.oldValue)).toBe(before.length === 0 ? 0n : BigInt(toHex(before)));
    }
    const b0 = (await world.merged.getAccount(address))?.balance ?? 0n;
    const b1 = (await state.getAccount(address))?.balance ?? 0n;
    expect(BigInt(a.balanceDelta)).toBe(b1 - b0);
    if (a.createdCode) expect(toHex(await state.getCode(address))).toBe(a.createdCode);
    // newNonce: the nonce after wherever it changed, except the sender's (its home shard's).
    const n0 = (await world.merged.getAccount(address))?.nonce ?? 0n;
    const n1 = (await state.getAccount(address))?.nonce ?? 0n;
    if (a.address === sender) expect(a.newNonce).toBeUndefined();
    else expect(a.newNonce === undefined ? n0 : BigInt(a.newNonce)).toBe(n1);
  }
  // Every known account whose balance changed is in the RwSet (the fee sink aside).
  const named = new Set(rw.addresses.map((a) => a.address));
  for (const a of world.addresses) {
    const address = createAddressFromString(a);
    const b0 = (await world.merged.getAccount(address))?.balance ?? 0n;
    const b1 = (await state.getAccount(address))?.balance ?? 0n;
    if (b0 !== b1) expect(named.has(a)).toBe(true);
  }
  expect(named.has(FEE_SINK)).toBe(false);
}

/** Every read proof checks out against the reference state root of the address's shard. */
async function checkReadProofs(res: SimulateResponse): Promise<void> {
  const roots = new Map(res.rwSet!.referenceBlocks.map((r) => [r.shardId, r.stateRoot]));
  for (const a of res.rwSet!.addresses) {
    const root = roots.get(a.shardId)!;
    expect(root).toBeDefined();
    const account = a.reads[0]!;
    expect(account.slot).toBe('');
    const leaf = await verifyMerkleProof(fromHex(a.address), account.proof, { useKeyHashing: true, root: fromHex(root) });
    expect(leaf === null ? '0x' : toHex(leaf)).toBe(account.value);
  }
}

describe('simulate over fake shards', () => {
  let world: FakeWorld;
  let alice: DevAccount; // shard 0
  let bob: DevAccount; // shard 1
  const counter = addressOn(1, SHARDS, 'c1'); // COUNTER_CODE, shard 1
  const leaf = addressOn(2, SHARDS, 'b2'); // COUNTER_CODE, shard 2
  const caller = addressOn(1, SHARDS, 'a1'); // calls `leaf` forwarding 400 wei, shard 1
  const reverter = addressOn(2, SHARDS, 'dd'); // reverts with "nope", shard 2

  beforeEach(async () => {
    world = new FakeWorld(common, SHARDS);
    alice = devOn(world, 0);
    bob = devOn(world, 1);
    await world.produce({
      [alice.address]: { balance: 100n * ETHER },
      [bob.address]: { balance: 5n * ETHER, nonce: 3n },
      [counter]: { code: COUNTER_CODE, storage: { [slotOf(0)]: '0x29' } },
      [leaf]: { code: COUNTER_CODE, storage: { [slotOf(0)]: '0x63' } },
      [caller]: { code: callerCode(leaf, 400) },
      [reverter]: { code: revertingCode('nope') },
    });
  });

  it('a plain cross-shard transfer: account reads, balance deltas, no storage', async () => {
    const value = 3n * ETHER;
    const raw = signTransaction(common, alice, { to: bob.address, value, nonce: 0n, maxFeePerGas: 3n * GWEI, maxPriorityFeePerGas: 2n });
    const source = world.source();
    const res = await simulate(decodeAndWrap(raw), source, opts());
    expect(res).toMatchObject({ success: true, error: '' });
    const rw = res.rwSet!;
    expect(rw.gasUsed).toBe(21000);
    expect(rw.logs).toEqual([]);
    expect(rw.addresses.map((a) => [a.address, a.shardId])).toEqual([
      [alice.address, 0],
      [bob.address, 1],
    ]);
    expect(rw.referenceBlocks).toEqual([
      { shardId: 0, height: 0, stateRoot: world.shards[0]!.blocks[0]!.stateRoot },
      { shardId: 1, height: 0, stateRoot: world.shards[1]!.blocks[0]!.stateRoot },
    ]);
    const fee = 21000n * (GWEI + 2n);
    expect(item(res, alice.address)).toMatchObject({ writes: [], balanceDelta: (-(value + fee)).toString(), createdCode: '' });
    expect(item(res, bob.address)).toMatchObject({ writes: [], balanceDelta: value.toString() });
    for (const a of rw.addresses) expect(a.reads.map((r) => r.slot)).toEqual(['']);
    // Sum of deltas = −fee (burned base fee + priority fee to the fee sink).
    expect(rw.addresses.reduce((s, a) => s + BigInt(a.balanceDelta), 0n)).toBe(-fee);
    await checkReadProofs(res);
    await checkAgainstDirectRun(world, raw, res);
    expect(source.getCodeCalls).toEqual([]);
  });

  it('a contract call that reads slot 0 and writes slot 1, with a log', async () => {
    const raw = signTransaction(common, alice, { to: counter, nonce: 0n, gasLimit: 100_000n });
    const res = await simulate(raw, world.source(), opts());
    expect(res.success).toBe(true);
    const c = item(res, counter);
    expect(c.shardId).toBe(1);
    expect(c.reads.map((r) => [r.slot, r.slot === '' ? undefined : r.value])).toEqual([
      ['', undefined],
      [slotOf(0), slotOf(0x29)],
      [slotOf(1), slotOf(0)],
    ]);
    expect(c.reads[1]!.proof.length).toBeGreaterThan(0);
    expect(c.writes).toEqual([{ slot: slotOf(1), oldValue: slotOf(0), newValue: slotOf(0x2a) }]);
    expect(c.balanceDelta).toBe('0');
    expect(res.rwSet!.logs).toEqual([{ address: counter, topics: [slotOf(0xaa)], data: Buffer.alloc(0) }]);
    await checkReadProofs(res);
    await checkAgainstDirectRun(world, raw, res);
  });

  it('a call to a contract on another shard that calls a third contract names both with their shards', async () => {
    const raw = signTransaction(common, alice, { to: caller, value: 1000n, nonce: 0n, gasLimit: 200_000n });
    const res = await simulate(raw, world.source(), opts());
    expect(res.success).toBe(true);
    const rw = res.rwSet!;
    expect(rw.addresses.map((a) => [a.address, a.shardId])).toEqual([
      [alice.address, 0],
      [caller, 1],
      [leaf, 2],
    ]);
    expect(rw.referenceBlocks.map((r) => r.shardId)).toEqual([0, 1, 2]);
    expect(item(res, caller)).toMatchObject({ balanceDelta: '600', writes: [{ slot: slotOf(5), oldValue: slotOf(0), newValue: slotOf(1) }] });
    expect(item(res, leaf)).toMatchObject({ balanceDelta: '400', writes: [{ slot: slotOf(1), oldValue: slotOf(0), newValue: slotOf(0x64) }] });
    expect(rw.logs.map((l) => l.address)).toEqual([leaf]);
    await checkReadProofs(res);
    await checkAgainstDirectRun(world, raw, res);
  });

  it('a contract creation: created code, writes of the new storage, no slot reads', async () => {
    const raw = signTransaction(common, bob, { nonce: 3n, gasLimit: 300_000n, data: hexToBytes(initCode(COUNTER_CODE) as `0x${string}`) });
    const res = await simulate(raw, world.source(), opts());
    expect(res.success).toBe(true);
    const { result } = await world.directRun(raw, NOW);
    const rw = res.rwSet!;
    expect(rw.addresses).toHaveLength(2);
    expect(rw.addresses[0]!.address).toBe(bob.address);
    const c = rw.addresses[1]!;
    expect(c.address).toBe(result.createdAddress!.toString());
    expect(c.shardId).toBe(world.shardOf(c.address));
    expect(c.createdCode).toBe(COUNTER_CODE);
    expect(c.reads).toEqual([{ slot: '', value: '0x', proof: expect.any(Array) }]);
    expect(c.writes).toEqual([{ slot: slotOf(0), oldValue: slotOf(0), newValue: slotOf(7) }]);
    await checkReadProofs(res);
    await checkAgainstDirectRun(world, raw, res);
  });

  it('a reverting call fails with the revert reason and no RwSet', async () => {
    const raw = signTransaction(common, alice, { to: reverter, nonce: 0n, gasLimit: 100_000n });
    await expect(simulate(raw, world.source(), opts())).resolves.toEqual({ success: false, error: 'execution reverted: nope', cause: expect.objectContaining({ code: ReasonCode.REASON_CODE_REVERTED }), rwSet: undefined });
  });

  it('a call into a reverting contract on a third shard fails with the inner failure surfacing as the outer result', async () => {
    const outer = addressOn(0, SHARDS, 'e0');
    await world.produce({ [outer]: { code: '0x' + '6000600060006000600073' + reverter.slice(2) + '5af1' + '15' + '6026' + '57' + '00' + '5b' + '6000' + '6000' + 'fd' } });
    // outer: CALL reverter; if it failed (ISZERO → JUMPI to 0x26) REVERT with no data.
    const raw = signTransaction(common, alice, { to: outer, nonce: 0n, gasLimit: 100_000n });
    await expect(simulate(raw, world.source(), opts())).resolves.toMatchObject({ success: false, error: 'execution reverted' });
  });

  it('out of gas is an EVM failure', async () => {
    const raw = signTransaction(common, alice, { to: counter, nonce: 0n, gasLimit: 22_000n });
    await expect(simulate(raw, world.source(), opts())).resolves.toMatchObject({ success: false, error: 'execution failed: out of gas' });
  });

  it('a transaction runTx refuses (insufficient funds) fails with why; a nonce ahead of the state is for the home shard to check', async () => {
    const wrongNonce = signTransaction(common, alice, { to: bob.address, value: 1n, nonce: 5n });
    // The nonce is the home shard's to check (earlier transactions of the sender may still be
    // queued there), so the simulation runs a transaction whose nonce is ahead of the state.
    const r1 = await simulate(wrongNonce, world.source(), opts());
    expect(r1.success).toBe(true);
    const tooMuch = signTransaction(common, bob, { to: alice.address, value: 6n * ETHER, nonce: 3n });
    const r2 = await simulate(tooMuch, world.source(), opts());
    expect(r2.success).toBe(false);
    expect(r2.error).toMatch(/^transaction refused: .*(funds|balance)/);
  });

  it('caches code across simulations by code hash (GetCode once), state per simulation', async () => {
    const cache = new CodeCache();
    const raw = signTransaction(common, alice, { to: counter, nonce: 0n, gasLimit: 100_000n });
    const s1 = world.source();
    const r1 = await simulate(raw, s1, opts(cache));
    expect(s1.getCodeCalls).toEqual([counter]);
    const s2 = world.source();
    const r2 = await simulate(raw, s2, opts(cache));
    expect(s2.getCodeCalls).toEqual([]);
    expect(s2.getAccountCalls.length).toBeGreaterThan(0);
    expect(r2).toEqual(r1);
    // `leaf` has the same code: same hash, no fetch either.
    const s3 = world.source();
    const raw3 = signTransaction(common, alice, { to: leaf, nonce: 0n, gasLimit: 100_000n });
    expect((await simulate(raw3, s3, opts(cache))).success).toBe(true);
    expect(s3.getCodeCalls).toEqual([]);
    expect(cache.size).toBe(1);
    expect(cache.hits).toBeGreaterThanOrEqual(2);
  });

  it('fetches each account once per simulation, with the first slot asked in the same GetProof', async () => {
    const raw = signTransaction(common, alice, { to: counter, nonce: 0n, gasLimit: 100_000n });
    const source = world.source();
    await simulate(raw, source, opts());
    const forCounter = source.getAccountCalls.filter((c) => c.address === counter);
    // Account (prefetched as the recipient), then slot 0, then slot 1.
    expect(forCounter).toEqual([
      { address: counter, slots: [] },
      { address: counter, slots: [slotOf(0)] },
      { address: counter, slots: [slotOf(1)] },
    ]);
    expect(source.getAccountCalls.filter((c) => c.address === alice.address)).toHaveLength(1);
  });

  it('prefetches the access list in one GetProof per account', async () => {
    const tx = {
      type: 1,
      to: counter,
      nonce: 0n,
      gasLimit: 100_000n,
      gasPrice: 2n * GWEI,
      accessList: [{ address: counter, storageKeys: [slotOf(0), slotOf(1)] }],
    };
    const { createTx } = await import('@ethereumjs/tx');
    const raw = createTx(tx as never, { common }).sign(alice.privateKey).serialize();
    const source = world.source();
    const res = await simulate(raw, source, opts());
    expect(res.success).toBe(true);
    expect(source.getAccountCalls.filter((c) => c.address === counter)).toEqual([{ address: counter, slots: [slotOf(0), slotOf(1)] }]);
    await checkAgainstDirectRun(world, raw, res);
  });

  it('reads every shard at one pinned reference block even when the shard moves on', async () => {
    const raw = signTransaction(common, alice, { to: counter, nonce: 0n, gasLimit: 100_000n });
    const source = world.source();
    // Shard 1 produces a block after the first read of it: later reads stay at the pinned height.
    const shard1 = world.shards[1]!;
    const original = shard1.getProof.bind(shard1);
    let moved = false;
    shard1.getProof = async (address, slots, height) => {
      const res = await original(address, slots, height);
      if (!moved) {
        moved = true;
        await shard1.produce({ [counter]: { code: COUNTER_CODE, storage: { [slotOf(0)]: '0x1000' } } });
      }
      return res;
    };
    const res = await simulate(raw, source, opts());
    expect(res.success).toBe(true);
    expect(shard1.proofRequests.map((r) => r.height)).toEqual([0, 0, 0]);
    expect(item(res, counter).writes).toEqual([{ slot: slotOf(1), oldValue: slotOf(0), newValue: slotOf(0x2a) }]);
    expect(res.rwSet!.referenceBlocks.find((r) => r.shardId === 1)).toEqual({ shardId: 1, height: 0, stateRoot: shard1.blocks[0]!.stateRoot });
  });

  it('value sent to the fee sink breaks conservation of the RwSet and fails the simulation', async () => {
    const raw = signTransaction(common, alice, { to: FEE_SINK, value: 5n, nonce: 0n });
    const res = await simulate(raw, world.source(), opts());
    expect(res.success).toBe(false);
    expect(res.error).toMatch(/^invariant violated: the fee sink .* received 21005 wei, expected the priority fee 21000 wei/);
  });

  it('a contract that runs CREATE: the factory carries its new nonce, the created contract its code, storage and nonce 1', async () => {
    const factory = addressOn(2, SHARDS, 'fa');
    await world.produce({ [factory]: { nonce: 1n, code: creatingCode(initCode(COUNTER_CODE)) } });
    const raw = signTransaction(common, alice, { to: factory, nonce: 0n, gasLimit: 300_000n });
    const res = await simulate(raw, world.source(), opts());
    expect(res).toMatchObject({ success: true, error: '' });
    const created = createContractAddress(createAddressFromString(factory), 1n).toString();
    expect(res.rwSet!.addresses.map((a) => a.address)).toEqual([alice.address, factory, created]);
    expect(item(res, factory)).toMatchObject({ newNonce: 2, createdCode: '', writes: [{ slot: slotOf(0), oldValue: slotOf(0), newValue: '0x' + created.slice(2).padStart(64, '0') }] });
    expect(item(res, created)).toMatchObject({
      shardId: world.shardOf(created),
      newNonce: 1,
      createdCode: COUNTER_CODE,
      reads: [{ slot: '', value: '0x' }],
      writes: [{ slot: slotOf(0), oldValue: slotOf(0), newValue: slotOf(7) }],
      balanceRead: false,
    });
    expect(item(res, alice.address).newNonce).toBeUndefined();
    await checkReadProofs(res);
    await checkAgainstDirectRun(world, raw, res);
  });

  it('CREATE with empty init code makes an account with nonce 1 and no code: carried as a new nonce alone', async () => {
    const factory = addressOn(2, SHARDS, 'fb');
    // CREATE(value 0, offset 0, size 0); POP; STOP.
    await world.produce({ [factory]: { nonce: 1n, code: '0x' + '600060006000f05000' } });
    const raw = signTransaction(common, alice, { to: factory, nonce: 0n, gasLimit: 200_000n });
    const res = await simulate(raw, world.source(), opts());
    expect(res.success).toBe(true);
    const created = createContractAddress(createAddressFromString(factory), 1n).toString();
    expect(item(res, factory)).toMatchObject({ newNonce: 2, writes: [] });
    expect(item(res, created)).toMatchObject({ newNonce: 1, createdCode: '', writes: [] });
    await checkAgainstDirectRun(world, raw, res);
  });

  describe('balanceRead: whether the execution observed the balance', () => {
    const selfBalance = addressOn(1, SHARDS, '5b'); // stores SELFBALANCE in slot 0
    const balanceOf = addressOn(2, SHARDS, '5c'); // stores BALANCE(bob) in slot 0
    const broke = addressOn(1, SHARDS, '5d'); // calls `leaf` with 400 wei it does not have
    const destructor = addressOn(2, SHARDS, '5e'); // SELFDESTRUCT to `beneficiary`
    const beneficiary = addressOn(0, SHARDS, '5f');

    beforeEach(async () => {
      await world.produce({
        [selfBalance]: { balance: 10n, code: '0x' + '47' + '600055' + '00' },
        // PUSH20 bob; BALANCE; PUSH1 0; SSTORE; STOP.
        [balanceOf]: { code: '0x' + '73' + bob.address.slice(2) + '31' + '600055' + '00' },
        [broke]: { code: callerCode(leaf, 400) },
        [destructor]: { balance: 77n, code: '0x' + '73' + beneficiary.slice(2) + 'ff' },
      });
    });

    const readOf = (res: SimulateResponse) => Object.fromEntries(res.rwSet!.addresses.map((a) => [a.address, a.balanceRead]));

    it('the sender: read; an account that only receives the value: not read', async () => {
      const raw = signTransaction(common, alice, { to: bob.address, value: ETHER, nonce: 0n });
      const res = await simulate(raw, world.source(), opts());
      expect(readOf(res)).toEqual({ [alice.address]: true, [bob.address]: false });
    });

    it('value forwarded by a contract: the forwarder (debited) is read, the contract receiving it (credited only) is not', async () => {
      const raw = signTransaction(common, alice, { to: caller, value: 1000n, nonce: 0n, gasLimit: 200_000n });
      const res = await simulate(raw, world.source(), opts());
      expect(readOf(res)).toEqual({ [alice.address]: true, [caller]: true, [leaf]: false });
      expect(item(res, leaf).balanceDelta).toBe('400');
      await checkAgainstDirectRun(world, raw, res);
    });

    it('a contract reading address(this).balance (SELFBALANCE), credited by the same call: read', async () => {
      const raw = signTransaction(common, alice, { to: selfBalance, value: 5n, nonce: 0n, gasLimit: 100_000n });
      const res = await simulate(raw, world.source(), opts());
      expect(readOf(res)).toEqual({ [alice.address]: true, [selfBalance]: true });
      expect(item(res, selfBalance).writes).toEqual([{ slot: slotOf(0), oldValue: slotOf(0), newValue: slotOf(15) }]);
      await checkAgainstDirectRun(world, raw, res);
    });

    it('BALANCE of another account: that account is read, the contract running it is not', async () => {
      const raw = signTransaction(common, alice, { to: balanceOf, nonce: 0n, gasLimit: 100_000n });
      const res = await simulate(raw, world.source(), opts());
      expect(readOf(res)).toEqual({ [alice.address]: true, [balanceOf]: false, [bob.address]: true });
      expect(BigInt(item(res, balanceOf).writes[0]!.newValue)).toBe(5n * ETHER);
      // Same gas as an unwrapped EVM (cold account access of BALANCE).
      await checkAgainstDirectRun(world, raw, res);
    });

    it('a value transfer refused for insufficient balance leaves no debit but was a read', async () => {
      const raw = signTransaction(common, alice, { to: broke, nonce: 0n, gasLimit: 200_000n });
      const res = await simulate(raw, world.source(), opts());
      // The CALL failed (slot 5 stays 0: no write), nothing moved.
      expect(item(res, broke)).toMatchObject({ balanceDelta: '0', writes: [], balanceRead: true });
      expect(item(res, leaf).balanceRead).toBe(false);
      await checkAgainstDirectRun(world, raw, res);
    });

    it('SELFDESTRUCT: the contract giving its balance away is read, the beneficiary is not', async () => {
      const raw = signTransaction(common, alice, { to: destructor, nonce: 0n, gasLimit: 100_000n });
      const res = await simulate(raw, world.source(), opts());
      expect(readOf(res)).toEqual({ [alice.address]: true, [destructor]: true, [beneficiary]: false });
      expect(item(res, beneficiary).balanceDelta).toBe('77');
      await checkAgainstDirectRun(world, raw, res);
    });

    it('a read inside a call that reverts still counts (what followed depended on it)', async () => {
      // swallow: CALL reverter2 (which reads its balance, stores it and reverts), POP, STOP.
      const swallow = addressOn(0, SHARDS, '61');
      const reverter2 = addressOn(1, SHARDS, '62'); // SELFBALANCE; PUSH1 0; SSTORE; REVERT(0, 0)
      await world.produce({
        [reverter2]: { balance: 3n, code: '0x' + '47' + '600055' + '6000' + '6000' + 'fd' },
        [swallow]: { code: '0x' + '6000600060006000600073' + reverter2.slice(2) + '5af1' + '50' + '00' },
      });
      const raw = signTransaction(common, alice, { to: swallow, nonce: 0n, gasLimit: 100_000n });
      const res = await simulate(raw, world.source(), opts());
      expect(res.success).toBe(true);
      expect(item(res, reverter2)).toMatchObject({ balanceRead: true, writes: [] });
      await checkAgainstDirectRun(world, raw, res);
    });
  });

  describe('bad input and bad sources', () => {
    it('rejects a missing, empty or malformed transaction, and contradicting fields, as INVALID_ARGUMENT', async () => {
      const source = world.source();
      await expect(simulate(undefined, source, opts())).rejects.toMatchObject({ code: ErrorCode.InvalidArgument, message: 'tx is required' });
      await expect(simulate(new Uint8Array(), source, opts())).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
      await expect(simulate(Uint8Array.from([0xf8, 0x01, 0x02]), source, opts())).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
      const raw = signTransaction(common, alice, { to: bob.address, value: 1n, nonce: 0n });
      const wire = decodeAndWrap(raw);
      await expect(simulate({ ...wire, hash: '0x' + '00'.repeat(32) }, source, opts())).rejects.toMatchObject({
        code: ErrorCode.InvalidArgument,
        message: expect.stringMatching(/tx.hash/),
      });
      await expect(simulate({ ...wire, from: bob.address }, source, opts())).rejects.toMatchObject({
        code: ErrorCode.InvalidArgument,
        message: expect.stringMatching(/tx.from/),
      });
      const otherChain = signTransaction(createChainCommon({ chainId: 1 }), alice, { to: bob.address, nonce: 0n });
      await expect(simulate(otherChain, source, opts())).rejects.toMatchObject({ code: ErrorCode.InvalidArgument, message: expect.stringMatching(/chain id/) });
      expect(source.getAccountCalls).toEqual([]);
    });

    it('a source failure inside the EVM (GetCode) is thrown, not turned into an execution failure', async () => {
      const inner = world.source();
      const source: StateSource = {
        getAccount: (a, s) => inner.getAccount(a, s),
        getCode: async () => {
          throw errors.unavailable('shard 1 unavailable: connection refused');
        },
      };
      const raw = signTransaction(common, alice, { to: counter, nonce: 0n, gasLimit: 100_000n });
      await expect(simulate(raw, source, opts())).rejects.toMatchObject({ code: ErrorCode.Unavailable, message: 'shard 1 unavailable: connection refused' });
    });

    it('a source failure reading storage mid-execution is thrown', async () => {
      const inner = world.source();
      const source: StateSource = {
        getAccount: async (a, s) => {
          if (s.length > 0) throw errors.unavailable('shard 1 unavailable: deadline exceeded');
          return inner.getAccount(a, s);
        },
        getCode: (a) => inner.getCode(a),
      };
      const raw = signTransaction(common, alice, { to: counter, nonce: 0n, gasLimit: 100_000n });
      await expect(simulate(raw, source, opts())).rejects.toBeInstanceOf(ShardLabError);
    });

    it('refuses answers whose proofs do not match (tampered balance, slot value, code, reference)', async () => {
      const raw = signTransaction(common, alice, { to: counter, nonce: 0n, gasLimit: 100_000n });
      const tamper = (patch: (res: Awaited<ReturnType<StateSource['getAccount']>>) => void, code?: Uint8Array): StateSource => {
        const inner = world.source();
        return {
          getAccount: async (a, s) => {
            const res = await inner.getAccount(a, s);
            if (a === counter) patch(res);
            return res;
          },
          getCode: async (a) => code ?? inner.getCode(a),
        };
      };
      await expect(simulate(raw, tamper((r) => (r.account!.balance = '5')), opts())).rejects.toMatchObject({
        code: ErrorCode.Unavailable,
        message: expect.stringMatching(/invalid proof.*reported balance 5/),
      });
      await expect(
        simulate(raw, tamper((r) => r.storage[0] && (r.storage[0].value = slotOf(1))), opts()),
      ).rejects.toMatchObject({ code: ErrorCode.Unavailable, message: expect.stringMatching(/reported value/) });
      await expect(simulate(raw, tamper((r) => (r.reference!.stateRoot = world.shards[0]!.blocks[0]!.stateRoot)), opts())).rejects.toMatchObject({
        code: ErrorCode.Unavailable,
        message: expect.stringMatching(/account proof/),
      });
      await expect(simulate(raw, tamper(() => {}, Uint8Array.from([0x00])), opts())).rejects.toMatchObject({
        code: ErrorCode.Unavailable,
        message: expect.stringMatching(/GetCode.*hash/),
      });
    });
  });
});

/** The wire form of a raw transaction. */
function decodeAndWrap(raw: Uint8Array) {
  return toProtoTransaction(decodeTransaction(raw, common));
}
