import { ErrorCode, ShardLabError } from '@shardlab/common';
import { shardOf } from '@shardlab/chain';
import { startServer, type RunningServer } from '@shardlab/rpc';
import { createLogger, silentLogger } from '@shardlab/telemetry';
import {
  RegistryState,
  createRegistryClient,
  createRegistryDirectory,
  registryMountedService,
  startMembership,
  type RegistryClient,
} from '../src';
import { waitFor } from './helpers';

const logger = silentLogger();

async function startRegistry(state: RegistryState, port = 0): Promise<RunningServer> {
  return startServer({ port, services: [registryMountedService(state, logger)], logger });
}

/** A logger whose lines are collected as parsed objects. */
function memoryLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ service: 'test', level: 'debug', destination: { write: (l: string) => void lines.push(JSON.parse(l)) } });
  return { log, lines };
}

async function errorOf(p: Promise<unknown>): Promise<ShardLabError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ShardLabError) return err;
    throw err;
  }
  throw new Error('expected a ShardLabError');
}

describe('startMembership', () => {
  let state: RegistryState;
  let server: RunningServer;

  beforeAll(async () => {
    // Fast heartbeats, but a liveness window no slow machine can miss between two assertions.
    state = new RegistryState({ shardCount: 2, chainId: 1337, blockIntervalMs: 250, heartbeatIntervalMs: 20, livenessMs: 60_000 });
    server = await startRegistry(state);
  });
  afterAll(() => server.close());

  it('registers, heartbeats, re-registers after NOT_FOUND, reports epochs, and deregisters on stop', async () => {
    const epochs: number[] = [];
    const endpoint = { service: 'state-shard', address: '127.0.0.1:7001', shardId: 1, instanceId: 'm-1' };
    const m = startMembership({ registryAddress: server.address, endpoint, logger, onPlacementEpoch: (e) => epochs.push(e) });
    await m.registered;
    expect(m.isRegistered()).toBe(true);
    expect(state.listShards().shards[1]!.replicas.map((r) => r.instanceId)).toEqual(['m-1']);
    expect(epochs).toEqual([1]);

    const first = state.listEndpoints()[0]!.lastHeartbeatMs;
    await waitFor(() => state.listEndpoints()[0]!.lastHeartbeatMs > first, 5000, 'a heartbeat');

    // The registry forgets the instance (as after a registry restart): the next heartbeat answers
    // NOT_FOUND and the membership registers again.
    state.deregister('m-1');
    await waitFor(() => state.listEndpoints().some((e) => e.instanceId === 'm-1'), 5000, 're-registration');

    state.updatePlacement([['0x00000000000000000000000000000000000000aa', 1]]);
    await waitFor(() => epochs.includes(2), 5000, 'the new placement epoch');

    await m.stop();
    expect(state.listEndpoints()).toEqual([]);
    await m.stop(); // idempotent
  });

  it('retries registration with back-off until the registry answers', async () => {
    const otherState = new RegistryState({ shardCount: 2, chainId: 1337, blockIntervalMs: 250, heartbeatIntervalMs: 20, livenessMs: 60_000 });
    const probe = await startRegistry(otherState);
    const port = probe.port;
    const address = probe.address;
    await probe.close();

    const { log, lines } = memoryLogger();
    const m = startMembership({
      registryAddress: address,
      endpoint: { service: 'gateway', address: '127.0.0.1:7002', shardId: 0, instanceId: 'gw-late' },
      logger: log,
      retry: { initialMs: 10, maxMs: 50 },
      deadlineMs: 500,
    });
    const retried = () => lines.filter((l) => l['msg'] === 'registry did not answer; retrying registration').length;
    await waitFor(() => retried() >= 2, 10_000, 'two failed registration attempts');
    expect(m.isRegistered()).toBe(false);

    const late = await startRegistry(otherState, port);
    try {
      await m.registered;
      expect(otherState.listEndpoints('gateway').map((e) => e.instanceId)).toEqual(['gw-late']);
      expect(lines.some((l) => l['msg'] === 'registered with the registry' && (l['attempts'] as number) >= 3)).toBe(true);
      await m.stop();
      expect(otherState.listEndpoints()).toEqual([]);
    } finally {
      await m.stop();
      await late.close();
    }
  });

  it('gives up when the registry refuses the registration as invalid', async () => {
    const m = startMembership({
      registryAddress: server.address,
      endpoint: { service: 'state-shard', address: '127.0.0.1:7003', shardId: 9, instanceId: 'bad' },
      logger,
    });
    const err = await errorOf(m.registered);
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    await m.stop();
  });

  it('rejects `registered` when stopped before registering', async () => {
    const m = startMembership({
      registryAddress: '127.0.0.1:1',
      endpoint: { service: 'gateway', address: '127.0.0.1:7004', shardId: 0, instanceId: 'never' },
      logger,
      retry: { initialMs: 10, maxMs: 10 },
    });
    await m.stop();
    await expect(m.registered).rejects.toThrow(/stopped/);
  });
});

describe('createRegistryDirectory', () => {
  let state: RegistryState;
  let server: RunningServer;
  let client: RegistryClient;
  const calls: string[] = [];

  /** The real client, counting calls per method. */
  function countingClient(inner: RegistryClient): RegistryClient {
    const count =
      <A extends unknown[], R>(name: string, f: (...a: A) => Promise<R>) =>
      (...a: A) => {
        calls.push(name);
        return f(...a);
      };
    return {
      ...inner,
      getConfig: count('getConfig', inner.getConfig),
      getPlacement: count('getPlacement', inner.getPlacement),
      listShards: count('listShards', inner.listShards),
      listEndpoints: count('listEndpoints', inner.listEndpoints),
    };
  }

  beforeAll(async () => {
    state = new RegistryState({ shardCount: 3, chainId: 1337, blockIntervalMs: 250 });
    server = await startRegistry(state);
    client = createRegistryClient(server.address);
  });
  afterAll(async () => {
    client.close();
    await server.close();
  });
  beforeEach(() => (calls.length = 0));

  it('caches the configuration', async () => {
    const dir = createRegistryDirectory({ registryAddress: server.address, logger, client: countingClient(client) });
    const [a, b] = await Promise.all([dir.config(), dir.config()]);
    expect(a).toEqual({ shardCount: 3, chainId: 1337, placementEpoch: 1, blockIntervalMs: 250 });
    expect(b).toEqual(a);
    await dir.config();
    expect(calls).toEqual(['getConfig']);
    expect(dir.epoch()).toBe(1);
  });

  it('resolves shard endpoints from a cached ListShards, refreshed by invalidate()', async () => {
    state.register({ service: 'state-shard', address: '127.0.0.1:8000', shardId: 0, instanceId: 's0' });
    const dir = createRegistryDirectory({ registryAddress: server.address, logger, client: countingClient(client) });
    expect((await dir.shardEndpoint(0)).address).toBe('127.0.0.1:8000');
    state.register({ service: 'state-shard', address: '127.0.0.1:8001', shardId: 0, instanceId: 's0' });
    expect((await dir.shardEndpoint(0)).address).toBe('127.0.0.1:8000');
    expect(calls.filter((c) => c === 'listShards')).toHaveLength(1);
    dir.invalidate();
    expect((await dir.shardEndpoint(0)).address).toBe('127.0.0.1:8001');
    expect(calls.filter((c) => c === 'listShards')).toHaveLength(2);
  });

  it('fails with INVALID_ARGUMENT for shards out of range and UNAVAILABLE for shards without a live replica', async () => {
    const dir = createRegistryDirectory({ registryAddress: server.address, logger, client: countingClient(client) });
    expect((await errorOf(dir.shardEndpoint(3))).code).toBe(ErrorCode.InvalidArgument);
    const err = await errorOf(dir.shardEndpoint(2));
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.message).toMatch(/shard 2 unavailable: no live replica/);
    // A replica that registers later is found without an explicit invalidate().
    state.register({ service: 'state-shard', address: '127.0.0.1:8002', shardId: 2, instanceId: 's2' });
    expect((await dir.shardEndpoint(2)).address).toBe('127.0.0.1:8002');
  });

  it('refreshes the placement and endpoints when a new placement epoch is observed', async () => {
    const dir = createRegistryDirectory({ registryAddress: server.address, logger, client: countingClient(client) });
    const a = '0x00000000000000000000000000000000000000c0';
    const before = await dir.placement();
    expect(shardOf(before, a)).toBe(0xc0 % 3);
    await dir.shardEndpoint(0);
    const epoch = state.updatePlacement([[a, 1]]);
    expect(shardOf(await dir.placement(), a)).toBe(0xc0 % 3); // still cached
    dir.observeEpoch(epoch);
    const after = await dir.placement();
    expect(after.epoch).toBe(epoch);
    expect(shardOf(after, a)).toBe(1);
    const listCalls = calls.filter((c) => c === 'listShards').length;
    await dir.shardEndpoint(0);
    expect(calls.filter((c) => c === 'listShards')).toHaveLength(listCalls + 1);
    expect((await dir.config()).placementEpoch).toBe(epoch);
  });

  it('caches service endpoints until invalidate(), asking again when the cached list has no live instance', async () => {
    const dir = createRegistryDirectory({ registryAddress: server.address, logger, client: countingClient(client) });
    expect(await dir.endpoints('simulator')).toEqual([]);
    // A cached list without a live instance is asked again: a simulator registered since is found.
    state.register({ service: 'simulator', address: '127.0.0.1:8100', shardId: 0, instanceId: 'sim-a' });
    expect((await dir.endpoints('simulator')).map((e) => e.address)).toEqual(['127.0.0.1:8100']);
    expect(calls.filter((c) => c === 'listEndpoints')).toHaveLength(2);
    // A list with a live instance is kept until invalidate().
    state.register({ service: 'simulator', address: '127.0.0.1:8101', shardId: 0, instanceId: 'sim-b' });
    expect((await dir.endpoints('simulator')).map((e) => e.address)).toEqual(['127.0.0.1:8100']);
    expect(calls.filter((c) => c === 'listEndpoints')).toHaveLength(2);
    dir.invalidate();
    expect((await dir.endpoints('simulator')).map((e) => e.address)).toEqual(['127.0.0.1:8100', '127.0.0.1:8101']);
    expect(calls.filter((c) => c === 'listEndpoints')).toHaveLength(3);
    expect(dir.registry.address).toBe(server.address);
  });

  it('reports an unreachable registry as UNAVAILABLE naming it', async () => {
    const dir = createRegistryDirectory({ registryAddress: '127.0.0.1:1', logger, deadlineMs: 500 });
    const err = await errorOf(dir.config());
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.message).toMatch(/registry 127\.0\.0\.1:1 unavailable/);
    dir.close();
  });
});
