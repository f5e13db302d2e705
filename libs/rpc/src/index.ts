// Entry point of @shardlab/rpc: re-exports status mapping, server, client, deadlines (scale, call names), stream following, health, reflection, batching and back-off.
export * from './status';
export * from './server';
export * from './client';
export * from './deadline';
export * from './follow';
export * from './health';
export * from './reflection';
export * from './batch';
export * from './backoff';
