export * from './status';
export * from './server';
export * from './client';
export * from './follow';
export * from './health';
export * from './reflection';
export * from './batch';
export * from './backoff';
