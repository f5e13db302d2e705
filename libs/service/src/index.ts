// Entry point of @shardlab/service: re-exports the service process runner and its command-line helpers.
export * from './run';
