/**
 * What a state's fold and decision derive from its policy, context and signal list alone,
 * built once per state and cached.
 */
import { segmentsAlphaOut, type GatePolicy } from './policy';
import { createMixtureTables, shareTerms, ShareTerms } from './sequential';
import { fieldPlan, FieldPlan } from './fields';
import {
  countPolicy,
  GateSignalState,
  GateState,
  kpiPolicy,
  windowTicks,
} from './state';
import type { GateContext, GateSignalKind } from './types';

/** scratch tables reused by each (synchronous) evaluation */
export const TABLES = createMixtureTables();

/** What a signal's evaluation needs that depends on the policy and the context alone. */
export interface SignalPlan {
  /** indices into `StatePlan.fields` of the signal's fields */
  fieldIdx: number[];
  weight: number;
  guardrail: boolean;
  /** the policy's margin; undefined for an SLI signal whose margin comes from the SLO budget */
  margin: number | undefined;
  /** SLI signals without a margin: the absolute margin on the rate (budgetFraction × budget) */
  absMargin: number | undefined;
  detMargin: number;
  sigma: number;
  /** this signal's share of the family-wise α, log(1/α) and the level of its interval */
  alphaShare: number;
  threshold: number;
  ciAlpha: number;
  /** logRatioBound(harmSign, detMargin), and of the margin when it is fixed */
  uDet: number;
  uNi: number;
}

export interface BurnWindowPlan {
  name: string;
  factor: number;
  longSeconds: number;
  shortSeconds: number;
  lt: number;
  stt: number;
  /** indices of lt and stt in `windowSums.lengths` */
  li: number;
  si: number;
}

/**
 * Everything a state's fold and decision derive from its policy, context and signal list alone
 * (never from the data). Built once per state, shared by its clones; it is keyed by the state's
 * `windowSums.lengths` array (shared by `cloneGateState`, new after a JSON round trip) and checked
 * against the state's `ctx`, `policy` and signals on every use, so a state whose `ctx`, `policy`
 * or signals are replaced gets a new plan. The `ctx` and `policy` objects are read as immutable.
 */
export interface StatePlan {
  ctx: GateContext;
  policy: GatePolicy;
  signals: GateSignalState[];
  sigFields: string[][];
  sigKinds: GateSignalKind[];
  sigKeys: Array<string | undefined>;
  /** every telemetry field the enabled signals need: requests, errors, then the signals' own */
  fields: FieldPlan[];
  latencyIdx: number;
  /** presence of each field in the tick being folded (scratch) */
  presB: Uint8Array;
  presC: Uint8Array;
  /** SRM update terms for the expected share */
  srmTerms: ShareTerms;
  sig: SignalPlan[];
  niThreshold: number;
  niThreshold2: number;
  srmTolU: number;
  srmThreshold: number;
  budgetA: number;
  budgetL: number | null;
  windows: BurnWindowPlan[];
  /** index of length 1 and of the recent window in `windowSums.lengths` (−1: absent) */
  oneIdx: number;
  recentL: number;
  recentIdx: number;
  guard: {
    windows: number[];
    sli: Array<{ budget: number; idx: [number, number]; labels: string[] }>;
  };
  errOn: boolean;
  latOn: boolean;
  minTicks: number;
}

export const planCache = new WeakMap<number[], StatePlan>();

export function planFits(plan: StatePlan, state: GateState): boolean {
  if (plan.ctx !== state.ctx || plan.policy !== state.policy) return false;
  const sigs = state.signals;
  if (plan.signals === sigs) return true;
  if (sigs.length !== plan.sigFields.length) return false;
  for (let i = 0; i < sigs.length; i++) {
    const s = sigs[i];
    if (
      s.fields !== plan.sigFields[i] ||
      s.kind !== plan.sigKinds[i] ||
      s.key !== plan.sigKeys[i]
    )
      return false;
  }
  return true;
}

/** the plan last looked up (a fold is usually followed by a decision on the same state) */
let lastLengths: number[] | undefined;
let lastPlan: StatePlan | undefined;

export function planOf(state: GateState): StatePlan {
  const lengths = state.windowSums.lengths;
  let plan = lengths === lastLengths ? lastPlan : planCache.get(lengths);
  if (plan === undefined || !planFits(plan, state)) {
    plan = buildPlan(state);
    planCache.set(lengths, plan);
  }
  lastLengths = lengths;
  lastPlan = plan;
  return plan;
}

export function buildPlan(state: GateState): StatePlan {
  const p = state.policy;
  const ctx = state.ctx;
  const signals = state.signals;
  const fieldSet = new Set<string>(['requests', 'errors']);
  for (const s of signals) for (const f of s.fields) fieldSet.add(f);
  const fieldNames = [...fieldSet];
  const fields = fieldNames.map(fieldPlan);

  const settings = signals.map(s => settingsFor(state, s));
  const weights = settings.map(x => x.weight);
  const wSum = weights.reduce((a, b) => a + b, 0);
  const useW =
    p.alphaSplit === 'weights' && wSum > 0 && weights.every(w => w > 0);
  // the whole's α, less the segment family's when segment harm rolls back
  const wholeAlpha = p.alpha - segmentsAlphaOut(p);
  const sig: SignalPlan[] = signals.map((s, i) => {
    const st = settings[i];
    const alphaShare = useW
      ? (wholeAlpha * weights[i]) / wSum
      : wholeAlpha / Math.max(1, signals.length);
    const fixedMargin = st.absMargin === undefined;
    return {
      fieldIdx: s.fields.map(f => fieldNames.indexOf(f)),
      weight: st.weight,
      guardrail: st.guardrail,
      margin: fixedMargin ? st.margin : undefined,
      absMargin: st.absMargin,
      detMargin: st.detMargin,
      sigma: st.sigma,
      alphaShare,
      threshold: Math.log(1 / alphaShare),
      ciAlpha: Math.min(0.5, 2 * alphaShare),
      uDet: logRatioBound(s.harmSign, st.detMargin),
      uNi: fixedMargin ? logRatioBound(s.harmSign, st.margin) : NaN,
    };
  });

  const lengths = state.windowSums.lengths;
  const windows = p.burn.windows.map(w => {
    const lt = windowTicks(w.longSeconds, ctx.tickSeconds);
    const stt = windowTicks(w.shortSeconds, ctx.tickSeconds);
    return {
      name: w.name,
      factor: w.factor,
      longSeconds: w.longSeconds,
      shortSeconds: w.shortSeconds,
      lt,
      stt,
      li: lengths.indexOf(lt),
      si: lengths.indexOf(stt),
    };
  });
  const shortest = Math.min(
    ...p.burn.windows.map(w => windowTicks(w.shortSeconds, ctx.tickSeconds)),
    5,
  );
  const guardWindows = [1, shortest];
  const sli: StatePlan['guard']['sli'] = [
    {
      budget: 1 - ctx.slo.availability,
      idx: [1, 2],
      labels: guardWindows.map(w =>
        guardLabel('availability', w, ctx.tickSeconds),
      ),
    },
  ];
  if (ctx.slo.latency)
    sli.push({
      budget: 1 - ctx.slo.latency.objective,
      idx: [3, 4],
      labels: guardWindows.map(w => guardLabel('latency', w, ctx.tickSeconds)),
    });
  const recentL = windowTicks(p.promote.recentWindowSeconds, ctx.tickSeconds);
  const p0 = ctx.expectedCanaryShare;

  return {
    ctx,
    policy: p,
    signals,
    sigFields: signals.map(s => s.fields),
    sigKinds: signals.map(s => s.kind),
    sigKeys: signals.map(s => s.key),
    fields,
    latencyIdx: fieldNames.indexOf('latency'),
    presB: new Uint8Array(fields.length),
    presC: new Uint8Array(fields.length),
    srmTerms: shareTerms(p0 / (p0 + (1 - p0))),
    sig,
    niThreshold: Math.log(1 / p.niAlpha),
    niThreshold2: Math.log(2 / p.niAlpha),
    srmTolU: Math.log(1 + p.srm.tolerance),
    srmThreshold: Math.log(2 / p.srm.alpha),
    budgetA: 1 - ctx.slo.availability,
    budgetL: ctx.slo.latency ? 1 - ctx.slo.latency.objective : null,
    windows,
    oneIdx: lengths.indexOf(1),
    recentL,
    recentIdx: lengths.indexOf(recentL),
    guard: { windows: guardWindows, sli },
    errOn: signals.some(s => s.kind === 'error-rate'),
    latOn: signals.some(s => s.kind === 'latency'),
    minTicks: Math.ceil(p.promote.minDurationSeconds / ctx.tickSeconds),
  };
}

export function guardLabel(
  name: string,
  w: number,
  tickSeconds: number,
): string {
  return `${name}, last ${w * tickSeconds >= 60 ? `${Math.round((w * tickSeconds) / 60)} min` : `${w * tickSeconds} s`}`;
}

export interface SignalSettings {
  /** absolute NI margin on the rate when it comes from the SLO budget (SLI signals) */
  absMargin?: number;
  weight: number;
  guardrail: boolean;
  margin: number;
  detMargin: number;
  sigma: number;
}

export function settingsFor(
  state: GateState,
  s: GateSignalState,
): SignalSettings {
  const p = state.policy;
  const ctx = state.ctx;
  if (s.kind === 'error-rate' || s.kind === 'latency') {
    const sp = s.kind === 'error-rate' ? p.errorRate : p.latency;
    const budget =
      s.kind === 'error-rate'
        ? 1 - ctx.slo.availability
        : 1 - (ctx.slo.latency?.objective ?? 0.99);
    const exposure = p.promote.exposure;
    let margin = scaledMargin(sp.margin, exposure);
    let absMargin: number | undefined;
    if (margin === undefined) {
      const r = s.rate!;
      const pb =
        r.baselineExposure > 0 ? r.baselineEvents / r.baselineExposure : 0;
      absMargin = sp.budgetFraction * budget;
      // the promotion opens `exposure` of the traffic: the service-wide cost stays the same
      if (exposure !== 1) absMargin /= exposure;
      margin = pb > 0 ? Math.min(10, absMargin / pb) : 10;
    }
    return {
      absMargin,
      weight: sp.weight,
      guardrail: sp.guardrail,
      margin,
      detMargin: sp.deteriorationMargin,
      sigma: sp.mixtureScale ?? 0.5,
    };
  }
  const kp = s.kind === 'count' ? countPolicy(p, s.key!) : kpiPolicy(p, s.key!);
  const defSigma = s.kind === 'count' ? 0.5 : 0.1;
  return {
    weight: kp.weight,
    guardrail: kp.guardrail,
    margin: scaledMargin(kp.margin, p.promote.exposure) as number,
    detMargin: kp.deteriorationMargin,
    sigma: kp.mixtureScale ?? defSigma,
  };
}

/**
 * A relative non-inferiority margin for a promotion that opens `exposure` of the traffic:
 * divided by it (capped at 10, a ratio of 11), so that exposure × margin stays the same.
 */
export function scaledMargin(
  margin: number | undefined,
  exposure: number,
): number | undefined {
  if (margin === undefined || exposure === 1) return margin;
  return Math.min(10, margin / exposure);
}

/** log-scale harm bound for a relative margin m: ratio 1+m (harm up) or 1−m (harm down). */
export function logRatioBound(harmSign: 1 | -1, m: number): number {
  return harmSign === 1
    ? Math.log(1 + m)
    : Math.log(Math.max(1e-6, 1 - Math.min(m, 0.999)));
}

/** The settings of a signal at this decision: the plan's, with an SLO-budget margin from the data. */
export function settingsNow(
  s: GateSignalState,
  sp: SignalPlan,
): SignalSettings {
  if (sp.absMargin === undefined) {
    return {
      absMargin: undefined,
      weight: sp.weight,
      guardrail: sp.guardrail,
      margin: sp.margin as number,
      detMargin: sp.detMargin,
      sigma: sp.sigma,
    };
  }
  // as settingsFor: margin from the SLO budget relative to the baseline rate
  const r = s.rate!;
  const pb = r.baselineExposure > 0 ? r.baselineEvents / r.baselineExposure : 0;
  const margin = pb > 0 ? Math.min(10, sp.absMargin / pb) : 10;
  return {
    absMargin: sp.absMargin,
    weight: sp.weight,
    guardrail: sp.guardrail,
    margin,
    detMargin: sp.detMargin,
    sigma: sp.sigma,
  };
}
