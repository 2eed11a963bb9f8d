import { defineConfig } from 'vitest/config';

// `npm run test:stock-portal`: the packed plugins installed into a fresh
// create-app portal, built and driven in headless Chromium. Its phases run
// one after another in one file; the whole run takes 10-20 minutes.
export default defineConfig({
  root: `${__dirname}/../..`,
  test: {
    globals: true,
    environment: 'node',
    include: ['test/stock-portal/**/*.e2e.ts'],
    testTimeout: 15 * 60_000,
    hookTimeout: 5 * 60_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
  },
});
