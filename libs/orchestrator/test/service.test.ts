import { Metadata, makeClientConstructor, status, type Client, type ServiceDefinition, type ServiceError } from '@grpc/grpc-js';
import { service as healthServiceDefinition } from 'grpc-health-check';
import { OrchestratorServiceClient, Transaction } from '@shardlab/proto';
import { ShardLabError } from '@shardlab/common';
import { createClient, startServer, unaryCall, type ClientCtor, type RunningServer } from '@shardlab/rpc';
import { silentLogger } from '@shardlab/telemetry';
import { ORCHESTRATOR_SERVICE_NAME, orchestratorService } from '../src';

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

/** The serving status (`SERVING`, `NOT_SERVING`, ...) of `service` ('' for the whole server). */
function checkHealth(address: string, service: string): Promise<string> {
  const client = createClient(HealthCheckClient, address);
  return new Promise<string>((resolve, reject) =>
    client.check({ service }, new Metadata(), { deadline: new Date(Date.now() + 5000) }, (err, res) =>
      err ? reject(err) : resolve(res?.status ?? ''),
    ),
  ).finally(() => client.close());
}

/** Resolves with the error of a unary call that is expected to fail. */
function failure(invoke: (md: Metadata, opts: { deadline: Date }, cb: (err: ServiceError | null) => void) => void): Promise<ServiceError> {
  return new Promise((resolve, reject) =>
    invoke(new Metadata(), { deadline: new Date(Date.now() + 5000) }, (err) =>
      err ? resolve(err) : reject(new Error('call unexpectedly succeeded')),
    ),
  );
}

describe('OrchestratorService contract', () => {
  let server: RunningServer;
  let client: OrchestratorServiceClient;

  beforeAll(async () => {
    server = await startServer({ port: 0, services: [orchestratorService(silentLogger())], logger: silentLogger() });
    client = createClient(OrchestratorServiceClient, server.address);
  });

  afterAll(async () => {
    client.close();
    await server.close();
  });

  const tx = Transaction.fromPartial({ hash: '0x' + 'ab'.repeat(32), from: '0x' + '11'.repeat(20), to: '0x' + '22'.repeat(20) });

  it('binds a real port when asked for port 0', () => {
    expect(server.port).toBeGreaterThan(0);
  });

  it('ForwardTransaction answers UNIMPLEMENTED naming cross-shard commit', async () => {
    const err = await failure((md, opts, cb) => client.forwardTransaction({ tx, homeShard: 1 }, md, opts, cb));
    expect(err.code).toBe(status.UNIMPLEMENTED);
    expect(err.details).toBe('cross-shard commit is not implemented yet (orchestrator protocol, a later issue)');
  });

  it('reaches ShardLab clients as an UNIMPLEMENTED ShardLabError (passed through by callers)', async () => {
    const call = unaryCall('orchestrator', (md, opts, cb) => client.forwardTransaction({ tx, homeShard: 1 }, md, opts, cb));
    await expect(call).rejects.toBeInstanceOf(ShardLabError);
    await expect(call).rejects.toMatchObject({ code: 'UNIMPLEMENTED', message: expect.stringContaining('cross-shard commit') });
  });

  it('GetCrossShardStatus answers UNIMPLEMENTED', async () => {
    const err = await failure((md, opts, cb) => client.getCrossShardStatus({ txHash: tx.hash }, md, opts, cb));
    expect(err.code).toBe(status.UNIMPLEMENTED);
    expect(err.details).toMatch(/cross-shard transaction status is not implemented yet/);
  });

  it('GetBlock answers UNIMPLEMENTED, with and without a height', async () => {
    for (const req of [{}, { height: 3 }]) {
      const err = await failure((md, opts, cb) => client.getBlock(req, md, opts, cb));
      expect(err.code).toBe(status.UNIMPLEMENTED);
      expect(err.details).toMatch(/orchestrator blocks are not implemented yet/);
    }
  });

  it('SubscribeBlocks ends the stream with UNIMPLEMENTED and no messages', async () => {
    const stream = client.subscribeBlocks({ fromHeight: 0 });
    const received: unknown[] = [];
    const err = await new Promise<ServiceError>((resolve, reject) => {
      stream.on('data', (msg) => received.push(msg));
      stream.on('error', resolve);
      stream.on('end', () => reject(new Error('stream ended without an error status')));
    });
    expect(err.code).toBe(status.UNIMPLEMENTED);
    expect(err.details).toMatch(/orchestrator block stream is not implemented yet/);
    expect(received).toEqual([]);
  });

  it('serves the standard health service: SERVING overall and for the orchestrator', async () => {
    await expect(checkHealth(server.address, '')).resolves.toBe('SERVING');
    await expect(checkHealth(server.address, ORCHESTRATOR_SERVICE_NAME)).resolves.toBe('SERVING');
  });

  it('health answers NOT_FOUND for an unknown service', async () => {
    await expect(checkHealth(server.address, 'shardlab.v1.NoSuchService')).rejects.toMatchObject({ code: status.NOT_FOUND });
  });
});
