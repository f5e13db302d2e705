import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { Metadata, makeClientConstructor, status, type Client, type ServiceDefinition, type ServiceError } from '@grpc/grpc-js';
import { service as healthServiceDefinition } from 'grpc-health-check';
import { SimulatorServiceClient, Transaction } from '@shardlab/proto';
import { RegistryState, createRegistryClient, registryMountedService } from '@shardlab/registry';
import { createClient, startServer, type ClientCtor, type RunningServer } from '@shardlab/rpc';
import { silentLogger } from '@shardlab/telemetry';

const ROOT = join(__dirname, '..', '..', '..');
const MAIN = join(ROOT, 'apps', 'simulator', 'src', 'main.ts');

/** The standard health client (`grpc.health.v1.Health`), built from grpc-health-check's loaded proto. */
interface HealthCheckClient extends Client {
  check(
    req: { service: string },
    md: Metadata,
    opts: { deadline: Date },
    cb: (err: ServiceError | null, res?: { status: string }) => void,
  ): void;
}
const HealthCheckClient = makeClientConstructor(
  healthServiceDefinition as unknown as ServiceDefinition,
  'grpc.health.v1.Health',
) as unknown as ClientCtor<HealthCheckClient>;

function checkHealth(address: string, service: string): Promise<string> {
  const client = createClient(HealthCheckClient, address);
  return new Promise<string>((resolve, reject) =>
    client.check({ service }, new Metadata(), { deadline: new Date(Date.now() + 5000) }, (err, res) =>
      err ? reject(err) : resolve(res?.status ?? ''),
    ),
  ).finally(() => client.close());
}

/** A started service process and the parsed JSON log lines it wrote so far. */
interface Proc {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  exited: Promise<number | null>;
}

/** Starts `main.ts` with tsx and resolves once it logs `msg`, or rejects if it exits first. */
function startProcess(args: string[], env: Record<string, string>, msg: string): Promise<Proc & { line: Record<string, unknown> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, OTEL_TRACES_EXPORTER: 'none', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (text) => {
      const line = JSON.parse(text) as Record<string, unknown>;
      lines.push(line);
      if (line['msg'] === msg) resolve({ child, lines, exited, line });
    });
    void exited.then((code) => reject(new Error(`process exited with ${code} before logging "${msg}": ${stderr}`)));
  });
}

describe('simulator process', () => {
  let proc: (Proc & { line: Record<string, unknown> }) | undefined;
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
