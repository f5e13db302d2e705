// The orchestrator's gRPC edge: shardlab.v1.OrchestratorService over an OrchestratorNode (forwards, status, blocks, block and status streams), each block encoded once
import {
  OrchestratorServiceService,
  type ForwardTransactionRequest,
  type ForwardTransactionResponse,
  type ForwardTransactionsRequest,
  type ForwardTransactionsResponse,
  type GetBlockRequest,
  type GetTransactionRequest,
  type OrchestratorBlock,
  type OrchestratorServiceServer,
  type SubscribeBlocksRequest,
  type SubscribeStatusRequest,
  type TransactionStatus,
} from '@shardlab/proto';
import { checkBatchSize, itemOutcomes, logFailure, serverStream, unary, withSharedResponseEncoding, type MountedService } from '@shardlab/rpc';
import type { Logger } from '@shardlab/telemetry';
import type { OrchestratorNode } from './node';

/** Fully qualified gRPC name of the orchestrator service (also its health-check service name). */
export const ORCHESTRATOR_SERVICE_NAME = 'shardlab.v1.OrchestratorService';

/**
 * The gRPC implementation of `shardlab.v1.OrchestratorService` over an {@link OrchestratorNode}:
 * ForwardTransaction, ForwardTransactions, GetCrossShardStatus, GetBlock, SubscribeBlocks and SubscribeStatus. Inputs
 * are validated by the node; errors become gRPC statuses at this edge.
 */
export function orchestratorService(node: OrchestratorNode, logger: Logger): MountedService {
  const log = logger.child({ module: 'orchestrator-service' });
  const implementation: OrchestratorServiceServer = {
    forwardTransaction: unary<ForwardTransactionRequest, ForwardTransactionResponse>(log, 'ForwardTransaction', async (req) => ({
      status: await node.forward(req),
    })),
    forwardTransactions: unary<ForwardTransactionsRequest, ForwardTransactionsResponse>(log, 'ForwardTransactions', async (req) => {
      checkBatchSize(req.transactions.length);
      const statuses = (await node.forwardMany(req.transactions)).map((o) => (o instanceof Error ? o : { status: o }));
      return { results: itemOutcomes(statuses, (err) => logFailure(log, 'ForwardTransactions', err)).map((outcome) => ({ outcome })) };
    }),
    getCrossShardStatus: unary<GetTransactionRequest, TransactionStatus>(log, 'GetCrossShardStatus', (req) => node.lookup(req.txHash)),
    getBlock: unary<GetBlockRequest, OrchestratorBlock>(log, 'GetBlock', (req) => node.getBlock(req.height)),
    subscribeBlocks: serverStream<SubscribeBlocksRequest, OrchestratorBlock>(log, 'SubscribeBlocks', async (req, send, ctx) => {
      for await (const b of node.subscribe(req.fromHeight, ctx.signal)) await send(b);
    }),
    subscribeStatus: serverStream<SubscribeStatusRequest, TransactionStatus>(log, 'SubscribeStatus', async (_req, send, ctx) => {
      for await (const s of node.statusChanges(ctx.signal)) await send(s);
    }),
  };
  // Every subscriber (each shard, gateways, experiment runners) gets the same block: encode it once.
  return { name: ORCHESTRATOR_SERVICE_NAME, definition: withSharedResponseEncoding(OrchestratorServiceService, 'subscribeBlocks'), implementation };
}
