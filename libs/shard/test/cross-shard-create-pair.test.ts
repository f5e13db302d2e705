/**
 * CREATE inside a cross-shard call (issue 12, item 5): Uniswap V2's `factory.createPair` (a
 * CREATE2) sent from a shard-0 account to the factory on shard 1, the new pair placed on shard 2.
 * The simulator's RwSet carries the pair's created code, its storage and nonce 1 and the factory's
 * new nonce; the shards apply them at the commit. The final state of every contract (nonce,
 * balance, code hash, storage root) and the sender's must equal one unsharded @ethereumjs/vm
 * (RefChain) running the same transactions, and the audit must pass.
 *
 * Runs on the deterministic in-memory network of protocol-harness.ts (shards and orchestrator
 * without timers, the simulator in process).
 */
import { auditNetwork } from '@shardlab/audit';
import { createAddressFromString, createContractAddress } from '@ethereumjs/util';
import { createPlacement, devAccounts, shardOf, type DevAccount } from '@shardlab/chain';
import { BUILDS, PAIR_INIT_CODE_HASH, RefChain, TOKEN_SUPPLY, calldata, nestedMappingSlot, pairAddress, slotKey, sortTokens, word } from '@shardlab/contracts';
import { TxStatus, type AddressRwSet, type RwSet } from '@shardlab/proto';
import { genesisAllocation } from '../src';
import { verifyAccountProof } from '../src/proofs';
import { Network } from './protocol-harness';

const SHARDS = 3;
const SENDER_SHARD = 0;
const FACTORY_SHARD = 1;
const PAIR_SHARD = 2;

const dev = devAccounts();
const byDefault = createPlacement(SHARDS);
const on = (s: number) => dev.filter((a) => shardOf(byDefault, a.address) === s);
const createdBy = (a: DevAccount, nonce: bigint) => createContractAddress(createAddressFromString(a.address), nonce).toString();

const [trader, holderA] = on(SENDER_SHARD) as [DevAccount, DevAccount];
const [factoryDeployer] = on(FACTORY_SHARD) as [DevAccount];
const [holderB, holderC] = on(PAIR_SHARD) as [DevAccount, DevAccount];
const factory = createdBy(factoryDeployer, 0n);
const tokenA = createdBy(holderA, 0n);
const tokenB = createdBy(holderB, 0n);
const tokenC = createdBy(holderC, 0n);
const pairAB = pairAddress(factory, tokenA, tokenB, PAIR_INIT_CODE_HASH);
const pairAC = pairAddress(factory, tokenA, tokenC, PAIR_INIT_CODE_HASH);
/** Contracts where their deployers are (local deployments), pairs on a third shard. */
const placement = createPlacement(SHARDS, 1, [
  [factory, FACTORY_SHARD],
  [tokenA, SENDER_SHARD],
  [tokenB, PAIR_SHARD],
  [tokenC, PAIR_SHARD],
  [pairAB, PAIR_SHARD],
  [pairAC, PAIR_SHARD],
]);

/** A request as RefChain takes it (hex data without 0x) and its form for the network. */
interface Req {
  to?: string;
  data: string;
  gasLimit: bigint;
}

/** Submits `req` from `from` (its next nonce) on the network and on the reference; returns the hash. */
async function both(net: Network, ref: RefChain, from: DevAccount, req: Req): Promise<string> {
  const nonce = BigInt((await net.home(from.address).getAccount(from.address)).nonce);
  expect(nonce).toBe(await ref.nonce(from.address));
  const res = await net.submit(from, { ...(req.to ? { to: req.to } : {}), nonce, gasLimit: req.gasLimit, data: Buffer.from(req.data, 'hex') });
  const r = await ref.run(from, req);
  expect(r).toMatchObject({ success: true });
  return res.txHash;
}

/** The account as the network holds it now, proven against its shard's head state root. */
async function netAccount(net: Network, address: string) {
  const p = await net.home(address).getProof(address, []);
  const a = await verifyAccountProof(p.reference!.stateRoot, address, p.accountProof);
  return { exists: a.exists, nonce: a.nonce, balance: a.balance, codeHash: a.codeHash, storageRoot: a.storageRoot };
}

/** The same account on the reference. */
async function refAccount(ref: RefChain, address: string) {
  await ref.vm.stateManager.getStateRoot(); // flushes storage tries into the accounts' storage roots
  const a = await ref.vm.stateManager.getAccount(createAddressFromString(address));
  const hex = (b: Uint8Array) => '0x' + Buffer.from(b).toString('hex');
  return a
    ? { exists: true, nonce: a.nonce, balance: a.balance, codeHash: hex(a.codeHash), storageRoot: hex(a.storageRoot) }
    : { exists: false, nonce: 0n, balance: 0n, codeHash: '0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470', storageRoot: '0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421' };
}

/** The RwSet the orchestrator ordered for `txHash`. */
async function orderedRwSet(net: Network, txHash: string): Promise<RwSet> {
  for (let h = 0; h <= net.orchestrator.headInfo().height; h++) {
    const found = (await net.orchestrator.getBlock(h)).ctToOrder.find((c) => c.tx?.hash === txHash);
    if (found?.rwSet) return found.rwSet;
  }
  throw new Error(`no ordered RwSet for ${txHash}`);
}

const itemOf = (rw: RwSet, address: string): AddressRwSet => {
  const i = rw.addresses.find((a) => a.address === address);
  if (!i) throw new Error(`${address} not in the RwSet`);
  return i;
};

describe('createPair as a cross-shard call (CREATE2 inside a call)', () => {
  it('places factory, pair and sender on three shards', () => {
    expect([trader.address, factory, pairAB, pairAC].map((a) => shardOf(placement, a))).toEqual([SENDER_SHARD, FACTORY_SHARD, PAIR_SHARD, PAIR_SHARD]);
    expect(new Set([trader, holderA, factoryDeployer, holderB, holderC]).size).toBe(5);
    for (const a of [trader, holderA, factoryDeployer, holderB, holderC]) expect(shardOf(placement, a.address)).toBe(shardOf(byDefault, a.address));
  });

  it('commits, applies the pair (code, storage, nonce 1) and the factory (storage, nonce + 1) on their shards, and matches the unsharded run', async () => {
    const net = await Network.create({ shardCount: SHARDS, genesis: genesisAllocation(), placement, simulator: true });
    const ref = await RefChain.create(net.common, dev);

    // Local deployments: the factory on shard 1, the tokens on shards 0 and 2.
    for (const [from, req] of [
      [factoryDeployer, { data: BUILDS.UniswapV2Factory + word(factoryDeployer.address), gasLimit: 6_000_000n }],
      [holderA, { data: BUILDS.ERC20 + word(TOKEN_SUPPLY), gasLimit: 3_000_000n }],
      [holderB, { data: BUILDS.ERC20 + word(TOKEN_SUPPLY), gasLimit: 3_000_000n }],
      [holderC, { data: BUILDS.ERC20 + word(TOKEN_SUPPLY), gasLimit: 3_000_000n }],
    ] as const) {
      const h = await both(net, ref, from, req);
      await net.settle();
      expect((await net.home(from.address).getTransaction(h)).status).toBe(TxStatus.TX_STATUS_FINAL);
    }
    const factoryBefore = await netAccount(net, factory);
    expect(factoryBefore).toMatchObject({ exists: true, nonce: 1n });
    expect(await netAccount(net, pairAB)).toMatchObject({ exists: false });

    // createPair(A, B) from shard 0: cross-shard, committed.
    const create = { to: factory, data: calldata('createPair(address,address)', tokenA, tokenB), gasLimit: 5_000_000n };
    const h = await both(net, ref, trader, create);
    await net.settle();
    expect(net.orchestrator.status(h)).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, reason: '' });
    expect(await net.systemOps(SENDER_SHARD, h)).toEqual(['LOCK', 'DEBIT']);
    expect(await net.systemOps(FACTORY_SHARD, h)).toEqual(['WRITE_SET', 'CREDIT']); // the recipient is credited, with 0 wei
    expect(await net.systemOps(PAIR_SHARD, h)).toEqual(['WRITE_SET']);

    // What the simulator's RwSet said.
    const rw = await orderedRwSet(net, h);
    const pairItem = itemOf(rw, pairAB);
    expect(pairItem).toMatchObject({ shardId: PAIR_SHARD, newNonce: 1, balanceRead: false, reads: [{ slot: '', value: '0x' }, ...pairItem.reads.slice(1)] });
    expect(pairItem.createdCode).toMatch(/^0x[0-9a-f]+$/);
    expect(pairItem.writes.length).toBeGreaterThanOrEqual(3); // factory, token0, token1 (and the reentrancy lock)
    expect(itemOf(rw, factory)).toMatchObject({ shardId: FACTORY_SHARD, newNonce: 2, createdCode: '', balanceRead: false });
    expect(itemOf(rw, trader.address)).toMatchObject({ shardId: SENDER_SHARD, balanceRead: true });
    expect(itemOf(rw, trader.address).newNonce).toBeUndefined();

    // What the shards applied: the pair's storage and the factory's getPair, both ways.
    const [t0, t1] = sortTokens(tokenA, tokenB);
    const pairSlots = await net.home(pairAB).getProof(pairAB, [slotKey(5n), slotKey(6n), slotKey(7n)]);
    expect(pairSlots.storage.map((s) => s.value)).toEqual([factory, t0, t1].map((a) => '0x' + word(a)));
    const getPair = await net.home(factory).getProof(factory, [nestedMappingSlot(tokenA, tokenB, 2n), nestedMappingSlot(tokenB, tokenA, 2n)]);
    expect(getPair.storage.map((s) => s.value)).toEqual(['0x' + word(pairAB), '0x' + word(pairAB)]);
    expect((await net.home(pairAB).getCode(pairAB)).code.toString('hex')).toBe(pairItem.createdCode.slice(2));

    // A second pair (A, C): the factory's nonce moves on from the one the first commit applied.
    const h2 = await both(net, ref, trader, { to: factory, data: calldata('createPair(address,address)', tokenA, tokenC), gasLimit: 5_000_000n });
    await net.settle();
    expect(net.orchestrator.status(h2)).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, reason: '' });
    expect(itemOf(await orderedRwSet(net, h2), factory).newNonce).toBe(3);

    // The unsharded reference: same accounts (nonce, balance, code hash, storage root).
    for (const a of [factory, pairAB, pairAC, tokenA, tokenB, tokenC, trader.address]) {
      expect({ a, ...(await netAccount(net, a)) }).toEqual({ a, ...(await refAccount(ref, a)) });
    }
    expect(await netAccount(net, factory)).toMatchObject({ nonce: 3n });
    expect(await netAccount(net, pairAB)).toMatchObject({ nonce: 1n });

    // createPair of an existing pair reverts in simulation, as it does on the reference.
    const again = await net.submit(trader, { to: factory, nonce: 2n, gasLimit: 5_000_000n, data: Buffer.from(create.data, 'hex') });
    await net.settle();
    expect(net.orchestrator.status(again.txHash)).toMatchObject({ status: TxStatus.TX_STATUS_ABORTED, reason: expect.stringContaining('UniswapV2: PAIR_EXISTS') });
    expect(await ref.run(trader, create)).toMatchObject({ success: false });

    const report = auditNetwork(await net.auditInput());
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
  }, 120_000);
});
