// Public entry of @shardlab/contracts: re-exports the ABI helpers, the network client, Uniswap V2 builds, deployment and synthetic set-up, and the booking scenario
/**
 * @shardlab/contracts — contracts driven through a running ShardLab network.
 *
 * - {@link NetClient}: a gRPC client of a running network (gateway, shards' proofs, orchestrator).
 * - Uniswap V2: the published builds and a reference chain (`uniswap-fixtures`), deployment across
 *   shards and its requests (`uniswap`), the synthetic workload's set-up (`synthetic-setup`).
 * - The booking scenario: train, hotel and travel agency compiled with solc (`booking-contracts`)
 *   and deployed on chosen shards (`booking`).
 * - A minimal ABI encoder and storage-slot arithmetic (`abi`, pure).
 */
export * from './abi';
export * from './client';
export * from './uniswap-fixtures';
export * from './uniswap';
export * from './synthetic-setup';
export * from './booking-contracts';
export * from './booking';
