import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildReport,
  escapeHtml,
  formatReportTable,
  linearScale,
  lineChart,
  logScale,
  renderReportHtml,
  reportToJson,
  TABLE_WIDTH,
  writeReportFiles,
  type Report,
} from '../src';
import { AUDIT_OK, config, cross, input, local, sampleInput, T0 } from './fixtures';

const EVIL = '<script>alert("x")</script> & conflict';

function evilReport(): Report {
  return buildReport(
    input(
      [
        local({ finalAtMs: T0 + 300 }),
        cross({ finalAtMs: T0 + 1300 }),
        cross({ finalAtMs: T0 + 900, outcome: 'aborted', reason: EVIL }),
        cross({ outcome: 'rejected', reason: 'nonce too low: <b>7</b>' }),
      ],
      {
        config: config({
          protocol: 'block-2pc<img src=x>',
          commit: '"quoted"',
          workload: { kind: 'trace', file: '/data/<trace>.csv', format: 'csv', rows: 4, skippedRows: 0, valueScale: '1e-6', notes: ['a <note>'] },
        }),
        audit: { ...AUDIT_OK, problems: ['<problem>'] },
      },
    ),
  );
}

function count(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

describe('formatReportTable', () => {
  const report = buildReport(sampleInput({ txs: 1000 }));
  const text = formatReportTable(report);
  const lines = text.split('\n');

  it('fits in 100 columns and ends every line with a newline', () => {
    expect(text.endsWith('\n')).toBe(true);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(TABLE_WIDTH);
    const long = buildReport(
      input([cross({ outcome: 'aborted', finalAtMs: T0 + 1, reason: `vote timeout ${'very '.repeat(40)}long` })], {
        config: config({ workload: { kind: 'synthetic', txs: 1, mix: {}, zipf: 1, accounts: 1, notes: ['note '.repeat(60)] } }),
        audit: { ...AUDIT_OK, ok: false, problems: ['problem '.repeat(30)] },
      }),
    );
    for (const line of formatReportTable(long).split('\n')) expect(line.length).toBeLessThanOrEqual(TABLE_WIDTH);
  });

  it('contains the figures: set-up, counts, throughput, latency, ratio, shards, reasons, audit, CPU', () => {
    const c = report.counts;
    expect(text).toContain('block-2pc, 8 shards, block interval 250 ms, seed 7');
    // The workload line wraps at the table's width.
    expect(text.replace(/\s+/g, ' ')).toContain('mix transfer 80 %, erc20 10 %, swap 10 %, popularity Zipf exponent 1');
    const row = (name: string) => lines.find((l) => l.startsWith(`  ${name} `)) ?? '';
    expect(row('all').split(/\s+/).filter(Boolean).slice(1)).toEqual(
      [c.submitted, c.committed, c.reverted, c.aborted, c.rejected, c.unknown].map((n) => n.toLocaleString('en-US')),
    );
    expect(text).toContain(`${report.throughput.committedPerSecond!.toFixed(1)} committed tx/s`);
    const latencyLocal = lines[lines.findIndex((l) => l.startsWith('Latency ')) + 1] ?? '';
    expect(latencyLocal.split(/\s+/).slice(1, 3)).toEqual(['local', report.latency.local.n.toLocaleString('en-US')]);
    expect(latencyLocal).toContain(` ${report.latency.local.ms!.p50} `);
    expect(latencyLocal).toContain(report.latency.local.blockIntervals!.p99.toFixed(2));
    expect(text).toContain(`${(report.crossShardRatio! * 100).toFixed(1)} %`);
    for (let s = 0; s < 8; s++) expect(lines.some((l) => l.startsWith(`  #${s} `))).toBe(true);
    expect(text).toContain('conflict: 0x… is locked by 0x…');
    expect(text).toMatch(/^Audit +PASSED$/m);
    expect(text).toMatch(/conservation ok/);
    expect(text).toMatch(/atomicity +ok/);
    expect(text).toMatch(/locks +ok +none left/);
    expect(text).toContain('95.4 s of CPU');
  });

  it('lists the top 5 reasons only, and shows FAILED checks', () => {
    const os = Array.from({ length: 7 }, (_, i) =>
      cross({ outcome: 'aborted', finalAtMs: T0 + 10, reason: `reason ${String.fromCharCode(97 + i)}` }),
    );
    const r = buildReport(
      input(os, {
        audit: { ...AUDIT_OK, ok: false, locks: { ok: false, accountsWithLocks: 3 }, problems: ['account 0x12 still locked'] },
      }),
    );
    const t = formatReportTable(r);
    expect(t).toContain('reason a');
    expect(t).toContain('reason e');
    expect(t).not.toContain('reason f');
    expect(t).toContain('… and 2 more');
    expect(t).toMatch(/^Audit +FAILED$/m);
    expect(t).toMatch(/locks +FAILED +3 account\(s\) still hold locks/);
    expect(t).toContain('problem: account 0x12 still locked');
  });

  it('shows client-led paths under client-led, and the lock timeouts only when there are any', () => {
    expect(text).not.toContain('Lock timeouts');
    expect(text).not.toContain('Cross-shard paths');
    const timedOut = cross({ outcome: 'aborted', finalAtMs: T0 + 50, path: 'client-led', reasonCode: 'lock-timeout', reason: 'lock timeout', lockTimeout: { preparedAtHeight: 5, abortedAtHeight: 17 } });
    const committed = cross({ finalAtMs: T0 + 50, path: 'client-led' });
    const clientLed = config({ protocol: 'client-led' });
    const t = formatReportTable(buildReport(input([committed, committed, timedOut], { config: clientLed }))).replace(/\s+/g, ' ');
    expect(t).toContain('Cross-shard paths 3 by client-led 2PC');
    expect(t).toContain("Lock timeouts 1 aborted by a shard's lock timeout (no decision from the coordinator); blocking window p50 12, max 12 blocks from prepare to abort");
    const none = formatReportTable(buildReport(input([committed], { config: clientLed })));
    expect(none).toContain('Cross-shard paths');
    expect(none).not.toContain('Lock timeouts');
  });

  it('says when transactions are not accounted for', () => {
    const r = buildReport(input([local({ outcome: 'unknown' })]));
    expect(formatReportTable(r)).toMatch(/accounted for +NO: 1 transaction/);
  });
});

describe('renderReportHtml', () => {
  const report = buildReport(sampleInput({ txs: 1000 }));
  const html = renderReportHtml(report);

  it('is one document with four inline SVG charts', () => {
    expect(html.startsWith('<!DOCTYPE html>\n<html lang="en">')).toBe(true);
    expect(count(html, '<html')).toBe(1);
    expect(count(html, '</html>')).toBe(1);
    expect(count(html, '<body>')).toBe(1);
    expect(count(html, '<svg')).toBe(4);
    expect(count(html, '</svg>')).toBe(4);
    for (const id of ['fig-throughput', 'fig-latency-cdf', 'fig-per-shard', 'fig-reasons']) expect(html).toContain(`id="${id}"`);
  });

  it('loads nothing: no scripts, no external resources', () => {
    expect(html).not.toMatch(/<script|src=|href=|https?:|@import|url\(|<link|<iframe|<object|<embed/i);
    // Strings from the report may spell such things, but only as escaped text, never inside a tag.
    const evil = renderReportHtml(evilReport());
    expect(evil).not.toMatch(/<script/i);
    expect(evil).not.toMatch(/<[^>]*\s(src|href)=/i);
    expect(evil).not.toMatch(/<(img|link|iframe|object|embed)\b/i);
  });

  it('has no NaN or Infinity in the drawing', () => {
    for (const r of [report, buildReport(input([])), evilReport()]) {
      const h = renderReportHtml(r);
      expect(h).not.toMatch(/NaN|Infinity/);
      expect(count(h, '<svg')).toBe(4);
    }
  });

  it('escapes every string from the report', () => {
    const h = renderReportHtml(evilReport());
    expect(h).not.toContain('<script>alert');
    expect(h).not.toContain('<img');
    expect(h).not.toContain('<b>7</b>');
    expect(h).not.toContain('<trace>');
    expect(h).not.toContain('<note>');
    expect(h).not.toContain('<problem>');
    expect(h).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; conflict');
    expect(h).toContain('&quot;quoted&quot;');
    expect(escapeHtml(`<a href='x'>&</a>`)).toBe('&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;');
  });

  it('draws the charts with axes, legends and data', () => {
    const svgs = html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
    const [throughput = '', cdf = '', shards = '', reasons = ''] = svgs;
    expect(throughput).toContain('>committed<');
    expect(throughput).toContain('>submitted<');
    expect(throughput).toContain('time since run start (s)');
    expect(count(throughput, '<path')).toBeGreaterThanOrEqual(2);
    expect(cdf).toMatch(/local \(n = /);
    expect(cdf).toMatch(/cross-shard \(n = /);
    expect(cdf).toContain('log scale'); // latencies from ~300 ms to several seconds
    expect(count(shards, '<rect')).toBeGreaterThanOrEqual(1 + 8 * 2 + 2); // background, 8 shards × 2, legend
    expect(reasons).toContain('aborted: conflict: 0x… is locked by 0x…');
  });

  it('shows the synthetic workload\'s mix and popularity (Zipf exponent, or uniform for 0)', () => {
    expect(html).toContain('<th>Popularity</th><td>Zipf exponent 1</td>');
    const uniform = buildReport(input([local({ finalAtMs: T0 + 300 })], { config: config({ workload: { kind: 'synthetic', txs: 1, mix: { erc20: 1 }, zipf: 0, accounts: 2, notes: [] } }) }));
    expect(renderReportHtml(uniform)).toContain('<th>Popularity</th><td>uniform (Zipf exponent 0)</td>');
    expect(formatReportTable(uniform).replace(/\s+/g, ' ')).toContain('mix erc20 100 %, popularity uniform (Zipf exponent 0)');
  });

  it('shows messages instead of empty charts', () => {
    const h = renderReportHtml(buildReport(input([])));
    expect(h).toContain('No transactions.');
    expect(h).toContain('No committed transactions');
    expect(h).toContain('No aborted or rejected transactions.');
  });
});

describe('the placement in the report', () => {
  const placement = { policy: 'graph' as const, seed: 3, crossShardRatio: 0.2061, perShardLoad: [4744, 4987.5, 5096, 5172], hashCrossShardRatio: 0.6874, overrides: 2345 };

  it('is shown in the terminal table and the HTML page when the config has one', () => {
    const report = buildReport(input([local({ finalAtMs: T0 + 300 })], { config: config({ placement }) }));
    const text = formatReportTable(report);
    for (const line of text.split('\n')) expect(line.length).toBeLessThanOrEqual(TABLE_WIDTH);
    expect(text.replace(/\s+/g, ' ')).toContain(
      'placement graph placement (seed 3): planned cross-shard ratio 0.206 (hash 0.687), load per shard 4,744 / 4,988 / 5,096 / 5,172 txs, 2,345 accounts overridden',
    );
    expect(renderReportHtml(report)).toContain('<th>Placement</th>');
    expect(report.config.placement).toEqual(placement);
  });

  it('is optional (reports of older runs have none) and says little under hash', () => {
    const none = buildReport(input([local({ finalAtMs: T0 + 300 })]));
    expect(formatReportTable(none)).not.toMatch(/placement/);
    expect(renderReportHtml(none)).not.toContain('Placement');
    const hash = buildReport(input([local({ finalAtMs: T0 + 300 })], { config: config({ placement: { ...placement, policy: 'hash', crossShardRatio: 0.6874 } }) }));
    expect(formatReportTable(hash).replace(/\s+/g, ' ')).toContain('hash placement (seed 3): planned cross-shard ratio 0.687, load per shard 4,744 / 4,988 / 5,096 / 5,172 txs ');
  });
});

describe('chart scales', () => {
  it('makes round linear and log ticks', () => {
    expect(linearScale(0, 97, 5)).toEqual({ min: 0, max: 100, ticks: [0, 20, 40, 60, 80, 100], log: false });
    expect(linearScale(0, 0).ticks.length).toBeGreaterThan(1);
    const log = logScale(270, 7100);
    expect(log.min).toBe(100);
    expect(log.max).toBe(10000);
    expect(log.ticks).toEqual([100, 200, 500, 1000, 2000, 5000, 10000]);
  });
});

describe('chart legends', () => {
  const series = (names: string[]) => names.map((name, i) => ({ name, color: '#000000', points: [{ x: i, y: i + 1 }] }));
  const legendYs = (svg: string) => [...svg.matchAll(/<text x="[\d.]+" y="([\d.]+)" dy="0.35em"/g)].map((m) => Number(m[1]));
  const opts = { title: 't', xLabel: 'x', yLabel: 'y', emptyMessage: 'none' };

  it('keep one row at the top when the entries fit', () => {
    const svg = lineChart({ ...opts, series: series(['a', 'b']) });
    expect(new Set(legendYs(svg))).toEqual(new Set([14]));
    expect(svg).toContain('viewBox="0 0 720 340"');
  });

  it('wrap into rows inside the frame when they do not, and the chart grows by the extra rows', () => {
    const names = Array.from({ length: 6 }, (_, i) => `run ${i}: shard-led, graph placement`);
    const svg = lineChart({ ...opts, series: series(names) });
    const ys = legendYs(svg);
    expect(ys).toHaveLength(6);
    const rows = [...new Set(ys)].sort((a, b) => a - b);
    expect(rows.length).toBeGreaterThan(1);
    expect(rows).toEqual(rows.map((_, i) => 14 + 18 * i));
    expect(svg).toContain(`viewBox="0 0 720 ${340 + 18 * (rows.length - 1)}"`);
    // Every entry starts inside the plot's margins and its estimated width ends before the right one.
    for (const m of svg.matchAll(/<line x1="([\d.]+)" y1="[\d.]+" x2="[\d.]+" y2="[\d.]+" stroke="#000000" stroke-width="2.5"/g)) {
      const x = Number(m[1]);
      expect(x).toBeGreaterThanOrEqual(72);
      expect(x + 28 + names[0]!.length * 7 + 16).toBeLessThanOrEqual(720 - 28);
    }
  });
});

describe('writeReportFiles', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shardlab-report-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates the directory and writes report.json and report.html', async () => {
    const report = buildReport(sampleInput({ txs: 200 }));
    const target = join(dir, 'runs', 'one');
    const { jsonPath, htmlPath } = await writeReportFiles(target, report);
    expect(jsonPath).toBe(join(target, 'report.json'));
    expect(htmlPath).toBe(join(target, 'report.html'));
    const json = await readFile(jsonPath, 'utf8');
    expect(json).toBe(reportToJson(report));
    expect(json).toContain('\n  "counts": {\n    "submitted": 200,');
    expect(JSON.parse(json)).toEqual(report);
    expect(await readFile(htmlPath, 'utf8')).toBe(renderReportHtml(report));
  });
});
