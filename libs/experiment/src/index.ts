export * from './tracker';
export * from './submitter';
export * from './cpu';
export * from './run';
export * from './summary';
