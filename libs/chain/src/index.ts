// Public entry of @shardlab/chain: re-exports crypto and Common, placement, transaction decoding, dev accounts, the executor, block steps and building, the signature pool, cross-shard receipts
export * from './crypto';
export * from './placement';
export * from './tx';
export * from './accounts';
export * from './executor';
export * from './block-steps';
export * from './block';
export * from './signature-pool';
export * from './lock-keys';
export * from './cross-shard-receipts';
export * from './receipt-call';
