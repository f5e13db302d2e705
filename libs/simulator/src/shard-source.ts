// createShardStateSource: the StateSource of one simulation over the shards' gRPC: pinned head per shard, GetProof with simulation locks, GetCode, lock release, error mapping.
/**
 * The {@link StateSource} of a running network: the state shards' GetHead, GetProof and GetCode
 * over gRPC, with shards found through the registry (placement and endpoints).
 */
import { shardOf } from '@shardlab/chain';
import { ErrorCode, ShardLabError, errors, isShardLabError } from '@shardlab/common';
import type { GetCodeResponse, GetHeadResponse, GetProofResponse, ReleaseSimulationLocksResponse, StateShardServiceClient } from '@shardlab/proto';
import type { Peer, PeerInvoke, Peers } from '@shardlab/registry';
import type { StateSource } from './remote-state';

/** Most storage slots asked in one GetProof (the shards' limit); more are asked in several. */
export const MAX_SLOTS_PER_PROOF = 256;

/** Deadline of a ReleaseSimulationLocks call, in milliseconds. */
export const RELEASE_DEADLINE_MS = 2000;

/**
 * The simulation locks one simulation takes on the shards it reads (see the state shard's
 * GetProof: `tx_hash`, `lock_ttl_ms`).
 */
export interface SimulationLockSpec {
  /** Hash of the simulated transaction (0x lowercase hex): the lock holder. */
  txHash: string;
  /** Lifetime of each lock, in ms from its GetProof (the shard caps it). */
  ttlMs: number;
  /**
   * Addresses read without a lock (lowercase 0x hex): the transaction's sender, whose nonce is
   * reserved and whose outgoing value is locked by its home shard instead.
   */
  unlocked?: readonly string[];
}

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
  /** Simulation locks to take with every GetProof [none]. */
  lock?: SimulationLockSpec;
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
 * With `opts.lock`, every GetProof (of an address not in `lock.unlocked`) carries the
 * transaction's hash and the lock TTL, so the shard locks what it serves for this simulation;
 * {@link StateSource.releaseLocks} releases them all.
 *
 * Every failure is a ShardLabError UNAVAILABLE naming the shard: a shard that cannot be reached
 * (or misses the deadline), has no live replica in the registry, reports another shard id, or
 * answers with an error of its own (e.g. UNIMPLEMENTED, NOT_FOUND) — except a shard's ABORTED
 * (the address is locked by another transaction, or changed after the pinned height), which stays
 * ABORTED, with `meta.holder` the holder's hash when the shard named one. Unreachable shards make
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

  const lock = opts.lock;
  const unlocked = new Set((lock?.unlocked ?? []).map((a) => a.toLowerCase()));
  /** Shards asked for a lock (by id), and the GetProofs in flight, for releaseLocks. */
  const lockedShards = new Map<number, Pin>();
  const inFlight = new Set<Promise<unknown>>();

  const getProof = async (p: Pin, address: string, slots: string[]): Promise<GetProofResponse> => {
    const locking = lock !== undefined && !unlocked.has(address.toLowerCase());
    if (locking) lockedShards.set(p.shardId, p);
    const request = { address, slots, height: p.height, ...(locking ? { txHash: lock.txHash, lockTtlMs: lock.ttlMs } : {}) };
    const pending = call<GetProofResponse>(p.peer, p.shardId, 'GetProof', (c, md, o, cb) => c.getProof(request, md, o, cb));
    inFlight.add(pending);
    const res = await pending.finally(() => inFlight.delete(pending));
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
    ...(lock
      ? {
          releaseLocks: async () => {
            // A GetProof still in flight may lock after a release: wait for every one first.
            while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
            await Promise.allSettled(
              [...lockedShards.values()].map((p) =>
                // Not tied to the Simulate call's signal: a cancelled simulation releases too.
                p.peer.call<ReleaseSimulationLocksResponse>((c, md, o, cb) => c.releaseSimulationLocks({ txHash: lock.txHash }, md, o, cb), {
                  deadlineMs: RELEASE_DEADLINE_MS,
                  waitForReady: false,
                }),
              ),
            );
            lockedShards.clear();
          },
        }
      : {}),
  };
}
