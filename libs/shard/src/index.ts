export * from './mempool';
export * from './node';
export * from './service';
export * from './server';
export * from './proofs';
export * from './simulation-locks';
