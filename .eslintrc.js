module.exports = {
  root: true,
  settings: {
    // The tests run on vitest, not jest; eslint-plugin-jest (in Backstage's
    // config) reads the jest version to know which `jest.*` calls are
    // deprecated and fails when jest is not installed. Its rules apply to
    // vitest's describe/it/expect just the same.
    jest: { version: 29 },
  },
};
