import { Metadata, makeClientConstructor, status, type Client, type ServiceDefinition, type ServiceError } from '@grpc/grpc-js';
import { service as healthServiceDefinition } from 'grpc-health-check';
import { createChainCommon, decodeTransaction, devAccounts, lockKeyId, lockKeysOf, signTransaction, toProtoTransaction, type DevAccount } from '@shardlab/chain';
import { LockField, LockMode, ReasonCode, SimulatorServiceClient, Transaction, type LockKey, type SimulateRequest, type SimulateResponse } from '@shardlab/proto';
import { createRegistryClient, createRegistryDirectory, type RegistryDirectory } from '@shardlab/registry';
import { createClient, type ClientCtor } from '@shardlab/rpc';
import { silentLogger } from '@shardlab/telemetry';
import { waitFor } from '@shardlab/testing';
import { CodeCache, SIMULATOR_SERVICE_NAME, simulate, startSimulator, type RunningSimulator } from '../src';
import { startFakeNetwork, type FakeNetwork } from './fake-network';
import { COUNTER_CODE, FakeWorld, addressOn, callerCode, revertingCode, slotOf } from './helpers';

/** The standard health client (`grpc.health.v1.Health`), built from grpc-health-check's loaded proto. */
interface HealthCheckClient extends Client {
  check(
    req: { service: string },
    md: Metadata,
    opts: { deadline: Date },
    cb: (err: ServiceError | null, res?: { status: string }) => void,
  ): void;
}
const HealthCheckClient = makeClientConstructor(
  healthServiceDefinition as unknown as ServiceDefinition,
  'grpc.health.v1.Health',
) as unknown as ClientCtor<HealthCheckClient>;

function checkHealth(address: string, service: string): Promise<string> {
  const client = createClient(HealthCheckClient, address);
  return new Promise<string>((resolve, reject) =>
    client.check({ service }, new Metadata(), { deadline: new Date(Date.now() + 5000) }, (err, res) =>
      err ? reject(err) : resolve(res?.status ?? ''),
    ),
  ).finally(() => client.close());
}

const common = createChainCommon({ chainId: 1337 });
const SHARDS = 3;
const ETHER = 10n ** 18n;

describe('SimulatorService over gRPC, with fake state shards and a real registry', () => {
  let world: FakeWorld;
  let net: FakeNetwork;
  let directory: RegistryDirectory;
  let sim: RunningSimulator;
  let client: SimulatorServiceClient;
  let alice: DevAccount;
  const leaf = addressOn(2, SHARDS, 'b2');
  const caller = addressOn(1, SHARDS, 'a1');
  const reverter = addressOn(1, SHARDS, 'dd');

  /** Calls Simulate; resolves with the answer or the gRPC error. */
  const call = (req: SimulateRequest) =>
    new Promise<{ err: ServiceError | null; res?: SimulateResponse }>((resolve) =>
      client.simulate(req, new Metadata(), { deadline: new Date(Date.now() + 10_000) }, (err, res) => resolve({ err, res })),
    );
  const wire = (raw: Uint8Array) => toProtoTransaction(decodeTransaction(raw, common));

  beforeAll(async () => {
    world = new FakeWorld(common, SHARDS);
    alice = devAccounts().find((d) => world.shardOf(d.address) === 0)!;
    await world.produce({
      [alice.address]: { balance: 100n * ETHER },
      [leaf]: { code: COUNTER_CODE, storage: { [slotOf(0)]: '0x63' } },
      [caller]: { code: callerCode(leaf, 400) },
      [reverter]: { code: revertingCode('no entry') },
    });
    // A second block on shard 2, so that pinned heights differ per shard.
    await world.shards[2]!.produce({});
    net = await startFakeNetwork(world);
    directory = createRegistryDirectory({ registryAddress: net.registryAddress, logger: silentLogger() });
    sim = await startSimulator({
      port: 0,
      host: '127.0.0.1',
      directory,
      // Room for a loaded machine (the whole suite runs on two workers): no test here waits on it.
      shardDeadlineMs: 5_000,
      lockTtlMs: 7_000,
      lockWaitMs: 4_000,
      logger: silentLogger(),
    });
    client = createClient(SimulatorServiceClient, sim.server.address);
  });

  afterAll(async () => {
    client?.close();
    await sim?.close();
    directory?.close();
    await net?.stop();
  });

  // Successful simulations keep their locks on the shards (nothing prepares them here).
  afterEach(() =>
    world.shards.forEach((s) => {
      s.clearLocks();
      s.maxLockWaitMs = 0;
    }),
  );

  /** The keys of `rwSet` on `shardId` as the simulator asks them (lockKeysOf's order, without the shard). */
  const keysOn = (rwSet: NonNullable<SimulateResponse['rwSet']>, shardId: number): LockKey[] =>
    lockKeysOf(rwSet, alice.address)
      .filter((k) => k.shardId === shardId)
      .map(({ shardId: _, ...k }) => k);

  it('registers with the registry as service simulator and serves health', async () => {
    const registry = createRegistryClient(net.registryAddress);
    try {
      const { endpoints } = await registry.listEndpoints('simulator');
      expect(endpoints.map((e) => e.address)).toEqual([sim.server.address]);
    } finally {
      registry.close();
    }
    await expect(checkHealth(sim.server.address, '')).resolves.toBe('SERVING');
    await expect(checkHealth(sim.server.address, SIMULATOR_SERVICE_NAME)).resolves.toBe('SERVING');
  });

  it('simulates a call across three shards: one GetHead per shard and run (reconnaissance, run under locks), every GetProof at the pinned height', async () => {
    for (const s of world.shards) {
      s.headRequests = 0;
      s.proofRequests.length = 0;
    }
    const raw = signTransaction(common, alice, { to: caller, value: 1000n, nonce: 0n, gasLimit: 200_000n });
    const { err, res } = await call({ tx: wire(raw) });
    expect(err).toBeNull();
    expect(res!.success).toBe(true);
    expect(res!.error).toBe('');
    const rw = res!.rwSet!;
    expect(rw.addresses.map((a) => [a.address, a.shardId, a.balanceDelta !== '0'])).toEqual([
      [alice.address, 0, true],
      [caller, 1, true],
      [leaf, 2, true],
    ]);
    expect(rw.referenceBlocks.map((r) => [r.shardId, r.height])).toEqual([
      [0, 0],
      [1, 0],
      [2, 1],
    ]);
    expect(world.shards.map((s) => s.headRequests)).toEqual([2, 2, 2]);
    expect(world.shards[2]!.proofRequests.length).toBeGreaterThanOrEqual(2);
    expect(world.shards[2]!.proofRequests.map((r) => r.height)).toEqual(world.shards[2]!.proofRequests.map(() => 1));
    // The same answer as the library over an in-memory source (the wire changes nothing).
    const direct = await simulate(raw, world.source(), { common, codeCache: new CodeCache() });
    expect(res).toEqual(direct);
    expect(sim.codeCache.size).toBe(2);
  });

  it('asks more than 256 slots of one account in several GetProofs, all at the pinned height', async () => {
    world.shards[2]!.proofRequests.length = 0;
    const slots = Array.from({ length: 300 }, (_, i) => slotOf(i));
    const { createTx } = await import('@ethereumjs/tx');
    const raw = createTx(
      { type: 1, to: leaf as `0x${string}`, nonce: 0n, gasLimit: 1_000_000n, gasPrice: 2_000_000_000n, accessList: [{ address: leaf as `0x${string}`, storageKeys: slots as `0x${string}`[] }] },
      { common },
    )
      .sign(alice.privateKey)
      .serialize();
    const { err, res } = await call({ tx: wire(raw) });
    expect(err).toBeNull();
    expect(res!.success).toBe(true);
    // The two chunks are asked concurrently, by the reconnaissance and by the run under locks.
    expect(world.shards[2]!.proofRequests.map((r) => [r.slots.length, r.height]).sort((x, y) => y[0]! - x[0]!)).toEqual([
      [256, 1],
      [256, 1],
      [44, 1],
      [44, 1],
    ]);
    // Every slot read is locked, in one AcquireLocks of shard 2.
    expect(world.shards[2]!.lockRequests).toHaveLength(1);
    // Its 300 slots (the balance is not read: nothing else of the leaf is locked).
    expect(world.shards[2]!.lockRequests[0]!.keys).toHaveLength(300);
    expect(res!.rwSet!.addresses.find((a) => a.address === leaf)!.reads).toHaveLength(301);
  });

  it('locks the keys of the RwSet (one AcquireLocks per shard, with the TTL and wait bound), none of the sender’s, and keeps them on success', async () => {
    const raw = signTransaction(common, alice, { to: caller, value: 1000n, nonce: 0n, gasLimit: 200_000n });
    const hash = decodeTransaction(raw, common).hash;
    const { res } = await call({ tx: wire(raw) });
    expect(res!.success).toBe(true);
    const rw = res!.rwSet!;
    // The sender's shard: nothing (its nonce is reserved and its value locked by its home shard instead).
    expect(world.shards[0]!.lockRequests).toEqual([]);
    for (const s of [1, 2]) {
      expect(keysOn(rw, s).length).toBeGreaterThan(0);
      expect(world.shards[s]!.lockRequests).toEqual([{ txHash: hash, keys: keysOn(rw, s), ttlMs: 7_000, waitMs: 4_000 }]);
      expect(world.shards[s]!.heldBy(hash)).toEqual(new Map(keysOn(rw, s).map((k) => [lockKeyId(k), k.mode])));
    }
    // The leaf's slot 0 is read (shared), slot 1 written (exclusive).
    expect(keysOn(rw, 2).filter((k) => k.field === LockField.LOCK_FIELD_SLOT)).toEqual([
      { address: leaf, field: LockField.LOCK_FIELD_SLOT, slot: slotOf(0), mode: LockMode.LOCK_MODE_SHARED },
      { address: leaf, field: LockField.LOCK_FIELD_SLOT, slot: slotOf(1), mode: LockMode.LOCK_MODE_EXCLUSIVE },
    ]);
    expect(world.shards.map((s) => s.releaseRequests)).toEqual([[], [], []]);
  });

  it('on a key held by another transaction past the wait bound: releases what it took and answers `state locked by another transaction (0x…)`', async () => {
    const holder = '0x' + 'ee'.repeat(32);
    world.shards[2]!.hold(holder, { address: leaf, field: LockField.LOCK_FIELD_SLOT, slot: slotOf(0) }, LockMode.LOCK_MODE_EXCLUSIVE);
    const raw = signTransaction(common, alice, { to: caller, value: 1000n, nonce: 0n, gasLimit: 200_000n });
    const hash = decodeTransaction(raw, common).hash;
    const { err, res } = await call({ tx: wire(raw) });
    expect(err).toBeNull();
    expect(res).toEqual({ success: false, error: `state locked by another transaction (${holder})`, cause: expect.objectContaining({ code: ReasonCode.REASON_CODE_STATE_LOCKED, transaction: holder }), rwSet: undefined });
    // Shard 1 granted first (ascending shard order), then gave everything back.
    expect(world.shards[1]!.lockRequests).toHaveLength(1);
    expect(world.shards[1]!.releaseRequests).toEqual([hash]);
    expect(world.shards[1]!.heldBy(hash).size).toBe(0);
    expect(world.shards[2]!.heldBy(hash).size).toBe(0);
    expect(world.shards[2]!.heldBy(holder).size).toBe(1);

    // Once the holder is gone, the same transaction simulates.
    world.shards[2]!.release(holder);
    expect((await call({ tx: wire(raw) })).res!.success).toBe(true);
  });

  it('waits at a shard while a key is held, and simulates once the holder releases it', async () => {
    const holder = '0x' + 'ef'.repeat(32);
    const shard2 = world.shards[2]!;
    shard2.maxLockWaitMs = 60_000; // the simulator's wait bound (4 s) decides
    shard2.hold(holder, { address: leaf, field: LockField.LOCK_FIELD_SLOT, slot: slotOf(1) }, LockMode.LOCK_MODE_SHARED);
    const raw = signTransaction(common, alice, { to: caller, value: 1000n, nonce: 0n, gasLimit: 200_000n });
    const hash = decodeTransaction(raw, common).hash;
    const pending = call({ tx: wire(raw) });
    await waitFor(() => shard2.lockWaiting === 1, 5000, 'the AcquireLocks of shard 2 to wait');
    expect(shard2.heldBy(hash).size).toBe(0);
    shard2.release(holder);
    const { err, res } = await pending;
    expect(err).toBeNull();
    expect(res!.success).toBe(true);
    expect(shard2.heldBy(hash)).toEqual(new Map(keysOn(res!.rwSet!, 2).map((k) => [lockKeyId(k), k.mode])));
  });

  it('a simulation that fails releases its locks (a reverted reconnaissance locks what it fetched; the run under locks decides)', async () => {
    const raw = signTransaction(common, alice, { to: reverter, nonce: 0n, gasLimit: 100_000n });
    const hash = decodeTransaction(raw, common).hash;
    const { res } = await call({ tx: wire(raw) });
    expect(res!.error).toBe('execution reverted: no entry');
    expect(world.shards[1]!.lockRequests.map((r) => r.keys)).toEqual([[{ address: reverter, field: LockField.LOCK_FIELD_BALANCE, slot: '', mode: LockMode.LOCK_MODE_SHARED }]]);
    expect(world.shards[1]!.releaseRequests).toEqual([hash]);
    expect(world.shards[1]!.heldBy(hash).size).toBe(0);
  });

  it('answers a reverting call with success false and the reason', async () => {
    const raw = signTransaction(common, alice, { to: reverter, nonce: 0n, gasLimit: 100_000n });
    const { err, res } = await call({ tx: wire(raw) });
    expect(err).toBeNull();
    expect(res).toEqual({ success: false, error: 'execution reverted: no entry', cause: expect.objectContaining({ code: ReasonCode.REASON_CODE_REVERTED }), rwSet: undefined });
  });

  it('answers INVALID_ARGUMENT for a missing tx, a tx without raw bytes, malformed bytes, or a wrong hash', async () => {
    const missing = await call({ tx: undefined });
    expect(missing.err?.code).toBe(status.INVALID_ARGUMENT);
    expect(missing.err?.details).toBe('tx is required');

    const noRaw = await call({ tx: Transaction.fromPartial({ hash: '0x' + 'cd'.repeat(32), from: alice.address, to: caller }) });
    expect(noRaw.err?.code).toBe(status.INVALID_ARGUMENT);
    expect(noRaw.err?.details).toMatch(/tx.raw is required/);

    const malformed = await call({ tx: Transaction.fromPartial({ raw: Buffer.from([0x02, 0xc0, 0x01]) }) });
    expect(malformed.err?.code).toBe(status.INVALID_ARGUMENT);

    const raw = signTransaction(common, alice, { to: caller, nonce: 0n });
    const wrongHash = await call({ tx: { ...wire(raw), hash: '0x' + '00'.repeat(32) } });
    expect(wrongHash.err?.code).toBe(status.INVALID_ARGUMENT);
    expect(wrongHash.err?.details).toMatch(/tx.hash/);
  });

  it('answers UNAVAILABLE naming the shard when a shard answers GetProof with an error of its own', async () => {
    const mode = net.shards[1]!.mode;
    mode.unimplemented = true;
    try {
      const raw = signTransaction(common, alice, { to: caller, nonce: 0n, gasLimit: 200_000n });
      const { err } = await call({ tx: wire(raw) });
      expect(err?.code).toBe(status.UNAVAILABLE);
      expect(err?.details).toMatch(/^shard 1 GetProof failed: UNIMPLEMENTED/);
    } finally {
      mode.unimplemented = false;
    }
  });

  it('answers UNAVAILABLE naming the shard when a shard answers AcquireLocks with an error of its own, holding nothing', async () => {
    // The call's keys are all on shard 1 (it reads slots there; balances it only credits are not read).
    const mode = net.shards[1]!.mode;
    mode.locksUnimplemented = true;
    try {
      const raw = signTransaction(common, alice, { to: caller, nonce: 0n, gasLimit: 200_000n });
      const hash = decodeTransaction(raw, common).hash;
      const { err } = await call({ tx: wire(raw) });
      expect(err?.code).toBe(status.UNAVAILABLE);
      expect(err?.details).toMatch(/^shard 1 AcquireLocks failed: UNIMPLEMENTED/);
      expect(world.shards.map((s) => s.heldBy(hash).size)).toEqual([0, 0, 0]);
    } finally {
      mode.locksUnimplemented = false;
    }
  });

  it('answers UNAVAILABLE when a shard is down, and when it has no live replica', async () => {
    const shard2 = net.shards[2]!;
    await shard2.server.close(100);
    const raw = signTransaction(common, alice, { to: caller, nonce: 0n, gasLimit: 200_000n });
    const down = await call({ tx: wire(raw) });
    expect(down.err?.code).toBe(status.UNAVAILABLE);
    expect(down.err?.details).toMatch(/shard 2/);

    await shard2.membership.stop(); // deregisters: the registry lists no replica of shard 2
    const gone = await call({ tx: wire(raw) });
    expect(gone.err?.code).toBe(status.UNAVAILABLE);
    expect(gone.err?.details).toMatch(/shard 2 unavailable: no live replica/);

    // Simulations that do not touch shard 2 still work.
    const local = signTransaction(common, alice, { to: reverter, nonce: 0n, gasLimit: 100_000n });
    expect((await call({ tx: wire(local) })).res?.error).toBe('execution reverted: no entry');
  });
});
