// Public entry of @shardlab/orchestrator: re-exports the coordinator, the orchestrator node, its store schema, its gRPC service and startOrchestrator (server)
export * from './coordinator';
export * from './node';
export * from './store';
export * from './service';
export * from './server';
