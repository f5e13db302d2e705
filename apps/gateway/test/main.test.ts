import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startServiceProcess, waitFor, type ServiceProcess } from '@shardlab/testing';
import { RegistryState, createRegistryClient, registryMountedService } from '@shardlab/registry';
import { startServer, type RunningServer } from '@shardlab/rpc';
import { silentLogger } from '@shardlab/telemetry';

const ROOT = join(__dirname, '..', '..', '..');
const MAIN = join(ROOT, 'apps', 'gateway', 'src', 'main.ts');

describe('gateway process: the advertised address', () => {
  let proc: ServiceProcess | undefined;
  let registry: RunningServer;

  beforeAll(async () => {
    const state = new RegistryState({ shardCount: 2, chainId: 1337, blockIntervalMs: 100 });
    registry = await startServer({ port: 0, services: [registryMountedService(state, silentLogger())], logger: silentLogger() });
  });
  afterAll(() => registry.close());

  afterEach(async () => {
    if (proc && proc.child.exitCode === null) {
      proc.child.kill('SIGTERM');
      await proc.exited;
    }
    proc = undefined;
  });

  /** Resolves once the registry lists `address` among the gateways. */
  async function registered(address: string): Promise<void> {
    const reg = createRegistryClient(registry.address);
    try {
      await waitFor(async () => (await reg.listEndpoints('gateway')).endpoints.some((e) => e.address === address), 10_000, `gateway ${address} registered`);
    } finally {
      reg.close();
    }
  }

  it('--help names --advertise-address, like the other services, and hides the deprecated --advertise', () => {
    const help = execFileSync(process.execPath, ['--import', 'tsx', MAIN, '--help'], { cwd: ROOT, encoding: 'utf8' });
    expect(help).toMatch(/--advertise-address <host:port>/);
    expect(help).not.toMatch(/--advertise </);
  });

  it.each([
    { flag: '--advertise-address', address: '10.9.8.7:1234' },
    { flag: '--advertise', address: '10.9.8.6:4321' },
  ])('registers the address given with $flag', async ({ flag, address }) => {
    proc = await startServiceProcess(MAIN, ['--port', '0', '--registry', registry.address, flag, address], {}, 'gateway listening');
    await registered(address);
  });

  it('takes it from ADVERTISE_ADDRESS, and the flag wins over the variable', async () => {
    proc = await startServiceProcess(MAIN, ['--port', '0', '--registry', registry.address], { ADVERTISE_ADDRESS: '10.9.8.5:1' }, 'gateway listening');
    await registered('10.9.8.5:1');
    proc.child.kill('SIGTERM');
    await proc.exited;
    proc = await startServiceProcess(MAIN, ['--port', '0', '--registry', registry.address, '--advertise', '10.9.8.4:1'], { ADVERTISE_ADDRESS: '10.9.8.5:2' }, 'gateway listening');
    await registered('10.9.8.4:1');
  });
});
