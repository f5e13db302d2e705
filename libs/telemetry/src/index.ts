// Entry point of @shardlab/telemetry: re-exports the structured logger and the tracing helpers.
export * from './logger';
export * from './tracing';
