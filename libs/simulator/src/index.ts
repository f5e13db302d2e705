// Entry point of @shardlab/simulator: re-exports proof checks, the remote state manager, simulation, locked simulation, the shard state source, the gRPC service and server.
/**
 * The simulator of cross-shard contract calls (docs/ARCHITECTURE.md §3): runs a transaction with
 * `@ethereumjs/vm` over the shards' state at one reference block per shard, fetched lazily with
 * Merkle proofs, and returns its read/write set (RwSet).
 */
export * from './proofs';
export * from './remote-state';
export * from './simulate';
export * from './locked';
export * from './shard-source';
export * from './service';
export * from './server';
