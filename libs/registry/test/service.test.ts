import { status } from '@grpc/grpc-js';
import { RegistryServiceClient, type Endpoint, type ListEndpointsResponse, type ListShardsResponse } from '@shardlab/proto';
import { createClient, startServer, type RunningServer } from '@shardlab/rpc';
import { silentLogger } from '@shardlab/telemetry';
import { RegistryState, registryMountedService } from '../src';
import { FakeClock, grpcError, rawCall } from './helpers';

describe('RegistryService over gRPC', () => {
  const clock = new FakeClock();
  let state: RegistryState;
  let server: RunningServer;
  let client: RegistryServiceClient;

  const endpoint = (e: Partial<Endpoint>): Endpoint => ({
    service: 'state-shard',
    address: '127.0.0.1:6000',
    shardId: 0,
    instanceId: 'i',
    lastHeartbeatMs: 0,
    alive: false,
    ...e,
  });
  const register = (e: Partial<Endpoint>) => rawCall((cb) => client.register({ endpoint: endpoint(e) }, cb));
  const listShards = () => rawCall<ListShardsResponse>((cb) => client.listShards({}, cb));
  const listEndpoints = (service: string) => rawCall<ListEndpointsResponse>((cb) => client.listEndpoints({ service }, cb));

  beforeAll(async () => {
    state = new RegistryState({ shardCount: 3, chainId: 1337, blockIntervalMs: 250, heartbeatIntervalMs: 1000, now: clock.now });
    server = await startServer({ port: 0, services: [registryMountedService(state, silentLogger())], logger: silentLogger() });
    client = createClient(RegistryServiceClient, server.address);
  });

  afterAll(async () => {
    client.close();
    await server.close();
  });

  it('answers GetConfig and GetPlacement', async () => {
    expect(await rawCall((cb) => client.getConfig({}, cb))).toEqual({
      shardCount: 3,
      chainId: 1337,
      placementEpoch: 1,
      blockIntervalMs: 250,
    });
    expect(await rawCall((cb) => client.getPlacement({}, cb))).toEqual({ epoch: 1, shardCount: 3, rule: 'last-byte-mod', overrides: [] });
  });

  it('answers LookupShard with the last-byte rule and rejects bad addresses', async () => {
    expect(await rawCall((cb) => client.lookupShard({ address: '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266' }, cb))).toEqual({
      address: '0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266',
      shardId: 0x66 % 3,
      placementEpoch: 1,
    });
    for (const address of ['', '0x12', 'f39fd6e51aad88f6f4ce6ab8827279cfffb92266', '0xZZ9fd6e51aad88f6f4ce6ab8827279cfffb92266']) {
      const err = await grpcError(rawCall((cb) => client.lookupShard({ address }, cb)));
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(err.details).toMatch(/address/);
    }
  });

  it('registers instances, lists them, and rejects bad registrations with INVALID_ARGUMENT', async () => {
    expect(await register({ instanceId: 'shard-0', shardId: 0, address: '127.0.0.1:6000' })).toEqual({ heartbeatIntervalMs: 1000, placementEpoch: 1 });
    await register({ instanceId: 'shard-2', shardId: 2, address: '127.0.0.1:6002' });
    await register({ instanceId: 'gw', service: 'gateway', address: '127.0.0.1:50052' });

    const shards = await listShards();
    expect(shards.shardCount).toBe(3);
    expect(shards.placementEpoch).toBe(1);
    expect(shards.shards.map((s) => [s.shardId, s.replicas.map((r) => r.address)])).toEqual([
      [0, ['127.0.0.1:6000']],
      [1, []],
      [2, ['127.0.0.1:6002']],
    ]);
    expect(shards.shards[0]!.replicas[0]).toMatchObject({ service: 'state-shard', instanceId: 'shard-0', alive: true, lastHeartbeatMs: clock.ms });

    const gateways = await listEndpoints('gateway');
    expect(gateways.endpoints.map((e) => e.instanceId)).toEqual(['gw']);
    const all = await listEndpoints('');
    expect(all.endpoints.map((e) => e.instanceId).sort()).toEqual(['gw', 'shard-0', 'shard-2']);

    const bad: Array<[string, Promise<unknown>, RegExp]> = [
      ['unknown service', register({ service: 'miner' }), /unknown service "miner"/],
      ['bad shard id', register({ shardId: 3 }), /state shard 3 does not exist/],
      ['empty address', register({ address: '' }), /address is empty/],
      ['malformed address', register({ address: 'not an address' }), /host:port/],
      ['empty instance id', register({ instanceId: '' }), /instance id is empty/],
      ['missing endpoint', rawCall((cb) => client.register({ endpoint: undefined }, cb)), /endpoint is required/],
      ['unknown service filter', rawCall((cb) => client.listEndpoints({ service: 'miner' }, cb)), /unknown service/],
    ];
    for (const [what, call, message] of bad) {
      const err = await grpcError(call);
      expect({ what, code: err.code }).toEqual({ what, code: status.INVALID_ARGUMENT });
      expect(err.details).toMatch(message);
    }
  });

  it('answers NOT_FOUND to a heartbeat of an unknown instance, INVALID_ARGUMENT to an empty one', async () => {
    const err = await grpcError(rawCall((cb) => client.heartbeat({ instanceId: 'nobody' }, cb)));
    expect(err.code).toBe(status.NOT_FOUND);
    expect(err.details).toMatch(/not registered/);
    expect((await grpcError(rawCall((cb) => client.heartbeat({ instanceId: '' }, cb)))).code).toBe(status.INVALID_ARGUMENT);
  });

  it('expires replicas that stop heartbeating and revives them on heartbeat (injected clock)', async () => {
    await register({ instanceId: 'shard-1', shardId: 1, address: '127.0.0.1:6001' });
    clock.advance(2000);
    expect(await rawCall((cb) => client.heartbeat({ instanceId: 'shard-1' }, cb))).toEqual({ placementEpoch: 1 });
    clock.advance(1500); // shard-0 and shard-2: 3.5 s since their last heartbeat (> 3 s liveness); shard-1: 1.5 s
    const alive = (await listShards()).shards.map((s) => s.replicas.map((r) => r.instanceId));
    expect(alive).toEqual([[], ['shard-1'], []]);
    const endpoints = (await listEndpoints('state-shard')).endpoints;
    expect(endpoints.map((e) => [e.instanceId, e.alive])).toEqual([
      ['shard-0', false],
      ['shard-1', true],
      ['shard-2', false],
    ]);
    await rawCall((cb) => client.heartbeat({ instanceId: 'shard-0' }, cb));
    expect((await listShards()).shards[0]!.replicas.map((r) => r.instanceId)).toEqual(['shard-0']);
  });

  it('deregisters (idempotently)', async () => {
    await rawCall((cb) => client.deregister({ instanceId: 'shard-1' }, cb));
    await rawCall((cb) => client.deregister({ instanceId: 'shard-1' }, cb));
    expect((await listShards()).shards[1]!.replicas).toEqual([]);
    expect((await grpcError(rawCall((cb) => client.heartbeat({ instanceId: 'shard-1' }, cb)))).code).toBe(status.NOT_FOUND);
  });

  it('reports placement changes through the epoch', async () => {
    state.updatePlacement([['0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266', 1]]);
    expect(await rawCall((cb) => client.lookupShard({ address: '0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266' }, cb))).toMatchObject({
      shardId: 1,
      placementEpoch: 2,
    });
    expect(await rawCall((cb) => client.heartbeat({ instanceId: 'shard-0' }, cb))).toEqual({ placementEpoch: 2 });
  });
});
