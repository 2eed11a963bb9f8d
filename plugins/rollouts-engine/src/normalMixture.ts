/** Normal mixtures for a difference of means, and the one-sample Poisson mixture. */
import { logNormalCdf } from './math';
import {
  firstIndexAbove,
  GRID_EXP,
  GRID_SIZE,
  LOG_RATIO_GRID,
  priorTables,
  SCRATCH_E,
} from './rateTest';

// ---------------------------------------------------------------------------------------------
// Normal mixture for a difference of means
// ---------------------------------------------------------------------------------------------

/**
 * log of the one-sided half-normal mixture martingale for a Gaussian score process:
 * estimate `d` of θ with variance `v` (information I = 1/v), null θ ≤ θ0 (side +1) or θ ≥ θ0
 * (side −1), mixing θ − θ0 over a half-normal with scale τ:
 *   M = 2 (1+τ²I)^{-1/2} exp(τ²S²/(2(1+τ²I))) Φ(τS/√(1+τ²I)),  S = I (d − θ0)·side.
 */
export function normalLogMixtureOneSided(
  d: number,
  v: number,
  theta0: number,
  side: 1 | -1,
  tau: number,
): number {
  if (!(v > 0) || !(tau > 0)) return 0;
  const info = 1 / v;
  const s = info * (d - theta0) * side;
  const a = 1 + tau * tau * info;
  return (
    Math.log(2) -
    0.5 * Math.log(a) +
    (tau * tau * s * s) / (2 * a) +
    logNormalCdf((tau * s) / Math.sqrt(a))
  );
}

/**
 * Half-width of the two-sided normal-mixture confidence sequence (N(0, τ²) mixing):
 *   r = sqrt( 2 v (v + τ²)/τ² · log( sqrt((v + τ²)/v) / α ) ).
 */
export function normalMixtureRadius(
  v: number,
  tau: number,
  alpha: number,
): number {
  if (!(v > 0)) return 0;
  const a = (v + tau * tau) / v;
  return Math.sqrt(
    ((2 * v * (v + tau * tau)) / (tau * tau)) * Math.log(Math.sqrt(a) / alpha),
  );
}

/**
 * One-sample anytime-valid test that a Poisson rate is below `lambda1`: mixture over the grid
 * points v = log(λ/λ1) < 0 (N(0, σ²) prior restricted to v < 0) of the likelihood ratio
 * exp(x·v − n·λ1·(e^v − 1)) for x events in exposure n. Valid for binomial counts too (the
 * binomial is smaller than the Poisson in convex order). Returns the log e-value.
 */
export function poissonBelowLogMixture(
  x: number,
  n: number,
  lambda1: number,
  sigma: number,
): number {
  if (!(n > 0) || !(lambda1 > 0)) return 0;
  const t = priorTables(sigma);
  const to = firstIndexAbove(0, false);
  let m = -Infinity;
  const v = SCRATCH_E;
  for (let k = 0; k < to; k++) {
    const u = LOG_RATIO_GRID[k];
    v[k] = t.lw[k] + x * u - n * lambda1 * (GRID_EXP[k] - 1);
    if (v[k] > m) m = v[k];
  }
  let acc = 0;
  for (let k = 0; k < to; k++) acc += Math.exp(v[k] - m);
  return m + Math.log(acc) - t.prefix[to];
}

/**
 * One-sample anytime-valid test that a Poisson rate is above `lambda1`: the mirror image of
 * `poissonBelowLogMixture`, mixing over the grid points v = log(λ/λ1) > 0. Returns the log e-value.
 */
export function poissonAboveLogMixture(
  x: number,
  n: number,
  lambda1: number,
  sigma: number,
): number {
  if (!(n > 0) || !(lambda1 > 0)) return 0;
  const t = priorTables(sigma);
  const from = firstIndexAbove(0, true);
  let m = -Infinity;
  const v = SCRATCH_E;
  for (let k = from; k < GRID_SIZE; k++) {
    v[k] = t.lw[k] + x * LOG_RATIO_GRID[k] - n * lambda1 * (GRID_EXP[k] - 1);
    if (v[k] > m) m = v[k];
  }
  let acc = 0;
  for (let k = from; k < GRID_SIZE; k++) acc += Math.exp(v[k] - m);
  return m + Math.log(acc) - t.suffix[from];
}
