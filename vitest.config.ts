import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests start relay processes and servers; two cores, so keep parallelism modest.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
