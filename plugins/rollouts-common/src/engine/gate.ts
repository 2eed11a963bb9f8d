/**
 * The gate: fold telemetry ticks into a JSON-serialisable state, then decide.
 * Pure and deterministic: no I/O, no clock; time comes in as tick numbers.
 */
import {
  binomialUpperTail,
  MIN_MEAN_SAMPLES,
  poissonUpperTail,
  sampleVariance,
} from './math';
import { histogramQuantile, histogramProblem, slowCount } from './histogram';
import { kpiLean } from './kpiLean';
import { GatePolicy, GatePolicyInput, parseGatePolicyCached } from './policy';
import {
  createRateTest,
  mixtureTables,
  createMixtureTables,
  normalLogMixtureOneSided,
  normalMixtureRadius,
  poissonBelowLogMixture,
  RateTestState,
  rateConfidenceSequence,
  rateLogMixtureLR,
  shareTerms,
  ShareTerms,
  updateRateTest,
} from './sequential';
import type {
  BurnEvidence,
  BurnWindowEvidence,
  BurnWindows,
  CohortCounts,
  GateContext,
  GateDecision,
  GateDirection,
  GateRubric,
  GateSignalKind,
  GateVerdictValue,
  LatencyHistogram,
  MeanKpiCounts,
  ProportionKpiCounts,
  SignalEvidence,
  TelemetryTick,
} from './types';

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
}

/** scratch tables reused by each (synchronous) evaluation */
const TABLES = createMixtureTables();

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

function harmSignOf(kind: GateSignalKind, direction: GateDirection): 1 | -1 {
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
  return {
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
}

function windowLengths(p: GatePolicy, tickSeconds: number): number[] {
  const l = [1, windowTicks(p.promote.recentWindowSeconds, tickSeconds)];
  for (const w of p.burn.windows)
    l.push(
      windowTicks(w.longSeconds, tickSeconds),
      windowTicks(w.shortSeconds, tickSeconds),
    );
  return [...new Set(l)].sort((a, b) => a - b);
}

/** add (sign +1) or remove (−1) one history row from an 18-sum accumulator */
function addRow(acc: number[] | Float64Array, r: BurnRow, sign: number): void {
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
function upperBound(h: BurnRow[], t: number): number {
  let lo = 0;
  let hi = h.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (h[mid][0] > t) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function kpiPolicy(p: GatePolicy, name: string) {
  const own = p.kpis.find(k => k.name === name);
  const d = p.kpiDefaults;
  return {
    enabled: own ? own.enabled : d.enabled,
    weight: own ? own.weight : d.weight,
    guardrail: own ? own.guardrail : d.guardrail,
    margin: own?.margin ?? d.margin,
    deteriorationMargin: own ? own.deteriorationMargin : d.deteriorationMargin,
    mixtureScale: own?.mixtureScale ?? d.mixtureScale,
  };
}

function countPolicy(p: GatePolicy, name: string) {
  const own = p.countSignals.find(k => k.name === name);
  const d = p.countDefaults;
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
  return {
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
}

/** Pure: returns a new state with the tick folded in (the input state is not modified). */
export function observeTick(state: GateState, tick: TelemetryTick): GateState {
  const next = cloneGateState(state);
  observeTickInPlace(next, tick);
  return next;
}

// --- extraction ------------------------------------------------------------------------------

/** how a telemetry field's presence is checked */
const F_REQUESTS = 0;
const F_ERRORS = 1;
const F_LATENCY = 2;
const F_KPI = 3;
const F_COUNT = 4;
const F_OTHER = 5;

interface FieldPlan {
  /** e.g. "kpis.conversion" */
  field: string;
  kind: number;
  /** kpi / count name */
  name: string;
  /** "baseline.<field>", "canary.<field>" */
  bKey: string;
  cKey: string;
}

function fieldPlan(f: string): FieldPlan {
  let kind = F_OTHER;
  let name = '';
  if (f === 'requests') kind = F_REQUESTS;
  else if (f === 'errors') kind = F_ERRORS;
  else if (f === 'latency') kind = F_LATENCY;
  else if (f.startsWith('kpis.')) {
    kind = F_KPI;
    name = f.slice(5);
  } else if (f.startsWith('counts.')) {
    kind = F_COUNT;
    name = f.slice(7);
  }
  return {
    field: f,
    kind,
    name,
    bKey: key('baseline', f),
    cKey: key('canary', f),
  };
}

function present(c: CohortCounts | undefined, fp: FieldPlan): boolean {
  if (!c) return false;
  switch (fp.kind) {
    case F_REQUESTS:
      return isCount(c.requests);
    case F_ERRORS:
      return (
        isCount(c.errors) &&
        isCount(c.requests) &&
        (c.errors as number) <= (c.requests as number)
      );
    case F_LATENCY:
      return !!c.latency && histogramProblem(c.latency) === null;
    case F_KPI: {
      const v = c.kpis?.[fp.name] as
        Partial<ProportionKpiCounts & MeanKpiCounts> | undefined;
      if (!v) return false;
      if ('trials' in v || 'successes' in v)
        return (
          isCount(v.trials) && isCount(v.successes) && v.successes! <= v.trials!
        );
      return (
        isCount(v.n) &&
        typeof v.sum === 'number' &&
        Number.isFinite(v.sum) &&
        isCount(v.sumSq)
      );
    }
    case F_COUNT: {
      const v = c.counts?.[fp.name];
      return !!v && isCount(v.events) && isCount(v.exposures);
    }
    default:
      return false;
  }
}

const KEY_CACHE: Record<string, Map<string, string>> = {
  baseline: new Map(),
  canary: new Map(),
};
/** interned "cohort.field" keys (avoids building the same strings every tick) */
function key(cohort: 'baseline' | 'canary', f: string): string {
  const m = KEY_CACHE[cohort];
  let k = m.get(f);
  if (k === undefined) {
    k = `${cohort}.${f}`;
    if (m.size > 10000) m.clear();
    m.set(f, k);
  }
  return k;
}

function quantileOf(q: number, h: LatencyHistogram | undefined): number | null {
  if (!h) return null;
  const v = histogramQuantile(q, h);
  return v !== null && Number.isFinite(v) ? v : null;
}
/** p50/p95/p99 like PromQL histogram_quantile; finite numbers or null (JSON-safe) */
function quantilesOf(h?: LatencyHistogram): Record<string, number | null> {
  return {
    p50: quantileOf(0.5, h),
    p95: quantileOf(0.95, h),
    p99: quantileOf(0.99, h),
  };
}

// --- per-state plan ------------------------------------------------------------------------------

/** What a signal's evaluation needs that depends on the policy and the context alone. */
interface SignalPlan {
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

interface BurnWindowPlan {
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
interface StatePlan {
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

const planCache = new WeakMap<number[], StatePlan>();

function planFits(plan: StatePlan, state: GateState): boolean {
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

function planOf(state: GateState): StatePlan {
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

function buildPlan(state: GateState): StatePlan {
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
  const sig: SignalPlan[] = signals.map((s, i) => {
    const st = settings[i];
    const alphaShare = useW
      ? (p.alpha * weights[i]) / wSum
      : p.alpha / Math.max(1, signals.length);
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

function guardLabel(name: string, w: number, tickSeconds: number): string {
  return `${name}, last ${w * tickSeconds >= 60 ? `${Math.round((w * tickSeconds) / 60)} min` : `${w * tickSeconds} s`}`;
}

/** has the cohort the field in the tick being folded (a field outside the plan: from `lastSeen`) */
function hasField(
  state: GateState,
  pres: Uint8Array,
  cohort: 'baseline' | 'canary',
  idx: number,
  f: string,
  t: number,
): boolean {
  return idx >= 0 ? pres[idx] === 1 : state.lastSeen[key(cohort, f)] === t;
}

type SlowCounts = { slow: number; total: number; boundary: number } | null;

/** Mutating variant of `observeTick` (for hot loops that own the state). Ticks must increase; older ticks are ignored. */
export function observeTickInPlace(
  state: GateState,
  tick: TelemetryTick,
): void {
  const t = tick.tick;
  if (!Number.isFinite(t) || t <= state.lastTick) return;
  const plan = planOf(state);
  if (state.firstTick === null) state.firstTick = t;
  const prevLast = state.lastTick;
  state.lastTick = t;
  const ctx = state.ctx;
  const b = tick.baseline;
  const c = tick.canary;

  // canary gap accounting (ticks skipped entirely count as missing)
  const skipped = prevLast > 0 ? t - prevLast - 1 : 0;
  state.canaryGapTicks += skipped + (c ? 0 : 1);

  // field presence (a field is present this tick iff its lastSeen is this tick)
  const fields = plan.fields;
  const nf = fields.length;
  const presB = plan.presB;
  const presC = plan.presC;
  const lastSeen = state.lastSeen;
  if (b) lastSeen.baseline = t;
  for (let i = 0; i < nf; i++) {
    const ok = present(b, fields[i]);
    presB[i] = ok ? 1 : 0;
    if (ok) lastSeen[fields[i].bKey] = t;
  }
  if (c) lastSeen.canary = t;
  for (let i = 0; i < nf; i++) {
    const ok = present(c, fields[i]);
    presC[i] = ok ? 1 : 0;
    if (ok) lastSeen[fields[i].cKey] = t;
  }

  // SRM: canary requests among all requests, null share = expected share (fields 0: requests)
  const bReq = presB[0] === 1;
  const cReq = presC[0] === 1;
  if (bReq && cReq) {
    const p0 = ctx.expectedCanaryShare;
    updateRateTest(
      state.srm,
      c!.requests as number,
      p0,
      b!.requests as number,
      1 - p0,
      plan.srmTerms,
    );
  }
  if (cReq) state.canaryRequests += c!.requests as number;
  if (bReq) state.baselineRequests += b!.requests as number;

  // latency slow counts, each cohort's computed at most once per tick
  const bLat = hasField(
    state,
    presB,
    'baseline',
    plan.latencyIdx,
    'latency',
    t,
  );
  const cLat = hasField(state, presC, 'canary', plan.latencyIdx, 'latency', t);
  let bSc: SlowCounts | undefined;
  let cSc: SlowCounts | undefined;

  // signals
  const signals = state.signals;
  for (let si = 0; si < signals.length; si++) {
    const s = signals[si];
    const fi = plan.sig[si].fieldIdx;
    let ok = true;
    for (let j = 0; j < fi.length; j++) {
      if (presB[fi[j]] !== 1 || presC[fi[j]] !== 1) {
        ok = false;
        break;
      }
    }
    if (s.kind === 'latency' && s.lastQuantiles) {
      s.lastQuantiles = {
        baseline: quantilesOf(bLat ? b!.latency : undefined),
        canary: quantilesOf(cLat ? c!.latency : undefined),
      };
    }
    if (!ok) continue;
    if (s.rate) {
      switch (s.kind) {
        case 'error-rate':
          updateRateTest(
            s.rate,
            c!.errors as number,
            c!.requests as number,
            b!.errors as number,
            b!.requests as number,
          );
          break;
        case 'latency': {
          if (cSc === undefined)
            cSc = slowCount(
              c!.latency as LatencyHistogram,
              ctx.slo.latency!.thresholdMs,
            );
          if (bSc === undefined)
            bSc = slowCount(
              b!.latency as LatencyHistogram,
              ctx.slo.latency!.thresholdMs,
            );
          if (cSc && bSc)
            updateRateTest(s.rate, cSc.slow, cSc.total, bSc.slow, bSc.total);
          break;
        }
        case 'kpi-proportion': {
          const vc = c!.kpis![s.key!] as ProportionKpiCounts;
          const vb = b!.kpis![s.key!] as ProportionKpiCounts;
          if ('trials' in vc && 'trials' in vb)
            updateRateTest(
              s.rate,
              vc.successes,
              vc.trials,
              vb.successes,
              vb.trials,
            );
          break;
        }
        case 'count': {
          const vc = c!.counts![s.key!];
          const vb = b!.counts![s.key!];
          updateRateTest(
            s.rate,
            vc.events,
            vc.exposures,
            vb.events,
            vb.exposures,
          );
          break;
        }
        default:
          break;
      }
    } else if (s.mean) {
      const vc = c!.kpis![s.key!] as MeanKpiCounts;
      const vb = b!.kpis![s.key!] as MeanKpiCounts;
      if ('n' in vc && 'n' in vb) {
        const m = s.mean;
        m.cn += vc.n;
        m.csum += vc.sum;
        m.csumSq += vc.sumSq;
        m.bn += vb.n;
        m.bsum += vb.sum;
        m.bsumSq += vb.sumSq;
        m.ticks += 1;
      }
    }
  }

  // burn history
  const lat = ctx.slo.latency;
  let bLatN: number | null = null;
  let bSlow: number | null = null;
  let cLatN: number | null = null;
  let cSlow: number | null = null;
  if (lat && bLat) {
    if (bSc === undefined)
      bSc = slowCount(b!.latency as LatencyHistogram, lat.thresholdMs);
    if (bSc && state.latencyBoundary === null)
      state.latencyBoundary = bSc.boundary;
    if (bSc) {
      bLatN = bSc.total;
      bSlow = bSc.slow;
    }
  }
  if (lat && cLat) {
    if (cSc === undefined)
      cSc = slowCount(c!.latency as LatencyHistogram, lat.thresholdMs);
    if (cSc && state.latencyBoundary === null)
      state.latencyBoundary = cSc.boundary;
    if (cSc) {
      cLatN = cSc.total;
      cSlow = cSc.slow;
    }
  }
  const bOk = presB[1] === 1;
  const cOk = presC[1] === 1;
  const row: BurnRow = [
    t,
    bOk ? (b!.requests as number) : null,
    bOk ? (b!.errors as number) : null,
    bLatN,
    bSlow,
    cOk ? (c!.requests as number) : null,
    cOk ? (c!.errors as number) : null,
    cLatN,
    cSlow,
  ];
  state.history.push(row);
  // incremental window sums: add the new row, remove rows that left each window
  const ws = state.windowSums;
  for (let i = 0; i < ws.lengths.length; i++) {
    const L = ws.lengths[i];
    const acc = ws.sums[i];
    addRow(acc, row, 1);
    // rows with tick in (prevLast − L, t − L] leave the window now
    const from = upperBound(state.history, prevLast - L);
    const to = upperBound(state.history, t - L);
    for (let k = from; k < to; k++) addRow(acc, state.history[k], -1);
  }
  const maxWindow = ws.lengths[ws.lengths.length - 1];
  const keepFrom = t - maxWindow;
  let drop = 0;
  while (drop < state.history.length && state.history[drop][0] <= keepFrom)
    drop++;
  if (drop > 0) state.history.splice(0, drop);
}

function windowTicks(seconds: number, tickSeconds: number): number {
  return Math.max(1, Math.round(seconds / tickSeconds));
}

// --- decision --------------------------------------------------------------------------------

const pct = (x: number | null, digits = 2) =>
  x === null || !Number.isFinite(x) ? 'n/a' : `${(x * 100).toFixed(digits)}%`;
function signedPct(x: number): string {
  if (!Number.isFinite(x)) return x > 0 ? '+∞' : '−∞';
  return `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)}%`;
}
function num(x: number | null, digits = 3): string {
  if (x === null || !Number.isFinite(x)) return 'n/a';
  if (x === 0) return '0';
  if (Math.abs(x) < 1e-300) return '< 1e-300';
  return Number(x.toPrecision(digits)).toString();
}
function pValue(x: number | null): string {
  if (x === null) return 'n/a';
  return x < 1e-12 ? '< 1e-12' : num(x, 2);
}
/** A difference on the signal's scale, signed: a percentage (relative) or a number (absolute). */
function signedDifference(scale: SignalEvidence['scale'], v: number): string {
  return scale === 'relative' ? signedPct(v) : `${v >= 0 ? '+' : ''}${num(v)}`;
}

function ciText(ev: SignalEvidence): string {
  if (!ev.ci) return '';
  return `${Math.round((1 - ev.alphaCi) * 1000) / 10}% always-valid CI ${signedDifference(ev.scale, ev.ci[0])} to ${signedDifference(ev.scale, ev.ci[1])}`;
}

function estimateText(ev: SignalEvidence): string {
  if (ev.kind === 'kpi-mean')
    return `canary ${num(ev.canary, 4)} vs baseline ${num(ev.baseline, 4)}`;
  // rates under 1% get a third digit; KPI proportions keep two
  const d =
    ev.kind !== 'kpi-proportion' && ev.canary !== null && ev.canary < 0.01
      ? 3
      : 2;
  return `canary ${pct(ev.canary, d)} vs baseline ${pct(ev.baseline, d)}`;
}

interface SignalSettings {
  /** absolute NI margin on the rate when it comes from the SLO budget (SLI signals) */
  absMargin?: number;
  weight: number;
  guardrail: boolean;
  margin: number;
  detMargin: number;
  sigma: number;
}

function settingsFor(state: GateState, s: GateSignalState): SignalSettings {
  const p = state.policy;
  const ctx = state.ctx;
  if (s.kind === 'error-rate' || s.kind === 'latency') {
    const sp = s.kind === 'error-rate' ? p.errorRate : p.latency;
    const budget =
      s.kind === 'error-rate'
        ? 1 - ctx.slo.availability
        : 1 - (ctx.slo.latency?.objective ?? 0.99);
    let margin = sp.margin;
    let absMargin: number | undefined;
    if (margin === undefined) {
      const r = s.rate!;
      const pb =
        r.baselineExposure > 0 ? r.baselineEvents / r.baselineExposure : 0;
      absMargin = sp.budgetFraction * budget;
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
    margin: kp.margin,
    detMargin: kp.deteriorationMargin,
    sigma: kp.mixtureScale ?? defSigma,
  };
}

/** log-scale harm bound for a relative margin m: ratio 1+m (harm up) or 1−m (harm down). */
function logRatioBound(harmSign: 1 | -1, m: number): number {
  return harmSign === 1
    ? Math.log(1 + m)
    : Math.log(Math.max(1e-6, 1 - Math.min(m, 0.999)));
}

/** The settings of a signal at this decision: the plan's, with an SLO-budget margin from the data. */
function settingsNow(s: GateSignalState, sp: SignalPlan): SignalSettings {
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

function evaluateSignal(
  state: GateState,
  plan: StatePlan,
  s: GateSignalState,
  sp: SignalPlan,
): SignalEvidence {
  const st = settingsNow(s, sp);
  const thr = sp.threshold;
  // two-sided interval at 2α: each side at the one-sided deterioration test's level
  const ciAlpha = sp.ciAlpha;
  const niThr = plan.niThreshold;
  const base: SignalEvidence = {
    name: s.name,
    kind: s.kind,
    direction: s.direction,
    guardrail: st.guardrail,
    weight: st.weight,
    baseline: null,
    canary: null,
    difference: null,
    scale: s.kind === 'kpi-mean' ? 'absolute' : 'relative',
    ci: null,
    alphaCi: ciAlpha,
    statistic: 0,
    threshold: thr,
    niStatistic: 0,
    niThreshold: niThr,
    margin: st.margin,
    deteriorationMargin: st.detMargin,
    rule: 'missing',
    score: 0.5,
    samples: { baseline: 0, canary: 0, ticks: 0 },
  };
  if (s.rate) {
    const r = s.rate;
    base.samples = {
      baseline: r.baselineExposure,
      canary: r.canaryExposure,
      canaryEvents: r.canaryEvents,
      baselineEvents: r.baselineEvents,
      ticks: r.ticks,
    };
    if (s.kind === 'latency' && s.lastQuantiles) {
      base.quantiles = s.lastQuantiles;
      if (
        state.latencyBoundary !== null &&
        state.latencyBoundary !== state.ctx.slo.latency?.thresholdMs
      ) {
        base.note = `threshold ${state.ctx.slo.latency?.thresholdMs} ms is not a bucket boundary; slow means > ${state.latencyBoundary} ms`;
      }
    }
    if (r.ticks === 0) return base;
    const pb =
      r.baselineExposure > 0 ? r.baselineEvents / r.baselineExposure : null;
    const pc = r.canaryExposure > 0 ? r.canaryEvents / r.canaryExposure : null;
    base.baseline = pb;
    base.canary = pc;
    base.difference = pb && pc !== null ? pc / pb - 1 : null;
    if (r.canaryEvents + r.baselineEvents === 0) {
      base.note = 'no events in either cohort yet';
      if (
        st.absMargin !== undefined &&
        (s.kind === 'error-rate' || s.kind === 'latency')
      ) {
        // only the one-sample route can show non-inferiority without events
        base.niThreshold = plan.niThreshold2;
        base.niStatistic = poissonBelowLogMixture(
          0,
          r.canaryExposure,
          st.absMargin,
          st.sigma,
        );
        if (base.niStatistic >= base.niThreshold) {
          base.rule = 'non-inferiority';
          base.score = 1;
          base.note = `no events in either cohort; non-inferiority from the canary's own rate: below ${pct(st.absMargin, 3)} (the margin from the SLO budget)`;
          return base;
        }
      }
      base.rule = 'insufficient-data';
      return base;
    }
    const h = s.harmSign;
    const uDet = sp.uDet;
    const uNi = sp.margin === undefined ? logRatioBound(h, st.margin) : sp.uNi;
    const tables = mixtureTables(r, st.sigma, TABLES);
    base.statistic = rateLogMixtureLR(r, uDet, h, st.sigma, tables);
    base.niStatistic = rateLogMixtureLR(
      r,
      uNi,
      h === 1 ? -1 : 1,
      st.sigma,
      tables,
    );
    if (
      st.absMargin !== undefined &&
      (s.kind === 'error-rate' || s.kind === 'latency')
    ) {
      // second route for an SLO-budget margin: the canary's own rate is below baseline + margin
      // (works when events are too rare for the two-sample test); α split between the routes
      const lambda1 = (pb ?? 0) + st.absMargin;
      base.niThreshold = plan.niThreshold2;
      // the one-sample route only matters when the two-sample test has not already passed
      const one =
        base.niStatistic >= base.niThreshold
          ? -Infinity
          : poissonBelowLogMixture(
              r.canaryEvents,
              r.canaryExposure,
              lambda1,
              st.sigma,
            );
      if (one > base.niStatistic) {
        base.niStatistic = one;
        base.note = `non-inferiority from the canary's own rate: below ${pct(lambda1, 3)} (baseline + ${pct(st.absMargin, 3)} from the SLO budget)`;
      }
    }
    const [lo, hi] = rateConfidenceSequence(r, ciAlpha, st.sigma, tables);
    base.ci = [Math.exp(lo) - 1, Math.exp(hi) - 1];
    // score: share of the CI (log scale, in harm units) below the NI bound
    const hLo = h === 1 ? lo : -hi;
    const hHi = h === 1 ? hi : -lo;
    const hNi = h * uNi;
    base.score = scoreFrom(hLo, hHi, hNi);
  } else if (s.mean) {
    const m = s.mean;
    base.samples = { baseline: m.bn, canary: m.cn, ticks: m.ticks };
    if (m.ticks === 0) return base;
    const mb = m.bn > 0 ? m.bsum / m.bn : null;
    const mc = m.cn > 0 ? m.csum / m.cn : null;
    base.baseline = mb;
    base.canary = mc;
    if (mb === null || mc === null || m.cn < 2 || m.bn < 2) {
      base.rule = 'insufficient-data';
      return base;
    }
    if (m.cn < MIN_MEAN_SAMPLES || m.bn < MIN_MEAN_SAMPLES) {
      base.rule = 'insufficient-data';
      base.note = `a difference of means needs at least ${MIN_MEAN_SAMPLES} values per cohort (the normal-mixture boundary is asymptotic)`;
      return base;
    }
    const vb = sampleVariance(m.bn, m.bsum, m.bsumSq);
    // canary variance shrunk towards the baseline's (30 pseudo-observations), never below either:
    // the plug-in variance of a small cohort is noisy and an underestimate inflates the statistic
    const vcRaw = sampleVariance(m.cn, m.csum, m.csumSq);
    const vc = Math.max(
      vcRaw,
      ((m.cn - 1) * vcRaw + MIN_MEAN_SAMPLES * vb) /
        (m.cn - 1 + MIN_MEAN_SAMPLES),
    );
    const v = vc / m.cn + vb / m.bn;
    const d = mc - mb;
    base.difference = d;
    const scaleRef = Math.abs(mb) > 0 ? Math.abs(mb) : Math.sqrt(vb) || 1;
    const h = s.harmSign;
    const marginAbs = st.margin * scaleRef;
    const detAbs = st.detMargin * scaleRef;
    base.margin = marginAbs;
    base.deteriorationMargin = detAbs;
    if (!(v > 0)) {
      base.rule = 'insufficient-data';
      return base;
    }
    const tau = st.sigma * scaleRef;
    base.statistic = normalLogMixtureOneSided(d, v, h * detAbs, h, tau);
    base.niStatistic = normalLogMixtureOneSided(
      d,
      v,
      h * marginAbs,
      h === 1 ? -1 : 1,
      tau,
    );
    const rad = normalMixtureRadius(v, tau, ciAlpha);
    base.ci = [d - rad, d + rad];
    const hLo = h === 1 ? d - rad : -(d + rad);
    const hHi = h === 1 ? d + rad : -(d - rad);
    base.score = scoreFrom(hLo, hHi, marginAbs);
  } else {
    return base;
  }
  if (base.statistic >= thr) {
    base.rule = 'deterioration';
    base.score = 0;
  } else if (base.niStatistic >= base.niThreshold) {
    base.rule = 'non-inferiority';
    base.score = 1;
  } else {
    base.rule = 'inconclusive';
  }
  return base;
}

function scoreFrom(hLo: number, hHi: number, bound: number): number {
  if (!Number.isFinite(hLo) || !Number.isFinite(hHi)) {
    if (hHi < bound) return 1;
    if (hLo > bound) return 0;
    return 0.5;
  }
  if (hHi <= hLo) return hHi < bound ? 1 : 0;
  return Math.min(1, Math.max(0, (bound - hLo) / (hHi - hLo)));
}

/** Window sums per view (0 canary, 1 baseline, 2 service) × [req, err, nA, latN, slow, nL]. */
export type WindowSums = Map<number, Float64Array>;

/** Window sums recomputed from the history (used when deciding at a tick later than the last observed). */
export function computeWindowSums(
  state: GateState,
  nowTick: number,
  lengths: number[],
): WindowSums {
  const sorted = [...new Set(lengths)].sort((x, y) => x - y);
  const out: WindowSums = new Map();
  const acc = new Float64Array(18);
  let wi = 0;
  const h = state.history;
  for (let i = h.length - 1; i >= 0 && wi < sorted.length; i--) {
    const r = h[i];
    if (r[0] > nowTick) continue;
    while (wi < sorted.length && r[0] <= nowTick - sorted[wi]) {
      out.set(sorted[wi], acc.slice());
      wi++;
    }
    if (wi >= sorted.length) break;
    addRow(acc, r, 1);
  }
  for (; wi < sorted.length; wi++) out.set(sorted[wi], acc.slice());
  return out;
}

function burnWindows(
  state: GateState,
  plan: StatePlan,
  nowTick: number,
  view: 0 | 1 | 2,
  sums: ArrayLike<number>[],
): BurnWindows {
  const budgetA = plan.budgetA;
  const budgetL = plan.budgetL;
  const age = state.firstTick === null ? 0 : nowTick - state.firstTick + 1;
  const o = view * 6;
  const availability = burnWindowList(plan, sums, age, o, budgetA);
  const latency = budgetL
    ? burnWindowList(plan, sums, age, o + 3, budgetL)
    : [];
  const last = sums[plan.oneIdx];
  return {
    availability,
    latency,
    alerting: anyAlerting(availability) || anyAlerting(latency),
    recentBurn: last[o] > 0 ? last[o + 1] / last[o] / budgetA : null,
  };
}

function anyAlerting(ws: BurnWindowEvidence[]): boolean {
  for (let i = 0; i < ws.length; i++) if (ws[i].alerting) return true;
  return false;
}

function burnWindowList(
  plan: StatePlan,
  sums: ArrayLike<number>[],
  age: number,
  k: number,
  budget: number | null,
): BurnWindowEvidence[] {
  const out: BurnWindowEvidence[] = [];
  for (const w of plan.windows) {
    const L = sums[w.li];
    const S = sums[w.si];
    const lr = L[k] > 0 ? L[k + 1] / L[k] : null;
    const sr = S[k] > 0 ? S[k + 1] / S[k] : null;
    const longBurn = lr !== null && budget ? lr / budget : null;
    const shortBurn = sr !== null && budget ? sr / budget : null;
    out.push({
      name: w.name,
      factor: w.factor,
      longSeconds: w.longSeconds,
      shortSeconds: w.shortSeconds,
      longBurn,
      shortBurn,
      longTicksUsed: L[k + 2],
      shortTicksUsed: S[k + 2],
      partial: age < w.lt,
      // the short window must be complete (a young rollout's long window uses what it has)
      alerting:
        longBurn !== null &&
        shortBurn !== null &&
        age >= w.stt &&
        longBurn >= w.factor &&
        shortBurn >= w.factor,
    });
  }
  return out;
}

function guardCheck(
  state: GateState,
  plan: StatePlan,
  nowTick: number,
): BurnEvidence['guard'] {
  const p = state.policy.burn;
  let best: BurnEvidence['guard'] = {
    fired: false,
    burn: null,
    pValue: null,
    window: null,
  };
  const h = state.history;
  const gw = plan.guard.windows;
  for (let wi = 0; wi < gw.length; wi++) {
    const w = gw[wi];
    for (const q of plan.guard.sli) {
      const ia = q.idx[0];
      const ie = q.idx[1];
      let n = 0;
      let x = 0;
      for (let i = h.length - 1; i >= 0; i--) {
        const row = h[i];
        if (row[0] <= nowTick - w) break;
        const a = row[ia];
        const e = row[ie];
        if (a !== null && e !== null) {
          n += a;
          x += e;
        }
      }
      if (n <= 0 || !(q.budget > 0)) continue;
      const burn = x / n / q.budget;
      if (burn <= p.promoteMaxBurn) continue;
      const pv = poissonUpperTail(x, p.promoteMaxBurn * q.budget * n);
      if (best.pValue === null || pv < best.pValue) {
        best = {
          fired: pv < p.guardAlpha,
          burn,
          pValue: pv,
          window: q.labels[wi],
        };
      }
    }
  }
  return best;
}

/**
 * Is the canary's count of bad events in the window significantly above what the baseline's rate
 * predicts (Poisson tail, p < 0.001)? Keeps a small canary's burn alert from firing on noise.
 */
function canaryExcessSignificant(
  state: GateState,
  nowTick: number,
  sli: 'availability' | 'latency',
  wTicks: number,
): boolean {
  const [bn, bx, cn, cx] = sli === 'availability' ? [1, 2, 5, 6] : [3, 4, 7, 8];
  let sbn = 0;
  let sbx = 0;
  let scn = 0;
  let scx = 0;
  for (let i = state.history.length - 1; i >= 0; i--) {
    const r = state.history[i];
    if (r[0] <= nowTick - wTicks) break;
    if (r[bn] === null || r[bx] === null || r[cn] === null || r[cx] === null)
      continue;
    sbn += r[bn] as number;
    sbx += r[bx] as number;
    scn += r[cn] as number;
    scx += r[cx] as number;
  }
  if (scn <= 0 || sbn <= 0) return false;
  const expected = (Math.max(sbx, 0.5) / sbn) * scn;
  return poissonUpperTail(scx, expected) < 0.001;
}

function durationText(ticks: number, tickSeconds: number): string {
  const s = ticks * tickSeconds;
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

const SLIS = ['availability', 'latency'] as const;

/** the last tick a key was seen (before the first tick when never) */
function seenAt(state: GateState, k: string): number {
  return (
    state.lastSeen[k] ?? (state.firstTick === null ? 0 : state.firstTick - 1)
  );
}

/** canary share for a log rate ratio u against the expected share p0 */
function shareAt(p0: number, u: number): number {
  if (u === Infinity) return 1;
  if (u === -Infinity) return 0;
  return (p0 * Math.exp(u)) / (p0 * Math.exp(u) + 1 - p0);
}

/** Decide from the state. `now.tick` (default: the last observed tick) lets staleness count as missing data. */
export function decide(state: GateState, now?: { tick: number }): GateDecision {
  const p = state.policy;
  const ctx = state.ctx;
  const plan = planOf(state);
  const nowTick = Math.max(now?.tick ?? state.lastTick, state.lastTick);
  const enabled = state.signals;
  const signals: SignalEvidence[] = [];
  for (let i = 0; i < enabled.length; i++)
    signals.push(evaluateSignal(state, plan, enabled[i], plan.sig[i]));

  // --- freshness
  const canaryMissingTicks = nowTick - seenAt(state, 'canary');
  const baselineMissingTicks = nowTick - seenAt(state, 'baseline');
  const missingFields: string[] = [];
  let worstFieldGap = 0;
  for (let ci = 0; ci < 2; ci++) {
    for (const fp of plan.fields) {
      const k = ci === 0 ? fp.bKey : fp.cKey;
      const gap = nowTick - seenAt(state, k);
      if (gap > 0) {
        missingFields.push(k);
        worstFieldGap = Math.max(worstFieldGap, gap);
      }
    }
  }
  const stale = nowTick > state.lastTick;
  const freshness = {
    lastTick: state.lastTick,
    canaryMissingTicks,
    baselineMissingTicks,
    missingFields,
    canaryGapTicks: state.canaryGapTicks + (nowTick - state.lastTick),
    stale,
  };

  // --- SRM
  const srmP = p.srm;
  const tolU = plan.srmTolU;
  const srmTables = mixtureTables(state.srm, srmP.mixtureScale, TABLES);
  const srmUp = rateLogMixtureLR(
    state.srm,
    tolU,
    1,
    srmP.mixtureScale,
    srmTables,
  );
  const srmDown = rateLogMixtureLR(
    state.srm,
    -tolU,
    -1,
    srmP.mixtureScale,
    srmTables,
  );
  const srmStat = state.srm.ticks > 0 ? Math.max(srmUp, srmDown) : 0;
  const srmThr = plan.srmThreshold;
  const totalReq = state.srm.canaryEvents + state.srm.baselineEvents;
  const observedShare = totalReq > 0 ? state.srm.canaryEvents / totalReq : null;
  let srmCi: [number, number] | null = null;
  if (state.srm.ticks > 0) {
    const [lo, hi] = rateConfidenceSequence(
      state.srm,
      srmP.alpha,
      srmP.mixtureScale,
      srmTables,
    );
    const p0 = ctx.expectedCanaryShare;
    srmCi = [shareAt(p0, lo), shareAt(p0, hi)];
  }
  const srm = {
    enabled: srmP.enabled,
    expectedShare: ctx.expectedCanaryShare,
    observedShare,
    statistic: srmStat,
    threshold: srmThr,
    ci: srmCi,
    mismatch: srmP.enabled && srmStat >= srmThr,
    requests: {
      baseline: state.srm.baselineEvents,
      canary: state.srm.canaryEvents,
    },
  };

  // --- burn
  const burnOn = p.burn.enabled;
  const lengths = state.windowSums.lengths;
  // the window sums at nowTick, aligned with `lengths` (read only: the state's own when fresh)
  let wsums: ArrayLike<number>[];
  if (nowTick === state.lastTick) wsums = state.windowSums.sums;
  else {
    const m = computeWindowSums(state, nowTick, lengths);
    wsums = lengths.map(L => m.get(L)!);
  }
  const canaryBurn = burnWindows(state, plan, nowTick, 0, wsums);
  const baselineBurn = burnWindows(state, plan, nowTick, 1, wsums);
  const serviceBurn = burnWindows(state, plan, nowTick, 2, wsums);
  const guard = burnOn
    ? guardCheck(state, plan, nowTick)
    : { fired: false, burn: null, pValue: null, window: null };
  const burn: BurnEvidence = {
    canary: canaryBurn,
    service: serviceBurn,
    baseline: baselineBurn,
    guard,
  };

  // canary-only burn: the canary alerts on an SLI where the rest of the service does not, and burns ≥ 2× faster
  const canaryOnly: string[] = [];
  if (burnOn) {
    for (const sli of SLIS) {
      const cws = canaryBurn[sli];
      for (let i = 0; i < cws.length; i++) {
        const w = cws[i];
        const bw = baselineBurn[sli][i];
        if (
          w.alerting &&
          bw &&
          !bw.alerting &&
          w.longBurn !== null &&
          w.longBurn >= 2 * (bw.longBurn ?? 0) &&
          canaryExcessSignificant(
            state,
            nowTick,
            sli,
            windowTicks(w.longSeconds, ctx.tickSeconds),
          )
        ) {
          canaryOnly.push(
            `canary is burning its ${sli} error budget at ${num(w.longBurn, 3)}× (${durationText(w.longTicksUsed, ctx.tickSeconds)}) and ${num(w.shortBurn, 3)}× (${durationText(w.shortTicksUsed, ctx.tickSeconds)}), over the ${w.factor}× ${w.name} threshold, while the rest of the service burns at ${num(bw.longBurn, 3)}×`,
          );
        }
      }
    }
  }
  const serviceAlert = burnOn && (baselineBurn.alerting || guard.fired);

  // --- verdict
  const rollbackReasons: string[] = [];
  const holdReasons: string[] = [];
  const infoReasons: string[] = [];
  for (const ev of signals) {
    if (ev.rule === 'deterioration') {
      rollbackReasons.push(
        `${ev.name}: ${estimateText(ev)} (${ev.difference === null ? '' : signedDifference(ev.scale, ev.difference)}, ${ciText(ev)}): canary worse than baseline${ev.deteriorationMargin > 0 ? ` beyond the ${ev.scale === 'relative' ? pct(ev.deteriorationMargin, 1) : num(ev.deteriorationMargin)} margin` : ''} (e-value ${num(Math.exp(ev.statistic))} ≥ ${num(Math.exp(ev.threshold))})`,
      );
    }
  }
  if (
    canaryOnly.length &&
    p.burn.canaryAlertAction === 'rollback' &&
    !serviceAlert
  )
    rollbackReasons.push(...canaryOnly);
  else if (canaryOnly.length) holdReasons.push(...canaryOnly);

  if (state.firstTick === null) holdReasons.push('no telemetry received yet');
  if (state.firstTick !== null && canaryMissingTicks > 0)
    holdReasons.push(
      `canary telemetry missing for ${canaryMissingTicks} tick${canaryMissingTicks > 1 ? 's' : ''}`,
    );
  if (state.firstTick !== null && baselineMissingTicks > 0)
    holdReasons.push(
      `baseline telemetry missing for ${baselineMissingTicks} tick${baselineMissingTicks > 1 ? 's' : ''}`,
    );
  const fieldOnly = missingFields.filter(
    f =>
      !(f.startsWith('canary.') && canaryMissingTicks > 0) &&
      !(f.startsWith('baseline.') && baselineMissingTicks > 0),
  );
  if (state.firstTick !== null && fieldOnly.length)
    holdReasons.push(
      `telemetry fields missing in the latest tick: ${fieldOnly.join(', ')}`,
    );
  const missingHold =
    state.firstTick === null ||
    canaryMissingTicks > p.freshness.maxMissingTicks ||
    baselineMissingTicks > p.freshness.maxMissingTicks ||
    worstFieldGap > p.freshness.maxMissingTicks;
  const anyMissing = state.firstTick === null || missingFields.length > 0;

  if (srm.mismatch) {
    holdReasons.push(
      `sample ratio mismatch: canary received ${pct(observedShare)} of requests, expected ${pct(ctx.expectedCanaryShare)} (${Math.round((1 - srmP.alpha) * 1000) / 10}% always-valid CI ${pct(srmCi?.[0] ?? null)} to ${pct(srmCi?.[1] ?? null)}); the comparison cannot be trusted`,
    );
  }
  if (serviceAlert) {
    const parts: string[] = [];
    for (const sli of ['availability', 'latency'] as const) {
      for (const w of baselineBurn[sli]) {
        if (w.alerting)
          parts.push(
            `${sli} budget burning at ${num(w.longBurn)}× / ${num(w.shortBurn)}× (${w.name}: ${w.factor}× over ${durationText(w.longTicksUsed, ctx.tickSeconds)} and ${durationText(w.shortTicksUsed, ctx.tickSeconds)}${w.partial ? ', rollout younger than the long window' : ''})`,
          );
      }
    }
    if (guard.fired)
      parts.push(
        `${guard.window}: burning at ${num(guard.burn)}×, above the ${p.burn.promoteMaxBurn}× allowed for promotion (p ${guard.pValue !== null && guard.pValue < 1e-12 ? '' : '= '}${pValue(guard.pValue)})`,
      );
    holdReasons.push(
      `service-wide error-budget burn not tied to the canary: ${parts.join('; ')}`,
    );
  }

  // recent-window check (promotion only): is the canary worse than the baseline right now?
  const recentBlock: string[] = [];
  const recentL = plan.recentL;
  const rs = plan.recentIdx >= 0 ? wsums[plan.recentIdx] : undefined;
  if (rs && p.promote.recentWindowSeconds > 0) {
    const checks: Array<[string, number, number, number, number, boolean]> = [
      ['error rate', rs[1], rs[0], rs[7], rs[6], plan.errOn],
      ['latency', rs[4], rs[3], rs[10], rs[9], plan.latOn],
    ];
    for (const [name, xc, nc, xb, nb, on] of checks) {
      if (!on || !(nc > 0) || !(nb > 0)) continue;
      const e = xc + xb;
      if (e <= 0 || xc / nc <= xb / nb) continue;
      const sh = nc / (nc + nb);
      // cheap pre-filter: a z-score below 1 cannot reach p < 0.15
      if (
        e * sh * (1 - sh) > 25 &&
        (xc - e * sh) / Math.sqrt(e * sh * (1 - sh)) < 1 &&
        p.promote.recentAlpha < 0.15
      )
        continue;
      const pv = binomialUpperTail(xc, e, sh);
      if (pv < p.promote.recentAlpha) {
        recentBlock.push(
          `${name} over the last ${durationText(Math.max(1, Math.min(recentL, rs[2])), ctx.tickSeconds)}: canary ${pct(xc / nc, 3)} vs baseline ${pct(xb / nb, 3)} (p ${pv < 1e-12 ? '' : '= '}${pValue(pv)}); not promoting while it looks worse`,
        );
      }
    }
  }

  // KPI brake (promotion only): a business KPI not yet shown non-inferior that looks worse over the step
  if (p.promote.kpiLeanAlpha > 0) {
    for (let i = 0; i < enabled.length; i++) {
      const ev = signals[i];
      if (ev.rule === 'non-inferiority' || ev.rule === 'deterioration')
        continue;
      const lean = kpiLean(enabled[i]);
      if (!lean || !(lean.pValue < p.promote.kpiLeanAlpha)) continue;
      const value = (v: number) =>
        ev.kind === 'kpi-proportion' ? pct(v, 2) : num(v, 4);
      const rel =
        lean.baseline !== 0
          ? ` (${signedPct((lean.canary - lean.baseline) / Math.abs(lean.baseline))})`
          : '';
      recentBlock.push(
        `${ev.name} over the step: canary ${value(lean.canary)} vs baseline ${value(lean.baseline)}${rel}, one-sided p = ${pValue(lean.pValue)}; not promoting while a KPI looks worse (not yet proven: the gate keeps watching at this exposure)`,
      );
    }
  }

  // promotion eligibility
  const minTicks = plan.minTicks;
  const elapsedTicks =
    state.firstTick === null ? 0 : nowTick - state.firstTick + 1;
  const guardrails = signals.filter(s => s.guardrail);
  const guardrailsNI = guardrails.every(s => s.rule === 'non-inferiority');
  const allNI = signals.every(s => s.rule === 'non-inferiority');
  const anyDet = rollbackReasons.length > 0;
  const totalW = signals.reduce((a, s) => a + s.weight, 0);
  const score =
    totalW > 0
      ? signals.reduce((a, s) => a + s.weight * s.score, 0) / totalW
      : 0;
  const durationOk =
    elapsedTicks >= minTicks &&
    state.canaryRequests >= p.promote.minCanaryRequests;
  const blocked =
    anyDet || holdReasons.length > 0 || anyMissing || recentBlock.length > 0;
  let rubric: GateRubric = 'not ready';
  if (!blocked && durationOk && guardrailsNI && score >= p.promote.minScore)
    rubric = allNI ? 'ready' : 'provisionally ready';
  const eligible =
    rubric === 'ready' ||
    (rubric === 'provisionally ready' &&
      p.promote.requireRubric === 'provisionally ready');

  let verdict: GateVerdictValue;
  let reasons: string[];
  if (anyDet) {
    verdict = 'rollback';
    reasons = [...rollbackReasons, ...holdReasons];
  } else if (
    holdReasons.length &&
    (missingHold || srm.mismatch || serviceAlert || canaryOnly.length)
  ) {
    verdict = 'hold';
    reasons = holdReasons;
  } else if (eligible) {
    verdict = 'promote';
    const ni = guardrails.map(
      s =>
        `${s.name} ${estimateText(s)} (${ciText(s)}), within the ${s.scale === 'relative' ? pct(s.margin, 1) : num(s.margin)} margin`,
    );
    reasons = [
      `${rubric}: every guardrail is non-inferior after ${durationText(elapsedTicks, ctx.tickSeconds)} and ${state.canaryRequests} canary requests (score ${score.toFixed(2)})`,
      ...ni,
    ];
    const pending = signals.filter(
      s => !s.guardrail && s.rule !== 'non-inferiority',
    );
    if (pending.length)
      reasons.push(
        `not yet shown non-inferior (not guardrails): ${pending.map(s => s.name).join(', ')}`,
      );
  } else {
    verdict = 'continue';
    reasons = [...holdReasons, ...recentBlock];
    if (!durationOk && state.firstTick !== null) {
      const waits: string[] = [];
      if (elapsedTicks < minTicks)
        waits.push(
          `${durationText(elapsedTicks, ctx.tickSeconds)} of the ${durationText(minTicks, ctx.tickSeconds)} minimum duration`,
        );
      if (state.canaryRequests < p.promote.minCanaryRequests)
        waits.push(
          `${state.canaryRequests} of the ${p.promote.minCanaryRequests} minimum canary requests`,
        );
      infoReasons.push(`observing: ${waits.join(', ')}`);
    }
    const pendingG = guardrails.filter(s => s.rule !== 'non-inferiority');
    if (pendingG.length)
      infoReasons.push(
        `guardrails not yet shown non-inferior: ${pendingG.map(s => s.name).join(', ')}`,
      );
    reasons.push(...infoReasons);
  }

  return {
    verdict,
    reasons,
    rubric,
    score,
    signals,
    checks: {
      srm,
      freshness,
      burn,
      promotion: {
        elapsedTicks,
        minTicks,
        canaryRequests: state.canaryRequests,
        minCanaryRequests: p.promote.minCanaryRequests,
        guardrailsNonInferior: guardrailsNI,
        eligible,
      },
    },
    tick: nowTick,
  };
}

/** Fold all ticks, then decide at the last one. */
export function evaluateGate(
  ctx: GateContext,
  ticks: TelemetryTick[],
  policy?: GatePolicyInput | GatePolicy,
): GateDecision {
  const state = createGateState(ctx, policy);
  const sorted = [...ticks].sort((a, b) => a.tick - b.tick);
  for (const t of sorted) observeTickInPlace(state, t);
  return decide(state);
}
