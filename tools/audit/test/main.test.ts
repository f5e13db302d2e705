import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { RegistryState, registryMountedService } from '@shardlab/registry';
import { startServer } from '@shardlab/rpc';
import { silentLogger } from '@shardlab/telemetry';
import { addressOn, ETHER, NetBuilder, startFakeNetwork, type FakeNetwork } from '@shardlab/testing';

const REPO_ROOT = join(__dirname, '..', '..', '..');

/** Runs the audit command as its own process; resolves with its exit code and output. */
function runCommand(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join('tools', 'audit', 'src', 'main.ts'), ...args], { cwd: REPO_ROOT, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function network() {
  const [a0, b0, a1] = [addressOn(0, 1), addressOn(0, 2), addressOn(1, 3)];
  const net = new NetBuilder(2, [
    [a0, 100n * ETHER],
    [b0, 50n * ETHER],
    [a1, 70n * ETHER],
  ]);
  const committed = net.transfer(a0, a1, 3n * ETHER);
  net.transfer(a1, b0, 1n * ETHER, { commit: false });
  return { net, committed, a1 };
}

describe('tools/audit (the command)', () => {
  let fake: FakeNetwork | undefined;
  afterEach(async () => {
    await fake?.stop();
    fake = undefined;
  });

  it('prints a readable report and exits 0 on a sound network', async () => {
    fake = await startFakeNetwork(network().net.input());
    const r = await runCommand(['--registry', fake.registryAddress]);
    expect(r.stderr).toContain('2 shards');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`ShardLab audit of registry ${fake.registryAddress}: OK`);
    expect(r.stdout).toMatch(/genesis +220 ether \(220000000000000000000 wei\)/);
    expect(r.stdout).toContain('atomicity       ok: 1 committed, 1 aborted, 0 in flight');
    expect(r.stdout).toContain('locks           ok: 0 ether (0 wei) locked on 0 accounts, 0 open LOCKs');
  });

  it('prints JSON with --json and exits 1 with the problems when the network is not sound', async () => {
    const { net, committed, a1 } = network();
    const input = net.input();
    const acct = input.shards[1]!.accounts.find((a) => a.address === a1)!;
    acct.locked = '7';
    input.shards[1]!.blocks = input.shards[1]!.blocks.map((b) => ({
      ...b,
      transactions: b.transactions.filter((t) => !(t.kind?.$case === 'system' && t.kind.value.txHash === committed)),
    }));
    fake = await startFakeNetwork(input);

    const text = await runCommand(['--registry', fake.registryAddress, '--quiet']);
    expect(text.code).toBe(1);
    expect(text.stderr).toBe('');
    expect(text.stdout).toContain('FAILED');
    expect(text.stdout).toContain(`tx ${committed}: committed at orchestrator block`);

    const json = await runCommand(['--registry', fake.registryAddress, '--json', '--quiet']);
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout) as { ok: boolean; problems: string[]; locks: { lockedWei: string; accountsWithLocks: string[] } };
    expect(report.ok).toBe(false);
    expect(report.locks).toMatchObject({ lockedWei: '7', accountsWithLocks: [a1] });
    expect(report.problems.some((p) => p.includes(committed) && p.includes('no CREDIT'))).toBe(true);
  });

  it('exits 1 with a clear error when the registry cannot be reached, and when --registry is missing', async () => {
    const logger = silentLogger();
    const probe = await startServer({ port: 0, logger, services: [registryMountedService(new RegistryState({ shardCount: 1, chainId: 1337, blockIntervalMs: 250 }), logger)] });
    const address = probe.address;
    await probe.close();
    const r = await runCommand(['--registry', address, '--deadline-ms', '500']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`audit failed: cannot reach the registry ${address}`);

    const json = await runCommand(['--registry', address, '--deadline-ms', '500', '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({ ok: false, error: expect.stringContaining('cannot reach the registry') });

    const usage = await runCommand([]);
    expect(usage.code).toBe(1);
    expect(usage.stderr).toContain("required option '--registry <host:port>' not specified");
  });
});
