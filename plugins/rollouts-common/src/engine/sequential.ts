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
import { logAddExp, logNormalCdf } from './math';

// ---------------------------------------------------------------------------------------------
// The log-ratio grid: fine near 0 (small business effects), coarse far out (large breakages).
// ---------------------------------------------------------------------------------------------
function buildGrid(): number[] {
  const pos: number[] = [];
  for (let i = 1; i <= 10; i++) pos.push(Number((i * 0.02).toFixed(4)));
  for (let i = 1; i <= 16; i++) pos.push(Number((0.2 + i * 0.05).toFixed(4)));
  for (let i = 1; i <= 10; i++) pos.push(Number((1 + i * 0.1).toFixed(4)));
  for (let i = 1; i <= 4; i++) pos.push(Number((2 + i * 0.25).toFixed(4)));
  const neg = pos.map((v) => -v).reverse();
  return [...neg, 0, ...pos];
}

/** Grid of log rate ratios u (sorted ascending, includes 0, spans [-3, 3]). */
export const LOG_RATIO_GRID: readonly number[] = Object.freeze(buildGrid());
const GRID_EXP = LOG_RATIO_GRID.map(Math.exp);
/** Width of each grid cell (for a trapezoid discretisation of a continuous prior). */
const GRID_WIDTH = LOG_RATIO_GRID.map((_, i, g) => {
  const lo = i > 0 ? (g[i] - g[i - 1]) / 2 : 0;
  const hi = i < g.length - 1 ? (g[i + 1] - g[i]) / 2 : 0;
  return lo + hi;
});
export const GRID_SIZE = LOG_RATIO_GRID.length;

/** Running state of a conditional-binomial rate comparison (JSON-serialisable). */
export interface RateTestState {
  /** cumulative conditional log-likelihood at every grid point (up to an additive constant) */
  ll: number[];
  canaryEvents: number;
  canaryExposure: number;
  baselineEvents: number;
  baselineExposure: number;
  /** ticks that contributed */
  ticks: number;
}

export function createRateTest(): RateTestState {
  return {
    ll: new Array(GRID_SIZE).fill(0),
    canaryEvents: 0,
    canaryExposure: 0,
    baselineEvents: 0,
    baselineExposure: 0,
    ticks: 0,
  };
}

/**
 * Add one interval. Given E = x_c + x_b events, x_c ~ Binomial(E, π) with
 * π(u) = s·e^u / (s·e^u + 1 − s), s = n_c/(n_c+n_b) the canary's share of exposure.
 * Mutates `st`.
 */
export function updateRateTest(st: RateTestState, xc: number, nc: number, xb: number, nb: number): void {
  if (!(nc > 0) || !(nb > 0)) return;
  st.canaryEvents += xc;
  st.canaryExposure += nc;
  st.baselineEvents += xb;
  st.baselineExposure += nb;
  st.ticks += 1;
  const e = xc + xb;
  if (e <= 0) return;
  const s = nc / (nc + nb);
  const oneMinusS = 1 - s;
  const ll = st.ll;
  for (let k = 0; k < GRID_SIZE; k++) {
    ll[k] += xc * LOG_RATIO_GRID[k] - e * Math.log(s * GRID_EXP[k] + oneMinusS);
  }
}

/** Conditional log-likelihood at an arbitrary u (cubic interpolation on the grid). */
export function rateLogLik(st: RateTestState, u: number): number {
  const g = LOG_RATIO_GRID;
  const n = GRID_SIZE;
  if (u <= g[0]) return st.ll[0];
  if (u >= g[n - 1]) return st.ll[n - 1];
  // find i with g[i] <= u < g[i+1]
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (g[mid] <= u) lo = mid;
    else hi = mid;
  }
  if (u === g[lo]) return st.ll[lo];
  // four-point (cubic) Lagrange interpolation around [g[lo], g[lo+1]]
  const i0 = Math.min(Math.max(lo - 1, 0), n - 4);
  let acc = 0;
  for (let j = 0; j < 4; j++) {
    let w = 1;
    for (let m = 0; m < 4; m++) if (m !== j) w *= (u - g[i0 + m]) / (g[i0 + j] - g[i0 + m]);
    acc += w * st.ll[i0 + j];
  }
  return acc;
}

interface PriorTables {
  /** log prior weight per grid point */
  lw: Float64Array;
  /** prefix[k] = log Σ_{j<k} w_j, suffix[k] = log Σ_{j≥k} w_j */
  prefix: Float64Array;
  suffix: Float64Array;
}
const priorCache = new Map<number, PriorTables>();
function priorTables(sigma: number): PriorTables {
  let t = priorCache.get(sigma);
  if (!t) {
    const lw = new Float64Array(GRID_SIZE);
    for (let i = 0; i < GRID_SIZE; i++) lw[i] = -0.5 * (LOG_RATIO_GRID[i] / sigma) ** 2 + Math.log(GRID_WIDTH[i]);
    const prefix = new Float64Array(GRID_SIZE + 1);
    const suffix = new Float64Array(GRID_SIZE + 1);
    prefix[0] = -Infinity;
    for (let i = 0; i < GRID_SIZE; i++) prefix[i + 1] = logAddExp(prefix[i], lw[i]);
    suffix[GRID_SIZE] = -Infinity;
    for (let i = GRID_SIZE - 1; i >= 0; i--) suffix[i] = logAddExp(suffix[i + 1], lw[i]);
    t = { lw, prefix, suffix };
    if (priorCache.size > 64) priorCache.clear();
    priorCache.set(sigma, t);
  }
  return t;
}

/** log prior weights on the grid for a N(0, σ²) prior on u (unnormalised, trapezoid cells). */
export function logPriorWeights(sigma: number): number[] {
  return Array.from(priorTables(sigma).lw);
}

/** first grid index with g > u0 (upper = true) or with g >= u0 */
function firstIndexAbove(u0: number, strict: boolean): number {
  const g = LOG_RATIO_GRID;
  let lo = 0;
  let hi = GRID_SIZE;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (strict ? g[mid] > u0 : g[mid] >= u0) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Posterior-mass tables for one (state, σ): shared by the tests and the confidence sequence. */
export interface MixtureTables {
  /** offset: log Σ = m + log(sum) */
  m: number;
  /** pre[k] = Σ_{j<k} e^{lw_j + ll_j − m}; suf[k] = Σ_{j≥k} (each accumulated without subtraction) */
  pre: Float64Array;
  suf: Float64Array;
  prior: PriorTables;
  ll: number[];
  lw: Float64Array;
}

export function mixtureTables(st: RateTestState, sigma: number): MixtureTables {
  const prior = priorTables(sigma);
  const lw = prior.lw;
  const ll = st.ll;
  let m = -Infinity;
  for (let k = 0; k < GRID_SIZE; k++) {
    const v = lw[k] + ll[k];
    if (v > m) m = v;
  }
  // terms below e^-60 of the largest cannot change any sum at double precision: skip their exp
  const e = new Float64Array(GRID_SIZE);
  for (let k = 0; k < GRID_SIZE; k++) {
    const v = lw[k] + ll[k] - m;
    e[k] = v > -60 ? Math.exp(v) : 0;
  }
  const pre = new Float64Array(GRID_SIZE + 1);
  const suf = new Float64Array(GRID_SIZE + 1);
  for (let k = 0; k < GRID_SIZE; k++) pre[k + 1] = pre[k] + e[k];
  for (let k = GRID_SIZE - 1; k >= 0; k--) suf[k] = suf[k + 1] + e[k];
  return { m, pre, suf, prior, ll, lw };
}

/** log Σ_{k in [from, to)} exp(lw_k + ll_k), exact (used when the fast tables underflow). */
function exactRangeLogSumExp(t: MixtureTables, from: number, to: number, skip = -1): number {
  let m = -Infinity;
  for (let k = from; k < to; k++) if (k !== skip && t.lw[k] + t.ll[k] > m) m = t.lw[k] + t.ll[k];
  if (m === -Infinity) return -Infinity;
  let acc = 0;
  for (let k = from; k < to; k++) if (k !== skip) acc += Math.exp(t.lw[k] + t.ll[k] - m);
  return m + Math.log(acc);
}

function tableLog(t: MixtureTables, sum: number, from: number, to: number, skip = -1): number {
  return sum > 1e-300 ? t.m + Math.log(sum) : exactRangeLogSumExp(t, from, to, skip);
}

/**
 * log of the mixture likelihood ratio against the point null u0, the mixture taken over the
 * grid points on one side of u0 (`side` = +1: u > u0, −1: u < u0, 0: both sides), with the
 * N(0, σ²) prior renormalised to that side. For side ±1 this is a valid test of the composite
 * one-sided null (u ≤ u0, resp. u ≥ u0) because the binomial family has a monotone likelihood
 * ratio in u.
 */
export function rateLogMixtureLR(
  st: RateTestState,
  u0: number,
  side: 1 | -1 | 0,
  sigma: number,
  tables?: MixtureTables,
): number {
  const t = tables ?? mixtureTables(st, sigma);
  const pr = t.prior;
  let num: number;
  let norm: number;
  if (side === 1) {
    const from = firstIndexAbove(u0, true);
    if (from >= GRID_SIZE) return 0;
    num = tableLog(t, t.suf[from], from, GRID_SIZE);
    norm = pr.suffix[from];
  } else if (side === -1) {
    const to = firstIndexAbove(u0, false);
    if (to <= 0) return 0;
    num = tableLog(t, t.pre[to], 0, to);
    norm = pr.prefix[to];
  } else {
    const at = firstIndexAbove(u0, false);
    const skip = at < GRID_SIZE && LOG_RATIO_GRID[at] === u0 ? at : -1;
    num = skip >= 0 ? tableLog(t, t.pre[skip] + t.suf[skip + 1], 0, GRID_SIZE, skip) : tableLog(t, t.suf[0], 0, GRID_SIZE);
    norm = skip >= 0 ? logAddExp(pr.prefix[skip], pr.suffix[skip + 1]) : pr.suffix[0];
  }
  return num - norm - rateLogLik(st, u0);
}

/**
 * Confidence sequence for u at level α: {u : mixture LR against u < 1/α}, where the mixture
 * uses the fixed N(0, σ²) prior over the whole grid. Returns [lo, hi] on the log scale; ±Infinity
 * when the bound lies beyond the grid (|u| > 3).
 */
export function rateConfidenceSequence(
  st: RateTestState,
  alpha: number,
  sigma: number,
  tables?: MixtureTables,
): [number, number] {
  const t = tables ?? mixtureTables(st, sigma);
  const logMix = t.m + Math.log(t.suf[0]) - t.prior.suffix[0];
  const cut = logMix - Math.log(1 / alpha);
  const g = LOG_RATIO_GRID;
  const ll = st.ll;
  let first = -1;
  let last = -1;
  for (let k = 0; k < GRID_SIZE; k++) {
    if (ll[k] >= cut) {
      if (first < 0) first = k;
      last = k;
    }
  }
  if (first < 0) {
    // numerically empty (cannot happen for a concave ll with a proper mixture); fall back to the argmax
    let best = 0;
    for (let k = 1; k < GRID_SIZE; k++) if (ll[k] > ll[best]) best = k;
    return [g[best], g[best]];
  }
  const interp = (a: number, b: number): number => {
    // linear interpolation of the crossing between grid points a (inside) and b (outside)
    const ya = ll[a] - cut;
    const yb = ll[b] - cut;
    return g[a] + ((g[b] - g[a]) * ya) / (ya - yb);
  };
  const lo = first === 0 ? -Infinity : interp(first, first - 1);
  const hi = last === GRID_SIZE - 1 ? Infinity : interp(last, last + 1);
  return [lo, hi];
}

// ---------------------------------------------------------------------------------------------
// Normal mixture for a difference of means
// ---------------------------------------------------------------------------------------------

/**
 * log of the one-sided half-normal mixture martingale for a Gaussian score process:
 * estimate `d` of θ with variance `v` (information I = 1/v), null θ ≤ θ0 (side +1) or θ ≥ θ0
 * (side −1), mixing θ − θ0 over a half-normal with scale τ:
 *   M = 2 (1+τ²I)^{-1/2} exp(τ²S²/(2(1+τ²I))) Φ(τS/√(1+τ²I)),  S = I (d − θ0)·side.
 */
export function normalLogMixtureOneSided(d: number, v: number, theta0: number, side: 1 | -1, tau: number): number {
  if (!(v > 0) || !(tau > 0)) return 0;
  const info = 1 / v;
  const s = info * (d - theta0) * side;
  const a = 1 + tau * tau * info;
  return Math.log(2) - 0.5 * Math.log(a) + (tau * tau * s * s) / (2 * a) + logNormalCdf((tau * s) / Math.sqrt(a));
}

/**
 * Half-width of the two-sided normal-mixture confidence sequence (N(0, τ²) mixing):
 *   r = sqrt( 2 v (v + τ²)/τ² · log( sqrt((v + τ²)/v) / α ) ).
 */
export function normalMixtureRadius(v: number, tau: number, alpha: number): number {
  if (!(v > 0)) return 0;
  const a = (v + tau * tau) / v;
  return Math.sqrt(((2 * v * (v + tau * tau)) / (tau * tau)) * Math.log(Math.sqrt(a) / alpha));
}
