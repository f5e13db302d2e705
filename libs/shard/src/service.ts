// The gRPC implementation of StateShardService over a ShardNode: submission (single and batched), reads, block stream, receipt stream (shard-led), proofs, code, locks, applied decisions.
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { errors } from '@shardlab/common';
import type {
  AcquireLocksRequest,
  AcquireLocksResponse,
  Account,
  GetAccountRequest,
  GetBlockRequest,
  GetCodeRequest,
  GetCodeResponse,
  GetDecisionRequest,
  GetDecisionResponse,
  GetHeadRequest,
  GetHeadResponse,
  GetProofRequest,
  GetProofResponse,
  GetTransactionRequest,
  ListAccountsRequest,
  ListAccountsResponse,
  ReleaseSimulationLocksRequest,
  ReleaseSimulationLocksResponse,
  StateShardBlock,
  SubmitTransactionRequest,
  SubmitTransactionResponse,
  SubmitTransactionsRequest,
  SubmitTransactionsResponse,
  SubscribeBlocksRequest,
  SubscribeReceiptsRequest,
  DryRunCallRequest,
  DecideRequest,
  DecideResponse,
  PrepareRequest,
  PrepareResponse,
  DryRunCallResponse,
  ReceiptBatch,
  TransactionStatus,
} from '@shardlab/proto';
import { context } from '@opentelemetry/api';
import { logFailure, serverStream, settleItems, unary } from '@shardlab/rpc';
import { extractContext, type Logger } from '@shardlab/telemetry';
import { outgoingReceiptsTrie, receiptBatchOf } from '@shardlab/chain';
import type { ShardNode } from './node';

/** One SubmitTransaction (alone or as an item of SubmitTransactions). */
function submitOne(node: ShardNode, req: SubmitTransactionRequest): Promise<SubmitTransactionResponse> {
  if (!req.rawTransaction || req.rawTransaction.length === 0) return Promise.reject(errors.invalidArgument('raw_transaction is empty'));
  return node.submit(new Uint8Array(req.rawTransaction));
}

/**
 * The gRPC implementation of `shardlab.v1.StateShardService` over a {@link ShardNode}. Every input
 * is validated by the node; errors become gRPC statuses at this edge. GetProof, GetCode and
 * ReleaseSimulationLocks serve the simulator of cross-shard contract calls (EIP-1186 proofs, see
 * proofs.ts; locks of cross-shard contract calls, see tpc/key-locks.ts).
 */
export function stateShardService(node: ShardNode, logger: Logger): UntypedServiceImplementation {
  // Every destination's receipt stream proves receipts of the same recent blocks: build each
  // block's receipts trie once (the last few blocks kept, by hash).
  const tries = new Map<string, ReturnType<typeof outgoingReceiptsTrie>>();
  const receiptTrie = (block: StateShardBlock) => {
    let t = tries.get(block.hash);
    if (!t) {
      t = outgoingReceiptsTrie(block);
      tries.set(block.hash, t);
      if (tries.size > 16) tries.delete(tries.keys().next().value!);
    }
    return t;
  };
  return {
    submitTransaction: unary<SubmitTransactionRequest, SubmitTransactionResponse>(logger, 'SubmitTransaction', async (req) => submitOne(node, req)),
    submitTransactions: unary<SubmitTransactionsRequest, SubmitTransactionsResponse>(logger, 'SubmitTransactions', async (req) => ({
      results: (
        await settleItems(
          req.transactions,
          // Started in order, one after the other: the node admits them in arrival order.
          (item) => (Object.keys(item.traceContext).length > 0 ? context.with(extractContext(item.traceContext), () => submitOne(node, item)) : submitOne(node, item)),
          (err) => logFailure(logger, 'SubmitTransactions', err),
        )
      ).map((outcome) => ({ outcome })),
    })),
    getAccount: unary<GetAccountRequest, Account>(logger, 'GetAccount', (req) => node.getAccount(req.address)),
    getTransaction: unary<GetTransactionRequest, TransactionStatus>(logger, 'GetTransaction', (req) => node.getTransaction(req.txHash)),
    getBlock: unary<GetBlockRequest, StateShardBlock>(logger, 'GetBlock', (req) => node.getBlock(req.height)),
    getHead: unary<GetHeadRequest, GetHeadResponse>(logger, 'GetHead', async () => {
      const h = node.head();
      return { shardId: node.shardId, height: h.height, hash: h.hash, stateRoot: h.stateRoot, mempoolSize: h.mempoolSize };
    }),
    subscribeBlocks: serverStream<SubscribeBlocksRequest, StateShardBlock>(logger, 'SubscribeBlocks', async (req, send, ctx) => {
      for await (const block of node.subscribe(req.fromHeight, ctx.signal)) await send(block);
    }),
    subscribeReceipts: serverStream<SubscribeReceiptsRequest, ReceiptBatch>(logger, 'SubscribeReceipts', async (req, send, ctx) => {
      const shards = node.shardCount;
      if (!Number.isInteger(req.destShard) || req.destShard < 0 || req.destShard >= shards || req.destShard === node.shardId) {
        throw errors.invalidArgument(`dest_shard ${req.destShard} is not another shard of 0..${shards - 1} (this is shard ${node.shardId})`);
      }
      for await (const block of node.subscribe(req.fromHeight, ctx.signal)) await send(await receiptBatchOf(block, req.destShard, receiptTrie));
    }),
    getProof: unary<GetProofRequest, GetProofResponse>(logger, 'GetProof', (req) =>
      node.getProof(req.address, req.slots, req.height),
    ),
    releaseSimulationLocks: unary<ReleaseSimulationLocksRequest, ReleaseSimulationLocksResponse>(logger, 'ReleaseSimulationLocks', async (req) => ({
      released: await node.releaseSimulationLocks(req.txHash),
    })),
    acquireLocks: unary<AcquireLocksRequest, AcquireLocksResponse>(logger, 'AcquireLocks', async (req) => {
      const g = await node.acquireLocks(req.txHash, req.keys, req.lockTtlMs, req.waitMs);
      return { held: g.held, waitedMs: g.waitedMs, height: g.head.height, stateRoot: g.head.stateRoot, values: g.values };
    }),
    dryRunCall: unary<DryRunCallRequest, DryRunCallResponse>(logger, 'DryRunCall', (req) => {
      if (!req.rawTransaction || req.rawTransaction.length === 0) throw errors.invalidArgument('raw_transaction is empty');
      return node.dryRunCall(new Uint8Array(req.rawTransaction));
    }),
    getCode: unary<GetCodeRequest, GetCodeResponse>(logger, 'GetCode', (req) => node.getCode(req.address)),
    listAccounts: unary<ListAccountsRequest, ListAccountsResponse>(logger, 'ListAccounts', (req) => node.listAccounts(req.pageToken, req.pageSize)),
    prepare: unary<PrepareRequest, PrepareResponse>(logger, 'Prepare', (req) => node.prepare(req.transaction)),
    decide: unary<DecideRequest, DecideResponse>(logger, 'Decide', (req) => node.decide(req.result)),
    getDecision: unary<GetDecisionRequest, GetDecisionResponse>(logger, 'GetDecision', (req) => node.getDecision(req.txHash)),
  };
}
