import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // e2e tests run the built binary; the pool stays small so a 2-core CI machine is not oversubscribed.
    maxWorkers: 2,
  },
});
