import { Client, Metadata, credentials, status, type ServiceDefinition, type ServiceError, type UntypedServiceImplementation } from '@grpc/grpc-js';
import {
  GatewayServiceService,
  OrchestratorServiceService,
  RegistryServiceService,
  SimulatorServiceService,
} from '@shardlab/proto';
import { silentLogger } from '@shardlab/telemetry';
import { reflect, reflectionDescriptors, startServer, type MountedService, type RunningServer } from '../src';

/** An implementation of every method of `definition` that answers ABORTED (served, not UNIMPLEMENTED). */
function stubImplementation(definition: ServiceDefinition): UntypedServiceImplementation {
  const aborted = { code: status.ABORTED, details: 'stub' };
  return Object.fromEntries(
    Object.entries(definition).map(([name, m]) => [
      name,
      m.responseStream || m.requestStream
        ? (call: { emit(ev: 'error', e: object): void }) => call.emit('error', aborted)
        : (_call: unknown, cb: (e: object) => void) => cb(aborted),
    ]),
  );
}

function mounted(name: string, definition: ServiceDefinition): MountedService {
  return { name, definition, implementation: stubImplementation(definition) };
}

/**
 * Whether the server at `address` serves the service `name` (fully qualified): calls its first
 * method (empty request, 2 s deadline) and reports whether the answer is anything but UNIMPLEMENTED.
 */
async function serves(address: string, name: string): Promise<boolean> {
  const definition = reflectionDescriptors()[name] as ServiceDefinition;
  const method = Object.values(definition)[0];
  if (!method) throw new Error(`${name} has no method`);
  const client = new Client(address, credentials.createInsecure());
  const identity = (b: Buffer) => b;
  const options = { deadline: new Date(Date.now() + 2000) };
  try {
    const code = await new Promise<number>((resolve) => {
      const done = (err: ServiceError | null) => resolve(err ? err.code : status.OK);
      if (!method.requestStream && !method.responseStream) {
        client.makeUnaryRequest(method.path, identity, identity, Buffer.alloc(0), new Metadata(), options, done);
      } else if (method.requestStream && !method.responseStream) {
        client.makeClientStreamRequest(method.path, identity, identity, new Metadata(), options, done).end();
      } else {
        const call = method.requestStream
          ? client.makeBidiStreamRequest(method.path, identity, identity, new Metadata(), options).end()
          : client.makeServerStreamRequest(method.path, identity, identity, Buffer.alloc(0), new Metadata(), options);
        call.on('data', () => {});
        call.on('error', (e: ServiceError) => done(e));
        call.on('status', (s: { code: number }) => s.code === status.OK && done(null));
      }
    });
    return code !== status.UNIMPLEMENTED;
  } finally {
    client.close();
  }
}

/** Every service some descriptor describes (the five ShardLab services, health, reflection). */
function knownServices(): string[] {
  return Object.entries(reflectionDescriptors())
    .filter(([, d]) => !('format' in d))
    .map(([name]) => name)
    .sort();
}

describe('server reflection lists exactly the services a server serves', () => {
  const servers: RunningServer[] = [];
  afterAll(() => Promise.all(servers.map((s) => s.close())));

  it('knows the five ShardLab services, health and both reflection versions', () => {
    expect(knownServices()).toEqual([
      'grpc.health.v1.Health',
      'grpc.reflection.v1.ServerReflection',
      'grpc.reflection.v1alpha.ServerReflection',
      'shardlab.v1.GatewayService',
      'shardlab.v1.OrchestratorService',
      'shardlab.v1.RegistryService',
      'shardlab.v1.SimulatorService',
      'shardlab.v1.StateShardService',
    ]);
  });

  it.each([
    { label: 'a gateway', services: [mounted('shardlab.v1.GatewayService', GatewayServiceService)] },
    { label: 'a registry', services: [mounted('shardlab.v1.RegistryService', RegistryServiceService)] },
    {
      label: 'an orchestrator and a simulator on one server',
      services: [mounted('shardlab.v1.OrchestratorService', OrchestratorServiceService), mounted('shardlab.v1.SimulatorService', SimulatorServiceService)],
    },
  ])('$label', async ({ services }) => {
    const server = await startServer({ port: 0, services, logger: silentLogger() });
    servers.push(server);
    const listed = (await reflect(server.address, { listServices: '' })).listServicesResponse?.service.map((s) => s.name).sort();
    const served: string[] = [];
    for (const name of knownServices()) if (await serves(server.address, name)) served.push(name);
    expect(listed).toEqual(served);
    expect(served).toEqual(
      [...services.map((s) => s.name), 'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'].sort(),
    );
    // Each listed service is described: reflection finds the file that defines it.
    for (const name of listed ?? []) {
      const file = await reflect(server.address, { fileContainingSymbol: name });
      expect({ name, error: file.errorResponse, found: (file.fileDescriptorResponse?.fileDescriptorProto.length ?? 0) > 0 }).toEqual({ name, error: undefined, found: true });
    }
  });

  it('serves no reflection when asked not to', async () => {
    const server = await startServer({ port: 0, services: [mounted('shardlab.v1.GatewayService', GatewayServiceService)], logger: silentLogger(), reflection: false });
    servers.push(server);
    await expect(reflect(server.address, { listServices: '' })).rejects.toMatchObject({ code: status.UNIMPLEMENTED });
    expect(await serves(server.address, 'grpc.reflection.v1.ServerReflection')).toBe(false);
    expect(await serves(server.address, 'shardlab.v1.GatewayService')).toBe(true);
  });
});
