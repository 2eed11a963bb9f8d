/**
 * Anytime-valid sequential tests used by the gate engine.
 *
 * 1. Rate ratio (errors/requests, slow/requests, conversions/trials, events/exposures):
 *    conditional-binomial likelihood of the canary's share of events given the total events of
 *    the tick, mixed over a fixed prior on the log rate ratio u = log(λ_canary / λ_baseline),
 *    discretised on a grid. Every mixture of likelihood ratios with a prior fixed in advance is
 *    a non-negative martingale under the null, so Ville's inequality makes the test valid under
 *    continuous monitoring (Lindon & Malek 2022; Lindon, Sanden & Shirikian 2022).
 * 2. Difference of means: normal-mixture (Robbins / Howard et al. 2021) boundary on the
 *    two-sample z-process with plug-in variances (asymptotically anytime-valid).
 */

export * from './rateTest';
export { rateConfidenceSequence } from './confidenceSequence';
export {
  normalLogMixtureOneSided,
  normalMixtureRadius,
  poissonAboveLogMixture,
  poissonBelowLogMixture,
} from './normalMixture';
