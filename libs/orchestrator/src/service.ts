import { errors } from '@shardlab/common';
import {
  OrchestratorServiceService,
  type ForwardTransactionRequest,
  type ForwardTransactionResponse,
  type GetBlockRequest,
  type GetTransactionRequest,
  type OrchestratorBlock,
  type OrchestratorServiceServer,
  type SubscribeBlocksRequest,
  type SubscribeStatusRequest,
  type TransactionStatus,
} from '@shardlab/proto';
import { serverStream, unary, type MountedService } from '@shardlab/rpc';
import type { Logger } from '@shardlab/telemetry';

/** Fully qualified gRPC name of the orchestrator service (also its health-check service name). */
export const ORCHESTRATOR_SERVICE_NAME = 'shardlab.v1.OrchestratorService';

/** Why every orchestrator RPC is refused for now; the protocol lands with a later issue. */
const LATER = '(orchestrator protocol, a later issue)';

/**
 * The gRPC orchestrator service, contract only: the service is mounted, listed by reflection and
 * reported SERVING by health checks, but every RPC answers the gRPC status UNIMPLEMENTED with a
 * message naming what is missing:
 * - `ForwardTransaction`: cross-shard commit;
 * - `GetCrossShardStatus`: cross-shard transaction status;
 * - `GetBlock`: orchestrator blocks;
 * - `SubscribeBlocks`: the orchestrator block stream (ends at once with the status).
 * Refusals are logged at debug level with the transaction hash when the request carries one.
 * Pass the result to `startServer` of `@shardlab/rpc`.
 */
export function orchestratorService(logger: Logger): MountedService {
  const log = logger.child({ module: 'orchestrator-service' });
  const implementation: OrchestratorServiceServer = {
    forwardTransaction: unary<ForwardTransactionRequest, ForwardTransactionResponse>(
      log,
      'ForwardTransaction',
      async (req) => {
        throw errors.unimplemented(`cross-shard commit is not implemented yet ${LATER}`, {
          txHash: req.tx?.hash,
          homeShard: req.homeShard,
        });
      },
    ),
    getCrossShardStatus: unary<GetTransactionRequest, TransactionStatus>(log, 'GetCrossShardStatus', async (req) => {
      throw errors.unimplemented(`cross-shard transaction status is not implemented yet ${LATER}`, { txHash: req.txHash });
    }),
    getBlock: unary<GetBlockRequest, OrchestratorBlock>(log, 'GetBlock', async (req) => {
      throw errors.unimplemented(`orchestrator blocks are not implemented yet ${LATER}`, { height: req.height });
    }),
    subscribeBlocks: serverStream<SubscribeBlocksRequest, OrchestratorBlock>(log, 'SubscribeBlocks', async (req) => {
      throw errors.unimplemented(`the orchestrator block stream is not implemented yet ${LATER}`, {
        fromHeight: req.fromHeight,
      });
    }),
    subscribeStatus: serverStream<SubscribeStatusRequest, TransactionStatus>(log, 'SubscribeStatus', async () => {
      throw errors.unimplemented(`the cross-shard status stream is not implemented yet ${LATER}`);
    }),
  };
  return { name: ORCHESTRATOR_SERVICE_NAME, definition: OrchestratorServiceService, implementation };
}
