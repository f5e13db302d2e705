// The Forwarder contract: how a shard running block-2PC hands a cross-shard transaction to the orchestrator.
import type { DecodedTx } from '@shardlab/chain';

/**
 * Hands a cross-shard transaction accepted by its home shard to the orchestrator
 * (ForwardTransaction). Resolves once the orchestrator has it durably.
 * @throws ShardLabError UNAVAILABLE when the orchestrator cannot be reached.
 */
export interface Forwarder {
  forward(tx: DecodedTx, homeShard: number, involvedShards: number[]): Promise<void>;
}
