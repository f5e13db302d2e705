import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '@shardlab/common';
import { thrown } from '@shardlab/testing';
import {
  buildComparison,
  buildReport,
  comparisonRows,
  comparisonToJson,
  formatComparisonTable,
  renderComparisonHtml,
  TABLE_WIDTH,
  writeComparisonFiles,
  type ComparisonRunInput,
  type Report,
} from '../src';
import { AUDIT_OK, config, cross, input, local, T0 } from './fixtures';

/**
 * Run A (block-2pc, hash): 4 local commits after 100..400 ms, 2 cross-shard commits after 1 and
 * 2 s, 1 cross-shard abort; 1.2 s of CPU.
 */
function reportA(): Report {
  return buildReport(
    input(
      [
        ...[100, 200, 300, 400].map((ms) => local({ finalAtMs: T0 + ms })),
        cross({ finalAtMs: T0 + 1000 }),
        cross({ finalAtMs: T0 + 2000 }),
        cross({ finalAtMs: T0 + 500, outcome: 'aborted', reason: 'vote timeout', reasonCode: 'vote-timeout' }),
      ],
      { cpuSeconds: 1.2, config: config({ placement: { policy: 'hash', seed: 1, crossShardRatio: 0.4, perShardLoad: [7, 0, 0, 0] } }) },
    ),
  );
}

/**
 * Run B (shard-led, hash): the same shape twice as fast — locals after 50..200 ms, cross-shard
 * commits after 0.5 and 1 s — with a rejection instead of the abort, 0.6 s of CPU, and receipts.
 */
function reportB(over: { auditOk?: boolean; protocol?: string } = {}): Report {
  return buildReport(
    input(
      [
        ...[50, 100, 150, 200].map((ms) => local({ finalAtMs: T0 + ms })),
        cross({ finalAtMs: T0 + 500 }),
        cross({ finalAtMs: T0 + 1000 }),
        cross({ outcome: 'rejected', reason: 'nonce too low', reasonCode: 'failed-precondition' }),
      ],
      {
        cpuSeconds: 0.6,
        config: config({ protocol: over.protocol ?? 'shard-led' }),
        audit: {
          ...AUDIT_OK,
          ok: over.auditOk ?? true,
          problems: over.auditOk === false ? ['receipt 0xab credited twice'] : [],
          receipts: { ok: true, sent: 2, credited: 2, inFlight: 0 },
        },
      },
    ),
  );
}

const runA = (): ComparisonRunInput => ({ protocol: 'block-2pc', placement: 'hash', dir: 'block-2pc-hash', report: reportA(), signedWorkload: { txs: 7, digest: 'aa11' } });
const runB = (over: Parameters<typeof reportB>[0] = {}): ComparisonRunInput => ({ protocol: 'shard-led', placement: 'hash', dir: 'shard-led-hash', report: reportB(over), signedWorkload: { txs: 7, digest: 'aa11' } });
const runC = (error = 'the network failed to start: registry exited with code 1'): ComparisonRunInput => ({ protocol: 'block-2pc', placement: 'graph', dir: 'block-2pc-graph', error });

const compare = (runs: ComparisonRunInput[], notes: string[] = ['the same planned rows in every run']) =>
  buildComparison({ runs, startedAt: '2023-11-14T22:13:20.000Z', notes });

describe('buildComparison', () => {
  it('takes each run\'s figures from its report', () => {
    const c = compare([runA(), runB(), runC()]);
    const [a, b, cc] = c.runs;
    expect(a!.label).toBe('block-2pc / hash');
    expect(a!.figures).toMatchObject({
      committedPerSecond: 3, // 6 committed over 2 s
      submitted: 7,
      committed: 6,
      aborted: 1,
      rejected: 0,
      unknown: 0,
      abortedShare: 1 / 7,
      crossShardRatio: 3 / 7,
      localP50Ms: 200,
      localP95Ms: 400,
      crossShardP50Ms: 1000,
      crossShardP99Ms: 2000,
      localP50Blocks: 0.8, // 200 ms of 250 ms blocks
      crossShardP50Blocks: 4,
      receiptsSent: null,
      accountedFor: true,
      auditOk: true,
    });
    expect(a!.figures!.cpuSecondsPerCommittedTx).toBeCloseTo(0.2, 12);
    expect(b!.figures).toMatchObject({ committedPerSecond: 6, aborted: 0, rejected: 1, abortedShare: 0, localP50Ms: 100, crossShardP50Ms: 500, receiptsSent: 2, receiptsCredited: 2, receiptsInFlight: 0 });
    expect(b!.figures!.cpuSecondsPerCommittedTx).toBeCloseTo(0.1, 12);
    expect(cc).toMatchObject({ label: 'block-2pc / graph', figures: null, ratios: null, report: null, ok: false, error: 'the network failed to start: registry exited with code 1' });
    expect(a!.report).toEqual(reportA());
    expect(a!.signedWorkload).toEqual({ txs: 7, digest: 'aa11' });
  });

  it('divides every run\'s figures by the first run\'s', () => {
    const c = compare([runA(), runB()]);
    expect(c.baseline).toBe(0);
    const [a, b] = c.runs;
    expect(a!.ratios).toMatchObject({ committedPerSecond: 1, localP50Ms: 1, crossShardP99Ms: 1, abortedShare: 1, cpuSecondsPerCommittedTx: 1 });
    expect(b!.ratios).toMatchObject({ committedPerSecond: 2, durationSeconds: 0.5, localP50Ms: 0.5, crossShardP50Ms: 0.5, abortedShare: 0, aborted: 0, committed: 1 });
    expect(b!.ratios!.cpuSecondsPerCommittedTx).toBeCloseTo(0.5, 12);
  });

  it('gives no ratio where the baseline\'s figure is 0 or a figure is missing', () => {
    const c = compare([runB(), runA()]);
    expect(c.runs[1]!.ratios).toMatchObject({ abortedShare: null, aborted: null, committedPerSecond: 0.5 });
    const noCpu = buildReport(input([local({ finalAtMs: T0 + 100 })], { config: config({ protocol: 'shard-led' }) }));
    const d = compare([runA(), { protocol: 'shard-led', placement: 'graph', dir: 'x', report: noCpu }]);
    expect(d.runs[1]!.ratios).toMatchObject({ cpuSecondsPerCommittedTx: null, crossShardP50Ms: null });
  });

  it('takes the first run with a report as the baseline when earlier runs failed, and none when no run has one', () => {
    const c = compare([runC(), runB(), runA()]);
    expect(c.baseline).toBe(1);
    expect(c.runs[1]!.ratios!.committedPerSecond).toBe(1);
    expect(c.runs[2]!.ratios!.committedPerSecond).toBe(0.5);
    const none = compare([runC()]);
    expect(none.baseline).toBeNull();
    expect(none.ok).toBe(false);
  });

  it('is ok only when every run has a report, accounted for every transaction and passed its audit', () => {
    expect(compare([runA(), runB()]).ok).toBe(true);
    expect(compare([runA(), runB(), runC()]).ok).toBe(false);
    const badAudit = compare([runA(), runB({ auditOk: false })]);
    expect(badAudit.ok).toBe(false);
    expect(badAudit.runs.map((r) => r.ok)).toEqual([true, false]);
    const unknown = buildReport(input([local({ outcome: 'unknown' })], { config: config({ protocol: 'shard-led' }) }));
    expect(compare([runA(), { protocol: 'shard-led', placement: 'hash', dir: 'x', report: unknown }]).runs[1]!.ok).toBe(false);
  });

  it('refuses malformed runs with INVALID_ARGUMENT', () => {
    const cases: [ComparisonRunInput[], string][] = [
      [[], 'at least one run'],
      [[runA(), runA()], 'repeats block-2pc / hash'],
      [[{ ...runA(), error: 'x' }], 'exactly one of report and error'],
      [[{ protocol: 'block-2pc', placement: 'hash', dir: 'x' }], 'exactly one of report and error'],
      [[{ ...runA(), protocol: '' }], 'protocol must be a non-empty string'],
      [[runB({ protocol: 'block-2pc' })], 'is shard-led / hash but its report ran block-2pc'],
      [[{ ...runA(), placement: 'graph' }], 'is block-2pc / graph but its report used hash placement'],
    ];
    for (const [runs, message] of cases) {
      const err = thrown(() => compare(runs));
      expect(err.code).toBe(ErrorCode.InvalidArgument);
      expect(err.message).toContain(message);
    }
  });
});

describe('formatComparisonTable', () => {
  const c = compare([runA(), runB(), runC()]);
  const text = formatComparisonTable(c);
  const lines = text.split('\n');
  const row = (name: string, after = 0) => {
    const i = lines.findIndex((l, j) => j >= after && l.startsWith(`  ${name}  `));
    return lines[i]?.slice(2 + name.length).trim().split(/\s{2,}/) ?? [];
  };

  it('puts the runs side by side: one column per run, a row per figure, a dash for a run without a report', () => {
    expect(lines.find((l) => l.startsWith('protocol'))?.split(/\s+/)).toEqual(['protocol', 'block-2pc', 'shard-led', 'block-2pc']);
    expect(lines.find((l) => l.startsWith('placement'))?.split(/\s+/)).toEqual(['placement', 'hash', 'hash', 'graph']);
    expect(row('committed tx/s')).toEqual(['3.00', '6.00', '-']);
    expect(row('aborted %')).toEqual(['14.3 %', '0.0 %', '-']);
    expect(row('reverted')).toEqual(['0', '0', '-']);
    expect(row('cross-shard ratio')).toEqual(['42.9 %', '42.9 %', '-']);
    const local = lines.indexOf('Latency, local');
    const crossShard = lines.indexOf('Latency, cross-shard');
    expect(row('p50 ms', local)).toEqual(['200', '100', '-']);
    expect(row('p99 ms', local)).toEqual(['400', '200', '-']);
    expect(row('p50 ms', crossShard)).toEqual(['1,000', '500', '-']);
    expect(row('p50 blk', crossShard)).toEqual(['4.00', '2.00', '-']);
    expect(row('CPU ms / committed tx')).toEqual(['200.00', '100.00', '-']);
    expect(row('sent')).toEqual(['-', '2', '-']);
    expect(row('credited')).toEqual(['-', '2', '-']);
    expect(row('audit')).toEqual(['PASSED', 'PASSED', '-']);
    expect(row('run')).toEqual(['ok', 'ok', 'no report']);
    expect(text).toContain('#3 block-2pc / graph: no report: the network failed to start');
    expect(text).toContain('note      the same planned rows in every run');
  });

  it('adds a client-led section only when a run ended a transaction by client-led 2PC', () => {
    expect(text).not.toContain('Client-led 2PC');
    const clientLed = buildReport(
      input(
        [
          cross({ finalAtMs: T0 + 400, path: 'client-led' }),
          cross({ finalAtMs: T0 + 900, outcome: 'aborted', path: 'client-led', reasonCode: 'lock-timeout', reason: 'lock timeout', lockTimeout: { preparedAtHeight: 3, abortedAtHeight: 13 } }),
        ],
        { config: config({ protocol: 'client-led' }) },
      ),
    );
    const t = formatComparisonTable(compare([runA(), { protocol: 'client-led', placement: 'hash', dir: 'client-led-hash', report: clientLed }])).split('\n');
    const cells = (name: string) => t.find((l) => l.startsWith(`  ${name}  `))?.slice(2 + name.length).trim().split(/\s{2,}/);
    expect(t).toContain('Client-led 2PC');
    expect(cells('cross-shard by client-led')).toEqual(['-', '2']);
    expect(cells('lock timeouts')).toEqual(['0', '1']);
    expect(cells('blocking max blk')).toEqual(['-', '10']);
  });

  it('ends with the ratios against the first run', () => {
    const ratios = lines.indexOf('Ratio to #1');
    expect(ratios).toBeGreaterThan(0);
    expect(row('committed tx/s', ratios)).toEqual(['1.00×', '2.00×', '-']);
    expect(row('local p50 ms', ratios)).toEqual(['1.00×', '0.50×', '-']);
    expect(row('aborted %', ratios)).toEqual(['1.00×', '0.00×', '-']);
  });

  it('rows and table agree, and the table fits in 100 columns even with many runs', () => {
    expect(comparisonRows(c)[0]).toEqual(['', '#1', '#2', '#3']);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(TABLE_WIDTH);
    const protocols = ['block-2pc', 'shard-led', 'client-led-with-a-long-name', 'p4'];
    const many = compare(
      protocols.flatMap((p) =>
        ['hash', 'graph'].map((placement) => ({ protocol: p, placement, dir: `${p}-${placement}`, report: buildReport(input([local({ finalAtMs: T0 + 100 })], { config: config({ protocol: p }) })) })),
      ),
    );
    const t = formatComparisonTable(many);
    for (const l of t.split('\n')) expect(l.length).toBeLessThanOrEqual(TABLE_WIDTH);
    for (let i = 1; i <= 8; i++) expect(t).toMatch(new RegExp(`\\s#${i}(\\s|$)`, 'm'));
    expect(t.split('\n').filter((l) => l.startsWith('protocol')).length).toBeGreaterThan(1);
  });

  it('shows receipts only when some run has them, and names a failed audit\'s problems', () => {
    expect(formatComparisonTable(compare([runA()]))).not.toContain('Receipts');
    const bad = formatComparisonTable(compare([runA(), runB({ auditOk: false })]));
    expect(bad).toContain('2 runs, 1 not ok');
    expect(bad).toMatch(/^ {2}audit +PASSED +FAILED$/m);
    expect(bad).toContain('#2 shard-led / hash: audit problem: receipt 0xab credited twice');
  });
});

describe('renderComparisonHtml', () => {
  const c = compare([runA(), runB(), runC('<script>alert(1)</script> failed')]);
  const html = renderComparisonHtml(c);
  const svg = (id: string) => new RegExp(`<figure id="${id}">\\n(<svg[\\s\\S]*?</svg>)`).exec(html)?.[1] ?? '';

  it('is one self-contained document', () => {
    expect(html.startsWith('<!DOCTYPE html>\n<html lang="en">')).toBe(true);
    expect(html.split('<html').length - 1).toBe(1);
    expect(html).not.toMatch(/<script|src=|href=|https?:|@import|url\(|<link|<iframe|<object|<embed/i);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; failed');
    expect(html).not.toMatch(/NaN|Infinity/);
  });

  it('draws every run with a report on the throughput chart and both latency CDFs', () => {
    const throughput = svg('fig-throughput');
    const localCdf = svg('fig-latency-local');
    const crossCdf = svg('fig-latency-cross-shard');
    for (const s of [throughput, localCdf, crossCdf]) expect(s).not.toBe('');
    expect(throughput).toContain('<title>#1 block-2pc / hash</title></path>');
    expect(throughput).toContain('<title>#2 shard-led / hash</title></path>');
    expect(localCdf).toContain('<title>#1 block-2pc / hash (n = 4)</title></path>');
    expect(localCdf).toContain('<title>#2 shard-led / hash (n = 4)</title></path>');
    expect(crossCdf).toContain('<title>#1 block-2pc / hash (n = 2)</title></path>');
    expect(crossCdf).toContain('<title>#2 shard-led / hash (n = 2)</title></path>');
    for (const s of [throughput, localCdf, crossCdf]) {
      expect(s).not.toContain('#3 block-2pc / graph');
      expect(s.split('<path').length - 1).toBe(2);
    }
  });

  it('has each run\'s abort reasons, its side-by-side figures, ratios and the failed run\'s error', () => {
    expect(svg('fig-reasons-1')).toContain('aborted: vote timeout');
    expect(svg('fig-reasons-2')).toContain('rejected: nonce too low');
    expect(html).not.toContain('id="fig-reasons-3"');
    expect(html).toContain('<td>committed tx/s</td><td>3.00</td><td>6.00</td><td>-</td>');
    expect(html).toContain('<td>committed tx/s</td><td>1.00×</td><td>2.00×</td><td>-</td>');
    expect(html).toContain('<code>shard-led-hash/report.html</code>');
    expect(html).toContain('class="verdict bad"');
    expect(renderComparisonHtml(compare([runA(), runB()]))).toContain('class="verdict ok"');
    expect(renderComparisonHtml(compare([runA(), runB({ auditOk: false })]))).toContain('FAILED</span>: audit failed: receipt 0xab credited twice');
  });
});

describe('writeComparisonFiles', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shardlab-comparison-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes comparison.json (every run\'s full report inside) and comparison.html', async () => {
    const c = compare([runA(), runB(), runC()]);
    const { jsonPath, htmlPath } = await writeComparisonFiles(join(dir, 'out'), c);
    expect(jsonPath).toBe(join(dir, 'out', 'comparison.json'));
    const json = await readFile(jsonPath, 'utf8');
    expect(json).toBe(comparisonToJson(c));
    const parsed = JSON.parse(json);
    expect(parsed).toEqual(c);
    expect(parsed.schema).toBe('shardlab.comparison/v1');
    expect(parsed.runs[1].report).toEqual(reportB());
    expect(await readFile(htmlPath, 'utf8')).toBe(renderComparisonHtml(c));
  });
});
