/** The always-valid confidence sequence for the log rate ratio (grid, or the pooled closed form). */
import {
  GRID_SIZE,
  LOG_RATIO_GRID,
  mixtureTables,
  MixtureTables,
  pooledShare,
  RateTestState,
} from './rateTest';

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
  if (first < 0 || last - first < 2 || (st.constantShare && st.share > 0)) {
    // the likelihood is sharper than the grid (or the share is constant, where the pooled form is
    // exact): solve ll(u) = cut on the pooled log-likelihood, which is concave in u
    return pooledInterval(st, cut);
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

function pooledF(
  xc: number,
  e: number,
  s: number,
  cut: number,
  u: number,
): number {
  return xc * u - e * Math.log(s * Math.exp(u) + 1 - s) - cut;
}

/**
 * Root of the concave f(u) = X_c·u − E·log(s·e^u + 1 − s) − cut between `inside` (f ≥ 0) and
 * `outside` (f < 0): safeguarded Newton (falls back to bisection when a step leaves the bracket).
 */
function pooledRoot(
  xc: number,
  e: number,
  s: number,
  cut: number,
  inside: number,
  outside: number,
): number {
  let a = inside;
  let b = outside;
  let u = (a + b) / 2;
  for (let i = 0; i < 60; i++) {
    const eu = Math.exp(u);
    const f = xc * u - e * Math.log(s * eu + 1 - s) - cut;
    if (f >= 0) a = u;
    else b = u;
    if (Math.abs(b - a) < 1e-10) break;
    const df = xc - (e * s * eu) / (s * eu + 1 - s);
    let next = df !== 0 ? u - f / df : (a + b) / 2;
    if (!(next > Math.min(a, b) && next < Math.max(a, b))) next = (a + b) / 2;
    if (Math.abs(next - u) < 1e-12) return next;
    u = next;
  }
  return (a + b) / 2;
}

function pooledInterval(st: RateTestState, cut: number): [number, number] {
  const s = pooledShare(st);
  const xc = st.canaryEvents;
  const e = st.canaryEvents + st.baselineEvents;
  const lo0 = LOG_RATIO_GRID[0];
  const hi0 = LOG_RATIO_GRID[GRID_SIZE - 1];
  let mle: number;
  if (xc <= 0) mle = lo0;
  else if (xc >= e) mle = hi0;
  else
    mle = Math.min(
      hi0,
      Math.max(lo0, Math.log((xc / (e - xc)) * ((1 - s) / s))),
    );
  if (pooledF(xc, e, s, cut, mle) < 0) return [mle, mle];
  const lo =
    pooledF(xc, e, s, cut, lo0) >= 0
      ? -Infinity
      : pooledRoot(xc, e, s, cut, mle, lo0);
  const hi =
    pooledF(xc, e, s, cut, hi0) >= 0
      ? Infinity
      : pooledRoot(xc, e, s, cut, mle, hi0);
  return [lo, hi];
}
