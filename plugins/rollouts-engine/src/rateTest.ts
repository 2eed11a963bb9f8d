/**
 * The conditional-binomial rate test: the log-ratio grid, the running log-likelihoods, the
 * prior tables and the one-sided mixture likelihood ratio. See sequential.ts for the overview.
 */
import { logAddExp } from './math';

// ---------------------------------------------------------------------------------------------
// The log-ratio grid: fine near 0 (small business effects), coarse far out (large breakages).
// ---------------------------------------------------------------------------------------------
function buildGrid(): number[] {
  const pos: number[] = [];
  for (let i = 1; i <= 8; i++) pos.push(Number((i * 0.025).toFixed(4)));
  for (let i = 1; i <= 8; i++) pos.push(Number((0.2 + i * 0.1).toFixed(4)));
  for (let i = 1; i <= 5; i++) pos.push(Number((1 + i * 0.2).toFixed(4)));
  pos.push(2.5, 3);
  const neg = pos.map(v => -v).reverse();
  return [...neg, 0, ...pos];
}

/** Grid of log rate ratios u (sorted ascending, includes 0, spans [-3, 3]). */
export const LOG_RATIO_GRID: readonly number[] = Object.freeze(buildGrid());
export const GRID_EXP = LOG_RATIO_GRID.map(Math.exp);
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
  /** the canary's exposure share of the first contributing tick, and whether every tick had it */
  share: number;
  constantShare: boolean;
}

/** a packed array of n zeros (`new Array(n).fill(0)` is holey, slower to read and write) */
function zeros(n: number): number[] {
  const a: number[] = [];
  for (let i = 0; i < n; i++) a.push(0);
  return a;
}

export function createRateTest(): RateTestState {
  return {
    ll: zeros(GRID_SIZE),
    canaryEvents: 0,
    canaryExposure: 0,
    baselineEvents: 0,
    baselineExposure: 0,
    ticks: 0,
    share: -1,
    constantShare: true,
  };
}

/**
 * log(s·e^u + 1 − s) at every grid point for one exposure share `s`: the per-event term of
 * `updateRateTest`, which depends on the share alone.
 */
export interface ShareTerms {
  s: number;
  terms: Float64Array;
}

/** Fill (or create) the grid terms for share `s`, computed exactly as `updateRateTest` computes them. */
export function shareTerms(s: number, into?: ShareTerms): ShareTerms {
  const t = into ?? { s, terms: new Float64Array(GRID_SIZE) };
  const oneMinusS = 1 - s;
  const terms = t.terms;
  for (let k = 0; k < GRID_SIZE; k++)
    terms[k] = Math.log(s * GRID_EXP[k] + oneMinusS);
  t.s = s;
  return t;
}

/** the terms of the last share seen (a tick's error-rate and latency tests usually share it) */
const LAST_SHARE: ShareTerms = shareTerms(NaN);
const GRID_F64 = Float64Array.from(LOG_RATIO_GRID);

/**
 * Add one interval. Given E = x_c + x_b events, x_c ~ Binomial(E, π) with
 * π(u) = s·e^u / (s·e^u + 1 − s), s = n_c/(n_c+n_b) the canary's share of exposure.
 * Mutates `st`. `terms`: optional precomputed `shareTerms` (used when its share is this tick's
 * share; the result is the same, bit for bit, with or without them).
 */
export function updateRateTest(
  st: RateTestState,
  xc: number,
  nc: number,
  xb: number,
  nb: number,
  terms?: ShareTerms,
): void {
  if (!(nc > 0) || !(nb > 0)) return;
  st.canaryEvents += xc;
  st.canaryExposure += nc;
  st.baselineEvents += xb;
  st.baselineExposure += nb;
  st.ticks += 1;
  const e = xc + xb;
  if (e <= 0) return;
  const s = nc / (nc + nb);
  if (st.share < 0) st.share = s;
  else if (st.constantShare && Math.abs(s - st.share) > 1e-12 * st.share)
    st.constantShare = false;
  let lt: Float64Array;
  if (terms !== undefined && terms.s === s) lt = terms.terms;
  else {
    if (LAST_SHARE.s !== s) shareTerms(s, LAST_SHARE);
    lt = LAST_SHARE.terms;
  }
  const ll = st.ll;
  const g = GRID_F64;
  for (let k = 0; k < GRID_SIZE; k++) {
    ll[k] += xc * g[k] - e * lt[k];
  }
}

/**
 * The conditional log-likelihood with every tick's share replaced by one share `s`:
 * X_c·u − E·log(s·e^u + 1 − s). Exact when the share never changed (always for the SRM test).
 */
export function pooledLogLik(
  st: RateTestState,
  u: number,
  s = pooledShare(st),
): number {
  const e = st.canaryEvents + st.baselineEvents;
  return st.canaryEvents * u - e * Math.log(s * Math.exp(u) + 1 - s);
}

export function pooledShare(st: RateTestState): number {
  if (st.constantShare && st.share > 0) return st.share;
  return st.canaryExposure / (st.canaryExposure + st.baselineExposure);
}

/**
 * Conditional log-likelihood at an arbitrary u: exact when the share was constant, otherwise
 * cubic interpolation on the grid, never below the chord between the two neighbouring grid
 * points (the log-likelihood is concave in u, so the chord is a lower bound; this keeps the
 * interpolation from overshooting downwards, which would inflate a test statistic).
 */
export function rateLogLik(st: RateTestState, u: number): number {
  if (st.constantShare && st.share > 0) return pooledLogLik(st, u, st.share);
  const g = LOG_RATIO_GRID;
  const n = GRID_SIZE;
  if (u <= g[0]) return st.ll[0];
  if (u >= g[n - 1]) return st.ll[n - 1];
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (g[mid] <= u) lo = mid;
    else hi = mid;
  }
  if (u === g[lo]) return st.ll[lo];
  const i0 = Math.min(Math.max(lo - 1, 0), n - 4);
  let acc = 0;
  for (let j = 0; j < 4; j++) {
    let w = 1;
    for (let m = 0; m < 4; m++)
      if (m !== j) w *= (u - g[i0 + m]) / (g[i0 + j] - g[i0 + m]);
    acc += w * st.ll[i0 + j];
  }
  const chord =
    st.ll[lo] +
    ((st.ll[lo + 1] - st.ll[lo]) * (u - g[lo])) / (g[lo + 1] - g[lo]);
  return Math.max(acc, chord);
}

export interface PriorTables {
  /** log prior weight per grid point */
  lw: Float64Array;
  /** prefix[k] = log Σ_{j<k} w_j, suffix[k] = log Σ_{j≥k} w_j */
  prefix: Float64Array;
  suffix: Float64Array;
}
const priorCache = new Map<number, PriorTables>();
export function priorTables(sigma: number): PriorTables {
  let t = priorCache.get(sigma);
  if (!t) {
    const lw = new Float64Array(GRID_SIZE);
    for (let i = 0; i < GRID_SIZE; i++)
      lw[i] = -0.5 * (LOG_RATIO_GRID[i] / sigma) ** 2 + Math.log(GRID_WIDTH[i]);
    const prefix = new Float64Array(GRID_SIZE + 1);
    const suffix = new Float64Array(GRID_SIZE + 1);
    prefix[0] = -Infinity;
    for (let i = 0; i < GRID_SIZE; i++)
      prefix[i + 1] = logAddExp(prefix[i], lw[i]);
    suffix[GRID_SIZE] = -Infinity;
    for (let i = GRID_SIZE - 1; i >= 0; i--)
      suffix[i] = logAddExp(suffix[i + 1], lw[i]);
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
export function firstIndexAbove(u0: number, strict: boolean): number {
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

export const SCRATCH_E = new Float64Array(GRID_SIZE);

/**
 * Build the tables. With `into`, the given object's arrays are reused (no allocation); the
 * caller must be done with the previous contents.
 */
export function mixtureTables(
  st: RateTestState,
  sigma: number,
  into?: MixtureTables,
): MixtureTables {
  const prior = priorTables(sigma);
  const lw = prior.lw;
  const ll = st.ll;
  let m = -Infinity;
  const e = SCRATCH_E;
  for (let k = 0; k < GRID_SIZE; k++) {
    const v = lw[k] + ll[k];
    e[k] = v;
    if (v > m) m = v;
  }
  // terms below e^-40 of the largest (4e-18) cannot change a sum at double precision: skip their exp
  for (let k = 0; k < GRID_SIZE; k++) {
    const v = e[k] - m;
    e[k] = v > -40 ? Math.exp(v) : 0;
  }
  const pre = into ? into.pre : new Float64Array(GRID_SIZE + 1);
  const suf = into ? into.suf : new Float64Array(GRID_SIZE + 1);
  pre[0] = 0;
  suf[GRID_SIZE] = 0;
  for (let k = 0; k < GRID_SIZE; k++) pre[k + 1] = pre[k] + e[k];
  for (let k = GRID_SIZE - 1; k >= 0; k--) suf[k] = suf[k + 1] + e[k];
  if (into) {
    into.m = m;
    into.prior = prior;
    into.ll = ll;
    into.lw = lw;
    return into;
  }
  return { m, pre, suf, prior, ll, lw };
}

/** A reusable tables object for callers that evaluate one test at a time. */
export function createMixtureTables(): MixtureTables {
  const prior = priorTables(0.5);
  return {
    m: 0,
    pre: new Float64Array(GRID_SIZE + 1),
    suf: new Float64Array(GRID_SIZE + 1),
    prior,
    ll: [],
    lw: prior.lw,
  };
}

/** log Σ_{k in [from, to)} exp(lw_k + ll_k), exact (used when the fast tables underflow). */
function exactRangeLogSumExp(
  t: MixtureTables,
  from: number,
  to: number,
  skip = -1,
): number {
  let m = -Infinity;
  for (let k = from; k < to; k++)
    if (k !== skip && t.lw[k] + t.ll[k] > m) m = t.lw[k] + t.ll[k];
  if (m === -Infinity) return -Infinity;
  let acc = 0;
  for (let k = from; k < to; k++)
    if (k !== skip) acc += Math.exp(t.lw[k] + t.ll[k] - m);
  return m + Math.log(acc);
}

function tableLog(
  t: MixtureTables,
  sum: number,
  from: number,
  to: number,
  skip = -1,
): number {
  return sum > 1e-300
    ? t.m + Math.log(sum)
    : exactRangeLogSumExp(t, from, to, skip);
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
    num =
      skip >= 0
        ? tableLog(t, t.pre[skip] + t.suf[skip + 1], 0, GRID_SIZE, skip)
        : tableLog(t, t.suf[0], 0, GRID_SIZE);
    norm =
      skip >= 0
        ? logAddExp(pr.prefix[skip], pr.suffix[skip + 1])
        : pr.suffix[0];
  }
  return num - norm - rateLogLik(st, u0);
}
