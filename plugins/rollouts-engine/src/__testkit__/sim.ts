/** Seeded synthetic telemetry for the engine's tests (not exported from the package). */
import { mulberry32 } from '../math';
import type { CohortCounts, GateContext, TelemetryTick } from '../types';

export function gauss(rng: () => number): number {
  return (
    Math.sqrt(-2 * Math.log(rng() + 1e-300)) * Math.cos(2 * Math.PI * rng())
  );
}

/** Binomial(n, p): exact inversion for small means, normal approximation otherwise. */
export function binomial(rng: () => number, n: number, p: number): number {
  const mean = n * p;
  if (mean < 30) {
    // Poisson-approximated binomial via inversion (p is small here)
    const l = Math.exp(-mean);
    let k = 0;
    let q = rng();
    while (q > l && k < n) {
      k++;
      q *= rng();
    }
    return k;
  }
  const v = Math.max(
    0,
    Math.min(n, Math.round(mean + Math.sqrt(mean * (1 - p)) * gauss(rng))),
  );
  return v;
}

export interface SimSpec {
  ticks: number;
  traffic: number;
  share: number;
  /** observed share if different (SRM) */
  observedShare?: number;
  errRate: number;
  errMult?: number;
  /** both cohorts' error rate multiplied from this tick (incident) */
  incidentFrom?: number;
  incidentMult?: number;
  regressionFrom?: number;
  slow: number;
  slowMult?: number;
  conv: number;
  convMult?: number;
  canaryGap?: [number, number];
  dropField?: {
    tick: number;
    cohort: 'baseline' | 'canary';
    field: 'latency' | 'errors' | 'kpis';
  };
}

export const simCtx = (share: number, withKpis = true): GateContext => ({
  service: 'sim',
  tickSeconds: 60,
  expectedCanaryShare: share,
  slo: { availability: 0.995, latency: { thresholdMs: 500, objective: 0.99 } },
  kpis: withKpis
    ? [
        { name: 'conversion', type: 'proportion', direction: 'increase' },
        { name: 'order_value', type: 'mean', direction: 'increase' },
      ]
    : [],
});

export function simulate(spec: SimSpec, seed: number): TelemetryTick[] {
  const rng = mulberry32(seed);
  const out: TelemetryTick[] = [];
  for (let t = 1; t <= spec.ticks; t++) {
    const total = Math.round(spec.traffic * (1 + 0.2 * Math.sin(t / 10)));
    const nc = binomial(rng, total, spec.observedShare ?? spec.share);
    const nb = total - nc;
    const reg = t >= (spec.regressionFrom ?? 1);
    const inc =
      spec.incidentFrom !== undefined && t >= spec.incidentFrom
        ? (spec.incidentMult ?? 10)
        : 1;
    const cohort = (n: number, canary: boolean): CohortCounts => {
      const em = canary && reg ? (spec.errMult ?? 1) : 1;
      const sm = canary && reg ? (spec.slowMult ?? 1) : 1;
      const cm = canary && reg ? (spec.convMult ?? 1) : 1;
      const errors = binomial(rng, n, Math.min(1, spec.errRate * em * inc));
      const slow = binomial(rng, n, Math.min(1, spec.slow * sm));
      const trials = binomial(rng, n, 0.1);
      const succ = binomial(rng, trials, spec.conv * cm);
      let sum = 0;
      let sumSq = 0;
      for (let i = 0; i < succ; i++) {
        const v = Math.max(0, 60 + 20 * gauss(rng));
        sum += v;
        sumSq += v * v;
      }
      const c: CohortCounts = {
        requests: n,
        errors,
        latency: {
          le: [100, 500, Infinity],
          counts: [Math.round((n - slow) * 0.6), n - slow, n],
        },
        kpis: {
          conversion: { trials, successes: succ },
          order_value: { n: succ, sum, sumSq },
        },
      };
      return c;
    };
    const tick: TelemetryTick = {
      tick: t,
      baseline: cohort(nb, false),
      canary: cohort(nc, true),
    };
    if (spec.canaryGap && t >= spec.canaryGap[0] && t <= spec.canaryGap[1])
      delete tick.canary;
    if (spec.dropField && spec.dropField.tick === t) {
      const c = tick[spec.dropField.cohort];
      if (c) delete c[spec.dropField.field];
    }
    out.push(tick);
  }
  return out;
}
