/**
 * Seeded synthetic releases for whole-rollout tests and the ladder benchmark (not exported from
 * the package). The telemetry of a tick is a pure function of (release, tick, share): every
 * method walked up the ladder sees the same traffic at the same share and tick, and a closed-loop
 * harness can generate each step's telemetry at the share the gate chose, from the tick it chose.
 */
import { mulberry32 } from '../math';
import type { CohortCounts, GateContext, TelemetryTick } from '../types';
import { binomial, gauss } from './sim';

export interface ReleaseSpec {
  name: string;
  seed: number;
  /** requests per tick (60 s ticks: per minute) */
  traffic: number;
  /** diurnal amplitude (0..1) over a 24 h period, and its phase (radians) */
  diurnal?: number;
  phase?: number;
  errRate: number;
  /** fraction of requests slower than 300 ms */
  slowRate: number;
  /** conversion per trial (a tenth of the requests are trials) */
  conv: number;
  orderMean: number;
  orderSd: number;
  /** the canary regresses from this tick on (1: from the start); absent: healthy */
  onset?: number;
  effect?: { err?: number; slow?: number; conv?: number; order?: number };
  /** both cohorts degrade between these ticks (inclusive): a service-wide incident */
  incident?: { from: number; to: number; err: number; slow?: number };
  /** the canary receives share × srm of the requests (a routing bug) */
  srm?: number;
  /** the canary's telemetry is missing between these ticks (inclusive) */
  gap?: { from: number; to: number };
}

export const RELEASE_LE = [50, 100, 200, 300, 500, 1000, 2500, Infinity];

export function releaseCtx(share: number, availability = 0.995): GateContext {
  return {
    service: 'release',
    tickSeconds: 60,
    expectedCanaryShare: share,
    slo: { availability, latency: { thresholdMs: 300, objective: 0.99 } },
    kpis: [
      { name: 'conversion', type: 'proportion', direction: 'increase' },
      { name: 'order_value', type: 'mean', direction: 'increase' },
    ],
  };
}

function mix(a: number, b: number): number {
  let h =
    Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^
    Math.imul(b + 0x632be5ab, 0xc2b2ae35);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> 0;
}

/** requests in this tick (diurnal traffic) */
export function trafficAt(spec: ReleaseSpec, tick: number): number {
  const amp = spec.diurnal ?? 0;
  const f = 1 + amp * Math.sin((2 * Math.PI * tick) / 1440 + (spec.phase ?? 0));
  return Math.max(1, Math.round(spec.traffic * f));
}

/** is the canary regressed at this tick */
export function regressedAt(spec: ReleaseSpec, tick: number): boolean {
  return spec.onset !== undefined && tick >= spec.onset;
}

function cohort(
  rng: () => number,
  spec: ReleaseSpec,
  n: number,
  tick: number,
  canary: boolean,
): CohortCounts {
  const reg = canary && regressedAt(spec, tick);
  const inc =
    spec.incident && tick >= spec.incident.from && tick <= spec.incident.to
      ? spec.incident
      : undefined;
  const em = (reg ? (spec.effect?.err ?? 1) : 1) * (inc ? inc.err : 1);
  const sm = (reg ? (spec.effect?.slow ?? 1) : 1) * (inc ? (inc.slow ?? 1) : 1);
  const cm = reg ? (spec.effect?.conv ?? 1) : 1;
  const om = reg ? (spec.effect?.order ?? 1) : 1;
  const errors = binomial(rng, n, Math.min(1, spec.errRate * em));
  const slow = binomial(rng, n, Math.min(1, spec.slowRate * sm));
  const fast = n - slow;
  const cum = [0.2, 0.5, 0.8, 1].map(f => Math.round(fast * f));
  const tail = [0.6, 0.85, 0.97].map(f => fast + Math.round(slow * f));
  const trials = binomial(rng, n, 0.1);
  const succ = binomial(rng, trials, Math.min(1, spec.conv * cm));
  const mean = spec.orderMean * om;
  let sum = 0;
  let sumSq = 0;
  if (succ > 0) {
    sum = succ * mean + Math.sqrt(succ) * spec.orderSd * gauss(rng);
    const dof = Math.max(0, succ - 1);
    const ss =
      dof > 0
        ? spec.orderSd ** 2 * Math.max(0, dof + Math.sqrt(2 * dof) * gauss(rng))
        : 0;
    sumSq = (sum * sum) / succ + ss;
  }
  return {
    requests: n,
    errors,
    latency: { le: RELEASE_LE, counts: [...cum, ...tail, n] },
    kpis: {
      conversion: { trials, successes: succ },
      order_value: { n: succ, sum, sumSq },
    },
  };
}

/**
 * The telemetry of one tick with the canary at `share` (1: the release is full; everything is the
 * new version, reported as the canary line).
 */
export function telemetryAt(
  spec: ReleaseSpec,
  tick: number,
  share: number,
): TelemetryTick {
  const rng = mulberry32(mix(spec.seed, tick));
  const total = trafficAt(spec, tick);
  if (share >= 1) {
    return { tick, canary: cohort(rng, spec, total, tick, true) };
  }
  const nc = binomial(rng, total, Math.min(1, share * (spec.srm ?? 1)));
  const out: TelemetryTick = {
    tick,
    baseline: cohort(rng, spec, total - nc, tick, false),
    canary: cohort(rng, spec, nc, tick, true),
  };
  if (spec.gap && tick >= spec.gap.from && tick <= spec.gap.to)
    delete out.canary;
  return out;
}
