/** Seeded synthetic telemetry with segments (device × region) for the engine's segment tests. */
import { mulberry32 } from '../math';
import type { CohortCounts, TelemetryTick } from '../types';
import { gauss } from './sim';

/**
 * Binomial(n, p): exact inversion on the rarer outcome when its mean is below 30, a rounded normal
 * otherwise (the testkit's `binomial` approximates small means by a Poisson, which is too wide
 * when p is not small, as in a split of a few requests over segments)
 */
export function binomial(rng: () => number, n: number, p: number): number {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  const flip = p > 0.5;
  const q = flip ? 1 - p : p;
  const mean = n * q;
  let k: number;
  if (mean < 30) {
    const r = q / (1 - q);
    let f = Math.pow(1 - q, n);
    let cdf = f;
    const u = rng();
    k = 0;
    while (u > cdf && k < n) {
      f *= (r * (n - k)) / (k + 1);
      k++;
      cdf += f;
    }
  } else {
    k = Math.max(
      0,
      Math.min(n, Math.round(mean + Math.sqrt(mean * (1 - q)) * gauss(rng))),
    );
  }
  return flip ? n - k : k;
}

export const DEVICES: Array<[string, number]> = [
  ['desktop', 0.55],
  ['mobile', 0.38],
  ['tablet', 0.07],
];
export const REGIONS: Array<[string, number]> = [
  ['eu', 0.4],
  ['na', 0.35],
  ['apac', 0.2],
  ['latam', 0.05],
];

export interface SegmentSimSpec {
  ticks: number;
  traffic: number;
  share: number;
  errRate: number;
  slow: number;
  conv: number;
  /** canary error rate multiplier in one device segment */
  harm?: {
    device: string;
    errMult: number;
    fromTick?: number;
    /** other devices' error multipliers (say, desktop's cut so that the whole does not move) */
    others?: Record<string, number>;
  };
  /** the canary's share of one device multiplied (before renormalising): an unrepresentative canary */
  overSample?: { device: string; factor: number };
}

/** split n over shares with sequential binomials (a multinomial draw) */
function split(rng: () => number, n: number, shares: number[]): number[] {
  const out: number[] = [];
  let left = n;
  let rest = 1;
  shares.forEach((s, i) => {
    const k =
      i === shares.length - 1
        ? left
        : binomial(rng, left, Math.min(1, s / rest));
    out.push(k);
    left -= k;
    rest -= s;
  });
  return out;
}

interface Cell {
  requests: number;
  errors: number;
  slow: number;
  trials: number;
  successes: number;
}

const toCounts = (c: Cell): CohortCounts => ({
  requests: c.requests,
  errors: c.errors,
  latency: {
    le: [100, 500, Infinity],
    counts: [
      Math.round((c.requests - c.slow) * 0.6),
      c.requests - c.slow,
      c.requests,
    ],
  },
  kpis: { conversion: { trials: c.trials, successes: c.successes } },
});

function add(a: Cell, b: Cell): Cell {
  return {
    requests: a.requests + b.requests,
    errors: a.errors + b.errors,
    slow: a.slow + b.slow,
    trials: a.trials + b.trials,
    successes: a.successes + b.successes,
  };
}

const ZERO: Cell = { requests: 0, errors: 0, slow: 0, trials: 0, successes: 0 };

function harmMult(
  h: NonNullable<SegmentSimSpec['harm']>,
  device: string,
): number {
  return h.device === device ? h.errMult : (h.others?.[device] ?? 1);
}

/**
 * Each cohort's requests are split over device × region (independent), each cell drawn on its
 * own; the whole and each dimension's values are sums of the cells, so they always agree.
 */
export function simulateSegments(
  spec: SegmentSimSpec,
  seed: number,
): TelemetryTick[] {
  const rng = mulberry32(seed);
  const out: TelemetryTick[] = [];
  for (let t = 1; t <= spec.ticks; t++) {
    const total = Math.round(spec.traffic * (1 + 0.2 * Math.sin(t / 10)));
    const nc = binomial(rng, total, spec.share);
    const cohort = (n: number, canary: boolean): CohortCounts => {
      let dShares = DEVICES.map(([, s]) => s);
      if (canary && spec.overSample) {
        dShares = DEVICES.map(([d, s]) =>
          d === spec.overSample!.device ? s * spec.overSample!.factor : s,
        );
        const sum = dShares.reduce((a, x) => a + x, 0);
        dShares = dShares.map(x => x / sum);
      }
      const byDevice: Record<string, Cell> = {};
      const byRegion: Record<string, Cell> = {};
      let whole = ZERO;
      split(rng, n, dShares).forEach((nd, di) => {
        const device = DEVICES[di][0];
        const em =
          canary && spec.harm && t >= (spec.harm.fromTick ?? 1)
            ? harmMult(spec.harm, device)
            : 1;
        split(
          rng,
          nd,
          REGIONS.map(([, s]) => s),
        ).forEach((k, ri) => {
          const region = REGIONS[ri][0];
          const trials = binomial(rng, k, 0.1);
          const cell: Cell = {
            requests: k,
            errors: binomial(rng, k, Math.min(1, spec.errRate * em)),
            slow: binomial(rng, k, spec.slow),
            trials,
            successes: binomial(rng, trials, spec.conv),
          };
          byDevice[device] = add(byDevice[device] ?? ZERO, cell);
          byRegion[region] = add(byRegion[region] ?? ZERO, cell);
          whole = add(whole, cell);
        });
      });
      const map = (m: Record<string, Cell>) =>
        Object.fromEntries(Object.entries(m).map(([k, v]) => [k, toCounts(v)]));
      return {
        ...toCounts(whole),
        segments: { device: map(byDevice), region: map(byRegion) },
      };
    };
    out.push({
      tick: t,
      baseline: cohort(total - nc, false),
      canary: cohort(nc, true),
    });
  }
  return out;
}
