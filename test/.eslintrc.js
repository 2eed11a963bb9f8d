// The repository's own tests, benchmarks and test harness (not a package):
// Node code, linted with Backstage's config for Node packages.
const shared = require('../eslint.shared');

module.exports =
  require('@backstage/cli/config/eslint-factory').createConfigForRole(
    __dirname,
    'node-library',
    {
      ...shared,
      testRules: {
        ...shared.testRules,
        // The portal test (e2e) asserts through Playwright: a locator's
        // waitFor() and page.waitForURL() fail the test when the page never
        // shows what they wait for.
        'jest/expect-expect': [
          'warn',
          {
            assertFunctionNames: [
              ...shared.testRules['jest/expect-expect'][1].assertFunctionNames,
              'page.**.waitFor',
              'page.waitForURL',
            ],
          },
        ],
      },
    },
  );
