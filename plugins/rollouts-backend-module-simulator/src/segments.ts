/**
 * The simulator's segments: each cohort's counts broken down by device,
 * region and user type (new vs returning), with shares like a consumer web
 * shop's. The whole is drawn first (so a service's totals do not depend on
 * its segments); each dimension then splits it at random, request by
 * request, in proportion to the shares. A `mobile-regression` release
 * changes the errors of its canary's device segments (and so the whole's).
 */
import type { CohortCounts } from '@tollgate/plugin-rollouts-common';
import { normal, type Rng } from './random';

/**
 * Binomial(n, p), exact by inversion on the rarer outcome when its mean is
 * below 30, a rounded normal otherwise (`random.ts`'s binomial takes a
 * Poisson for small means, a little too wide for a segment's share of a
 * few hundred requests, which the segment-mix test would notice)
 */
function binomial(rng: Rng, n: number, p: number): number {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  const flip = p > 0.5;
  const q = flip ? 1 - p : p;
  const mean = n * q;
  let k = 0;
  if (mean < 30) {
    const r = q / (1 - q);
    let f = Math.pow(1 - q, n);
    let cdf = f;
    const u = rng();
    while (u > cdf && k < n) {
      f *= (r * (n - k)) / (k + 1);
      k++;
      cdf += f;
    }
  } else {
    const sd = Math.sqrt(mean * (1 - q));
    k = Math.min(n, Math.max(0, Math.round(mean + sd * normal(rng))));
  }
  return flip ? n - k : k;
}

/** dimension → [value, share of requests] */
export const SEGMENT_MIX: Record<string, Array<[string, number]>> = {
  device: [
    ['desktop', 0.52],
    ['mobile', 0.41],
    ['tablet', 0.07],
  ],
  region: [
    ['eu', 0.38],
    ['na', 0.34],
    ['apac', 0.21],
    ['latam', 0.07],
  ],
  user_type: [
    ['returning', 0.68],
    ['new', 0.32],
  ],
};

/** A release's errors changed in some segments of one dimension (the canary's). */
export interface SegmentHarm {
  dimension: string;
  /** value → its error rate becomes this many times the service's (below 1: fewer errors) */
  errorMultipliers: Record<string, number>;
  errorRate: number;
}

/** split `n` over `shares` (a multinomial draw, as sequential binomials) */
function split(rng: Rng, n: number, shares: number[]): number[] {
  const out: number[] = [];
  let left = n;
  let rest = shares.reduce((a, s) => a + s, 0);
  shares.forEach((s, i) => {
    const k =
      i === shares.length - 1 || rest <= 0
        ? left
        : binomial(rng, left, Math.min(1, s / rest));
    out.push(k);
    left -= k;
    rest -= s;
  });
  return out;
}

/** `k` of `n` items drawn over parts sized `sizes` (one item per draw, without replacement) */
function splitBySize(rng: Rng, k: number, sizes: number[]): number[] {
  const out: number[] = [];
  let left = k;
  let total = sizes.reduce((a, s) => a + s, 0);
  sizes.forEach((size, i) => {
    const x =
      i === sizes.length - 1 || total <= 0
        ? left
        : Math.min(size, left, binomial(rng, left, size / total));
    out.push(x);
    left -= x;
    total -= size;
  });
  return out;
}

type Parts = Array<{
  requests: number;
  errors: number;
  buckets: number[];
  trials: number;
  successes: number;
}>;

/** one dimension's values: requests split by latency bucket, errors and conversions in proportion */
function splitDimension(
  rng: Rng,
  whole: CohortCounts,
  shares: number[],
): Parts {
  const le = whole.latency!.le;
  const cum = whole.latency!.counts;
  const parts: Parts = shares.map(() => ({
    requests: 0,
    errors: 0,
    buckets: [],
    trials: 0,
    successes: 0,
  }));
  cum.forEach((c, j) => {
    const inBucket = c - (j > 0 ? cum[j - 1] : 0);
    split(rng, inBucket, shares).forEach((x, i) => {
      parts[i].requests += x;
      parts[i].buckets.push(parts[i].requests);
    });
  });
  const sizes = parts.map(p => p.requests);
  splitBySize(rng, whole.errors ?? 0, sizes).forEach((x, i) => {
    parts[i].errors = x;
  });
  const conv = whole.kpis?.conversion;
  if (conv && 'trials' in conv) {
    const trials = splitBySize(rng, conv.trials, sizes);
    trials.forEach((x, i) => {
      parts[i].trials = x;
    });
    splitBySize(rng, conv.successes, trials).forEach((x, i) => {
      parts[i].successes = x;
    });
  }
  if (le.length !== parts[0].buckets.length) throw new Error('bucket split');
  return parts;
}

/**
 * The cohort's counts with `segments` added (device, region, user_type).
 * With `harm`, the harmed dimension's errors are changed first and the
 * whole with them, so every dimension's values sum to the whole.
 */
export function withSegments(
  rng: Rng,
  counts: CohortCounts,
  harm?: SegmentHarm,
): CohortCounts {
  if (!counts.latency || counts.requests === undefined) return counts;
  const whole: CohortCounts = { ...counts };
  const segments: NonNullable<CohortCounts['segments']> = {};
  const dims = Object.keys(SEGMENT_MIX);
  // the harmed dimension first: its extra errors change the whole the others split
  if (harm)
    dims.sort((a, b) => +(b === harm.dimension) - +(a === harm.dimension));
  for (const dim of dims) {
    const mix = SEGMENT_MIX[dim];
    const parts = splitDimension(
      rng,
      whole,
      mix.map(([, s]) => s),
    );
    if (harm && dim === harm.dimension) {
      mix.forEach(([value], i) => {
        const m = harm.errorMultipliers[value];
        if (m === undefined || m === 1) return;
        const p = parts[i];
        // more errors: extra ones among the requests that succeeded; fewer: each error kept with p = m
        const change =
          m > 1
            ? binomial(
                rng,
                p.requests - p.errors,
                Math.min(1, harm.errorRate * (m - 1)),
              )
            : binomial(rng, p.errors, m) - p.errors;
        p.errors += change;
        whole.errors = (whole.errors ?? 0) + change;
      });
    }
    segments[dim] = Object.fromEntries(
      mix.map(([value], i) => {
        const p = parts[i];
        const seg: CohortCounts = {
          requests: p.requests,
          errors: p.errors,
          latency: { le: whole.latency!.le, counts: p.buckets },
        };
        if (whole.kpis?.conversion)
          seg.kpis = {
            conversion: { trials: p.trials, successes: p.successes },
          };
        return [value, seg];
      }),
    );
  }
  whole.segments = segments;
  return whole;
}

/**
 * What the simulator reports for one cohort and interval: the counts with
 * the dimensions the request asked for (`TelemetryRequest.segments`; the
 * ones it does not know are left out: missing, not zero), and a harm's
 * changed errors whether or not its dimension was asked for.
 */
export function reportSegments(
  rng: Rng,
  counts: CohortCounts | undefined,
  dimensions: string[] | undefined,
  harm?: SegmentHarm,
): CohortCounts | undefined {
  if (!counts || (!dimensions?.length && !harm)) return counts;
  const out = withSegments(rng, counts, harm);
  const asked = (dimensions ?? []).filter(d => out.segments?.[d]);
  if (!asked.length) {
    delete out.segments;
    return out;
  }
  out.segments = Object.fromEntries(asked.map(d => [d, out.segments![d]]));
  return out;
}
