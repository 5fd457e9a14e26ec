import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // two cores: one test file at a time keeps OpenBLAS threads from fighting each other
    fileParallelism: false,
  },
});
