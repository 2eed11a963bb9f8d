/**
 * Test support for every package of the repository: real servers started
 * for the tests (PostgreSQL, Prometheus, Unleash), the demo portal as a
 * process, and the rule that a suite needing a system package skips with a
 * clear message outside CI and fails in CI.
 */
export * from './system';
export * from './postgres';
export * from './databases';
export * from './prometheus';
export * from './unleash';
export * from './portal';
