// The main job's --protocol and --placement flags: one name or a comma-separated list from their one list of valid names, and whether the job is one run or a comparison.
import { errors } from '@shardlab/common';
import { SHARD_PROTOCOLS, type ShardProtocolName } from '@shardlab/shard';
import { PLACEMENT_POLICIES, type PlacementPolicy } from '@shardlab/workload';

/**
 * Parses a flag that takes one name or a comma-separated list of names from `valid` (`block-2pc`,
 * `block-2pc,shard-led`; spaces around names are ignored), keeping the order given.
 * @throws ShardLabError INVALID_ARGUMENT naming the flag and listing the valid names for an
 *   unknown name, an empty list or an empty item (`a,,b`), and for a name listed twice.
 */
export function parseNameList<T extends string>(flag: string, value: string, valid: readonly T[]): T[] {
  const choices = `valid: ${valid.join(', ')} (one, or a comma-separated list)`;
  const names = value.split(',').map((x) => x.trim());
  if (names.some((x) => x === '')) throw errors.invalidArgument(`${flag} needs names separated by commas, got ${JSON.stringify(value)}; ${choices}`);
  const out: T[] = [];
  for (const name of names) {
    if (!(valid as readonly string[]).includes(name)) throw errors.invalidArgument(`${flag}: unknown name ${JSON.stringify(name)}; ${choices}`);
    if ((out as string[]).includes(name)) throw errors.invalidArgument(`${flag} lists ${JSON.stringify(name)} twice`);
    out.push(name as T);
  }
  return out;
}

/**
 * Parses `--protocol`: names from `SHARD_PROTOCOLS` of @shardlab/shard, the one list of the
 * protocols a state shard runs (see {@link parseNameList}).
 * @throws ShardLabError INVALID_ARGUMENT as {@link parseNameList}.
 */
export function parseProtocols(value: string): ShardProtocolName[] {
  return parseNameList('--protocol', value, SHARD_PROTOCOLS);
}

/**
 * Parses `--placement`: names from `PLACEMENT_POLICIES` of @shardlab/workload (see {@link parseNameList}).
 * @throws ShardLabError INVALID_ARGUMENT as {@link parseNameList}.
 */
export function parsePlacements(value: string): PlacementPolicy[] {
  return parseNameList('--placement', value, PLACEMENT_POLICIES);
}

/**
 * What the main job runs: one experiment (one protocol and one placement: today's single report),
 * or a comparison of every combination of the listed protocols and placements.
 */
export type JobPlan =
  | { kind: 'single'; protocol: ShardProtocolName; placement: PlacementPolicy }
  | { kind: 'comparison'; protocols: ShardProtocolName[]; placements: PlacementPolicy[] };

/**
 * Decides between one run and a comparison from the parsed `--protocol` and `--placement` lists.
 * @throws ShardLabError INVALID_ARGUMENT for an empty list, and for `--keep-running` with more than
 *   one run (it leaves one network up after its report).
 */
export function jobPlan(protocols: readonly ShardProtocolName[], placements: readonly PlacementPolicy[], keepRunning = false): JobPlan {
  if (protocols.length === 0) throw errors.invalidArgument('--protocol needs at least one name');
  if (placements.length === 0) throw errors.invalidArgument('--placement needs at least one name');
  if (protocols.length === 1 && placements.length === 1) return { kind: 'single', protocol: protocols[0]!, placement: placements[0]! };
  if (keepRunning)
    throw errors.invalidArgument(
      `--keep-running leaves one network up after its report; it cannot be combined with ${protocols.length * placements.length} runs (one --protocol and one --placement)`,
    );
  return { kind: 'comparison', protocols: [...protocols], placements: [...placements] };
}

/**
 * The runs of a comparison in the order they run: placements in the outer loop, protocols in the
 * inner one (`block-2pc,shard-led` × `hash,graph` → block-2pc/hash, shard-led/hash,
 * block-2pc/graph, shard-led/graph), so the runs of one placement share its planned placement.
 * `dir` is `<protocol>-<placement>`, the run's directory under `--out` (and `--data-dir`).
 */
export function comparisonRuns<P extends string, L extends string>(protocols: readonly P[], placements: readonly L[]): { protocol: P; placement: L; dir: string }[] {
  return placements.flatMap((placement) => protocols.map((protocol) => ({ protocol, placement, dir: `${protocol}-${placement}` })));
}
