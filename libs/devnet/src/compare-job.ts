// The main job's comparison (npm start with lists of protocols and placements): the same workload run once per combination, each on a fresh network, then comparison.json/html and a side-by-side table.
import { join } from 'node:path';
import { buildComparison, formatComparisonTable, fmtRate, writeComparisonFiles, type ComparisonRunInput } from '@shardlab/report';
import type { ShardProtocolName } from '@shardlab/shard';
import type { PlacementPolicy } from '@shardlab/workload';
import type { Devnet } from './devnet';
import { comparisonRuns } from './job-flags';
import { jobLog, needsContracts, placeJobWorkload, readJobWorkload, runPlannedWorkload, type JobOpts, type JobOutput, type JobWorkload, type PlannedWorkload } from './job';

/**
 * What the comparison's notes need to know about the workload: a trace's file and planned rows,
 * or the synthetic workload's size and seed, whether it calls contracts (ERC-20 transfers or
 * swaps) and whether it has swaps (whose senders depend on the placement).
 */
export type ComparisonWorkload =
  | { kind: 'trace'; file: string; rows: number }
  | { kind: 'synthetic'; txs: number; accounts: number; seed: number; contracts: boolean; swaps: boolean };

/**
 * The notes of a comparison: in what sense every run has the same workload, what is set up per
 * network, what differs between placements, and how to read the signed-transaction digests. Pure.
 */
export function comparisonNotes(w: ComparisonWorkload, placements: readonly string[]): string[] {
  const notes: string[] = [];
  if (w.kind === 'trace') {
    notes.push(
      `every run replays the same ${w.rows} planned rows of ${w.file}, mapped to generated keys and signed once: the same senders, recipients, values, nonces and order`,
    );
    if (placements.length > 1)
      notes.push(
        'the placement changes which shard each generated account is on, hence which transactions are cross-shard, not the signed transactions (the digests of the runs agree)',
      );
  } else {
    notes.push(
      `every run plays the same synthetic plan (seed ${w.seed}: ${w.txs} operations over ${w.accounts} accounts): the same operations, amounts and order, signed for each network`,
    );
    if (w.contracts)
      notes.push(
        'the contracts (Uniswap V2 and its tokens) are deployed, the token holders fund the senders and the swappers approve the router on each network before its run (set-up, not measured); the workload is signed against that network\'s contracts',
      );
    if (w.contracts && placements.includes('graph') && placements.includes('hash'))
      notes.push('the contracts are laid out by placement: each on its own shard under hash placement, all on one shard under graph placement (they call each other)');
    if (placements.length > 1 && w.swaps)
      notes.push(
        'a swap is sent from a generated account placed on its input token\'s shard, so under another placement a swap may come from another account (its sender remapped): the signed transactions differ between placements',
      );
  }
  notes.push('each run starts a fresh network (its own data directory) after the previous run\'s network stopped, on the same machine');
  notes.push('signed txs digest: the first 16 hex digits of the SHA-256 of the submitted transactions\' hashes in order; equal digests mean byte-identical signed transactions');
  return notes;
}

function workloadOf(w: JobWorkload, o: JobOpts): ComparisonWorkload {
  if (w.kind === 'trace') return { kind: 'trace', file: w.file, rows: w.rows };
  return { kind: 'synthetic', txs: o.txs, accounts: o.accounts, seed: o.seed, contracts: needsContracts(o), swaps: o.mix.swap > 0 };
}

/**
 * Runs the main job as a comparison: reads and plans the workload once, then for every
 * combination of `protocols` × `placements` (placements outer, see `comparisonRuns`) places it
 * (once per placement) and runs it on a fresh network, one after the other, each with its own
 * data directory (`<dataDir>/<protocol>-<placement>` when `o.dataDir` is given) and its report in
 * `<o.out>/<protocol>-<placement>/`. A run that fails (the network does not start, a set-up
 * transaction does not commit…) is recorded with its error, its network stopped, and the next
 * run goes on. Then prints the side-by-side table and writes comparison.json and comparison.html
 * to `o.out`. Returns the exit code: 0 only when every run accounted for every transaction and
 * passed its audit. `track` is told the running network (to stop it on Ctrl-C).
 * @throws Error when the workload cannot be read, or the comparison files cannot be written.
 */
export async function runComparison(
  o: JobOpts,
  protocols: readonly ShardProtocolName[],
  placements: readonly PlacementPolicy[],
  track: (d: Devnet | undefined) => void,
  output: JobOutput = process.stdout,
): Promise<number> {
  const log = jobLog(output);
  const say = log.say;
  const startedAt = new Date();
  const runs = comparisonRuns(protocols, placements);
  say(`comparing ${runs.length} runs of one workload: ${runs.map((r) => `${r.protocol} (${r.placement} placement)`).join(', ')}`);
  const workload = await readJobWorkload(o, log);
  const placed = new Map<PlacementPolicy, PlannedWorkload>();
  const inputs: ComparisonRunInput[] = [];
  let current: Devnet | undefined;
  const tracking = (d: Devnet | undefined) => {
    current = d;
    track(d);
  };
  for (const [i, r] of runs.entries()) {
    const name = `run ${i + 1} of ${runs.length}: ${r.protocol}, ${r.placement} placement`;
    say(`\n${name}`);
    try {
      let planned = placed.get(r.placement);
      if (!planned) {
        planned = placeJobWorkload(workload, o, r.placement, log);
        placed.set(r.placement, planned);
      }
      const result = await runPlannedWorkload(
        o,
        planned,
        { protocol: r.protocol, out: join(o.out, r.dir), ...(o.dataDir !== undefined ? { dataDir: join(o.dataDir, r.dir) } : {}), printTable: false, startedAt: new Date() },
        tracking,
        log,
      );
      const rep = result.report;
      say(
        `${name}: ${fmtRate(rep.throughput.committedPerSecond)} committed tx/s, ${rep.accountedFor ? 'every transaction accounted for' : `${rep.counts.unknown} transaction(s) without a terminal status`}, audit ${rep.audit.ok ? 'PASSED' : 'FAILED'}`,
      );
      inputs.push({ protocol: r.protocol, placement: r.placement, dir: r.dir, report: rep, signedWorkload: result.signedWorkload });
    } catch (err) {
      // A network that did not start names its logs already; one that started is still up here.
      const message = current ? `${(err as Error).message} (logs in ${current.logDir})` : (err as Error).message;
      say(`${name} failed: ${message}`);
      if (current) {
        say('stopping its network...');
        await current.stop();
        tracking(undefined);
      }
      inputs.push({ protocol: r.protocol, placement: r.placement, dir: r.dir, error: message });
    }
  }
  const comparison = buildComparison({ runs: inputs, startedAt: startedAt.toISOString(), notes: comparisonNotes(workloadOf(workload, o), placements) });
  say('');
  say(formatComparisonTable(comparison));
  const files = await writeComparisonFiles(o.out, comparison);
  say(`comparison: ${files.jsonPath} and ${files.htmlPath}; each run's report in ${join(o.out, '<protocol>-<placement>')}/`);
  return comparison.ok ? 0 : 1;
}
