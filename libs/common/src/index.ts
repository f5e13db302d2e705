// Public entry of @shardlab/common: re-exports the error model (errors) and the parsing and formatting of addresses, hashes, hex and wei (hex)
export * from './errors';
export * from './hex';
