import ref from '../../../test/fixtures/stats/reference.json';
import {
  createRateTest,
  normalLogMixtureOneSided,
  normalMixtureRadius,
  rateConfidenceSequence,
  rateLogLik,
  rateLogMixtureLR,
  updateRateTest,
} from './sequential';
import { mulberry32 } from './math';

function fold(ticks: number[][]) {
  const st = createRateTest();
  for (const [xc, nc, xb, nb] of ticks) updateRateTest(st, xc, nc, xb, nb);
  return st;
}

describe('conditional-binomial mixture test against scipy', () => {
  it.each(ref.rateMixture)('$name', c => {
    const st = fold(c.ticks);
    // log-likelihood differences (constants cancel) match scipy's binom.logpmf sums; off-grid
    // points are interpolated (cubic), accurate to ~1e-4 relative
    for (const [u, v] of c.llDiff) {
      expect(Math.abs(rateLogLik(st, u) - rateLogLik(st, 0) - v)).toBeLessThan(
        1e-4 * Math.abs(v) + 1e-3,
      );
    }
    const det = rateLogMixtureLR(
      st,
      c.deterioration.u0,
      c.deterioration.side as 1 | -1,
      c.sigma,
    );
    expect(det).toBeCloseTo(c.deterioration.logLR, 6);
    // the grid discretisation is close to the continuous half-normal prior (the discrete prior is
    // itself a valid mixture, so this only measures how far the test is from the continuous one)
    expect(Math.abs(det - c.deterioration.logLRContinuous)).toBeLessThan(0.1);
    const ni = rateLogMixtureLR(
      st,
      c.nonInferiority.u0,
      c.nonInferiority.side as 1 | -1,
      c.sigma,
    );
    expect(ni).toBeCloseTo(c.nonInferiority.logLR, 3);
    const [lo, hi] = rateConfidenceSequence(st, c.cs.alpha, c.sigma);
    expect(lo).toBeCloseTo(c.cs.bounds[0], 6);
    expect(hi).toBeCloseTo(c.cs.bounds[1], 6);
  });
});

describe('normal mixture against numerical integration', () => {
  it('one-sided half-normal mixture', () => {
    for (const c of ref.normalMixtureOneSided) {
      expect(
        normalLogMixtureOneSided(c.d, c.v, c.theta0, c.side as 1 | -1, c.tau),
      ).toBeCloseTo(c.logM, 6);
    }
  });
  it('two-sided confidence-sequence radius', () => {
    for (const c of ref.normalMixtureRadius) {
      expect(normalMixtureRadius(c.v, c.tau, c.alpha)).toBeCloseTo(c.radius, 6);
    }
  });
});

describe('behaviour of the rate test', () => {
  function poisson(rng: () => number, mean: number): number {
    if (mean > 50)
      return Math.max(0, Math.round(mean + Math.sqrt(mean) * gauss(rng)));
    const l = Math.exp(-mean);
    let k = 0;
    let p = rng();
    while (p > l) {
      k++;
      p *= rng();
    }
    return k;
  }
  function gauss(rng: () => number) {
    return (
      Math.sqrt(-2 * Math.log(rng() + 1e-300)) * Math.cos(2 * Math.PI * rng())
    );
  }
  it('detects a doubled error rate and its confidence sequence covers log 2', () => {
    const rng = mulberry32(7);
    const st = createRateTest();
    for (let t = 0; t < 60; t++)
      updateRateTest(
        st,
        poisson(rng, 1000 * 0.004),
        1000,
        poisson(rng, 19000 * 0.002),
        19000,
      );
    expect(rateLogMixtureLR(st, 0, 1, 0.5)).toBeGreaterThan(Math.log(80));
    const [lo, hi] = rateConfidenceSequence(st, 0.0125, 0.5);
    expect(lo).toBeLessThan(Math.log(2));
    expect(hi).toBeGreaterThan(Math.log(2));
    expect(lo).toBeGreaterThan(0);
  });
  it('is insensitive to a change in the canary share (exposure is conditioned on)', () => {
    const rng = mulberry32(11);
    const st = createRateTest();
    for (let t = 0; t < 100; t++) {
      const share = t < 50 ? 0.01 : 0.25;
      const nc = 20000 * share;
      const nb = 20000 - nc;
      updateRateTest(
        st,
        poisson(rng, nc * 0.002),
        nc,
        poisson(rng, nb * 0.002),
        nb,
      );
    }
    expect(rateLogMixtureLR(st, 0, 1, 0.5)).toBeLessThan(Math.log(80));
    const [lo, hi] = rateConfidenceSequence(st, 0.0125, 0.5);
    expect(lo).toBeLessThan(0);
    expect(hi).toBeGreaterThan(0);
  });
  it('ignores intervals without exposure', () => {
    const st = createRateTest();
    updateRateTest(st, 0, 0, 5, 100);
    expect(st.ticks).toBe(0);
  });
});
