// Public entry of @shardlab/experiment: re-exports outcome tracking (tracker), paced submission (submitter), process CPU time (cpu), the runner (run) and run figures (summary)
export * from './tracker';
export * from './submitter';
export * from './cpu';
export * from './run';
export * from './summary';
