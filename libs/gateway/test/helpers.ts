import { makeGenericClientConstructor, credentials, type ServiceError, type Client } from '@grpc/grpc-js';
import { service as healthServiceDefinition } from 'grpc-health-check';
import type { GatewayServiceClient, TransactionStatus } from '@shardlab/proto';

import { rawCall } from '@shardlab/testing';
export { grpcError, rawCall, waitFor } from '@shardlab/testing';
export { reflect } from '@shardlab/rpc';

/** An open WatchTransaction stream: the messages received so far and how it ended. */
export interface OpenWatch {
  cancel(): void;
  readonly messages: TransactionStatus[];
  /** Resolves when the stream ends: code 0 for a clean end, else the gRPC status. */
  readonly ended: Promise<{ code: number; details: string }>;
}

/** Opens WatchTransaction on the gateway. */
export function openWatch(client: GatewayServiceClient, txHash: string): OpenWatch {
  const call = client.watchTransaction({ txHash });
  const messages: TransactionStatus[] = [];
  const ended = new Promise<{ code: number; details: string }>((resolve) => {
    call.on('data', (m: TransactionStatus) => messages.push(m));
    call.on('end', () => resolve({ code: 0, details: '' }));
    call.on('error', (e: ServiceError) => resolve({ code: e.code, details: e.details }));
  });
  return { cancel: () => call.cancel(), messages, ended };
}

/** `grpc.health.v1.Health/Check` of `service` on the server at `address`. */
export function healthCheck(address: string, service: string): Promise<string> {
  const Ctor = makeGenericClientConstructor(healthServiceDefinition as never, 'grpc.health.v1.Health');
  const client = new Ctor(address, credentials.createInsecure()) as unknown as Client & {
    check(req: { service: string }, cb: (err: ServiceError | null, res: { status: string }) => void): void;
  };
  return rawCall<{ status: string }>((cb) => client.check({ service }, cb))
    .then((r) => r.status)
    .finally(() => client.close());
}
