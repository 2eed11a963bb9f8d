/**
 * Tollgate's gate engine: pure, deterministic statistics for progressive delivery.
 * No I/O, no clock (time comes in as tick numbers). See docs/gate-engine.md.
 *
 * @packageDocumentation
 */
export * from './types';
export {
  gatePolicySchema,
  parseGatePolicy,
  validateGatePolicy,
  defaultGatePolicy,
  formatGatePolicyPath,
  GatePolicyError,
} from './policy';
export type {
  GatePolicy,
  GatePolicyInput,
  GatePolicyProblem,
  GateSliSignalPolicy,
  GateKpiPolicy,
} from './policy';
export {
  createGateState,
  observeTick,
  observeTickInPlace,
  cloneGateState,
  decide,
  evaluateGate,
} from './gate';
export type {
  GateState,
  GateSignalState,
  MeanTestState,
  BurnRow,
} from './gate';
export { histogramQuantile, slowCount, histogramProblem } from './histogram';
export {
  LOG_RATIO_GRID,
  createRateTest,
  updateRateTest,
  rateLogLik,
  rateLogMixtureLR,
  rateConfidenceSequence,
  normalLogMixtureOneSided,
  normalMixtureRadius,
} from './sequential';
export type { RateTestState } from './sequential';
/** Numerical helpers (normal/gamma functions, seeded PRNG), namespaced to avoid clashes. */
export * as gateMath from './math';
export type { GateRolloutPolicy } from './policy';
export {
  createRolloutGate,
  observeRolloutTick,
  decideRollout,
  advanceRolloutStep,
  stepPolicy,
} from './rollout';
export type { RolloutGateState } from './rollout';
export { stepRules, timeoutOutcome, harmBounds } from './stepRules';
export type { StepRules, TimeoutOutcome } from './stepRules';
export {
  createChangeDetector,
  updateChangeDetector,
  changeDetectorLogStatistic,
  restartWeight,
} from './changeDetection';
export type { ChangeDetectorState } from './changeDetection';
export {
  createBakeWatch,
  observeBakeTick,
  decideBake,
  poissonRateUpperBound,
} from './bake';
export type { BakeWatchState, BakeSignalState } from './bake';
export { poissonAboveLogMixture, poissonBelowLogMixture } from './sequential';
export { assessBlastRadius, applyBlastRadius, shareText } from './blastRadius';
export type { BlastRadiusConsumerInput, BlastRadiusInput } from './blastRadius';
export { blastRadiusPolicySchema } from './blastRadiusPolicy';
export type { GateBlastRadiusPolicy } from './blastRadiusPolicy';
