// Entry point of @shardlab/shard: re-exports the state shard's mempool, node, gRPC service, server, proofs, simulation locks and commit protocol.
export * from './mempool';
export * from './node';
export * from './service';
export * from './server';
export * from './proofs';
export * from './tpc/key-locks';
export * from './protocol';
export { BlockTwoPhaseCommit } from './tpc/protocol';
export { DEFAULT_LOCK_WAIT_MS, MAX_LOCK_WAIT_MS, MAX_LOCK_KEYS } from './tpc/call-locks';
export { ShardLedProtocol } from './shard-led/protocol';
export { SHARD_PROTOCOLS, type ShardProtocolName } from './context';
