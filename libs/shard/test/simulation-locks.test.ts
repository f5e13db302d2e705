import { status } from '@grpc/grpc-js';
import { createChainCommon, createPlacement, devAccounts, shardOf, signTransaction, type DevAccount } from '@shardlab/chain';
import { ErrorCode } from '@shardlab/common';
import { TxStatus, type GetProofResponse, type ReleaseSimulationLocksResponse, type StateShardServiceClient } from '@shardlab/proto';
import type { RunningServer } from '@shardlab/rpc';
import { MemoryKV, ShardStore } from '@shardlab/storage';
import { silentLogger } from '@shardlab/telemetry';
import { serveShard } from './serve';
import { grpcError, rawCall, rejection } from '@shardlab/testing';
import {
  DEFAULT_SIMULATION_LOCK_TTL_MS,
  MAX_SIMULATION_LOCK_TTL_MS,
  SimulationLocks,
  createShardNode,
  genesisAllocation,
  parseLockRequest,
  type ShardNode,
} from '../src';

const TX_A = '0x' + 'aa'.repeat(32);
const TX_B = '0x' + 'bb'.repeat(32);
const ADDR = '0x' + '11'.repeat(20);

describe('SimulationLocks (the table)', () => {
  const clock = { ms: 1_000 };
  const table = () => new SimulationLocks({ now: () => clock.ms });

  it('grants, refuses another transaction until expiry, extends for the same one, and tells expired from not held', () => {
    const t = table();
    expect(t.acquire(ADDR, TX_A, 500)).toEqual({ lock: { address: ADDR, txHash: TX_A, expiresAtMs: 1_500 } });
    expect(t.acquire(ADDR, TX_B)).toEqual({ conflict: { address: ADDR, txHash: TX_A, expiresAtMs: 1_500 } });
    expect(t.state(ADDR, TX_A)).toBe('held');
    expect(t.state(ADDR, TX_B)).toBe('not held');
    clock.ms = 1_200;
    // The same transaction extends (never shortens) its lock.
    expect(t.acquire(ADDR, TX_A, 100)).toEqual({ lock: { address: ADDR, txHash: TX_A, expiresAtMs: 1_500 } });
    expect(t.acquire(ADDR, TX_A, 1_000)).toEqual({ lock: { address: ADDR, txHash: TX_A, expiresAtMs: 2_200 } });
    clock.ms = 2_199;
    expect(t.isLocked(ADDR)).toBe(true);
    clock.ms = 2_200;
    expect(t.isLocked(ADDR)).toBe(false);
    expect(t.holder(ADDR)).toBeUndefined();
    expect(t.state(ADDR, TX_A)).toBe('expired');
    // An expired lock is taken over by another transaction.
    expect(t.acquire(ADDR, TX_B)).toEqual({ lock: { address: ADDR, txHash: TX_B, expiresAtMs: 2_200 + DEFAULT_SIMULATION_LOCK_TTL_MS } });
    expect(t.state(ADDR, TX_A)).toBe('not held');
    expect(t.release(TX_A)).toBe(0);
    expect(t.release(TX_B)).toBe(1);
    expect(t.size).toBe(0);
  });

  it('caps the TTL, releases every address of a transaction, and sweeps long-expired entries', () => {
    clock.ms = 0;
    const t = table();
    expect(t.grantedTtl()).toBe(DEFAULT_SIMULATION_LOCK_TTL_MS);
    expect(t.grantedTtl(10 ** 9)).toBe(MAX_SIMULATION_LOCK_TTL_MS);
    expect(t.acquire(ADDR, TX_A, 10 ** 9)).toEqual({ lock: { address: ADDR, txHash: TX_A, expiresAtMs: MAX_SIMULATION_LOCK_TTL_MS } });
    const other = '0x' + '22'.repeat(20);
    t.acquire(other, TX_A, 10);
    t.acquire('0x' + '33'.repeat(20), TX_B, 10);
    expect(t.list().map((l) => l.txHash)).toEqual([TX_A, TX_A, TX_B]);
    clock.ms = 10 + MAX_SIMULATION_LOCK_TTL_MS;
    expect(t.sweep()).toBe(2); // the two 10 ms locks, expired a full maximum TTL ago
    expect(t.list()).toEqual([{ address: ADDR, txHash: TX_A, expiresAtMs: MAX_SIMULATION_LOCK_TTL_MS }]);
    expect(t.release(TX_A)).toBe(1);
  });

  it('validates lock requests', async () => {
    expect(parseLockRequest(undefined, undefined)).toBeUndefined();
    expect(parseLockRequest('', undefined)).toBeUndefined();
    expect(parseLockRequest(TX_A.toUpperCase().replace('0X', '0x'), 5)).toEqual({ txHash: TX_A, ttlMs: 5 });
    expect((await rejection(() => parseLockRequest('0x1234', undefined))).code).toBe(ErrorCode.InvalidArgument);
    expect((await rejection(() => parseLockRequest(TX_A, 0))).message).toMatch(/lock_ttl_ms must be a positive/);
    expect((await rejection(() => parseLockRequest(undefined, 100))).message).toMatch(/only valid with tx_hash/);
    expect(() => new SimulationLocks({ maxTtlMs: 0 })).toThrow(/positive/);
  });
});

describe('simulation locks on a shard node (GetProof with tx_hash)', () => {
  const common = createChainCommon();
  const placement = createPlacement(4);
  const SHARD = 0;
  const dev = devAccounts();
  const [alice, bob] = dev.filter((a) => shardOf(placement, a.address) === SHARD) as [DevAccount, DevAccount];
  const remote = dev.find((a) => shardOf(placement, a.address) !== SHARD)!;
  const clock = { ms: 1_700_000_000_000 };
  const logger = silentLogger();
  let node: ShardNode;
  let server: RunningServer;
  let client: StateShardServiceClient;
  let nonce = 0n;
  /** A transfer alice → bob in a block (bob's balance changes). */
  const payBob = async () => {
    const res = await node.submit(signTransaction(common, alice, { to: bob.address, value: 1n, nonce: nonce++ }));
    clock.ms += 100;
    await node.produceBlock();
    return res.txHash;
  };

  beforeAll(async () => {
    node = await createShardNode({ shardId: SHARD, placement, common, store: await ShardStore.open(new MemoryKV()), logger, genesis: genesisAllocation(), now: () => clock.ms });
    ({ server, client } = await serveShard(node, logger));
  });

  afterAll(async () => {
    client.close();
    await server.close();
    await node.stop();
  });

  afterEach(() => {
    node.releaseSimulationLocks(TX_A);
    node.releaseSimulationLocks(TX_B);
  });

  it('another transaction is refused with ABORTED naming the holder; the same one extends; release or expiry frees it', async () => {
    const bobAddr = bob.address;
    await node.getProof(bobAddr, [], undefined, { txHash: TX_A, ttlMs: 1_000 });
    expect(node.simulationLocks()).toEqual([{ address: bobAddr, txHash: TX_A, expiresAtMs: clock.ms + 1_000 }]);
    const err = await rejection(node.getProof(bobAddr, [], undefined, { txHash: TX_B }));
    expect(err.code).toBe(ErrorCode.Aborted);
    expect(err.message).toBe(`${bobAddr} is locked by transaction ${TX_A} (simulation lock, expires in 1000 ms)`);
    // Without a tx hash a read is never refused (and takes nothing).
    await expect(node.getProof(bobAddr, [])).resolves.toMatchObject({ account: { address: bobAddr } });
    // The same transaction again: served, and its lock extended.
    clock.ms += 500;
    await node.getProof(bobAddr, [], undefined, { txHash: TX_A, ttlMs: 1_000 });
    expect(node.simulationLocks()).toEqual([{ address: bobAddr, txHash: TX_A, expiresAtMs: clock.ms + 1_000 }]);
    // Released: the other transaction gets it.
    expect(node.releaseSimulationLocks(TX_A)).toBe(1);
    expect(node.releaseSimulationLocks(TX_A)).toBe(0);
    await node.getProof(bobAddr, [], undefined, { txHash: TX_B, ttlMs: 200 });
    expect((await rejection(node.getProof(bobAddr, [], undefined, { txHash: TX_A }))).message).toContain(`locked by transaction ${TX_B}`);
    // Expired: the first one gets it back (taking it over).
    clock.ms += 200;
    await node.getProof(bobAddr, [], undefined, { txHash: TX_A });
    expect(node.simulationLocks()).toEqual([{ address: bobAddr, txHash: TX_A, expiresAtMs: clock.ms + DEFAULT_SIMULATION_LOCK_TTL_MS }]);
  });

  it('refuses a locked read at a height after which the address changed (it would be stale)', async () => {
    const h = node.head().height;
    await payBob();
    const err = await rejection(node.getProof(bob.address, [], h, { txHash: TX_A }));
    expect(err.code).toBe(ErrorCode.Aborted);
    expect(err.message).toMatch(new RegExp(`${bob.address} changed after height ${h}`));
    expect(node.simulationLocks()).toEqual([]);
    // Unchanged since that height: served at it, and locked.
    const untouched = '0x' + '44'.repeat(19) + '00';
    expect(shardOf(placement, untouched)).toBe(SHARD);
    const res = await node.getProof(untouched, [], h, { txHash: TX_A });
    expect(res.reference!.height).toBe(h);
    expect(node.simulationLocks().map((l) => l.address)).toEqual([untouched]);
  });

  it('a local transaction writing a simulation-locked address waits until the lock is released', async () => {
    await node.getProof(bob.address, [], undefined, { txHash: TX_A });
    const before = BigInt((await node.getAccount(bob.address)).balance);
    const hash = await payBob();
    await node.produceBlock();
    expect((await node.getTransaction(hash)).status).toBe(TxStatus.TX_STATUS_QUEUED);
    expect(BigInt((await node.getAccount(bob.address)).balance)).toBe(before);
    node.releaseSimulationLocks(TX_A);
    await node.produceBlock();
    expect((await node.getTransaction(hash)).status).toBe(TxStatus.TX_STATUS_FINAL);
    expect(BigInt((await node.getAccount(bob.address)).balance)).toBe(before + 1n);
  });

  it('a local transaction waiting for an address is served before new simulations of it', async () => {
    await node.getProof(bob.address, [], undefined, { txHash: TX_A });
    const hash = await payBob(); // waits: bob is locked by TX_A
    expect((await node.getTransaction(hash)).status).toBe(TxStatus.TX_STATUS_QUEUED);
    // The holder may go on reading it.
    await node.getProof(bob.address, [], undefined, { txHash: TX_A });
    node.releaseSimulationLocks(TX_A);
    // Released, but the waiting transfer comes first: no new simulation lock until it has run.
    for (const tx of [TX_A, TX_B]) {
      const err = await rejection(node.getProof(bob.address, [], undefined, { txHash: tx }));
      expect(err.code).toBe(ErrorCode.Aborted);
      expect(err.message).toBe(`${bob.address} is wanted by a local transaction waiting to write it: simulate again once it has run`);
    }
    await node.produceBlock();
    expect((await node.getTransaction(hash)).status).toBe(TxStatus.TX_STATUS_FINAL);
    await node.getProof(bob.address, [], undefined, { txHash: TX_B });
    expect(node.simulationLocks().map((l) => [l.address, l.txHash])).toEqual([[bob.address, TX_B]]);
  });

  it('a local transaction writing a simulation-locked address waits until the lock expires', async () => {
    await node.getProof(bob.address, [], undefined, { txHash: TX_A, ttlMs: 1_000 });
    const before = BigInt((await node.getAccount(bob.address)).balance);
    const hash = await payBob(); // the block's clock is 100 ms on: still locked
    expect((await node.getTransaction(hash)).status).toBe(TxStatus.TX_STATUS_QUEUED);
    clock.ms += 900; // the next block is planned exactly at the expiry
    await node.produceBlock();
    expect((await node.getTransaction(hash)).status).toBe(TxStatus.TX_STATUS_FINAL);
    expect(BigInt((await node.getAccount(bob.address)).balance)).toBe(before + 1n);
  });

  describe('over gRPC', () => {
    const proof = (req: { address: string; txHash?: string; lockTtlMs?: number; height?: number }) =>
      rawCall<GetProofResponse>((cb) => client.getProof({ slots: [], ...req }, cb));
    const release = (txHash: string) => rawCall<ReleaseSimulationLocksResponse>((cb) => client.releaseSimulationLocks({ txHash }, cb));

    it('GetProof answers ABORTED naming the holder; ReleaseSimulationLocks frees and counts', async () => {
      await proof({ address: bob.address, txHash: TX_A, lockTtlMs: 5_000 });
      await proof({ address: alice.address, txHash: TX_A });
      const e = await grpcError(proof({ address: bob.address, txHash: TX_B }));
      expect(e.code).toBe(status.ABORTED);
      expect(e.details).toContain(`${bob.address} is locked by transaction ${TX_A}`);
      await expect(proof({ address: bob.address, txHash: TX_A })).resolves.toMatchObject({ account: { address: bob.address } });
      expect(await release(TX_A)).toEqual({ released: 2 });
      expect(await release(TX_A)).toEqual({ released: 0 });
      await expect(proof({ address: bob.address, txHash: TX_B })).resolves.toMatchObject({ account: { address: bob.address } });
    });

    it('caps the TTL at the shard maximum', async () => {
      await proof({ address: bob.address, txHash: TX_A, lockTtlMs: 4_000_000_000 });
      expect(node.simulationLocks()).toEqual([{ address: bob.address, txHash: TX_A, expiresAtMs: clock.ms + MAX_SIMULATION_LOCK_TTL_MS }]);
    });

    it('maps bad inputs to INVALID_ARGUMENT (and FAILED_PRECONDITION for another shard), taking no lock', async () => {
      const bad = async (req: Parameters<typeof proof>[0]) => grpcError(proof(req));
      expect(await bad({ address: bob.address, txHash: '0x1234' })).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/tx_hash/) });
      expect(await bad({ address: bob.address, txHash: 'aa'.repeat(32) })).toMatchObject({ code: status.INVALID_ARGUMENT });
      expect(await bad({ address: bob.address, txHash: TX_A, lockTtlMs: 0 })).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/lock_ttl_ms/) });
      expect(await bad({ address: bob.address, lockTtlMs: 100 })).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/only valid with tx_hash/) });
      expect(await bad({ address: '0xnothex', txHash: TX_A })).toMatchObject({ code: status.INVALID_ARGUMENT });
      expect(await bad({ address: remote.address, txHash: TX_A })).toMatchObject({ code: status.FAILED_PRECONDITION });
      expect(await bad({ address: bob.address, txHash: TX_A, height: node.head().height + 5 })).toMatchObject({ code: status.NOT_FOUND });
      expect(await grpcError(release(''))).toMatchObject({ code: status.INVALID_ARGUMENT });
      expect(await grpcError(release('0xzz'))).toMatchObject({ code: status.INVALID_ARGUMENT });
      expect(node.simulationLocks()).toEqual([]);
    });
  });
});

describe('simulation locks of a call whose sender has earlier transactions pending on its home shard', () => {
  it('are refused until those transactions are in a block (they could never run before the call)', async () => {
    const { Network } = await import('./protocol-harness');
    const placement = createPlacement(2);
    const net = await Network.create({ shardCount: 2, genesis: genesisAllocation(), placement });
    const [alice] = devAccounts().filter((a) => shardOf(placement, a.address) === 0) as [DevAccount];
    const x = '0x' + '12'.repeat(19) + '02'; // on shard 0
    const remoteContract = '0x' + '34'.repeat(19) + '03'; // on shard 1
    // A local transfer to x (nonce 0), then a cross-shard call (nonce 1): its entry only reserves the nonce.
    const local = await net.submit(alice, { to: x, value: 5n, nonce: 0n });
    const call = await net.submit(alice, { to: remoteContract, nonce: 1n, gasLimit: 100_000n, data: Uint8Array.from([1]) });
    expect(call.crossShard).toBe(true);
    const home = net.shards[0]!;
    const err = await rejection(home.getProof(x, [], undefined, { txHash: call.txHash }));
    expect(err.code).toBe(ErrorCode.Aborted);
    expect(err.message).toBe(`the sender's earlier transaction ${local.txHash} (nonce 0) is not in a block yet: simulate again once it is`);
    expect(home.simulationLocks()).toEqual([]);
    // Another transaction is not held back by alice's pending ones.
    await home.getProof(x, [], undefined, { txHash: TX_B });
    home.releaseSimulationLocks(TX_B);
    await home.produceBlock();
    expect((await home.getTransaction(local.txHash)).status).toBe(TxStatus.TX_STATUS_FINAL);
    const res = await home.getProof(x, [], undefined, { txHash: call.txHash });
    expect(res.account!.balance).toBe('5'); // it reads the transfer's effect
    expect(home.simulationLocks().map((l) => l.txHash)).toEqual([call.txHash]);
  });
});
