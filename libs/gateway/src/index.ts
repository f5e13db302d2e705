// Public entry of @shardlab/gateway: re-exports the gateway logic, its gRPC service and server, and its shard-facing and orchestrator-facing parts
/**
 * The gateway (docs/ARCHITECTURE.md §1): the only public entry of a ShardLab network. `Gateway` holds
 * the logic (decode, route, track status from shard block streams and, for cross-shard
 * transactions, from the orchestrator's status stream); `gatewayService` is its gRPC edge;
 * `ShardRouter` and `BlockWatchHub` are its shard-facing parts (with `ReceiptTracker`, the
 * shard-led evidence of cross-shard transactions in shard blocks, and its pure rules in
 * `receipt-evidence`, and `DecisionTracker`, where a cross-shard decision is applied),
 * `OrchestratorClient` and `CrossShardWatchHub` its orchestrator-facing parts; `startGateway` starts it (server and registration) over a registry directory.
 */
export * from './gateway';
export * from './service';
export * from './server';
export * from './shards';
export * from './watch';
export * from './orchestrator';
export * from './cross-shard-watch';
export * from './cross-shard-watcher';
export * from './decision-tracker';
export * from './bounded-map';
export * from './receipt-evidence';
export * from './receipt-tracker';
export * from './client-led-coordinator';
export * from './client-led-sessions';
