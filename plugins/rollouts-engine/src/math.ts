/**
 * Numerical building blocks of the gate engine. Pure functions, no I/O.
 * Checked against scipy reference values in `test/fixtures/stats/`.
 */

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

/** Complementary error function, W. J. Cody's rational Chebyshev approximations (|rel err| < 1e-15). */
export function erfc(x: number): number {
  const ax = Math.abs(x);
  let r: number;
  if (ax < 0.5) {
    // erf via series-like rational approx
    const t = x * x;
    const p =
      (((0.185777706184603153 * t + 3.1611237438705656) * t +
        113.864154151050156) *
        t +
        377.485237685302021) *
        t +
      3209.37758913846947;
    const q =
      (((t + 23.6012909523441209) * t + 244.024637934444173) * t +
        1282.61652607737228) *
        t +
      2844.23683343917062;
    return 1 - (x * p) / q;
  } else if (ax < 4) {
    const p =
      (((((((2.15311535474403846e-8 * ax + 5.64188496988670089e-1) * ax +
        8.88314979438837594) *
        ax +
        66.1191906371416295) *
        ax +
        298.635138197400131) *
        ax +
        881.95222124176909) *
        ax +
        1712.04761263407058) *
        ax +
        2051.07837782607147) *
        ax +
      1230.33935479799725;
    const q =
      (((((((ax + 15.7449261107098347) * ax + 117.693950891312499) * ax +
        537.181101862009858) *
        ax +
        1621.38957456669019) *
        ax +
        3290.79923573345963) *
        ax +
        4362.61909014324716) *
        ax +
        3439.36767414372164) *
        ax +
      1230.33935480374942;
    r = (Math.exp(-ax * ax) * p) / q;
  } else {
    const z = 1 / (ax * ax);
    const p =
      ((((1.63153871373020978e-2 * z + 3.05326634961232344e-1) * z +
        3.60344899949804439e-1) *
        z +
        1.25781726111229246e-1) *
        z +
        1.60837851487422766e-2) *
        z +
      6.58749161529837803e-4;
    const q =
      ((((z + 2.56852019228982242) * z + 1.87295284992346725) * z +
        5.27905102951428412e-1) *
        z +
        6.05183413124413191e-2) *
        z +
      2.33520497626869185e-3;
    r = (Math.exp(-ax * ax) / ax) * (0.564189583547756287 - (z * p) / q);
  }
  return x < 0 ? 2 - r : r;
}

/** Standard normal CDF Φ(x). */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

/** log Φ(x), accurate in the far lower tail (uses the Mills-ratio asymptotic below -37). */
export function logNormalCdf(x: number): number {
  if (x > -37) {
    const v = normalCdf(x);
    return v > 0 ? Math.log(v) : -Infinity;
  }
  // log Φ(x) ≈ -x²/2 - log(-x) - ½log(2π) + log(1 - 1/x² + 3/x⁴)
  const x2 = x * x;
  return (
    -x2 / 2 - Math.log(-x) - LOG_SQRT_2PI + Math.log(1 - 1 / x2 + 3 / (x2 * x2))
  );
}

/**
 * Standard normal quantile Φ⁻¹(p), Acklam's algorithm refined by one Halley step
 * (relative error ~1e-15).
 */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) {
    if (p === 0) return -Infinity;
    if (p === 1) return Infinity;
    return NaN;
  }
  const a = [
    -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2,
    1.38357751867269e2, -3.066479806614716e1, 2.506628277459239,
  ];
  const b = [
    -5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2,
    6.680131188771972e1, -1.328068155288572e1,
  ];
  const c = [
    -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838,
    -2.549732539343734, 4.374664141464968, 2.938163982698783,
  ];
  const d = [
    7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996,
    3.754408661907416,
  ];
  const plow = 0.02425;
  let x: number;
  if (p < plow) {
    const q = Math.sqrt(-2 * Math.log(p));
    x =
      (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - plow) {
    const q = p - 0.5;
    const r = q * q;
    x =
      ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) *
        q) /
      (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x =
      -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  // Halley refinement
  const e = normalCdf(x) - p;
  const u = e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
  return x - u / (1 + (x * u) / 2);
}

/** log Γ(x) for x > 0 (Lanczos, g = 7, n = 9; ~1e-15 relative). */
export function logGamma(x: number): number {
  if (x < 0.5) {
    // reflection
    return (
      Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x)
    );
  }
  const g = 7;
  const coef = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028,
    771.32342877765313, -176.61502916214059, 12.507343278686905,
    -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  const xx = x - 1;
  let a = coef[0];
  const t = xx + g + 0.5;
  for (let i = 1; i < 9; i++) a += coef[i] / (xx + i);
  return LOG_SQRT_2PI + (xx + 0.5) * Math.log(t) - t + Math.log(a);
}

/** log B(a, b). */
export function logBeta(a: number, b: number): number {
  return logGamma(a) + logGamma(b) - logGamma(a + b);
}

/** Regularized lower incomplete gamma P(a, x) (series / continued fraction, Numerical Recipes). */
export function regularizedGammaP(a: number, x: number): number {
  if (x <= 0) return 0;
  if (x < a + 1) {
    let sum = 1 / a;
    let del = sum;
    let ap = a;
    for (let n = 0; n < 10000; n++) {
      ap += 1;
      del *= x / ap;
      sum += del;
      if (Math.abs(del) < Math.abs(sum) * 1e-16) break;
    }
    return Math.min(1, sum * Math.exp(-x + a * Math.log(x) - logGamma(a)));
  }
  return 1 - regularizedGammaQ(a, x);
}

/** Regularized upper incomplete gamma Q(a, x) = 1 − P(a, x). */
export function regularizedGammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  if (x < a + 1) return 1 - regularizedGammaP(a, x);
  // Lentz continued fraction
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return Math.exp(-x + a * Math.log(x) - logGamma(a)) * h;
}

/** Continued fraction for the incomplete beta function (Numerical Recipes, modified Lentz). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 10000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return h;
}

/** Regularized incomplete beta I_x(a, b). */
export function regularizedBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lbt = a * Math.log(x) + b * Math.log1p(-x) - logBeta(a, b);
  if (x < (a + 1) / (a + b + 2))
    return (Math.exp(lbt) * betaContinuedFraction(a, b, x)) / a;
  return 1 - (Math.exp(lbt) * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** P(X ≥ k) for X ~ Binomial(n, p). */
export function binomialUpperTail(k: number, n: number, p: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  return regularizedBeta(p, k, n - k + 1);
}

/** P(X ≥ k) for X ~ Poisson(mean). */
export function poissonUpperTail(k: number, mean: number): number {
  if (k <= 0) return 1;
  if (mean <= 0) return 0;
  // P(X >= k) = P(k, mean) (regularized lower incomplete gamma)
  return regularizedGammaP(k, mean);
}

/** Chi-square survival function P(X > x), X ~ χ²(df). */
export function chiSquareSf(x: number, df: number): number {
  return regularizedGammaQ(df / 2, x / 2);
}

/** log(Σ exp(v_i)) over the first `n` entries. */
export function logSumExp(
  values: ArrayLike<number>,
  n = values.length,
): number {
  let m = -Infinity;
  for (let i = 0; i < n; i++) if (values[i] > m) m = values[i];
  if (m === -Infinity) return -Infinity;
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp(values[i] - m);
  return m + Math.log(s);
}

/** log(e^a + e^b). */
export function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const m = Math.max(a, b);
  return m + Math.log(Math.exp(a - m) + Math.exp(b - m));
}

/** Mulberry32: a tiny seeded PRNG for simulations and tests (deterministic). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Values per cohort before a difference of means is tested (the normal approximations are asymptotic). */
export const MIN_MEAN_SAMPLES = 30;

/** Sample variance (n − 1 denominator) from running sums, never negative (rounding). */
export function sampleVariance(n: number, sum: number, sumSq: number): number {
  const mean = sum / n;
  return Math.max(0, (sumSq - n * mean * mean) / (n - 1));
}
