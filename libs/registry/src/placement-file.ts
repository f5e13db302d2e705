// Placement files: the JSON `{"overrides": {"0xaddress": shard}}` the registry starts with (--placement-file), parsed and validated, read, and written.
import { readFile } from 'node:fs/promises';
import { errors, parseAddress } from '@shardlab/common';

/**
 * Parses the text of a placement file, JSON `{ "overrides": { "0xaddress": shard, ... } }`: the
 * explicit placements that override the default rule (`last byte mod shardCount`,
 * docs/ARCHITECTURE.md §2) from the registry's first epoch. Addresses are returned lowercase.
 * Pure. `source` names the file in messages.
 * @throws ShardLabError INVALID_ARGUMENT naming `source` when the text is not JSON, has no
 *   `overrides` object, an address is not a 0x 20-byte hex address or is listed twice (in any
 *   case), or a shard is not an integer in 0..shardCount-1.
 */
export function parsePlacementFile(text: string, shardCount: number, source = 'placement file'): Map<string, number> {
  if (!Number.isInteger(shardCount) || shardCount < 1) throw errors.invalidArgument(`shard count must be a positive integer, got ${shardCount}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw errors.invalidArgument(`${source} is not valid JSON: ${(err as Error).message}`);
  }
  const overrides = typeof json === 'object' && json !== null ? (json as { overrides?: unknown }).overrides : undefined;
  if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) {
    throw errors.invalidArgument(`${source} has no "overrides" object: expected {"overrides": {"0xaddress": shard, ...}}`);
  }
  const out = new Map<string, number>();
  for (const [key, shard] of Object.entries(overrides as Record<string, unknown>)) {
    const address = parseAddress(key, `${source}: override address`);
    if (typeof shard !== 'number' || !Number.isInteger(shard) || shard < 0 || shard >= shardCount) {
      throw errors.invalidArgument(`${source}: override of ${address} names shard ${JSON.stringify(shard)}, outside 0..${shardCount - 1}`);
    }
    if (out.has(address)) throw errors.invalidArgument(`${source}: ${address} is listed twice`);
    out.set(address, shard);
  }
  return out;
}

/**
 * Reads and validates a placement file ({@link parsePlacementFile}) for a network of
 * `shardCount` shards.
 * @throws ShardLabError INVALID_ARGUMENT naming the file when it cannot be read or is invalid.
 */
export async function readPlacementFile(path: string, shardCount: number): Promise<Map<string, number>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw errors.invalidArgument(`cannot read placement file ${path}: ${(err as Error).message}`);
  }
  return parsePlacementFile(text, shardCount, `placement file ${path}`);
}

/** The text of a placement file ({@link parsePlacementFile}) with `overrides` (address → shard), sorted by address. Pure. */
export function formatPlacementFile(overrides: Iterable<[string, number]>): string {
  const sorted = [...overrides].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${JSON.stringify({ overrides: Object.fromEntries(sorted) }, null, 1)}\n`;
}
