import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { OrchestratorServiceClient, TxStatus } from '@shardlab/proto';
import { RegistryState, registryMountedService } from '@shardlab/registry';
import { silentLogger } from '@shardlab/telemetry';
import { checkHealth, createClient, startServer, type RunningServer } from '@shardlab/rpc';

const ROOT = join(__dirname, '..', '..', '..');
const MAIN = join(ROOT, 'apps', 'orchestrator', 'src', 'main.ts');


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

describe('orchestrator process', () => {
  let proc: (Proc & { line: Record<string, unknown> }) | undefined;
  let registry: RunningServer;
  let dataDir: string;

  beforeAll(async () => {
    const state = new RegistryState({ shardCount: 2, chainId: 1337, blockIntervalMs: 100 });
    registry = await startServer({ port: 0, services: [registryMountedService(state, silentLogger())], logger: silentLogger() });
  });
  afterAll(() => registry.close());
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'shardlab-orch-main-'));
  });

  afterEach(async () => {
    if (proc && proc.child.exitCode === null) {
      proc.child.kill('SIGKILL');
      await proc.exited;
    }
    proc = undefined;
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('takes its options from the environment, serves health and the contract, and stops on SIGTERM', async () => {
    proc = await startProcess([], { PORT: '0', HOST: '127.0.0.1', REGISTRY_ADDRESS: registry.address, DATA_DIR: dataDir }, 'orchestrator serving');
    const address = String(proc.line['address']);
    expect(proc.line).toMatchObject({ service: 'orchestrator', height: 0, inFlight: 0, blockIntervalMs: 100 });
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);

    await expect(checkHealth(address, '')).resolves.toBe('SERVING');
    await expect(checkHealth(address, 'shardlab.v1.OrchestratorService')).resolves.toBe('SERVING');

    const client = createClient(OrchestratorServiceClient, address);
    const res = await new Promise<{ err: ServiceError | null; status?: number }>((resolve) =>
      client.getCrossShardStatus({ txHash: '0x' + 'ab'.repeat(32) }, new Metadata(), { deadline: new Date(Date.now() + 5000) }, (err, r) => resolve({ err, status: r?.status })),
    );
    const bad = await new Promise<ServiceError | null>((resolve) =>
      client.getCrossShardStatus({ txHash: 'nope' }, new Metadata(), { deadline: new Date(Date.now() + 5000) }, (err) => resolve(err)),
    );
    client.close();
    expect(res.err).toBeNull();
    expect(res.status).toBe(TxStatus.TX_STATUS_UNKNOWN);
    expect(bad?.code).toBe(status.INVALID_ARGUMENT);

    proc.child.kill('SIGTERM');
    await expect(proc.exited).resolves.toBe(0);
    expect(proc.lines.map((l) => l['msg'])).toContain('orchestrator shutting down');
  });

  it('flags win over the environment', async () => {
    proc = await startProcess(['--port', '0', '--registry', registry.address, '--data-dir', dataDir], { PORT: 'not-a-port' }, 'orchestrator serving');
    expect(String(proc.line['address'])).toMatch(/:\d+$/);
  });
});
