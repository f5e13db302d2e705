/**
 * A network for gRPC tests of the simulator: a real in-process registry and, per shard of a
 * {@link FakeWorld}, a fake StateShardService (GetHead, GetProof, GetCode, AcquireLocks,
 * ReleaseSimulationLocks) on port 0 registered through `startMembership`.
 */
import { errors } from '@shardlab/common';
import {
  StateShardServiceService,
  type AcquireLocksRequest,
  type AcquireLocksResponse,
  type GetCodeRequest,
  type GetCodeResponse,
  type GetHeadRequest,
  type GetHeadResponse,
  type GetProofRequest,
  type GetProofResponse,
  type ReleaseSimulationLocksRequest,
  type ReleaseSimulationLocksResponse,
} from '@shardlab/proto';
import type { Membership } from '@shardlab/registry';
import { unary, type MountedService, type RunningServer } from '@shardlab/rpc';
import { silentLogger } from '@shardlab/telemetry';
import { startTestRegistry } from '@shardlab/testing';
import type { FakeShard, FakeWorld } from './helpers';

const logger = silentLogger();

/** How a fake shard server answers. */
export interface FakeShardMode {
  /** Answer GetProof and GetCode with UNIMPLEMENTED, like a shard before they were built. */
  unimplemented?: boolean;
  /** Answer AcquireLocks with UNIMPLEMENTED, like a shard before slot-level locks. */
  locksUnimplemented?: boolean;
}

/** A StateShardService serving GetHead, GetProof, AcquireLocks, ReleaseSimulationLocks and GetCode from a {@link FakeShard}. */
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
        return shard.getProof(req.address, req.slots, req.height);
      }),
      acquireLocks: unary<AcquireLocksRequest, AcquireLocksResponse>(logger, 'AcquireLocks', async (req) => {
        if (mode.locksUnimplemented) throw errors.unimplemented('AcquireLocks is not served by this shard');
        const started = Date.now();
        const held = await shard.acquireLocks(req.txHash, req.keys, req.lockTtlMs, req.waitMs);
        const head = shard.head();
        // No values: the simulator cannot skip its run under locks with this fake.
        return { held, waitedMs: Date.now() - started, height: head.height, stateRoot: head.stateRoot, values: [] };
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
  const registry = await startTestRegistry(world.shards.length, logger);
  try {
    const shards: FakeNetwork['shards'] = [];
    for (const shard of world.shards) {
      const mode: FakeShardMode = {};
      const { server, membership } = await registry.join(fakeStateShardService(shard, mode), { service: 'state-shard', shardId: shard.shardId, instanceId: `shard-${shard.shardId}` });
      shards.push({ server, membership, mode });
    }
    return { registryAddress: registry.address, shards, stop: registry.stop };
  } catch (err) {
    await registry.stop();
    throw err;
  }
}
