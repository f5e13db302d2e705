// gRPC server reflection: the descriptors and service list a server describes, and a client to ask it.
import { dirname, join } from 'node:path';
import { credentials, loadPackageDefinition, type Client, type ClientDuplexStream, type ServiceDefinition } from '@grpc/grpc-js';
import { loadFileDescriptorSetFromBuffer, loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { descriptorSet } from '@shardlab/proto';

/** Fully qualified name of the standard health service every server serves. */
export const HEALTH_SERVICE = 'grpc.health.v1.Health';
/** Fully qualified names of the two versions of the server reflection service. */
export const REFLECTION_SERVICES: readonly string[] = ['grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'];

/** Directory of the reflection protos shipped in `@grpc/reflection` (`grpc/reflection/v1/...`). */
const REFLECTION_PROTO_DIR = join(dirname(require.resolve('@grpc/reflection')), '..', 'proto');
/** Directory of the health proto shipped in `grpc-health-check` (`health/v1/health.proto`). */
const HEALTH_PROTO_DIR = join(dirname(require.resolve('grpc-health-check')), '..', '..', 'proto');

let descriptors: PackageDefinition | undefined;

/**
 * Every descriptor server reflection can describe: the `shardlab.v1` proto files plus the health
 * and reflection protos (so that these two services are described like the others), as a
 * proto-loader package definition keyed by fully qualified name. Loaded once per process.
 */
export function reflectionDescriptors(): PackageDefinition {
  descriptors ??= {
    ...loadSync(['health/v1/health.proto', 'grpc/reflection/v1/reflection.proto', 'grpc/reflection/v1alpha/reflection.proto'], {
      includeDirs: [HEALTH_PROTO_DIR, REFLECTION_PROTO_DIR],
    }),
    ...loadFileDescriptorSetFromBuffer(descriptorSet()),
  };
  return descriptors;
}

/**
 * Fully qualified names of the gRPC services a definition serves, read from its method paths
 * (`/shardlab.v1.GatewayService/SendRawTransaction` -> `shardlab.v1.GatewayService`).
 */
export function servedServiceNames(definition: ServiceDefinition): string[] {
  return [...new Set(Object.values(definition).map((m) => m.path.split('/')[1] ?? ''))];
}

/** One answer of `grpc.reflection.v1.ServerReflection/ServerReflectionInfo` (the fields used here). */
export interface ReflectionResponse {
  listServicesResponse?: { service: Array<{ name: string }> };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  errorResponse?: { errorCode: number; errorMessage: string };
}

type ReflectionClient = Client & { serverReflectionInfo(): ClientDuplexStream<object, ReflectionResponse> };

/**
 * Asks the reflection service (`grpc.reflection.v1.ServerReflection`) of the server at `address`
 * one question (`listServices: ''` for the list of services, or the file defining a symbol) and
 * resolves with its answer.
 * @throws ServiceError as gRPC reports it (UNIMPLEMENTED when the server has no reflection,
 *   UNAVAILABLE when nothing answers).
 */
export function reflect(address: string, request: { listServices: string } | { fileContainingSymbol: string }): Promise<ReflectionResponse> {
  const pkg = loadPackageDefinition(loadSync('grpc/reflection/v1/reflection.proto', { includeDirs: [REFLECTION_PROTO_DIR], longs: Number, defaults: true })) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: new (a: string, c: ReturnType<typeof credentials.createInsecure>) => ReflectionClient } } };
  };
  const client = new pkg.grpc.reflection.v1.ServerReflection(address, credentials.createInsecure());
  return new Promise<ReflectionResponse>((resolve, reject) => {
    const call = client.serverReflectionInfo();
    call.on('data', (res: ReflectionResponse) => {
      resolve(res);
      call.end();
    });
    call.on('error', reject);
    call.write(request);
  }).finally(() => client.close());
}
