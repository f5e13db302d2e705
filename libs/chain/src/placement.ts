// Account-to-shard placement: the placement (shard count, epoch, explicit overrides) and shardOf, the address's last byte mod the shard count unless overridden
import { errors, parseAddress } from '@shardlab/common';

/** Account-to-shard placement (docs/ARCHITECTURE.md §2), tagged with the registry's epoch. */
export interface Placement {
  /** Number of state shards; shards are numbered 0..shardCount-1. */
  readonly shardCount: number;
  /** Incremented by the registry whenever the placement changes. */
  readonly epoch: number;
  /** Explicit placements (lowercase address → shard) that override the default rule. */
  readonly overrides: ReadonlyMap<string, number>;
}

/**
 * Creates a placement.
 * @throws ShardLabError INVALID_ARGUMENT when shardCount is not a positive integer or an
 *   override names a shard outside 0..shardCount-1.
 */
export function createPlacement(shardCount: number, epoch = 1, overrides: Iterable<[string, number]> = []): Placement {
  if (!Number.isInteger(shardCount) || shardCount < 1) {
    throw errors.invalidArgument(`shard count must be a positive integer, got ${shardCount}`);
  }
  const map = new Map<string, number>();
  for (const [address, shard] of overrides) {
    if (!Number.isInteger(shard) || shard < 0 || shard >= shardCount) {
      throw errors.invalidArgument(`placement override for ${address} names shard ${shard}, outside 0..${shardCount - 1}`);
    }
    map.set(parseAddress(address), shard);
  }
  return { shardCount, epoch, overrides: map };
}

/**
 * The shard of an address: its explicit placement if any, else `last byte of the address mod
 * shardCount` (docs/ARCHITECTURE.md §2).
 * @throws ShardLabError INVALID_ARGUMENT when `address` is not a 20-byte hex address.
 */
export function shardOf(placement: Placement, address: string): number {
  const a = parseAddress(address);
  const explicit = placement.overrides.get(a);
  if (explicit !== undefined) return explicit;
  return parseInt(a.slice(-2), 16) % placement.shardCount;
}
