/**
 * Change detection for rate signals: an e-detector (Shin, Ramdas & Rinaldo 2023, "E-detectors: a
 * nonparametric framework for sequential change detection") built from the same conditional
 * binomial likelihood ratios as the deterioration test.
 *
 * Component m starts at the m-th restart (every `restartSeconds`) with weight ω_m = 1/(m(m+1))
 * (Σ ω_m = 1) and is, from then on, the mixture over the harm side of the log-ratio grid of the
 * product of the per-tick likelihood ratios against the null u0:
 *
 *     C_m,t = Σ_k w̃_k Π_{i = j_m..t} L_i(u_k),   L_i(u) = p(x_i | E_i, u) / p(x_i | E_i, u0).
 *
 * Before its start a component is 1. Each C_m is a non-negative supermartingale with initial value
 * 1 under any u ≤ u0 (monotone likelihood ratio, as for the test from the start), so
 * M_t = Σ_m ω_m C_m,t is one too, with M_0 = 1: by Ville's inequality the detector ever alarming
 * (M_t ≥ 1/α, the started components alone) has probability at most α, over the whole rollout,
 * however long it is watched. A regression starting at tick j is picked up by the first
 * component started after j, whose threshold is log(1/(α ω_m)): the price of not knowing when the
 * change starts is log(m(m+1)), paid in detection delay, never in false alarms.
 *
 * The sum over components is kept per grid point, S_t(u) = Σ_m ω_m Π L_i(u), with the recursion
 *
 *     S_t(u) = S_{t−1}(u) · L_t(u) + [a restart is due at t] · ω_m · L_t(u),
 *
 * so the cost per tick is one pass over the grid, independent of the number of components.
 */
import type { RateTestState } from './rateTest';
import { logAddExp } from './math';
import {
  firstIndexAbove,
  GRID_EXP,
  GRID_SIZE,
  LOG_RATIO_GRID,
  priorTables,
} from './rateTest';

/** The detector's running state (plain JSON data). */
export interface ChangeDetectorState {
  /** log S_t(u_k) per grid point (−Infinity: no component has started yet); null in JSON */
  logS: Array<number | null>;
  /** components started so far */
  restarts: number;
  /** tick of the next restart */
  nextRestart: number;
  /** ticks between restarts */
  every: number;
  /** null value of the log rate ratio and the harm side (+1: u > u0 is harm) */
  u0: number;
  side: 1 | -1;
  /** the mixture prior's scale */
  sigma: number;
}

export function createChangeDetector(opts: {
  firstTick: number;
  every: number;
  u0: number;
  side: 1 | -1;
  sigma: number;
}): ChangeDetectorState {
  const logS: Array<number | null> = [];
  for (let k = 0; k < GRID_SIZE; k++) logS.push(null);
  const every = Math.max(1, Math.round(opts.every));
  return {
    logS,
    restarts: 0,
    nextRestart: opts.firstTick + every,
    every,
    u0: opts.u0,
    side: opts.side,
    sigma: opts.sigma,
  };
}

/** ω_m = 1/(m(m+1)), m = 1, 2, …: sums to 1 */
export function restartWeight(m: number): number {
  return 1 / (m * (m + 1));
}

/** grid indices on the harm side of u0: [from, to) */
function harmRange(d: ChangeDetectorState): [number, number] {
  return d.side === 1
    ? [firstIndexAbove(d.u0, true), GRID_SIZE]
    : [0, firstIndexAbove(d.u0, false)];
}

/** log of the conditional binomial likelihood (up to a constant) of x_c of e events at share s */
function logLik(xc: number, e: number, s: number, u: number): number {
  return xc * u - e * Math.log(s * Math.exp(u) + 1 - s);
}

/** A rate's running counts before a tick: [canary events, canary exposure, baseline events, baseline exposure, ticks]. */
export type RunningCounts = number[];

/** The running counts of a rate test, to take a tick's own counts after it is folded. */
export function runningCounts(r: RateTestState): RunningCounts {
  return [
    r.canaryEvents,
    r.canaryExposure,
    r.baselineEvents,
    r.baselineExposure,
    r.ticks,
  ];
}

/** What the last folded tick added to a rate test since `before` (null when it brought no data). */
export function tickCounts(
  r: RateTestState,
  before: RunningCounts,
): { xc: number; nc: number; xb: number; nb: number } | null {
  return r.ticks > before[4]
    ? {
        xc: r.canaryEvents - before[0],
        nc: r.canaryExposure - before[1],
        xb: r.baselineEvents - before[2],
        nb: r.baselineExposure - before[3],
      }
    : null;
}

/**
 * Fold one tick in: `xc` canary events of exposure `nc`, `xb` baseline events of exposure `nb`
 * (`null` when the signal has no data this tick: restarts that fell due still start). Mutates.
 */
export function updateChangeDetector(
  d: ChangeDetectorState,
  tick: number,
  data: { xc: number; nc: number; xb: number; nb: number } | null,
): void {
  // restarts due at or before this tick start now (a late start is still an e-process)
  let added = -Infinity;
  while (d.nextRestart <= tick) {
    d.restarts += 1;
    added = logAddExp(added, Math.log(restartWeight(d.restarts)));
    d.nextRestart += d.every;
  }
  const [from, to] = harmRange(d);
  const usable = data !== null && data.nc > 0 && data.nb > 0;
  const e = usable ? data!.xc + data!.xb : 0;
  const s = usable ? data!.nc / (data!.nc + data!.nb) : 0;
  const ll0 = e > 0 ? logLik(data!.xc, e, s, d.u0) : 0;
  for (let k = from; k < to; k++) {
    const prev = d.logS[k];
    let v = prev === null ? -Infinity : prev;
    if (added > -Infinity) v = logAddExp(v, added);
    if (v === -Infinity) continue;
    if (e > 0) {
      const u = LOG_RATIO_GRID[k];
      v += data!.xc * u - e * Math.log(s * GRID_EXP[k] + 1 - s) - ll0;
    }
    d.logS[k] = v;
  }
}

/** log M_t: the started components' mixture (harm-side prior, renormalised) */
export function changeDetectorLogStatistic(d: ChangeDetectorState): number {
  const [from, to] = harmRange(d);
  if (from >= to) return -Infinity;
  const prior = priorTables(d.sigma);
  let m = -Infinity;
  for (let k = from; k < to; k++) {
    const v = d.logS[k];
    if (v !== null && v + prior.lw[k] > m) m = v + prior.lw[k];
  }
  if (m === -Infinity) return -Infinity;
  let acc = 0;
  for (let k = from; k < to; k++) {
    const v = d.logS[k];
    if (v !== null) acc += Math.exp(v + prior.lw[k] - m);
  }
  const norm = d.side === 1 ? prior.suffix[from] : prior.prefix[to];
  return m + Math.log(acc) - norm;
}
