export * from './mempool';
export * from './node';
export * from './service';
export * from './server';
export * from './proofs';
export * from './tpc/simulation-locks';
export * from './protocol';
export { BlockTwoPhaseCommit } from './tpc/protocol';
