/**
 * The engine's simulation kit, for tests and benchmarks: this repository's
 * (test/bench) and those of adopters who replay releases against the gate.
 * Seeded telemetry generators and a release walker, re-exported from
 * `src/__testkit__`.
 *
 * Not a stable API: it changes with the engine without notice. Import it as
 * `@tollgate/plugin-rollouts-engine/testkit`, never by a path into `src/`.
 *
 * @packageDocumentation
 */

export { simCtx, simulate, type SimSpec } from './__testkit__/sim';
export {
  regressedAt,
  releaseCtx,
  telemetryAt,
  type ReleaseSpec,
} from './__testkit__/releases';
export { walkRelease } from './__testkit__/walk';
