import { defineConfig } from 'vitest/config';

// Two tiers run by `make test`: unit (pure modules, in parallel) and integration (real etcd
// and real component processes on 127.0.0.1, one file at a time because they load the
// machine's two cores). Packages are imported from their built dist/, so build first.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['*/src/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/node_modules/**', '**/dist/**'],
          testTimeout: 10_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['*/src/**/*.int.test.ts'],
          exclude: ['**/node_modules/**', '**/dist/**'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
