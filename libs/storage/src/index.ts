// Entry point of @shardlab/storage: re-exports the key-value stores and the shard store.
export * from './kv';
export * from './shard-store';
