import { ErrorCode, ShardLabError } from '@shardlab/common';
import { shardOf } from '@shardlab/chain';
import { RegistryState, parseHostPort } from '../src';
import { FakeClock } from './helpers';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof ShardLabError) return err.code;
    throw err;
  }
  return undefined;
}

describe('RegistryState', () => {
  const clock = new FakeClock();
  const make = () => new RegistryState({ shardCount: 4, chainId: 1337, blockIntervalMs: 250, heartbeatIntervalMs: 1000, now: clock.now });

  it('reports the configuration with placement epoch 1 and defaults liveness to three heartbeats', () => {
    const s = make();
    expect(s.config()).toEqual({ shardCount: 4, chainId: 1337, placementEpoch: 1, blockIntervalMs: 250 });
    expect(s.livenessMs).toBe(3000);
    expect(s.placementInfo()).toEqual({ epoch: 1, shardCount: 4, rule: 'last-byte-mod', overrides: [] });
  });

  it('looks up shards by the last byte of the address, and bumps the epoch on placement changes', () => {
    const s = make();
    expect(s.lookupShard('0x00000000000000000000000000000000000000FF')).toEqual({
      address: '0x00000000000000000000000000000000000000ff',
      shardId: 255 % 4,
      placementEpoch: 1,
    });
    expect(s.updatePlacement([['0x00000000000000000000000000000000000000ff', 1]])).toBe(2);
    expect(s.lookupShard('0x00000000000000000000000000000000000000ff').shardId).toBe(1);
    expect(shardOf(s.placement, '0x00000000000000000000000000000000000000ff')).toBe(1);
    expect(s.placementInfo().overrides).toEqual([{ address: '0x00000000000000000000000000000000000000ff', shardId: 1 }]);
    expect(codeOf(() => s.lookupShard('0x1234'))).toBe(ErrorCode.InvalidArgument);
  });

  it('lists every shard with its alive replicas only, and expires silent instances', () => {
    const s = make();
    s.register({ service: 'state-shard', address: 'shard-0:50060', shardId: 0, instanceId: 'a' });
    clock.advance(2000);
    s.register({ service: 'state-shard', address: 'shard-2:50060', shardId: 2, instanceId: 'b' });
    s.register({ service: 'gateway', address: 'gw:50052', shardId: 7, instanceId: 'g' });
    let shards = s.listShards().shards;
    expect(shards.map((x) => x.replicas.map((r) => r.instanceId))).toEqual([['a'], [], ['b'], []]);
    clock.advance(1500); // a is 3.5 s silent, b and g 1.5 s
    shards = s.listShards().shards;
    expect(shards.map((x) => x.replicas.map((r) => r.instanceId))).toEqual([[], [], ['b'], []]);
    expect(s.listEndpoints().map((e) => [e.instanceId, e.alive])).toEqual([
      ['g', true],
      ['a', false],
      ['b', true],
    ]);
    expect(s.listEndpoints('gateway')[0]).toMatchObject({ shardId: 0, address: 'gw:50052' });
    s.heartbeat('a');
    expect(s.listShards().shards[0]!.replicas.map((r) => r.instanceId)).toEqual(['a']);
  });

  it('forgets instances dead for forgetAfterMs; their heartbeat then answers NOT_FOUND', () => {
    const s = make();
    s.register({ service: 'simulator', address: 'sim:1', shardId: 0, instanceId: 'x' });
    clock.advance(s.forgetAfterMs + 1);
    expect(codeOf(() => s.heartbeat('x'))).toBe(ErrorCode.NotFound);
    expect(s.listEndpoints()).toEqual([]);
  });

  it('re-registering an instance id updates the entry', () => {
    const s = make();
    s.register({ service: 'state-shard', address: 'old:1', shardId: 1, instanceId: 'x' });
    s.register({ service: 'state-shard', address: 'new:2', shardId: 1, instanceId: 'x' });
    expect(s.listEndpoints().map((e) => e.address)).toEqual(['new:2']);
  });

  it('replaces an instance of the same service at the same address (a restarted process)', () => {
    const s = make();
    s.register({ service: 'state-shard', address: 'shard-1:50060', shardId: 1, instanceId: 'before-restart' });
    s.register({ service: 'state-shard', address: 'shard-1:50060', shardId: 1, instanceId: 'after-restart' });
    s.register({ service: 'gateway', address: 'shard-1:50060', shardId: 0, instanceId: 'other-service' });
    expect(s.listShards().shards[1]!.replicas.map((r) => r.instanceId)).toEqual(['after-restart']);
    expect(s.listEndpoints().map((e) => e.instanceId)).toEqual(['other-service', 'after-restart']);
  });

  it('deregister is idempotent', () => {
    const s = make();
    s.register({ service: 'orchestrator', address: 'o:1', shardId: 0, instanceId: 'x' });
    expect(s.deregister('x')).toBe(true);
    expect(s.deregister('x')).toBe(false);
    expect(codeOf(() => s.deregister(''))).toBe(ErrorCode.InvalidArgument);
  });

  it.each([
    ['unknown service', { service: 'miner', address: 'h:1', shardId: 0, instanceId: 'i' }],
    ['shard id out of range', { service: 'state-shard', address: 'h:1', shardId: 4, instanceId: 'i' }],
    ['empty address', { service: 'gateway', address: '', shardId: 0, instanceId: 'i' }],
    ['address without port', { service: 'gateway', address: 'localhost', shardId: 0, instanceId: 'i' }],
    ['port out of range', { service: 'gateway', address: 'localhost:70000', shardId: 0, instanceId: 'i' }],
    ['empty instance id', { service: 'gateway', address: 'h:1', shardId: 0, instanceId: '' }],
  ])('rejects a registration with %s', (_what, reg) => {
    expect(codeOf(() => make().register(reg))).toBe(ErrorCode.InvalidArgument);
  });

  it('accepts host names, IPv4 and bracketed IPv6 addresses', () => {
    for (const a of ['localhost:1', '10.0.0.7:50051', 'shard-0.shardlab.svc.cluster.local:50060', '[::1]:50051']) {
      expect(parseHostPort(a)).toBe(a);
    }
  });

  it('rejects bad construction options', () => {
    expect(codeOf(() => new RegistryState({ shardCount: 0, chainId: 1, blockIntervalMs: 1 }))).toBe(ErrorCode.InvalidArgument);
    expect(codeOf(() => new RegistryState({ shardCount: 1, chainId: 1, blockIntervalMs: 0 }))).toBe(ErrorCode.InvalidArgument);
  });
});
