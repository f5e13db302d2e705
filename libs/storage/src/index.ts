export * from './kv';
export * from './shard-store';
