// Extra ESLint configuration shared by every package's .eslintrc.js (and the
// root test/ tree), passed to Backstage's eslint-factory. Each entry is here
// because a rule of Backstage's config conflicts with a deliberate choice of
// this repository; everything else is Backstage's config as is.
module.exports = {
  testRules: {
    // The tests run on vitest, whose `expect(value, message)` takes a message
    // for the failure as its second argument (jest's takes one argument).
    'jest/valid-expect': ['error', { maxArgs: 2 }],
    // supertest's `request(app).get(…).expect(200)` asserts, and the numeric
    // tests assert through small helpers named expect… (expectClose).
    'jest/expect-expect': [
      'warn',
      { assertFunctionNames: ['expect', 'expect*', 'request.**.expect'] },
    ],
    // Tests share the repository's test harness (test/support: Postgres,
    // Prometheus, Unleash, the portal) and its reference data (test/fixtures).
    // Neither is a package: they are never published and no published file
    // imports them, which is what this rule guards.
    '@backstage/no-relative-monorepo-imports': 'off',
  },
};
