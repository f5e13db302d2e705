import { keccak256 } from 'ethereum-cryptography/keccak.js';
import { MapDB, bytesToHex, createAddressFromString, createContractAddress } from '@ethereumjs/util';
import {
  BlockExecutor,
  createBlockExecutor,
  createChainCommon,
  decodeTransaction,
  devAccounts,
  signTransaction,
  type BlockExecution,
  type DecodedTx,
  type StepOutcome,
  type TxOutcome,
  type TxRequest,
  type WriteSetEntry,
  NONCE_SLOT,
  nonceWrite,
} from '../src';

const common = createChainCommon();
const accounts = devAccounts();
const alice = accounts[0]!;
const bob = accounts[1]!;
const carol = accounts[2]!;
const COINBASE = '0x00000000000000000000000000000000c0ffee00';
const BASE_FEE = 1_000_000_000n;
const ETHER = 10n ** 18n;
const GENESIS = new Map([
  [alice.address, 100n * ETHER],
  [bob.address, 50n * ETHER],
  [carol.address, 1n],
]);

/** init code: MSTORE the 5-byte runtime `PUSH1 0 PUSH1 0 REVERT` and RETURN it. */
const REVERTER_INIT = Uint8Array.from(Buffer.from('6460006000fd600052' + '6005' + '601b' + 'f3', 'hex'));
const REVERTER_RUNTIME = '0x60006000fd';

const tx = (from: typeof alice, req: TxRequest): DecodedTx => decodeTransaction(signTransaction(common, from, req), common);

async function fresh(genesis: ReadonlyMap<string, bigint> = GENESIS, db = new MapDB<string, Uint8Array>()): Promise<BlockExecutor> {
  const ex = await createBlockExecutor({ common, db, coinbase: COINBASE, baseFeePerGas: BASE_FEE });
  await ex.applyGenesis(genesis);
  return ex;
}

async function balances(ex: BlockExecutor, addrs: string[]): Promise<bigint[]> {
  return Promise.all(addrs.map(async (a) => (await ex.getAccount(a)).balance));
}

function executed(o: StepOutcome | undefined): Extract<TxOutcome, { kind: 'executed' }> {
  if (!o || o.kind !== 'executed') throw new Error(`expected an executed outcome, got ${JSON.stringify(o && { kind: o.kind, reason: 'reason' in o ? o.reason : '' })}`);
  return o;
}

describe('BlockExecutor', () => {
  it('has a deterministic genesis root, independent of allocation order and executor instance', async () => {
    const a = await fresh();
    const b = await fresh(new Map([...GENESIS].reverse()));
    const rootA = bytesToHex(await a.stateRoot());
    expect(rootA).toMatch(/^0x[0-9a-f]{64}$/);
    expect(bytesToHex(await b.stateRoot())).toBe(rootA);
    // A different allocation gives a different root.
    const c = await fresh(new Map([...GENESIS, [carol.address, 2n]]));
    expect(bytesToHex(await c.stateRoot())).not.toBe(rootA);
    expect(await a.getAccount(alice.address)).toEqual({ balance: 100n * ETHER, nonce: 0n, codeHash: expect.stringMatching(/^0xc5d2460186f7233c/) });
    expect((await a.getAccount('0x' + '12'.repeat(20))).balance).toBe(0n);
  });

  it('applyGenesis returns the state root', async () => {
    const ex = await createBlockExecutor({ common, db: new MapDB<string, Uint8Array>() });
    const root = await ex.applyGenesis(GENESIS);
    expect(bytesToHex(root)).toBe(bytesToHex(await ex.stateRoot()));
  });

  it('moves value and charges fees exactly: tip to the coinbase, base fee burned', async () => {
    const ex = await fresh();
    const who = [alice.address, bob.address, COINBASE];
    const [a0, b0, c0] = await balances(ex, who);
    const value = 3n * ETHER;
    const maxFee = 3n * BASE_FEE;
    const tip = 1_000_000_000n;
    const d = tx(alice, { to: bob.address, value, nonce: 0n, maxFeePerGas: maxFee, maxPriorityFeePerGas: tip });
    const r = await ex.executeBlock(1, 1_700_000_000_000, [d]);
    const o = executed(r.outcomes[0]);
    expect(o.success).toBe(true);
    expect(o.gasUsed).toBe(21_000n);
    expect(o.cumulativeGasUsed).toBe(21_000n);
    expect(r.gasUsed).toBe(21_000n);
    expect(o.effectiveGasPrice).toBe(BASE_FEE + tip);
    expect(o.logs).toEqual([]);
    expect(o.contractAddress).toBeUndefined();

    const [a1, b1, c1] = await balances(ex, who);
    expect(a0! - a1!).toBe(value + o.gasUsed * o.effectiveGasPrice);
    expect(b1! - b0!).toBe(value);
    expect(c1! - c0!).toBe(o.gasUsed * tip);
    const burned = o.gasUsed * BASE_FEE;
    expect(a0! + b0! + c0! - (a1! + b1! + c1!)).toBe(burned);
    expect((await ex.getAccount(alice.address)).nonce).toBe(1n);
    expect(bytesToHex(r.stateRoot)).toBe(bytesToHex(await ex.stateRoot()));
  });

  it('caps the tip at maxFee − baseFee and burns the base fee of legacy transactions too', async () => {
    const ex = await fresh();
    const who = [alice.address, bob.address, COINBASE];
    const before = await balances(ex, who);
    const capped = tx(alice, { to: bob.address, value: 1n, nonce: 0n, maxFeePerGas: BASE_FEE + 500n, maxPriorityFeePerGas: 10n ** 9n });
    const legacy = tx(bob, { to: alice.address, value: 2n, nonce: 0n, legacyGasPrice: BASE_FEE + 7n });
    const r = await ex.executeBlock(1, 1_700_000_000_000, [capped, legacy]);
    const o1 = executed(r.outcomes[0]);
    const o2 = executed(r.outcomes[1]);
    expect(o1.effectiveGasPrice).toBe(BASE_FEE + 500n);
    expect(o2.effectiveGasPrice).toBe(BASE_FEE + 7n);
    expect(o2.cumulativeGasUsed).toBe(42_000n);
    const after = await balances(ex, who);
    expect(after[2]! - before[2]!).toBe(21_000n * 500n + 21_000n * 7n);
    const supplyBefore = before.reduce((x, y) => x + y, 0n);
    const supplyAfter = after.reduce((x, y) => x + y, 0n);
    expect(supplyBefore - supplyAfter).toBe(42_000n * BASE_FEE);
  });

  it('rejects a transaction with a wrong nonce and changes nothing', async () => {
    const ex = await fresh();
    const root0 = bytesToHex(await ex.stateRoot());
    const who = [alice.address, bob.address, COINBASE];
    const before = await balances(ex, who);
    const r = await ex.executeBlock(1, 1_700_000_000_000, [tx(alice, { to: bob.address, value: 5n, nonce: 1n })]);
    expect(r.outcomes).toHaveLength(1);
    const o = r.outcomes[0]!;
    expect(o.kind).toBe('rejected');
    expect(o.kind === 'rejected' && o.reason).toMatch(/nonce/);
    expect(r.gasUsed).toBe(0n);
    expect(bytesToHex(r.stateRoot)).toBe(root0);
    expect(await balances(ex, who)).toEqual(before);
    expect((await ex.getAccount(alice.address)).nonce).toBe(0n);
  });

  it('rejects a transaction the sender cannot pay for, keeping the others of the block', async () => {
    const ex = await fresh();
    const poor = tx(carol, { to: bob.address, value: 0n, nonce: 0n });
    const ok = tx(alice, { to: bob.address, value: 1n, nonce: 0n });
    const r = await ex.executeBlock(1, 1_700_000_000_000, [poor, ok]);
    expect(r.outcomes.map((o) => o.kind)).toEqual(['rejected', 'executed']);
    expect(executed(r.outcomes[1]).cumulativeGasUsed).toBe(21_000n);
    expect((await ex.getAccount(carol.address)).balance).toBe(1n);
  });

  it('rejects transactions beyond the block gas limit', async () => {
    const ex = await createBlockExecutor({ common, db: new MapDB<string, Uint8Array>(), blockGasLimit: 50_000n });
    await ex.applyGenesis(GENESIS);
    const txs = [0n, 1n, 2n].map((nonce) => tx(alice, { to: bob.address, value: 1n, nonce }));
    const r = await ex.executeBlock(1, 1_700_000_000_000, txs);
    expect(r.outcomes.map((o) => o.kind)).toEqual(['executed', 'executed', 'rejected']);
    expect(r.outcomes[2]!.kind === 'rejected' && r.outcomes[2]!.reason).toBe('block gas limit reached');
    expect(r.gasUsed).toBe(42_000n);
  });

  it('executes a reverting call with success=false and still charges the fees', async () => {
    const ex = await fresh();
    const deploy = tx(alice, { nonce: 0n, gasLimit: 100_000n, data: REVERTER_INIT });
    const r1 = await ex.executeBlock(1, 1_700_000_000_000, [deploy]);
    const created = executed(r1.outcomes[0]);
    expect(created.success).toBe(true);
    const expectedAddress = createContractAddress(createAddressFromString(alice.address), 0n).toString();
    expect(created.contractAddress).toBe(expectedAddress);

    const before = await balances(ex, [alice.address, COINBASE, expectedAddress]);
    const call = tx(alice, { to: expectedAddress, nonce: 1n, gasLimit: 100_000n, value: 10n, maxFeePerGas: 2n * BASE_FEE, maxPriorityFeePerGas: 3n });
    const r2 = await ex.executeBlock(2, 1_700_000_001_000, [call]);
    const o = executed(r2.outcomes[0]);
    expect(o.success).toBe(false);
    expect(o.error).toMatch(/revert/);
    // 21,000 intrinsic + PUSH1 + PUSH1 (3 each); REVERT costs nothing and unused gas is refunded.
    expect(o.gasUsed).toBe(21_006n);
    expect(o.effectiveGasPrice).toBe(BASE_FEE + 3n);
    const after = await balances(ex, [alice.address, COINBASE, expectedAddress]);
    expect(before[0]! - after[0]!).toBe(o.gasUsed * o.effectiveGasPrice); // value returned on revert
    expect(after[1]! - before[1]!).toBe(o.gasUsed * 3n);
    expect(after[2]).toBe(before[2]); // the contract did not receive the value
    expect((await ex.getAccount(alice.address)).nonce).toBe(2n);
    expect(r2.stateRoot).not.toEqual(r1.stateRoot);
  });

  it('stores the runtime code of a created contract', async () => {
    const ex = await fresh();
    const r = await ex.executeBlock(1, 1_700_000_000_000, [tx(alice, { nonce: 0n, gasLimit: 100_000n, data: REVERTER_INIT })]);
    const acc = await ex.getAccount(executed(r.outcomes[0]).contractAddress!);
    expect(acc.codeHash).toBe(bytesToHex(keccak256(Buffer.from(REVERTER_RUNTIME.slice(2), 'hex'))));
  });

  it('applies a write set in order: created code (nonce 1), then the nonce, then storage', async () => {
    const ex = await fresh();
    const created = '0x' + 'c7'.repeat(20);
    const factory = createContractAddress(createAddressFromString(alice.address), 0n).toString();
    await ex.executeBlock(1, 1_700_000_000_000, [tx(alice, { nonce: 0n, gasLimit: 100_000n, data: REVERTER_INIT })]);
    expect((await ex.getAccount(factory)).nonce).toBe(1n);
    const word = (n: bigint) => '0x' + n.toString(16).padStart(64, '0');
    const writeSet = (address: string, writes: WriteSetEntry[]) => ({ kind: 'system' as const, op: { kind: 'write-set' as const, txHash: '0x' + '11'.repeat(32), address, amount: 0n, writes } });
    await ex.executeBlock(2, 1_700_000_001_000, [
      // A contract created by a contract whose constructor created another: nonce 2.
      writeSet(created, [{ slot: '', oldValue: '', newValue: REVERTER_RUNTIME }, nonceWrite(0n, 2n), { slot: word(3n), oldValue: word(0n), newValue: word(9n) }]),
      // The factory that ran CREATE: only its nonce.
      writeSet(factory, [nonceWrite(1n, 2n)]),
    ]);
    const c = await ex.getAccount(created);
    expect(c.nonce).toBe(2n);
    expect(c.codeHash).toBe(bytesToHex(keccak256(Buffer.from(REVERTER_RUNTIME.slice(2), 'hex'))));
    expect(await ex.getStorage(created, word(3n))).toBe(word(9n));
    expect(await ex.getAccount(factory)).toMatchObject({ nonce: 2n, codeHash: bytesToHex(keccak256(Buffer.from(REVERTER_RUNTIME.slice(2), 'hex'))) });
    expect(NONCE_SLOT).toBe('nonce');
    expect(nonceWrite(1n, 2n)).toEqual({ slot: 'nonce', oldValue: word(1n), newValue: word(2n) });
  });

  it('is deterministic: replaying the same blocks on a fresh executor gives the same state roots', async () => {
    const blocks: DecodedTx[][] = [
      [tx(alice, { to: bob.address, value: ETHER, nonce: 0n }), tx(bob, { to: carol.address, value: 7n, nonce: 0n, legacyGasPrice: 2n * BASE_FEE })],
      [tx(alice, { nonce: 1n, gasLimit: 100_000n, data: REVERTER_INIT }), tx(alice, { to: bob.address, value: 1n, nonce: 5n })],
      [tx(alice, { to: createContractAddress(createAddressFromString(alice.address), 1n).toString(), nonce: 2n, gasLimit: 60_000n })],
      [],
    ];
    const run = async (): Promise<BlockExecution[]> => {
      const ex = await fresh();
      const out: BlockExecution[] = [];
      for (const [i, txs] of blocks.entries()) out.push(await ex.executeBlock(i + 1, 1_700_000_000_000 + i * 1000, txs));
      return out;
    };
    const first = await run();
    const second = await run();
    const roots = (xs: BlockExecution[]) => xs.map((x) => bytesToHex(x.stateRoot));
    expect(roots(second)).toEqual(roots(first));
    expect(new Set(roots(first).slice(0, 3)).size).toBe(3);
    expect(roots(first)[3]).toBe(roots(first)[2]); // an empty block changes nothing
    expect(first[1]!.outcomes.map((o) => o.kind)).toEqual(['executed', 'rejected']);
    expect(second.map((x) => x.gasUsed)).toEqual(first.map((x) => x.gasUsed));
  });

  it('reopens at a stored root and moves between roots with setStateRoot', async () => {
    const db = new MapDB<string, Uint8Array>();
    const ex = await fresh(GENESIS, db);
    const root0 = await ex.stateRoot();
    const r1 = await ex.executeBlock(1, 1_700_000_000_000, [tx(alice, { to: bob.address, value: 123n, nonce: 0n })]);
    const bobAfter = (await ex.getAccount(bob.address)).balance;
    expect(bobAfter).toBe(50n * ETHER + 123n);

    const reopened = await createBlockExecutor({ common, db, stateRoot: r1.stateRoot, coinbase: COINBASE });
    expect((await reopened.getAccount(bob.address)).balance).toBe(bobAfter);
    expect(bytesToHex(await reopened.stateRoot())).toBe(bytesToHex(r1.stateRoot));

    await ex.setStateRoot(root0);
    expect((await ex.getAccount(bob.address)).balance).toBe(50n * ETHER);
    expect((await ex.getAccount(alice.address)).nonce).toBe(0n);
    await ex.setStateRoot(r1.stateRoot);
    expect((await ex.getAccount(bob.address)).balance).toBe(bobAfter);
  });
});

describe('BlockExecutor guards', () => {
  const foreign = '0x' + 'ab'.repeat(19) + '03';

  it('undoes and rejects a local transaction that writes an account placed on another shard', async () => {
    const ex = await fresh();
    // init code: CALL(gas, foreign, 1 wei, 0, 0, 0, 0); STOP — the created contract forwards its value.
    const init = Uint8Array.from(Buffer.from('6000600060006000600173' + foreign.slice(2) + '5af100', 'hex'));
    const before = await ex.getAccount(alice.address);
    const r = await ex.executeBlock(1, 1_700_000_000_000, [tx(alice, { value: 1n, nonce: 0n, gasLimit: 200_000n, data: init })], () => 0n, (a) => a !== foreign);
    const o = r.outcomes[0]!;
    expect(o.kind).toBe('rejected');
    expect(o.kind === 'rejected' && o.reason).toMatch(new RegExp(`writes account ${foreign}, placed on another shard`));
    expect((await ex.getAccount(foreign)).balance).toBe(0n);
    expect(await ex.getAccount(alice.address)).toEqual(before);
    // The same transaction is fine when the account is local.
    const ok = await ex.executeBlock(2, 1_700_000_000_000, [tx(alice, { value: 1n, nonce: 0n, gasLimit: 200_000n, data: init })]);
    expect(executed(ok.outcomes[0]).success).toBe(true);
    expect((await ex.getAccount(foreign)).balance).toBe(1n);
  });

  it('defers a transaction that does not fit in the block, with its sender’s later ones', async () => {
    const ex = await createBlockExecutor({ common, db: new MapDB<string, Uint8Array>(), blockGasLimit: 42_000n });
    await ex.applyGenesis(GENESIS);
    const r = await ex.executeBlock(1, 1_700_000_000_000, [
      tx(alice, { to: bob.address, value: 1n, nonce: 0n }),
      tx(alice, { to: bob.address, value: 1n, nonce: 1n }),
      tx(alice, { to: bob.address, value: 1n, nonce: 2n }),
      tx(bob, { to: alice.address, value: 1n, nonce: 0n }),
    ]);
    expect(r.outcomes.map((o) => o.kind)).toEqual(['executed', 'executed', 'rejected', 'rejected']);
    expect(r.outcomes.slice(2).every((o) => o.kind === 'rejected' && o.deferred === true)).toBe(true);
    expect((await ex.getAccount(alice.address)).nonce).toBe(2n);
  });
});

describe('decodeTransaction intrinsic gas', () => {
  it('refuses a gas limit below the intrinsic gas (calldata counted)', () => {
    const raw = signTransaction(common, alice, { to: bob.address, nonce: 0n, gasLimit: 21_000n, data: new Uint8Array(100).fill(1) });
    expect(() => decodeTransaction(raw, common)).toThrow(/gas limit 21000 is below the intrinsic gas 22600/);
  });
});

describe('BlockExecutor as a reader with remembered account states', () => {
  it('answers the new state of the accounts a block changed after advanceTo, and remembers the others', async () => {
    const db = new MapDB<string, Uint8Array>();
    const writer = await fresh(GENESIS, db);
    const genesisRoot = await writer.stateRoot();
    const reader = await createBlockExecutor({ common, db, coinbase: COINBASE, baseFeePerGas: BASE_FEE, stateRoot: genesisRoot });
    reader.enableAccountStateCache();
    expect(await balances(reader, [alice.address, bob.address, carol.address])).toEqual([100n * ETHER, 50n * ETHER, 1n]);
    // Block 1 moves 5 ether from alice to carol; bob is untouched.
    const r = await writer.executeBlock(1, 1_700_000_000_000, [tx(alice, { to: carol.address, value: 5n * ETHER, nonce: 0n })]);
    expect(r.touched).toEqual(expect.arrayContaining([alice.address, carol.address]));
    expect(r.touched).not.toContain(bob.address);
    await reader.advanceTo(r.stateRoot, r.touched, bytesToHex(genesisRoot));
    for (const a of [alice.address, bob.address, carol.address]) {
      expect(await reader.getAccount(a)).toEqual(await writer.getAccount(a));
    }
    expect((await reader.getAccount(alice.address)).nonce).toBe(1n);
    expect((await reader.getAccount(carol.address)).balance).toBe(5n * ETHER + 1n);
  });

  it('forgets every remembered state when it missed a block (advanceTo from another parent)', async () => {
    const db = new MapDB<string, Uint8Array>();
    const writer = await fresh(GENESIS, db);
    const reader = await createBlockExecutor({ common, db, coinbase: COINBASE, baseFeePerGas: BASE_FEE, stateRoot: await writer.stateRoot() });
    reader.enableAccountStateCache();
    expect((await reader.getAccount(bob.address)).nonce).toBe(0n);
    const b1 = await writer.executeBlock(1, 1_700_000_000_000, [tx(bob, { to: carol.address, value: 7n, nonce: 0n })]);
    const b2 = await writer.executeBlock(2, 1_700_000_000_250, [tx(alice, { to: carol.address, value: 7n, nonce: 0n })]);
    // The reader never saw block 1 (which wrote bob): moved to block 2 from block 1's root.
    await reader.advanceTo(b2.stateRoot, b2.touched, bytesToHex(b1.stateRoot));
    expect((await reader.getAccount(bob.address)).nonce).toBe(1n);
  });

  it('forgets every remembered state on setStateRoot (e.g. back to an older root)', async () => {
    const db = new MapDB<string, Uint8Array>();
    const writer = await fresh(GENESIS, db);
    const genesisRoot = await writer.stateRoot();
    const r = await writer.executeBlock(1, 1_700_000_000_000, [tx(bob, { to: carol.address, value: 7n, nonce: 0n })]);
    const reader = await createBlockExecutor({ common, db, coinbase: COINBASE, baseFeePerGas: BASE_FEE, stateRoot: r.stateRoot });
    reader.enableAccountStateCache();
    expect((await reader.getAccount(bob.address)).nonce).toBe(1n);
    await reader.setStateRoot(genesisRoot);
    expect((await reader.getAccount(bob.address)).nonce).toBe(0n);
    expect((await reader.getAccount(carol.address)).balance).toBe(1n);
  });

  it('neither remembers nor answers from memory while a dry run holds uncommitted writes', async () => {
    // Reads interleaved at every await point of a dry run: none may leave its state behind.
    let interleaved = 0;
    for (let k = 0; k < 400; k++) {
      const reader = await createBlockExecutor({ common, db: new MapDB<string, Uint8Array>() });
      await reader.applyGenesis(new Map([[alice.address, 100n * ETHER]]));
      reader.enableAccountStateCache();
      const d = tx(alice, { to: bob.address, value: ETHER, nonce: 0n, data: Uint8Array.from([1, 2, 3]), gasLimit: 100_000n });
      let done = false;
      const run = reader.touchedBy(d, 1, 1_700_000_000_000).then(() => (done = true));
      for (let i = 0; i < k; i++) await Promise.resolve();
      if (done) break;
      interleaved++;
      await reader.getAccount(alice.address);
      await run;
      expect(await reader.getAccount(alice.address)).toMatchObject({ balance: 100n * ETHER, nonce: 0n });
    }
    expect(interleaved).toBeGreaterThan(10);
  });
});
