import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRegistryClient, formatPlacementFile } from '@shardlab/registry';
import { startServiceProcess, type ServiceProcess } from '@shardlab/testing';

const ROOT = join(__dirname, '..', '..', '..');
const MAIN = join(ROOT, 'apps', 'registry', 'src', 'main.ts');
const A = '0x00000000000000000000000000000000000000ff'; // last-byte-mod puts it on shard 3 of 4
const B = '0x0000000000000000000000000000000000000010'; // and this one on shard 0

/** Runs the registry to its exit (it must fail to start) and returns its exit code and JSON log lines. */
function failedStart(args: string[], env: Record<string, string> = {}): { status: number | null; lines: Record<string, unknown>[] } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, '--port', '0', ...args], {
    cwd: ROOT,
    env: { ...process.env, OTEL_TRACES_EXPORTER: 'none', ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  const lines = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { status: r.status, lines };
}

describe('registry process: --placement-file', () => {
  let dir: string;
  let proc: ServiceProcess | undefined;

  beforeAll(async () => (dir = await mkdtemp(join(tmpdir(), 'shardlab-registry-'))));
  afterAll(() => rm(dir, { recursive: true, force: true }));
  afterEach(async () => {
    if (proc && proc.child.exitCode === null) {
      proc.child.kill('SIGTERM');
      await proc.exited;
    }
    proc = undefined;
  });

  it('starts at epoch 1 with the file\'s overrides, answered by GetPlacement and LookupShard', async () => {
    const file = join(dir, 'placement.json');
    await writeFile(file, formatPlacementFile([[A, 1], [B, 2]]));
    proc = await startServiceProcess(MAIN, ['--port', '0', '--shards', '4', '--placement-file', file], {}, 'registry listening');
    expect(proc.line).toMatchObject({ shardCount: 4, placementEpoch: 1, placementOverrides: 2 });
    const reg = createRegistryClient(String(proc.line['address']));
    try {
      expect(await reg.getPlacement()).toEqual({
        epoch: 1,
        shardCount: 4,
        rule: 'last-byte-mod',
        overrides: [
          { address: B, shardId: 2 },
          { address: A, shardId: 1 },
        ],
      });
      expect(await reg.lookupShard(A)).toEqual({ address: A, shardId: 1, placementEpoch: 1 });
    } finally {
      reg.close();
    }
  });

  it('takes the file from PLACEMENT_FILE', async () => {
    const file = join(dir, 'env.json');
    await writeFile(file, formatPlacementFile([[A, 0]]));
    proc = await startServiceProcess(MAIN, ['--port', '0', '--shards', '2'], { PLACEMENT_FILE: file }, 'registry listening');
    const reg = createRegistryClient(String(proc.line['address']));
    try {
      expect((await reg.lookupShard(A)).shardId).toBe(0);
    } finally {
      reg.close();
    }
  });

  it('refuses to start on an unreadable or invalid file, saying why', async () => {
    const missing = join(dir, 'missing.json');
    const outOfRange = join(dir, 'range.json');
    await writeFile(outOfRange, `{"overrides": {"${A}": 4}}`);
    const badAddress = join(dir, 'address.json');
    await writeFile(badAddress, '{"overrides": {"0xnope": 1}}');
    for (const [file, message] of [
      [missing, `cannot read placement file ${missing}`],
      [outOfRange, `placement file ${outOfRange}: override of ${A} names shard 4, outside 0..3`],
      [badAddress, `placement file ${badAddress}: override address must be a 0x-prefixed 20-byte hex address`],
    ] as const) {
      const { status, lines } = failedStart(['--shards', '4', '--placement-file', file]);
      expect(status).toBe(1);
      const fatal = lines.find((l) => l['msg'] === 'registry failed to start');
      expect(String((fatal?.['err'] as { message?: string } | undefined)?.message)).toContain(message);
      expect(lines.some((l) => l['msg'] === 'registry listening')).toBe(false);
    }
  });
});
