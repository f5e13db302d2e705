import { StateShardServiceClient, StateShardServiceService } from '@shardlab/proto';
import { createClient, startServer, type RunningServer } from '@shardlab/rpc';
import type { Logger } from '@shardlab/telemetry';
import { STATE_SHARD_SERVICE_NAME, stateShardService, type ShardNode } from '../src';

/**
 * Serves `node` (a real shard node, or a fake with the methods a test calls) as
 * `shardlab.v1.StateShardService` on a free local port, and connects a client to it. The caller
 * closes the client and the server (and stops its node).
 */
export async function serveShard(node: ShardNode, logger: Logger): Promise<{ server: RunningServer; client: StateShardServiceClient }> {
  const server = await startServer({
    port: 0,
    services: [{ name: STATE_SHARD_SERVICE_NAME, definition: StateShardServiceService, implementation: stateShardService(node, logger) }],
    logger,
  });
  return { server, client: createClient(StateShardServiceClient, server.address) };
}
