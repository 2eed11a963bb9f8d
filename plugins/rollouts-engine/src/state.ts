/**
 * The gate's state for one step: what is folded from the telemetry (running sums, the
 * e-processes' log-likelihood grids, the burn-window history), plain JSON data.
 */
import { GatePolicy, GatePolicyInput, parseGatePolicyCached } from './policy';
import {
  cloneSegmentsState,
  createSegmentsState,
  SegmentsState,
} from './segments';
import { createRateTest, RateTestState } from './sequential';
import type { GateContext, GateDirection, GateSignalKind } from './types';

/** Running sums for a difference of means. */
export interface MeanTestState {
  cn: number;
  csum: number;
  csumSq: number;
  bn: number;
  bsum: number;
  bsumSq: number;
  ticks: number;
}

export interface GateSignalState {
  name: string;
  kind: GateSignalKind;
  direction: GateDirection;
  /** +1: a higher canary value is harm; −1: a lower canary value is harm */
  harmSign: 1 | -1;
  /** field keys whose absence in the latest tick makes this signal's data missing */
  fields: string[];
  /** key to read the value (kpi / count name) */
  key?: string;
  rate?: RateTestState;
  mean?: MeanTestState;
  /** latency only: baseline and canary histograms of the latest tick (for display quantiles) */
  /** latency only: PromQL-style quantiles of the latest tick per cohort (display; null = missing) */
  lastQuantiles?: {
    baseline: Record<string, number | null>;
    canary: Record<string, number | null>;
  };
}

/** One tick's burn inputs: [tick, bReq, bErr, bLatN, bSlow, cReq, cErr, cLatN, cSlow] (null = missing). */
export type BurnRow = [
  number,
  number | null,
  number | null,
  number | null,
  number | null,
  number | null,
  number | null,
  number | null,
  number | null,
];

export interface GateState {
  version: 1;
  ctx: GateContext;
  policy: GatePolicy;
  signals: GateSignalState[];
  srm: RateTestState;
  firstTick: number | null;
  lastTick: number;
  /** last tick each field key was present, e.g. "canary.latency" → 17 */
  lastSeen: Record<string, number>;
  canaryGapTicks: number;
  canaryRequests: number;
  baselineRequests: number;
  history: BurnRow[];
  /**
   * running window sums at `lastTick`, maintained incrementally: for each window length (ticks)
   * 18 sums, view (0 canary, 1 baseline, 2 service) × [req, err, nA, latN, slow, nL]
   */
  windowSums: { lengths: number[]; sums: number[][] };
  /** latency boundary used for "slow" (first bucket edge ≥ the SLO threshold) */
  latencyBoundary: number | null;
  /** per-segment tests (only when the policy names segment dimensions) */
  segments?: SegmentsState;
}

/** scratch tables reused by each (synchronous) evaluation */

export function harmSignOf(
  kind: GateSignalKind,
  direction: GateDirection,
): 1 | -1 {
  if (kind === 'error-rate' || kind === 'latency') return 1;
  return direction === 'increase' ? -1 : 1;
}

/**
 * Create the state for one rollout (one step). `policy` may be partial: defaults fill the rest.
 * The policy is validated once per distinct content (a policy equal to one already validated,
 * in any object, is not parsed again); the state gets its own copy, as before.
 */
export function createGateState(
  ctx: GateContext,
  policy?: GatePolicyInput | GatePolicy,
): GateState {
  // validated once per distinct policy content (a zod parse costs more than the rest of this function)
  const p = parseGatePolicyCached(policy ?? {});
  if (!(ctx.tickSeconds > 0)) throw new Error('tickSeconds: must be > 0');
  if (!(ctx.expectedCanaryShare > 0 && ctx.expectedCanaryShare < 1)) {
    throw new Error('expectedCanaryShare: must be between 0 and 1 (exclusive)');
  }
  const signals: GateSignalState[] = [];
  if (p.errorRate.enabled) {
    signals.push({
      name: 'error rate',
      kind: 'error-rate',
      direction: 'decrease',
      harmSign: 1,
      fields: ['requests', 'errors'],
      rate: createRateTest(),
    });
  }
  if (p.latency.enabled && ctx.slo.latency) {
    signals.push({
      name: `latency (> ${ctx.slo.latency.thresholdMs} ms)`,
      kind: 'latency',
      direction: 'decrease',
      harmSign: 1,
      fields: ['latency'],
      rate: createRateTest(),
      lastQuantiles: { baseline: {}, canary: {} },
    });
  }
  for (const k of ctx.kpis) {
    const kp = kpiPolicy(p, k.name);
    if (!kp.enabled) continue;
    const kind: GateSignalKind =
      k.type === 'mean' ? 'kpi-mean' : 'kpi-proportion';
    const s: GateSignalState = {
      name: k.name,
      kind,
      direction: k.direction,
      harmSign: harmSignOf(kind, k.direction),
      fields: [`kpis.${k.name}`],
      key: k.name,
    };
    if (kind === 'kpi-mean')
      s.mean = {
        cn: 0,
        csum: 0,
        csumSq: 0,
        bn: 0,
        bsum: 0,
        bsumSq: 0,
        ticks: 0,
      };
    else s.rate = createRateTest();
    signals.push(s);
  }
  for (const c of ctx.countSignals ?? []) {
    const cp = countPolicy(p, c.name);
    if (!cp.enabled) continue;
    signals.push({
      name: c.name,
      kind: 'count',
      direction: c.direction,
      harmSign: harmSignOf('count', c.direction),
      fields: [`counts.${c.name}`],
      key: c.name,
      rate: createRateTest(),
    });
  }
  const lengths = windowLengths(p, ctx.tickSeconds);
  const state: GateState = {
    version: 1,
    ctx,
    policy: p,
    signals,
    srm: createRateTest(),
    firstTick: null,
    lastTick: 0,
    lastSeen: {},
    canaryGapTicks: 0,
    canaryRequests: 0,
    baselineRequests: 0,
    history: [],
    windowSums: {
      lengths,
      sums: lengths.map(() => [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
      ]),
    },
    latencyBoundary: null,
  };
  if (p.segments.dimensions.length) state.segments = createSegmentsState(p);
  return state;
}

export function windowLengths(p: GatePolicy, tickSeconds: number): number[] {
  const l = [1, windowTicks(p.promote.recentWindowSeconds, tickSeconds)];
  for (const w of p.burn.windows)
    l.push(
      windowTicks(w.longSeconds, tickSeconds),
      windowTicks(w.shortSeconds, tickSeconds),
    );
  return [...new Set(l)].sort((a, b) => a - b);
}

/** add (sign +1) or remove (−1) one history row from an 18-sum accumulator */
export function addRow(
  acc: number[] | Float64Array,
  r: BurnRow,
  sign: number,
): void {
  const cA = r[5] !== null && r[6] !== null;
  const bA = r[1] !== null && r[2] !== null;
  const cL = r[7] !== null && r[8] !== null;
  const bL = r[3] !== null && r[4] !== null;
  if (cA) {
    acc[0] += sign * (r[5] as number);
    acc[1] += sign * (r[6] as number);
    acc[2] += sign;
  }
  if (cL) {
    acc[3] += sign * (r[7] as number);
    acc[4] += sign * (r[8] as number);
    acc[5] += sign;
  }
  if (bA) {
    acc[6] += sign * (r[1] as number);
    acc[7] += sign * (r[2] as number);
    acc[8] += sign;
  }
  if (bL) {
    acc[9] += sign * (r[3] as number);
    acc[10] += sign * (r[4] as number);
    acc[11] += sign;
  }
  if (bA || cA) {
    acc[12] +=
      sign * ((bA ? (r[1] as number) : 0) + (cA ? (r[5] as number) : 0));
    acc[13] +=
      sign * ((bA ? (r[2] as number) : 0) + (cA ? (r[6] as number) : 0));
    acc[14] += sign;
  }
  if (bL || cL) {
    acc[15] +=
      sign * ((bL ? (r[3] as number) : 0) + (cL ? (r[7] as number) : 0));
    acc[16] +=
      sign * ((bL ? (r[4] as number) : 0) + (cL ? (r[8] as number) : 0));
    acc[17] += sign;
  }
}

/** index of the first history row with tick > t */
export function upperBound(h: BurnRow[], t: number): number {
  let lo = 0;
  let hi = h.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (h[mid][0] > t) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export function kpiPolicy(p: GatePolicy, name: string) {
  return namedSignalPolicy(
    p.kpis.find(k => k.name === name),
    p.kpiDefaults,
  );
}

export function countPolicy(p: GatePolicy, name: string) {
  return namedSignalPolicy(
    p.countSignals.find(k => k.name === name),
    p.countDefaults,
  );
}

/** A named signal's own settings, or the policy's defaults for its kind. */
function namedSignalPolicy(
  own:
    GatePolicy['kpis'][number] | GatePolicy['countSignals'][number] | undefined,
  d: GatePolicy['kpiDefaults'] | GatePolicy['countDefaults'],
) {
  return {
    enabled: own ? own.enabled : d.enabled,
    weight: own ? own.weight : d.weight,
    guardrail: own ? own.guardrail : d.guardrail,
    margin: own?.margin ?? d.margin,
    deteriorationMargin: own ? own.deteriorationMargin : d.deteriorationMargin,
    mixtureScale: own?.mixtureScale ?? d.mixtureScale,
  };
}

/** Deep copy of a state (plain data). */
export function cloneGateState(s: GateState): GateState {
  const out: GateState = {
    ...s,
    signals: s.signals.map(g => ({
      ...g,
      fields: g.fields,
      rate: g.rate ? { ...g.rate, ll: g.rate.ll.slice() } : undefined,
      mean: g.mean ? { ...g.mean } : undefined,
      lastQuantiles: g.lastQuantiles,
    })),
    srm: { ...s.srm, ll: s.srm.ll.slice() },
    lastSeen: { ...s.lastSeen },
    history: s.history.slice(),
    windowSums: {
      lengths: s.windowSums.lengths,
      sums: s.windowSums.sums.map(a => a.slice()),
    },
  };
  if (s.segments) out.segments = cloneSegmentsState(s.segments);
  return out;
}

export function windowTicks(seconds: number, tickSeconds: number): number {
  return Math.max(1, Math.round(seconds / tickSeconds));
}
