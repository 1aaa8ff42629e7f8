import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // The package's own names (`tesser-reconcile`, `tesser-reconcile/testing`, ...) resolve to the sources through
    // tsconfig.json "paths", as they do for tsc: tests and docs run from source, while package.json "exports" points
    // installed users at dist/.
    tsconfigPaths: true,
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The machine has 2 cores; more workers only add contention.
    maxWorkers: 2,
  },
});
