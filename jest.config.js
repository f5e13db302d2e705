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
  },
  testTimeout: 60_000,
  // e2e tests start real processes; run test files one at a time on small CI machines.
  maxWorkers: 1,
};
