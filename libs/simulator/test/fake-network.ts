/**
 * A network for gRPC tests of the simulator: a real in-process registry and, per shard of a
 * {@link FakeWorld}, a fake StateShardService (GetHead, GetProof, GetCode) on port 0 registered
 * through `startMembership`.
 */
import { errors } from '@shardlab/common';
import {
  StateShardServiceService,
  type GetCodeRequest,
  type GetCodeResponse,
  type GetHeadRequest,
  type GetHeadResponse,
  type GetProofRequest,
  type GetProofResponse,
  type ReleaseSimulationLocksRequest,
  type ReleaseSimulationLocksResponse,
} from '@shardlab/proto';
import { RegistryState, registryMountedService, startMembership, type Membership } from '@shardlab/registry';
import { startServer, unary, type MountedService, type RunningServer } from '@shardlab/rpc';
import { silentLogger } from '@shardlab/telemetry';
import type { FakeShard, FakeWorld } from './helpers';

const logger = silentLogger();

/** How a fake shard server answers. */
export interface FakeShardMode {
  /** Answer GetProof and GetCode with UNIMPLEMENTED, like a shard before they were built. */
  unimplemented?: boolean;
}

/** A StateShardService serving GetHead, GetProof (with simulation locks), ReleaseSimulationLocks and GetCode from a {@link FakeShard}. */
export function fakeStateShardService(shard: FakeShard, mode: FakeShardMode): MountedService {
  return {
    name: 'shardlab.v1.StateShardService',
    definition: StateShardServiceService,
    implementation: {
      getHead: unary<GetHeadRequest, GetHeadResponse>(logger, 'GetHead', async () => {
        shard.headRequests++;
        return shard.head();
      }),
      getProof: unary<GetProofRequest, GetProofResponse>(logger, 'GetProof', async (req) => {
        if (mode.unimplemented) throw errors.unimplemented('GetProof serves the simulator, which is not implemented yet');
        return shard.getProof(req.address, req.slots, req.height, req.txHash ? { txHash: req.txHash, ttlMs: req.lockTtlMs } : undefined);
      }),
      releaseSimulationLocks: unary<ReleaseSimulationLocksRequest, ReleaseSimulationLocksResponse>(logger, 'ReleaseSimulationLocks', async (req) => ({
        released: shard.release(req.txHash),
      })),
      getCode: unary<GetCodeRequest, GetCodeResponse>(logger, 'GetCode', async (req) => {
        if (mode.unimplemented) throw errors.unimplemented('GetCode serves the simulator, which is not implemented yet');
        return { code: Buffer.from(await shard.getCode(req.address)) };
      }),
    },
  };
}

/** A running fake network. */
export interface FakeNetwork {
  registryAddress: string;
  /** Per shard: its server, membership and answer mode. */
  shards: { server: RunningServer; membership: Membership; mode: FakeShardMode }[];
  stop(): Promise<void>;
}

/** Starts a registry and one registered fake shard server per shard of `world`. */
export async function startFakeNetwork(world: FakeWorld): Promise<FakeNetwork> {
  const servers: RunningServer[] = [];
  const members: Membership[] = [];
  const stop = async () => {
    await Promise.all(members.map((m) => m.stop()));
    await Promise.all(servers.map((s) => s.close(100)));
  };
  try {
    const registry = await startServer({
      port: 0,
      logger,
      services: [registryMountedService(new RegistryState({ shardCount: world.shards.length, chainId: 1337, blockIntervalMs: 250 }), logger)],
    });
    servers.push(registry);
    const shards: FakeNetwork['shards'] = [];
    for (const shard of world.shards) {
      const mode: FakeShardMode = {};
      const server = await startServer({ port: 0, logger, services: [fakeStateShardService(shard, mode)], reflection: false });
      servers.push(server);
      const membership = startMembership({
        registryAddress: registry.address,
        endpoint: { service: 'state-shard', address: server.address, shardId: shard.shardId, instanceId: `shard-${shard.shardId}` },
        logger,
      });
      members.push(membership);
      await membership.registered;
      shards.push({ server, membership, mode });
    }
    return { registryAddress: registry.address, shards, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
