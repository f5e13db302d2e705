import { Metadata, makeClientConstructor, status, type Client, type ServiceDefinition, type ServiceError } from '@grpc/grpc-js';
import { service as healthServiceDefinition } from 'grpc-health-check';
import { SimulatorServiceClient, Transaction } from '@shardlab/proto';
import { ShardLabError } from '@shardlab/common';
import { createClient, startServer, unaryCall, type ClientCtor, type RunningServer } from '@shardlab/rpc';
import { silentLogger } from '@shardlab/telemetry';
import { SIMULATOR_SERVICE_NAME, simulatorService } from '../src';

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

describe('SimulatorService contract', () => {
  let server: RunningServer;
  let client: SimulatorServiceClient;

  beforeAll(async () => {
    server = await startServer({ port: 0, services: [simulatorService(silentLogger())], logger: silentLogger() });
    client = createClient(SimulatorServiceClient, server.address);
  });

  afterAll(async () => {
    client.close();
    await server.close();
  });

  const tx = Transaction.fromPartial({ hash: '0x' + 'cd'.repeat(32), from: '0x' + '11'.repeat(20), to: '0x' + '22'.repeat(20) });

  it('binds a real port when asked for port 0', () => {
    expect(server.port).toBeGreaterThan(0);
  });

  it('Simulate answers UNIMPLEMENTED naming cross-shard simulation', async () => {
    const err = await failure((md, opts, cb) => client.simulate({ tx }, md, opts, cb));
    expect(err.code).toBe(status.UNIMPLEMENTED);
    expect(err.details).toBe('cross-shard simulation is not implemented yet (simulator, a later issue)');
  });

  it('Simulate answers UNIMPLEMENTED for an empty request too', async () => {
    const err = await failure((md, opts, cb) => client.simulate({ tx: undefined }, md, opts, cb));
    expect(err.code).toBe(status.UNIMPLEMENTED);
  });

  it('reaches ShardLab clients as an UNIMPLEMENTED ShardLabError', async () => {
    const call = unaryCall('simulator', (md, opts, cb) => client.simulate({ tx }, md, opts, cb));
    await expect(call).rejects.toBeInstanceOf(ShardLabError);
    await expect(call).rejects.toMatchObject({ code: 'UNIMPLEMENTED' });
  });

  it('serves the standard health service: SERVING overall and for the simulator', async () => {
    await expect(checkHealth(server.address, '')).resolves.toBe('SERVING');
    await expect(checkHealth(server.address, SIMULATOR_SERVICE_NAME)).resolves.toBe('SERVING');
  });
});
