export * from './crypto';
export * from './placement';
export * from './tx';
export * from './accounts';
export * from './executor';
export * from './block-steps';
export * from './block';
export * from './signature-pool';
