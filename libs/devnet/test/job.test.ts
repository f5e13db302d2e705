import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { runJob, type JobOpts } from '../src/job';

/**
 * The main job end to end on real processes: a small trace in the ethereum-etl layout (gzip, with
 * a calldata row and a malformed row) and the synthetic workload, each run to its report.
 */
const HEADER = 'hash,nonce,block_hash,block_number,transaction_index,from_address,to_address,value,gas,gas_price,input,block_timestamp,max_fee_per_gas,max_priority_fee_per_gas,transaction_type';

const addr = (i: number, lastByte: number) => '0x' + (i + 1).toString(16).padStart(38, '0') + lastByte.toString(16).padStart(2, '0');

function base(dir: string, extra: Partial<JobOpts>): JobOpts {
  return {
    shards: 2,
    blockIntervalMs: 100,
    onMalformed: 'skip',
    valueScale: '1',
    txs: 0,
    accounts: 0,
    mix: { transfer: 0.6, erc20: 0.3, swap: 0.1 },
    seed: 1,
    rate: 0,
    concurrency: 64,
    out: join(dir, 'report'),
    dataDir: join(dir, 'data'),
    keepRunning: false,
    keepData: false,
    ...extra,
  };
}

const sink = () => {
  const lines: string[] = [];
  return { lines, out: { write: (c: string) => lines.push(c) } };
};

describe('main job', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'shardlab-job-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('replays a trace to the end: every row accounted for, the real cross-shard ratio kept, the audit passes', async () => {
    // Five senders and five recipients with chosen last bytes (placement = last byte mod 2).
    const senders = [0, 1, 2, 3, 4].map((i) => addr(i, i));
    const recipients = [0, 1, 2, 3, 4].map((i) => addr(100 + i, 10 + i));
    const rows: string[] = [HEADER];
    let expectedCross = 0;
    for (let i = 0; i < 40; i++) {
      const from = senders[i % 5]!;
      const to = recipients[(i * 3) % 5]!;
      if (Number.parseInt(from.slice(-2), 16) % 2 !== Number.parseInt(to.slice(-2), 16) % 2) expectedCross++;
      const input = i === 7 ? '0xa9059cbb' : '0x';
      // Rows out of block order on purpose: the replay sorts by block and index.
      rows.push(`0x${i.toString(16).padStart(64, '0')},${i},0x${'b'.repeat(64)},${3_300_000 + (40 - i)},0,${from},${to},${1_000_000_000n * BigInt(i + 1)},21000,20000000000,${input},1490000000,,,0`);
    }
    rows.splice(5, 0, `0x${'f'.repeat(64)},1,0x${'b'.repeat(64)},3300000,0,not-an-address,${recipients[0]},1,21000,1,0x,1490000000,,,0`);
    const trace = join(dir, 'trace.csv.gz');
    writeFileSync(trace, gzipSync(rows.join('\n') + '\n'));

    const { lines, out } = sink();
    const code = await runJob(base(dir, { trace }), () => {}, out);
    expect(lines.join('')).toContain('Audit               PASSED');
    expect(code).toBe(0);
    const report = JSON.parse(readFileSync(join(dir, 'report', 'report.json'), 'utf8'));
    expect(report.config.workload).toMatchObject({ kind: 'trace', format: 'ethereum-etl', rows: 40, skippedRows: 1 });
    expect(report.counts).toMatchObject({ submitted: 40, committed: 40, unknown: 0 });
    expect(report.counts.crossShard.submitted).toBe(expectedCross);
    expect(report.accountedFor).toBe(true);
    expect(report.audit).toMatchObject({ ok: true, locks: { ok: true, accountsWithLocks: 0 } });
    expect(readFileSync(join(dir, 'report', 'report.html'), 'utf8')).toContain('<svg');
  }, 180_000);

  it('stops at a malformed row when asked, naming its line', async () => {
    const trace = join(dir, 'bad.csv');
    writeFileSync(trace, `${HEADER}\n0x${'1'.repeat(64)},0,0x${'b'.repeat(64)},1,0,${addr(1, 1)},nope,1,21000,1,0x,1,,,0\n`);
    const { out } = sink();
    await expect(runJob(base(dir, { trace, onMalformed: 'stop' }), () => {}, out)).rejects.toThrow(/line 2/);
  });

  it('runs the synthetic workload (transfers, ERC-20 transfers, Uniswap swaps) with every transaction accounted for', async () => {
    const { lines, out } = sink();
    const code = await runJob(base(dir, { txs: 60, accounts: 40 }), () => {}, out);
    const report = JSON.parse(readFileSync(join(dir, 'report', 'report.json'), 'utf8'));
    expect(report.config.workload).toMatchObject({ kind: 'synthetic', txs: 60, accounts: 40 });
    expect(report.counts.submitted).toBe(60);
    expect(report.counts.unknown).toBe(0);
    expect(report.counts.committed + report.counts.aborted + report.counts.reverted + report.counts.rejected).toBe(60);
    expect(report.counts.committed).toBeGreaterThan(0);
    expect(report.audit.ok).toBe(true);
    expect(lines.join('')).toContain('deploying Uniswap V2');
    expect(code).toBe(0);
  }, 300_000);
});
