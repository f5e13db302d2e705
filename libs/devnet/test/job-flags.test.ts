import { ErrorCode } from '@shardlab/common';
import { SHARD_PROTOCOLS } from '@shardlab/shard';
import { thrown } from '@shardlab/testing';
import { PLACEMENT_POLICIES } from '@shardlab/workload';
import { comparisonNotes } from '../src/compare-job';
import { comparisonRuns, jobPlan, parseNameList, parsePlacements, parseProtocols } from '../src/job-flags';

/** The main job's --protocol and --placement flags, and what a comparison runs (no network). */
describe('--protocol and --placement', () => {
  it('take one name or a comma-separated list, in the order given', () => {
    expect(parseProtocols('block-2pc')).toEqual(['block-2pc']);
    expect(parseProtocols('shard-led,block-2pc')).toEqual(['shard-led', 'block-2pc']);
    expect(parseProtocols(' block-2pc , shard-led ')).toEqual(['block-2pc', 'shard-led']);
    expect(parsePlacements('hash,graph')).toEqual(['hash', 'graph']);
    expect(parsePlacements('graph')).toEqual(['graph']);
  });

  it('accept every name of their one list', () => {
    expect(parseProtocols(SHARD_PROTOCOLS.join(','))).toEqual([...SHARD_PROTOCOLS]);
    expect(parsePlacements(PLACEMENT_POLICIES.join(','))).toEqual([...PLACEMENT_POLICIES]);
    // A protocol added to the list is accepted without touching the parser.
    expect(parseNameList('--protocol', 'client-led,block-2pc', [...SHARD_PROTOCOLS, 'client-led'])).toEqual(['client-led', 'block-2pc']);
  });

  it('refuse an unknown name with INVALID_ARGUMENT naming the flag, the name and every valid one', () => {
    for (const [parse, flag, value, bad, valid] of [
      [parseProtocols, '--protocol', 'block-2pc,2pc', '2pc', SHARD_PROTOCOLS],
      [parseProtocols, '--protocol', 'Block-2PC', 'Block-2PC', SHARD_PROTOCOLS],
      [parsePlacements, '--placement', 'hash,metis', 'metis', PLACEMENT_POLICIES],
    ] as const) {
      const err = thrown(() => parse(value));
      expect(err.code).toBe(ErrorCode.InvalidArgument);
      expect(err.message).toContain(`${flag}: unknown name "${bad}"`);
      expect(err.message).toContain(`valid: ${valid.join(', ')}`);
    }
  });

  it('refuse empty names and repeated names', () => {
    for (const v of ['', ',', 'block-2pc,', 'block-2pc,,shard-led', ' ']) {
      const err = thrown(() => parseProtocols(v));
      expect(err.code).toBe(ErrorCode.InvalidArgument);
      expect(err.message).toContain('--protocol needs names separated by commas');
      expect(err.message).toContain('valid: block-2pc, shard-led');
    }
    const twice = thrown(() => parsePlacements('hash,graph,hash'));
    expect(twice.code).toBe(ErrorCode.InvalidArgument);
    expect(twice.message).toBe('--placement lists "hash" twice');
  });
});

describe('jobPlan', () => {
  it('is one run for one protocol and one placement, a comparison otherwise', () => {
    expect(jobPlan(['shard-led'], ['graph'])).toEqual({ kind: 'single', protocol: 'shard-led', placement: 'graph' });
    expect(jobPlan(['block-2pc', 'shard-led'], ['hash'])).toEqual({ kind: 'comparison', protocols: ['block-2pc', 'shard-led'], placements: ['hash'] });
    expect(jobPlan(['block-2pc'], ['hash', 'graph'])).toEqual({ kind: 'comparison', protocols: ['block-2pc'], placements: ['hash', 'graph'] });
  });

  it('refuses --keep-running with several runs, and empty lists', () => {
    expect(jobPlan(['block-2pc'], ['hash'], true).kind).toBe('single');
    const err = thrown(() => jobPlan(['block-2pc', 'shard-led'], ['hash', 'graph'], true));
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.message).toContain('--keep-running');
    expect(err.message).toContain('4 runs');
    expect(thrown(() => jobPlan([], ['hash'])).message).toContain('--protocol needs at least one name');
    expect(thrown(() => jobPlan(['block-2pc'], [])).message).toContain('--placement needs at least one name');
  });

  it('runs placements in the outer loop and names each run\'s directory', () => {
    expect(comparisonRuns(['block-2pc', 'shard-led'], ['hash', 'graph'])).toEqual([
      { protocol: 'block-2pc', placement: 'hash', dir: 'block-2pc-hash' },
      { protocol: 'shard-led', placement: 'hash', dir: 'shard-led-hash' },
      { protocol: 'block-2pc', placement: 'graph', dir: 'block-2pc-graph' },
      { protocol: 'shard-led', placement: 'graph', dir: 'shard-led-graph' },
    ]);
  });
});

describe('comparisonNotes', () => {
  it('says a trace replays the same signed rows, and that placement changes shards only', () => {
    const notes = comparisonNotes({ kind: 'trace', file: '/data/t.csv.gz', rows: 300 }, ['hash', 'graph']);
    expect(notes[0]).toContain('the same 300 planned rows of /data/t.csv.gz');
    expect(notes.some((n) => n.includes('not the signed transactions'))).toBe(true);
    expect(comparisonNotes({ kind: 'trace', file: 'f', rows: 1 }, ['hash']).some((n) => n.includes('placement changes'))).toBe(false);
  });

  it('says the synthetic plan is shared, contracts are set up per network, and swaps differ between placements', () => {
    const w = { kind: 'synthetic' as const, txs: 300, accounts: 50, seed: 4, contracts: true, swaps: true };
    const notes = comparisonNotes(w, ['hash', 'graph']);
    expect(notes[0]).toContain('the same synthetic plan (seed 4: 300 operations over 50 accounts)');
    expect(notes.some((n) => n.includes('deployed') && n.includes('on each network'))).toBe(true);
    expect(notes.some((n) => n.includes('signed transactions differ between placements'))).toBe(true);
    expect(notes.some((n) => n.includes('all on one shard under graph placement'))).toBe(true);
    expect(comparisonNotes(w, ['graph']).some((n) => n.includes('laid out by placement'))).toBe(false);
    const transfers = comparisonNotes({ ...w, contracts: false, swaps: false }, ['hash', 'graph']);
    expect(transfers.some((n) => n.includes('deployed') || n.includes('laid out'))).toBe(false);
    expect(transfers.some((n) => n.includes('differ between placements'))).toBe(false);
    expect(comparisonNotes(w, ['hash']).some((n) => n.includes('differ between placements'))).toBe(false);
  });
});
