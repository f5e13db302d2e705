export * from './errors';
export * from './hex';
