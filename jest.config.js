/**
 * Jest runs every `*.test.ts` under apps/, libs/ and tools/ (tests live in `test/` beside `src/`).
 * TypeScript is transpiled by SWC; type checking is `npm run typecheck`.
 * @type {import('jest').Config}
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/apps', '<rootDir>/libs', '<rootDir>/tools'],
  testMatch: ['**/test/**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
    // ESM-only dependencies of ethereumjs (@noble/*, @scure/*, ethereum-cryptography) are loaded by
    // Node with require(esm); Jest's module system cannot, so they are transpiled to CommonJS.
    '^.+\\.m?js$': ['@swc/jest', { jsc: { parser: { syntax: 'ecmascript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(@noble|@scure|ethereum-cryptography|micro-eth-signer|micro-packed)/)'],
  testTimeout: 60_000,
  // e2e tests start real processes; run test files one at a time on small CI machines.
  maxWorkers: 1,
};
