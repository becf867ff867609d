import { defineConfig } from 'vitest/config';

// Four tiers run by `make test`: unit (pure modules, in parallel), integration (real etcd and
// real component processes on 127.0.0.1, one file at a time because they load the machine's
// two cores), chaos (the fault suite of e2e/src/chaos: processes in network namespaces,
// nemeses, checked histories; QUIRE_CHAOS_TIER=short there, long in `make chaos`) and readme
// (the README's tour and client-library example run literally in a fresh clone). Packages are
// imported from their built dist/, so build first.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['*/src/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/*.chaos.test.ts', '**/*.readme.test.ts', '**/node_modules/**', '**/dist/**'],
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
      {
        test: {
          name: 'readme',
          include: ['e2e/src/readme/**/*.readme.test.ts'],
          exclude: ['**/node_modules/**', '**/dist/**'],
          fileParallelism: false,
          testTimeout: 2_400_000,
          hookTimeout: 300_000,
        },
      },
      {
        test: {
          name: 'chaos',
          include: ['e2e/src/chaos/**/*.chaos.test.ts'],
          exclude: ['**/node_modules/**', '**/dist/**'],
          fileParallelism: false,
          testTimeout: 1_800_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
