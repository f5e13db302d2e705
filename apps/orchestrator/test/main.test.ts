import { startServiceProcess, type ServiceProcess } from '@shardlab/testing';
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


/** Starts the app's `main.ts` and resolves once it logs `msg`. */
const startProcess = (args: string[], env: Record<string, string>, msg: string) => startServiceProcess(MAIN, args, env, msg);

describe('orchestrator process', () => {
  let proc: ServiceProcess | undefined;
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
