import { ErrorCode, errors } from '@shardlab/common';
import { StateShardServiceService, type Account, type GetHeadResponse, type StateShardServiceServer } from '@shardlab/proto';
import { startServer, unary, type RunningServer } from '@shardlab/rpc';
import { rejection } from '@shardlab/testing';
import { silentLogger } from '@shardlab/telemetry';
import { PEER_CALL_DEFAULTS, RegistryState, createPeers, createRegistryDirectory, registryMountedService, type Peers, type RegistryDirectory } from '../src';

const logger = silentLogger();

/** A state shard serving only GetHead (its shard id and height 7); other methods are UNIMPLEMENTED. */
async function startHeadShard(shardId: number): Promise<RunningServer> {
  const implementation = { getHead: unary(logger, 'GetHead', async (): Promise<GetHeadResponse> => ({ shardId, height: 7, hash: '0x00', stateRoot: '0x00', mempoolSize: 0 })) };
  return startServer({
    port: 0,
    logger,
    reflection: false,
    services: [{ name: 'shardlab.v1.StateShardService', definition: StateShardServiceService, implementation: implementation as unknown as StateShardServiceServer }],
  });
}

/** `host:port` where nothing listens (a port that was just free). */
async function deadAddress(): Promise<string> {
  const probe = await startServer({ port: 0, services: [], logger });
  const address = probe.address;
  await probe.close();
  return address;
}

describe('createPeers (the peer-client layer over the registry directory)', () => {
  let state: RegistryState;
  let registry: RunningServer;
  let directory: RegistryDirectory;
  let peers: Peers;
  const servers: RunningServer[] = [];

  beforeEach(async () => {
    state = new RegistryState({ shardCount: 2, chainId: 1337, blockIntervalMs: 250 });
    registry = await startServer({ port: 0, services: [registryMountedService(state, logger)], logger });
    directory = createRegistryDirectory({ registryAddress: registry.address, logger });
    peers = createPeers({ directory });
  });
  afterEach(async () => {
    peers.close();
    directory.close();
    await Promise.all(servers.splice(0).map((s) => s.close(100)));
    await registry.close(100);
  });

  const headOf = async (shardId: number, opts = {}) => (await peers.shard(shardId)).call<GetHeadResponse>((c, md, o, cb) => c.getHead({}, md, o, cb), opts);

  it('finds a shard by id through the registry and keeps one client per endpoint', async () => {
    const shard = await startHeadShard(1);
    servers.push(shard);
    state.register({ service: 'state-shard', address: shard.address, shardId: 1, instanceId: 's1' });
    const a = await peers.shard(1);
    const b = await peers.shard(1);
    expect(a.address).toBe(shard.address);
    expect(a.target).toBe(`shard 1 (${shard.address})`);
    expect(b.client).toBe(a.client);
    expect(await headOf(1)).toMatchObject({ shardId: 1, height: 7 });
  });

  it('passes the directory errors of a shard through: INVALID_ARGUMENT outside the network, UNAVAILABLE without a live replica', async () => {
    expect((await rejection(peers.shard(2))).code).toBe(ErrorCode.InvalidArgument);
    const err = await rejection(peers.shard(0));
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.message).toMatch(/^shard 0 unavailable: no live replica/);
  });

  it('drops the client and the cached endpoints when a call fails with UNAVAILABLE, and finds the shard where it moved', async () => {
    const dead = await deadAddress();
    state.register({ service: 'state-shard', address: dead, shardId: 0, instanceId: 's0' });
    const stale = await peers.shard(0);
    const staleClient = stale.client;
    const err = await rejection(headOf(0, { deadlineMs: 300 }));
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.message).toBe(`shard 0 (${dead}) unavailable: StateShardService.GetHead: deadline of 300 ms exceeded`);

    const moved = await startHeadShard(0);
    servers.push(moved);
    state.register({ service: 'state-shard', address: moved.address, shardId: 0, instanceId: 's0' });
    expect(await headOf(0)).toMatchObject({ shardId: 0 });
    expect((await peers.shard(0)).address).toBe(moved.address);
    // The dropped endpoint gets a new client when asked again.
    expect(stale.client).not.toBe(staleClient);
  });

  it('a call failing with UNAVAILABLE drops the client for new calls, but the calls in flight on it go on to their answers', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let slowStarted!: () => void;
    const started = new Promise<void>((r) => (slowStarted = r));
    const implementation = {
      // GetHead answers UNAVAILABLE (an error of the peer's own); GetAccount answers once released.
      getHead: unary(logger, 'GetHead', async (): Promise<GetHeadResponse> => {
        throw errors.unavailable('a dependency of this shard is unavailable');
      }),
      getAccount: unary(logger, 'GetAccount', async (): Promise<Account> => {
        slowStarted();
        await gate;
        return { address: '0x' + '11'.repeat(20), shardId: 1, balance: '5', nonce: 0, locked: '0', codeHash: '0x00', blockHeight: 7 };
      }),
    };
    const shard = await startServer({
      port: 0,
      logger,
      reflection: false,
      services: [{ name: 'shardlab.v1.StateShardService', definition: StateShardServiceService, implementation: implementation as unknown as StateShardServiceServer }],
    });
    servers.push(shard);
    state.register({ service: 'state-shard', address: shard.address, shardId: 1, instanceId: 's1' });
    const peer = await peers.shard(1);
    const client = peer.client;
    // More calls than one HTTP/2 connection runs at once (100 streams): some wait in the channel.
    const slow = Array.from({ length: 150 }, () => peer.call<Account>((c, md, o, cb) => c.getAccount({ address: '0x' + '11'.repeat(20) }, md, o, cb)));
    await started;
    expect((await rejection(headOf(1))).code).toBe(ErrorCode.Unavailable);
    expect((await peers.shard(1)).client).not.toBe(client);
    release();
    const answers = await Promise.allSettled(slow);
    expect(answers.filter((a) => a.status === 'rejected').map((a) => String((a as PromiseRejectedResult).reason))).toEqual([]);
  });

  it('a drop while calls wait for the channel to connect lets them start: they are not cancelled with the channel', async () => {
    const shard = await startHeadShard(1);
    servers.push(shard);
    state.register({ service: 'state-shard', address: shard.address, shardId: 1, instanceId: 's1' });
    const peer = await peers.shard(1);
    // A new client: these calls wait in the channel until its connection is up.
    const calls = Array.from({ length: 20 }, () => peer.call<GetHeadResponse>((c, md, o, cb) => c.getHead({}, md, o, cb)));
    peer.forget(); // as a failed call drops the client
    const answers = await Promise.allSettled(calls);
    expect(answers.filter((a) => a.status === 'rejected').map((a) => String((a as PromiseRejectedResult).reason))).toEqual([]);
  });

  it('keeps the client when the caller cancelled the call', async () => {
    const shard = await startHeadShard(1);
    servers.push(shard);
    state.register({ service: 'state-shard', address: shard.address, shardId: 1, instanceId: 's1' });
    const peer = await peers.shard(1);
    const client = peer.client;
    const ctl = new AbortController();
    ctl.abort();
    expect((await rejection(peer.call<GetHeadResponse>((c, md, o, cb) => c.getHead({}, md, o, cb), { signal: ctl.signal }))).code).toBe(ErrorCode.Unavailable);
    expect((await peers.shard(1)).client).toBe(client);
  });

  it('finds the orchestrator once it registers, and names it when none is live', async () => {
    const err = await rejection(peers.orchestrator());
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.message).toBe('orchestrator unavailable: no live orchestrator is registered with the registry');
    state.register({ service: 'orchestrator', address: '127.0.0.1:7001', shardId: 0, instanceId: 'o' });
    const orchestrator = await peers.orchestrator();
    expect(orchestrator.address).toBe('127.0.0.1:7001');
    expect(orchestrator.target).toBe('orchestrator (127.0.0.1:7001)');
  });

  it('spreads simulations over every live simulator', async () => {
    state.register({ service: 'simulator', address: '127.0.0.1:7101', shardId: 0, instanceId: 'a' });
    state.register({ service: 'simulator', address: '127.0.0.1:7102', shardId: 0, instanceId: 'b' });
    const seen = new Set<string>();
    for (let i = 0; i < 64 && seen.size < 2; i++) seen.add((await peers.simulator()).address);
    expect([...seen].sort()).toEqual(['127.0.0.1:7101', '127.0.0.1:7102']);
  });

  it('names the registry when it cannot be asked where a service is', async () => {
    const unreachable = createRegistryDirectory({ registryAddress: await deadAddress(), logger, deadlineMs: 300 });
    const err = await rejection(createPeers({ directory: unreachable }).gateway());
    unreachable.close();
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.message).toMatch(/^gateway unavailable: the registry could not be asked where it is: registry .* unavailable/);
  });

  it('applies per-service call defaults with overrides, and refuses to resolve once closed', async () => {
    expect(peers.callDefaults('simulator')).toEqual(PEER_CALL_DEFAULTS.simulator);
    expect(PEER_CALL_DEFAULTS.simulator).toEqual({ deadlineMs: 90_000, waitForReady: false });
    const tuned = createPeers({ directory, calls: { 'state-shard': { deadlineMs: 500 } } });
    expect(tuned.callDefaults('state-shard')).toEqual({ deadlineMs: 500, waitForReady: true });
    tuned.close();
    const err = await rejection(tuned.orchestrator());
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.message).toMatch(/closed/);
  });
});
