// createShardStateSource and createShardLockClient: a simulation's StateSource over the shards' gRPC (pinned head per shard, GetProof, GetCode) and its lock calls (AcquireLocks, ReleaseSimulationLocks), with error mapping.
/**
 * The {@link StateSource} of a running network: the state shards' GetHead, GetProof and GetCode
 * over gRPC, with shards found through the registry (placement and endpoints).
 */
import { shardOf } from '@shardlab/chain';
import { ErrorCode, ShardLabError, errors, isShardLabError } from '@shardlab/common';
import type { AcquireLocksResponse, GetCodeResponse, GetHeadResponse, GetProofResponse, ReleaseSimulationLocksResponse, StateShardServiceClient } from '@shardlab/proto';
import type { Peer, PeerInvoke, Peers } from '@shardlab/registry';
import { DEFAULT_LOCK_TTL_MS, type LockClient } from './locked';
import type { StateSource } from './remote-state';

/** Most storage slots asked in one GetProof (the shards' limit); more are asked in several. */
export const MAX_SLOTS_PER_PROOF = 256;

/** Deadline of a ReleaseSimulationLocks call, in milliseconds. */
export const RELEASE_DEADLINE_MS = 2000;

/** The holder named in a shard's ABORTED message (`… is locked by transaction 0x… (…)`). */
export function lockHolderOf(message: string): string | undefined {
  return /locked by transaction (0x[0-9a-fA-F]{64})/.exec(message)?.[1]?.toLowerCase();
}

/** Options of {@link createShardStateSource}. */
export interface ShardSourceOpts {
  /**
   * The state shards' clients (shared by simulations), found through the registry directory,
   * which also gives the placement; every call has the shard deadline and connection wait of
   * `peers` (`PEER_CALL_DEFAULTS` from `@shardlab/registry`, or its overrides).
   */
  peers: Peers;
  /** Cancels the calls in flight (the Simulate call was cancelled). */
  signal?: AbortSignal;
}

interface Pin {
  shardId: number;
  height: number;
  stateRoot: string;
  peer: Peer<StateShardServiceClient>;
}

/**
 * A {@link StateSource} for ONE simulation over the shards' gRPC. The first read of a shard asks
 * its head (GetHead) and pins that height and state root; every GetProof of the simulation on that
 * shard then passes the pinned height, and an answer at another reference is refused. GetCode
 * needs no height (code never changes).
 *
 * Every failure is a ShardLabError UNAVAILABLE naming the shard: a shard that cannot be reached
 * (or misses the deadline), has no live replica in the registry, reports another shard id, or
 * answers with an error of its own (e.g. UNIMPLEMENTED, NOT_FOUND) — except a shard's ABORTED,
 * which stays ABORTED, with `meta.holder` the holder's hash when the shard named one. Unreachable shards make
 * `peers` drop the shard's client and the directory's cached endpoints.
 */
export function createShardStateSource(opts: ShardSourceOpts): StateSource {
  const pins = new Map<number, Promise<Pin>>();
  const callOpts = opts.signal ? { signal: opts.signal } : {};

  async function call<Res>(peer: Peer<StateShardServiceClient>, shardId: number, method: string, invoke: PeerInvoke<StateShardServiceClient, Res>): Promise<Res> {
    try {
      return await peer.call<Res>(invoke, callOpts);
    } catch (err) {
      if (isShardLabError(err, ErrorCode.Unavailable)) throw err; // `peer` forgot the shard's endpoint
      if (isShardLabError(err, ErrorCode.Aborted)) {
        const holder = lockHolderOf(err.message);
        throw errors.aborted(`shard ${shardId}: ${err.message}`, { shardId, ...(holder ? { holder } : {}) });
      }
      const message = err instanceof Error ? err.message : String(err);
      const code = err instanceof ShardLabError ? err.code : 'error';
      throw errors.unavailable(`shard ${shardId} ${method} failed: ${code}: ${message}`, { shardId });
    }
  }

  const shardOfAddress = async (address: string) => shardOf(await opts.peers.directory.placement(), address);

  /** Any failure to reach a shard is UNAVAILABLE naming it (also the directory's own errors). */
  const unavailable = (shardId: number, err: unknown): never => {
    if (isShardLabError(err, ErrorCode.Unavailable)) throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw errors.unavailable(`shard ${shardId} unavailable: ${message}`, { shardId });
  };

  const pin = (shardId: number): Promise<Pin> => {
    let p = pins.get(shardId);
    if (!p) {
      p = (async () => {
        const peer = await opts.peers.shard(shardId).catch((err: unknown) => unavailable(shardId, err));
        const head = await call<GetHeadResponse>(peer, shardId, 'GetHead', (c, md, o, cb) => c.getHead({}, md, o, cb));
        if (head.shardId !== shardId) {
          peer.forget();
          throw errors.unavailable(`the shard registered as shard ${shardId} at ${peer.address} reports shard id ${head.shardId}`, { shardId });
        }
        return { shardId, height: head.height, stateRoot: head.stateRoot.toLowerCase(), peer };
      })();
      pins.set(shardId, p);
    }
    return p;
  };

  const getProof = async (p: Pin, address: string, slots: string[]): Promise<GetProofResponse> => {
    const request = { address, slots, height: p.height };
    const res = await call<GetProofResponse>(p.peer, p.shardId, 'GetProof', (c, md, o, cb) => c.getProof(request, md, o, cb));
    const ref = res.reference;
    if (!ref || ref.shardId !== p.shardId || ref.height !== p.height || ref.stateRoot.toLowerCase() !== p.stateRoot) {
      throw errors.unavailable(
        `shard ${p.shardId} answered GetProof of ${address} at ${ref ? `shard ${ref.shardId} height ${ref.height} root ${ref.stateRoot}` : 'no reference block'}, asked for height ${p.height} (root ${p.stateRoot})`,
        { shardId: p.shardId },
      );
    }
    return res;
  };

  return {
    getAccount: async (address, slots): Promise<GetProofResponse> => {
      const p = await pin(await shardOfAddress(address));
      if (slots.length <= MAX_SLOTS_PER_PROOF) return getProof(p, address, [...slots]);
      const chunks: string[][] = [];
      for (let i = 0; i < slots.length; i += MAX_SLOTS_PER_PROOF) chunks.push(slots.slice(i, i + MAX_SLOTS_PER_PROOF));
      const answers = await Promise.all(chunks.map((c) => getProof(p, address, c)));
      return { ...answers[0]!, storage: answers.flatMap((a) => a.storage) };
    },
    getCode: async (address) => {
      const p = await pin(await shardOfAddress(address));
      const res = await call<GetCodeResponse>(p.peer, p.shardId, 'GetCode', (c, md, o, cb) => c.getCode({ address }, md, o, cb));
      return res.code;
    },
  };
}

/** Options of {@link createShardLockClient}. */
export interface ShardLockClientOpts {
  /** The state shards' clients, as for {@link createShardStateSource}. */
  peers: Peers;
  /** Cancels the acquisitions in flight (the Simulate call was cancelled); releases are not tied to it. */
  signal?: AbortSignal;
}

/**
 * The {@link LockClient} of a running network: AcquireLocks and ReleaseSimulationLocks on the
 * state shards, found through the registry. An acquisition's deadline is its wait bound plus the
 * shard call deadline of `peers`. Errors as {@link createShardStateSource}: ABORTED stays
 * ABORTED (with `meta.holder` when the shard named one), everything else is UNAVAILABLE naming
 * the shard.
 */
export function createShardLockClient(opts: ShardLockClientOpts): LockClient {
  const callOpts = opts.signal ? { signal: opts.signal } : {};
  const client: LockClient = {
    acquire: async (shardId, txHash, keys, ttlMs, waitMs) => {
      let peer: Peer<StateShardServiceClient>;
      try {
        peer = await opts.peers.shard(shardId);
      } catch (err) {
        if (isShardLabError(err, ErrorCode.Unavailable)) throw err;
        throw errors.unavailable(`shard ${shardId} unavailable: ${err instanceof Error ? err.message : String(err)}`, { shardId });
      }
      const deadlineMs = waitMs + opts.peers.callDefaults('state-shard').deadlineMs;
      try {
        const res = await peer.call<AcquireLocksResponse>((c, md, o, cb) => c.acquireLocks({ txHash, keys, lockTtlMs: ttlMs, waitMs }, md, o, cb), { ...callOpts, deadlineMs });
        return res.values;
      } catch (err) {
        if (isShardLabError(err, ErrorCode.Unavailable)) throw err;
        if (isShardLabError(err, ErrorCode.Aborted)) {
          const holder = lockHolderOf(err.message);
          throw errors.aborted(`shard ${shardId}: ${err.message}`, { shardId, ...(holder ? { holder } : {}) });
        }
        const code = err instanceof ShardLabError ? err.code : 'error';
        throw errors.unavailable(`shard ${shardId} AcquireLocks failed: ${code}: ${err instanceof Error ? err.message : String(err)}`, { shardId });
      }
    },
    release: async (shardId, txHash) => {
      try {
        const peer = await opts.peers.shard(shardId);
        // Not tied to the Simulate call's signal: a cancelled simulation releases too.
        await peer.call<ReleaseSimulationLocksResponse>((c, md, o, cb) => c.releaseSimulationLocks({ txHash }, md, o, cb), { deadlineMs: RELEASE_DEADLINE_MS, waitForReady: false });
      } catch {
        // A lock that could not be released expires with its TTL.
      }
    },
    senderReady: async (shardId, txHash, waitMs) => {
      await client.acquire(shardId, txHash, [], DEFAULT_LOCK_TTL_MS, waitMs);
    },
  };
  return client;
}
