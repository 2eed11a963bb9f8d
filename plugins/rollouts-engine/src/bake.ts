/**
 * The post-promotion watch: after the final step the release serves everyone, so there is no
 * baseline cohort left to compare with. For the bake window (policy `rollout.bake`) the
 * released version's error rate and slow-request rate are compared with the service's own
 * history: the old version's rate as the baseline cohort measured it during the rollout.
 *
 * For each SLI the reference is an exact upper confidence bound on the old rate (Poisson, level
 * 1 − α/(2k) for k signals), plus the harm a full release may cost (`budgetFraction` of the SLO
 * error budget, as for non-inferiority at full exposure); the watch is a one-sample anytime-valid
 * e-detector (at α/(2k)) that the released rate is above that limit: per tick the Poisson
 * likelihood ratio exp(x·v − n·limit·(e^v − 1)) mixed over v = log(λ/limit) > 0, one component
 * from the first tick of the window (weight 1/2) and one per restart (`changeDetection.
 * restartSeconds`, weights 1/(2m(m+1))), so harm that starts late in the window is not diluted by
 * the good ticks before it. A union bound makes the watch's false-rollback probability at most
 * `rollout.bake.alpha`.
 *
 * Proportion KPIs (conversion, say) are watched the same way on their successes per trial: the
 * reference is the exact Poisson bound of the old rate on the harm side (the lower bound for a
 * KPI where higher is good) moved by the KPI's margin, and the e-detector's components are on the
 * harm side of the grid (v < 0 when a lower rate is harm; the likelihood ratio is a
 * supermartingale under any rate on the safe side of the limit, as for v > 0 above).
 */
import { logAddExp, regularizedGammaP, regularizedGammaQ } from './math';
import { restartWeight } from './changeDetection';
import {
  firstIndexAbove,
  GRID_EXP,
  GRID_SIZE,
  LOG_RATIO_GRID,
  priorTables,
} from './rateTest';
import { durationText, num, pct } from './reasons';
import type { RolloutGateState } from './rollout';
import {
  bakeSegmentsAlpha,
  bakeSegmentsCheck,
  BakeSegmentsState,
  createBakeSegments,
  observeBakeSegments,
} from './bakeSegments';
import type { RateTestState } from './sequential';
import { kpiPolicy } from './state';
import { slowCount } from './histogram';
import type {
  BakeDecision,
  CohortCounts,
  GateContext,
  TelemetryTick,
} from './types';

/** grid points v = log(λ/limit) > 0 (harm: a higher rate) */
const FROM = firstIndexAbove(0, true);
/** grid points v < 0 end here (harm: a lower rate) */
const TO_BELOW = firstIndexAbove(0, false);

/** The grid indices of a signal's e-detector components: the harm side of 0. */
export function gridRange(s: { side?: 1 | -1 }): [number, number] {
  return (s.side ?? 1) === 1 ? [FROM, GRID_SIZE] : [0, TO_BELOW];
}

export interface BakeSignalState {
  name: string;
  kind: 'error-rate' | 'latency' | 'kpi-proportion';
  /** the KPI's name in the telemetry (proportion KPIs) */
  key?: string;
  /** +1: a rate above the limit is harm (SLIs; the default); −1: a rate below it (KPIs where higher is good) */
  side?: 1 | -1;
  /** the old version's events and exposure (the reference) */
  refEvents: number;
  refExposure: number;
  /** the rate above which the released version counts as harmful */
  limit: number;
  /** the released version's events and exposure in the window */
  events: number;
  exposure: number;
  /** the e-detector: log S per grid point on the harm side of 0 (null: no component yet) */
  logS: Array<number | null>;
}

export interface BakeWatchState {
  version: 1;
  ctx: GateContext;
  alpha: number;
  durationTicks: number;
  /** the first tick of the window (the tick after the final promotion) */
  fromTick: number;
  lastTick: number;
  /** ticks with no data from the released version */
  missingTicks: number;
  /** the component from the window's first tick has started */
  started: boolean;
  /** restarts of the e-detectors so far, ticks between them, the next one */
  restarts: number;
  every: number;
  nextRestart: number;
  signals: BakeSignalState[];
  /** per segment cell tested at the promotion: its own watch (only with segment harm rolling back) */
  segments?: BakeSegmentsState;
}

/** Exact upper confidence bound of a Poisson rate: the μ/n with P(X ≤ x | μ) = a. */
export function poissonRateUpperBound(x: number, n: number, a: number): number {
  if (!(n > 0)) return Infinity;
  let lo = x;
  let hi = Math.max(10, 2 * x + 10);
  while (regularizedGammaQ(x + 1, hi) > a) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (regularizedGammaQ(x + 1, mid) > a) lo = mid;
    else hi = mid;
  }
  return hi / n;
}

/** Exact lower confidence bound of a Poisson rate: the μ/n with P(X ≥ x | μ) = a (0 for x = 0). */
export function poissonRateLowerBound(x: number, n: number, a: number): number {
  if (!(n > 0) || !(x > 0)) return 0;
  let lo = 0;
  let hi = x;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = (lo + hi) / 2;
    // P(X ≥ x | μ) = P(Gamma(x) ≤ μ): rises with μ
    if (regularizedGammaP(x, mid) < a) lo = mid;
    else hi = mid;
  }
  return lo / n;
}

/**
 * The watched signals of one population (the whole, or one segment cell): each rate signal's
 * reference is `rateOf(i)` (the old version's counts, as the baseline measured them), its limit
 * the exact Poisson bound at α/(2k) for the k signals moved by the SLO margin (SLIs) or the
 * KPI's margin (proportion KPIs).
 */
export function bakeSignals(
  rs: RolloutGateState,
  alpha: number,
  rateOf: (i: number) => RateTestState | null | undefined,
): { signals: BakeSignalState[]; k: number } {
  const p = rs.policy;
  const ctx = rs.ctx;
  const all = rs.gate.signals.map((s, i) => ({ s, r: rateOf(i) }));
  const slis = all.filter(
    ({ s, r }) => (s.kind === 'error-rate' || s.kind === 'latency') && r,
  );
  const kpis = all.filter(
    ({ s, r }) =>
      s.kind === 'kpi-proportion' && r && s.key && r.baselineExposure > 0,
  );
  const k = Math.max(1, slis.length + kpis.length);
  const kpiSignals = kpis.map(({ s, r: rr }): BakeSignalState => {
    const r = rr!;
    const margin = kpiPolicy(p, s.key!).margin;
    const a = alpha / (2 * k);
    const side = s.harmSign === -1 ? -1 : 1;
    const limit =
      side === -1
        ? poissonRateLowerBound(r.baselineEvents, r.baselineExposure, a) *
          (1 - margin)
        : poissonRateUpperBound(r.baselineEvents, r.baselineExposure, a) *
          (1 + margin);
    const [from, to] = gridRange({ side });
    return {
      name: s.name,
      kind: 'kpi-proportion',
      key: s.key,
      side,
      refEvents: r.baselineEvents,
      refExposure: r.baselineExposure,
      limit,
      events: 0,
      exposure: 0,
      logS: LOG_RATIO_GRID.slice(from, to).map(() => null),
    };
  });
  const sliSignals = slis.map(({ s, r: rr }) => {
    const sp = s.kind === 'error-rate' ? p.errorRate : p.latency;
    const budget =
      s.kind === 'error-rate'
        ? 1 - ctx.slo.availability
        : 1 - (ctx.slo.latency?.objective ?? 0.99);
    const r = rr!;
    const up = poissonRateUpperBound(
      r.baselineEvents,
      r.baselineExposure,
      alpha / (2 * k),
    );
    return {
      name: s.name,
      kind: s.kind as 'error-rate' | 'latency',
      refEvents: r.baselineEvents,
      refExposure: r.baselineExposure,
      limit: up + sp.budgetFraction * budget,
      events: 0,
      exposure: 0,
      logS: LOG_RATIO_GRID.slice(FROM).map(() => null),
    };
  });
  return {
    // a KPI whose old rate is too small to bound from below cannot be watched for a drop
    signals: [
      ...sliSignals,
      ...kpiSignals.filter(s => s.side === 1 || s.limit > 0),
    ],
    k,
  };
}

/** Start the watch at `fromTick` from the rollout's carried evidence (call after the final promotion). */
export function createBakeWatch(
  rs: RolloutGateState,
  fromTick: number,
): BakeWatchState {
  const p = rs.policy;
  const ctx = rs.ctx;
  // the segment cells' share of the bake α (0 without segment harm rolling back)
  const segAlpha = bakeSegmentsAlpha(p);
  const alpha = p.rollout.bake.alpha - segAlpha;
  const whole = bakeSignals(rs, alpha, i => rs.gate.signals[i].rate);
  const every = Math.max(
    1,
    Math.round(p.rollout.changeDetection.restartSeconds / ctx.tickSeconds),
  );
  const w: BakeWatchState = {
    version: 1,
    ctx,
    alpha,
    durationTicks: Math.round(p.rollout.bake.durationSeconds / ctx.tickSeconds),
    fromTick,
    lastTick: fromTick - 1,
    missingTicks: 0,
    started: false,
    restarts: 0,
    every,
    nextRestart: fromTick + every,
    signals: whole.signals,
  };
  if (segAlpha > 0) w.segments = createBakeSegments(rs, segAlpha);
  return w;
}

const SIGMA = 0.5;

export function sliCounts(
  ctx: GateContext,
  c: CohortCounts | undefined,
  kind: BakeSignalState['kind'],
  key?: string,
): [number, number] | null {
  if (!c) return null;
  if (kind === 'kpi-proportion') {
    const v = key ? c.kpis?.[key] : undefined;
    if (!v || !('trials' in v)) return null;
    const { successes, trials } = v;
    if (
      !Number.isFinite(successes) ||
      !Number.isFinite(trials) ||
      successes < 0 ||
      trials < successes
    )
      return null;
    return [successes, trials];
  }
  if (kind === 'error-rate') {
    const n = c.requests;
    const x = c.errors;
    if (
      typeof n !== 'number' ||
      typeof x !== 'number' ||
      !(n >= 0) ||
      !(x >= 0) ||
      x > n
    ) {
      return null;
    }
    return [x, n];
  }
  if (!c.latency || !ctx.slo.latency) return null;
  const sc = slowCount(c.latency, ctx.slo.latency.thresholdMs);
  return sc ? [sc.slow, sc.total] : null;
}

/** Fold one tick of the released version (every cohort line present counts: at full all of it is new). */
export function observeBakeTick(w: BakeWatchState, tick: TelemetryTick): void {
  if (!(tick.tick > w.lastTick)) return;
  w.missingTicks += tick.tick - w.lastTick - 1;
  w.lastTick = tick.tick;
  // components due: the first at the window's first tick (weight 1/2), then one per restart
  let added = -Infinity;
  if (!w.started) {
    w.started = true;
    added = Math.log(0.5);
  }
  while (w.nextRestart <= tick.tick) {
    w.restarts += 1;
    added = logAddExp(added, Math.log(0.5 * restartWeight(w.restarts)));
    w.nextRestart += w.every;
  }
  let any = false;
  for (const s of w.signals) {
    let x = 0;
    let n = 0;
    for (const c of [tick.canary, tick.baseline]) {
      const v = sliCounts(w.ctx, c, s.kind, s.key);
      if (!v) continue;
      x += v[0];
      n += v[1];
      any = true;
    }
    foldBakeSignal(s, x, n, added);
  }
  if (!any) w.missingTicks += 1;
  if (w.segments) observeBakeSegments(w, w.segments, tick, added);
}

/** one tick's events `x` of exposure `n` into a signal's e-detector (`added`: the log weight of components starting now) */
export function foldBakeSignal(
  s: BakeSignalState,
  x: number,
  n: number,
  added: number,
): void {
  s.events += x;
  s.exposure += n;
  const [from, to] = gridRange(s);
  for (let k = from; k < to; k++) {
    const prev = s.logS[k - from];
    let v = prev === null ? -Infinity : prev;
    if (added > -Infinity) v = logAddExp(v, added);
    if (v === -Infinity) continue;
    s.logS[k - from] =
      v + x * LOG_RATIO_GRID[k] - n * s.limit * (GRID_EXP[k] - 1);
  }
}

/** the e-detector's log statistic (harm-side prior renormalised) */
export function bakeLogStatistic(s: BakeSignalState): number {
  const prior = priorTables(SIGMA);
  const [from, to] = gridRange(s);
  let m = -Infinity;
  for (let k = from; k < to; k++) {
    const v = s.logS[k - from];
    if (v !== null && v + prior.lw[k] > m) m = v + prior.lw[k];
  }
  if (m === -Infinity) return -Infinity;
  let acc = 0;
  for (let k = from; k < to; k++) {
    const v = s.logS[k - from];
    if (v !== null) acc += Math.exp(v + prior.lw[k] - m);
  }
  // the prior renormalised to the harm side
  const mass = from === FROM ? prior.suffix[FROM] : prior.prefix[to];
  return m + Math.log(acc) - mass;
}

export function limitText(s: BakeSignalState): string {
  if (s.kind !== 'kpi-proportion')
    return "the old rate's upper bound plus the SLO-budget margin";
  return (s.side ?? 1) === -1
    ? "the old rate's lower bound less the KPI's margin"
    : "the old rate's upper bound plus the KPI's margin";
}

/** The watch's verdict at `now` (default: the last tick folded in). */
export function decideBake(
  w: BakeWatchState,
  now?: { tick: number },
): BakeDecision {
  const tick = Math.max(now?.tick ?? w.lastTick, w.lastTick);
  const k = Math.max(1, w.signals.length);
  const threshold = Math.log((2 * k) / w.alpha);
  const reasons: string[] = [];
  const signals = w.signals.map(s => {
    const statistic = bakeLogStatistic(s);
    const rate = s.exposure > 0 ? s.events / s.exposure : null;
    const reference = s.refExposure > 0 ? s.refEvents / s.refExposure : null;
    if (statistic >= threshold) {
      reasons.push(
        `${s.name} after full promotion: ${pct(rate, 3)} vs ${pct(reference, 3)} before (limit ${pct(s.limit, 3)}: ${limitText(s)}; e-value ${num(Math.exp(statistic))} ≥ ${num(Math.exp(threshold))})`,
      );
    }
    return {
      name: s.name,
      rate,
      reference,
      limit: s.limit,
      statistic,
      threshold,
    };
  });
  if (w.segments) {
    const seg = bakeSegmentsCheck(w.segments);
    reasons.push(...seg.reasons);
    signals.push(...seg.signals);
  }
  const elapsed = tick - w.fromTick + 1;
  if (reasons.length) return { verdict: 'rollback', reasons, tick, signals };
  if (elapsed >= w.durationTicks) {
    const missing = w.missingTicks + Math.max(0, tick - w.lastTick);
    if (missing * 2 > elapsed) {
      return {
        verdict: 'complete',
        verified: false,
        reasons: [
          `bake window ended unverified: no telemetry from the released version in ${missing} of its ${elapsed} intervals`,
        ],
        tick,
        signals,
      };
    }
    return {
      verdict: 'complete',
      verified: true,
      reasons: [
        `bake window passed (${durationText(elapsed, w.ctx.tickSeconds)}): no harm against the service's own history`,
      ],
      tick,
      signals,
    };
  }
  return {
    verdict: 'continue',
    reasons: [
      `watching the released version: ${durationText(Math.max(0, elapsed), w.ctx.tickSeconds)} of the ${durationText(w.durationTicks, w.ctx.tickSeconds)} bake window`,
    ],
    tick,
    signals,
  };
}
