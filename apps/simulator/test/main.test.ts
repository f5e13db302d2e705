import { startServiceProcess, type ServiceProcess } from '@shardlab/testing';
import { join } from 'node:path';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { SimulatorServiceClient, Transaction } from '@shardlab/proto';
import { RegistryState, createRegistryClient, registryMountedService } from '@shardlab/registry';
import { checkHealth, createClient, startServer, type RunningServer } from '@shardlab/rpc';
import { silentLogger } from '@shardlab/telemetry';

const ROOT = join(__dirname, '..', '..', '..');
const MAIN = join(ROOT, 'apps', 'simulator', 'src', 'main.ts');


/** Starts the app's `main.ts` and resolves once it logs `msg`. */
const startProcess = (args: string[], env: Record<string, string>, msg: string) => startServiceProcess(MAIN, args, env, msg);

describe('simulator process', () => {
  let proc: ServiceProcess | undefined;
  let registry: RunningServer;

  beforeAll(async () => {
    const state = new RegistryState({ shardCount: 2, chainId: 1337, blockIntervalMs: 100 });
    registry = await startServer({ port: 0, services: [registryMountedService(state, silentLogger())], logger: silentLogger() });
  });
  afterAll(() => registry.close());

  afterEach(async () => {
    if (proc && proc.child.exitCode === null) {
      proc.child.kill('SIGKILL');
      await proc.exited;
    }
    proc = undefined;
  });

  it('takes its options from the environment, registers, serves health and the contract, and stops on SIGTERM', async () => {
    proc = await startProcess([], { PORT: '0', HOST: '127.0.0.1', REGISTRY_ADDRESS: registry.address }, 'simulator listening');
    const address = String(proc.line['address']);
    expect(proc.line).toMatchObject({ service: 'simulator', port: expect.any(Number), chainId: 1337, shardCount: 2 });
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);

    const reg = createRegistryClient(registry.address);
    const { endpoints } = await reg.listEndpoints('simulator');
    reg.close();
    expect(endpoints.map((e) => e.address)).toContain(address);

    await expect(checkHealth(address, '')).resolves.toBe('SERVING');
    await expect(checkHealth(address, 'shardlab.v1.SimulatorService')).resolves.toBe('SERVING');

    const client = createClient(SimulatorServiceClient, address);
    const err = await new Promise<ServiceError | null>((resolve) =>
      client.simulate({ tx: undefined }, new Metadata(), { deadline: new Date(Date.now() + 5000) }, (e) => resolve(e)),
    );
    const malformed = await new Promise<ServiceError | null>((resolve) =>
      client.simulate(
        { tx: Transaction.fromPartial({ raw: Buffer.from([0x01, 0x02]) }) },
        new Metadata(),
        { deadline: new Date(Date.now() + 5000) },
        (e) => resolve(e),
      ),
    );
    client.close();
    expect(err?.code).toBe(status.INVALID_ARGUMENT);
    expect(err?.details).toBe('tx is required');
    expect(malformed?.code).toBe(status.INVALID_ARGUMENT);

    proc.child.kill('SIGTERM');
    await expect(proc.exited).resolves.toBe(0);
    expect(proc.lines.map((l) => l['msg'])).toContain('simulator shutting down');
  });

  it('flags win over the environment', async () => {
    proc = await startProcess(['--port', '0', '--registry', registry.address], { PORT: 'not-a-port', REGISTRY_ADDRESS: '127.0.0.1:1' }, 'simulator listening');
    expect(Number(proc.line['port'])).toBeGreaterThan(0);
  });
});
