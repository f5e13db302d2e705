// The gateway's gRPC edge: shardlab.v1.GatewayService methods forwarded to a Gateway with the call's cancellation signal, and the mounted service for startServer
import { GatewayServiceService, type GatewayServiceServer } from '@shardlab/proto';
import { logFailure, serverStream, settleItems, unary, type MountedService } from '@shardlab/rpc';
import type { Logger } from '@shardlab/telemetry';
import type { Gateway } from './gateway';

/** Fully qualified gRPC name of the gateway service (also its health-check service name). */
export const GATEWAY_SERVICE_NAME = 'shardlab.v1.GatewayService';

/**
 * The gRPC implementation of `shardlab.v1.GatewayService` over a {@link Gateway}: each method
 * forwards to the gateway with the call's cancellation signal; ShardLabErrors become gRPC
 * statuses (INVALID_ARGUMENT, FAILED_PRECONDITION, ALREADY_EXISTS, NOT_FOUND, UNAVAILABLE, ...),
 * anything else INTERNAL without details.
 */
export function gatewayService(gateway: Gateway, logger: Logger): GatewayServiceServer {
  const log = logger.child({ module: 'gateway-service' });
  return {
    sendRawTransaction: unary(log, 'SendRawTransaction', (req) => gateway.sendRawTransaction(req.rawTransaction)),
    sendRawTransactions: unary(log, 'SendRawTransactions', async (req) => ({
      // Started in order, one after the other: each home shard gets them in this order.
      results: (await settleItems(req.rawTransactions, (raw) => gateway.sendRawTransaction(raw), (err) => logFailure(log, 'SendRawTransactions', err))).map((outcome) => ({ outcome })),
    })),
    getAccount: unary(log, 'GetAccount', (req, ctx) => gateway.getAccount(req.address, ctx.signal)),
    getTransaction: unary(log, 'GetTransaction', (req, ctx) => gateway.getTransaction(req.txHash, ctx.signal)),
    watchTransaction: serverStream(log, 'WatchTransaction', (req, send, ctx) => gateway.watchTransaction(req.txHash, send, ctx.signal)),
    getShardBlock: unary(log, 'GetShardBlock', (req, ctx) => gateway.getShardBlock(req.shardId, req.height, ctx.signal)),
    listShards: unary(log, 'ListShards', () => gateway.listShards()),
  };
}

/** The gateway service ready to pass to `startServer` from `@shardlab/rpc`. */
export function gatewayMountedService(gateway: Gateway, logger: Logger): MountedService {
  return { name: GATEWAY_SERVICE_NAME, definition: GatewayServiceService, implementation: gatewayService(gateway, logger) };
}
