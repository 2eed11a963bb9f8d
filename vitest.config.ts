import { defineConfig } from 'vitest/config';

// One vitest run covers every workspace. Browser-side tests opt into jsdom
// with a `// @vitest-environment jsdom` comment at the top of the file.
export default defineConfig({
  test: {
    globals: true,
    environment: 'node',
    setupFiles: ['./test/setup/vitest.setup.ts'],
    include: [
      'plugins/*/src/**/*.test.{ts,tsx}',
      'packages/*/src/**/*.test.{ts,tsx}',
      'test/**/*.test.ts',
    ],
    // test/reliability has its own run: `npm run test:reliability`.
    exclude: ['**/node_modules/**', '**/dist/**', 'test/reliability/**'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
    maxWorkers: 2,
    server: {
      deps: {
        inline: [/@backstage\//, /@material-ui\//, /material-ui-popup-state/],
      },
    },
  },
});
