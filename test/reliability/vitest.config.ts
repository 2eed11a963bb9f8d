import { defineConfig } from 'vitest/config';

// `npm run test:reliability`: crash safety, replicas, faults, fuzzing and
// access checks. Slower than the unit suite; `.ci/run` runs both.
export default defineConfig({
  root: `${__dirname}/../..`,
  test: {
    globals: true,
    environment: 'node',
    setupFiles: ['./test/setup/vitest.setup.ts'],
    include: ['test/reliability/**/*.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // One file at a time: the crash and replica suites start whole backends.
    maxWorkers: 1,
    fileParallelism: false,
    server: {
      deps: {
        inline: [/@backstage\//, /@material-ui\//],
      },
    },
  },
});
