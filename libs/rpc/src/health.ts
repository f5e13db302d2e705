// checkHealth: a client of the standard gRPC health service (grpc.health.v1.Health/Check).
import { makeClientConstructor, Metadata, type Client, type ServiceDefinition, type ServiceError } from '@grpc/grpc-js';
import { service as healthServiceDefinition } from 'grpc-health-check';
import { createClient, type ClientCtor } from './client';

/** The standard health client (`grpc.health.v1.Health/Check`). */
interface HealthClient extends Client {
  check(req: { service: string }, md: Metadata, opts: { deadline: Date }, cb: (err: ServiceError | null, res?: { status: string }) => void): void;
}

const HealthClientCtor = makeClientConstructor(healthServiceDefinition as unknown as ServiceDefinition, 'grpc.health.v1.Health') as unknown as ClientCtor<HealthClient>;

/**
 * Asks a server's standard health service (`grpc.health.v1.Health/Check`) for the status of
 * `service` ('' for the whole server): `SERVING`, `NOT_SERVING` or `UNKNOWN`.
 * @throws ServiceError as gRPC reports it (NOT_FOUND for an unknown service name, UNAVAILABLE
 *   when nothing answers, DEADLINE_EXCEEDED after `deadlineMs`, default 5000 ms).
 */
export function checkHealth(address: string, service = '', deadlineMs = 5000): Promise<string> {
  const client = createClient(HealthClientCtor, address);
  return new Promise<string>((resolve, reject) =>
    client.check({ service }, new Metadata(), { deadline: new Date(Date.now() + deadlineMs) }, (err, res) => (err ? reject(err) : resolve(res?.status ?? ''))),
  ).finally(() => client.close());
}
