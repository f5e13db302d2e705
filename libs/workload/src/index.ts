// Entry point of @shardlab/workload: re-exports trace reading, trace replay planning, synthetic generation and signing, and the plain transfer workload.
/**
 * @shardlab/workload — the workloads of the main job.
 *
 * - {@link readTrace} / {@link parseTraceLines}: real Ethereum transaction traces (ethereum-etl
 *   `transactions` or XBlock-ETH block-transaction CSV, plain or gzip) into validated rows.
 * - {@link planReplay} / {@link traceAccount}: rows mapped to deterministic generated key pairs on
 *   the same shards as the real accounts, signed as plain transfers, with the genesis funding.
 * - {@link generateSynthetic}: the default synthetic, mainnet-like workload (pure, unsigned);
 *   {@link planSynthetic} / {@link signSynthetic}: its generated accounts, genesis funding and
 *   signed transactions (against the contracts deployed by @shardlab/contracts).
 * - {@link planLocalTransfers}: signed plain transfers round-robin over given senders, a share of
 *   them cross-shard (the benchmarks' and tests' workload).
 */
export * from './trace';
export * from './replay';
export * from './synthetic';
export * from './synthetic-txs';
export * from './transfers';
export * from './graph-placement';
export * from './interaction-graph';
