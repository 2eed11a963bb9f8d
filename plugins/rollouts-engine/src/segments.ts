/**
 * Segments: the rate signals tested inside each segment (dimension = value) of the telemetry's
 * `segments`, and the canary's segment mix against the expected share (M9, representativeness).
 * Off (no state, no cost) while the policy's `segments.dimensions` is empty.
 *
 * Error control (docs/gate-engine.md, "Segments"):
 * - harm: `segments.alpha` is split by Bonferroni over dimensions × `maxValues` cells (a number
 *   fixed in advance, whatever values turn up) and, inside a cell, over the rate signals as the
 *   whole splits its α (weights or equal). Each cell's test is the whole's always-valid
 *   conditional-binomial mixture on the cell's own counts, so P(any segment false alarm) ≤
 *   `segments.alpha`; when segment harm rolls back, the whole spends alpha − segments.alpha
 *   (policy.ts `segmentsAlphaOut`), so P(any false rollback) ≤ alpha, as without segments.
 * - mix: per dimension, each value's canary requests among the value's requests are
 *   Binomial(E_v, p0) under "the canary gets its expected share of every segment"; given the
 *   E_v these are independent across values, so the product of the values' two-sided mixtures
 *   is one e-process per dimension, tested at `representativeness.alpha / dimensions`.
 */
import { fieldPlan, FieldPlan, isCount, present } from './fields';
import { slowCount } from './histogram';
import type { StatePlan } from './plan';
import { TABLES } from './plan';
import {
  createRateTest,
  mixtureTables,
  RateTestState,
  rateConfidenceSequence,
  rateLogMixtureLR,
  ShareTerms,
  updateRateTest,
} from './sequential';
import type { GateSignalState, GateState } from './state';
import type {
  CohortCounts,
  LatencyHistogram,
  ProportionKpiCounts,
  SegmentCellEvidence,
  SegmentEvidence,
  SegmentSignalEvidence,
} from './types';

export interface SegmentCellState {
  dimension: string;
  value: string;
  /** aligned with the state's signals: a rate test, or null (mean KPIs are not tested per segment) */
  rates: Array<RateTestState | null>;
  baselineRequests: number;
  canaryRequests: number;
  /** last tick both cohorts reported the segment */
  lastSeen: number;
}

export interface SegmentMixState {
  dimension: string;
  values: string[];
  /** per value: its canary requests among its requests against the expected share */
  tests: RateTestState[];
}

export interface SegmentsState {
  cells: SegmentCellState[];
  /** values beyond `maxValues` per dimension (reported, not tested) */
  overflow: Record<string, string[]>;
  mix: SegmentMixState[];
  /** last tick each dimension was reported by both cohorts */
  lastSeen: Record<string, number>;
}

/** at most this many values per dimension in the mix test's state */
const MAX_MIX_VALUES = 32;

export function createSegmentsState(p: GateState['policy']): SegmentsState {
  return {
    cells: [],
    overflow: {},
    mix: p.segments.dimensions.map(dimension => ({
      dimension,
      values: [],
      tests: [],
    })),
    lastSeen: {},
  };
}

export function cloneSegmentsState(s: SegmentsState): SegmentsState {
  return {
    cells: s.cells.map(c => ({
      ...c,
      rates: c.rates.map(r => (r ? { ...r, ll: r.ll.slice() } : null)),
    })),
    overflow: Object.fromEntries(
      Object.entries(s.overflow).map(([k, v]) => [k, v.slice()]),
    ),
    mix: s.mix.map(m => ({
      dimension: m.dimension,
      values: m.values.slice(),
      tests: m.tests.map(r => ({ ...r, ll: r.ll.slice() })),
    })),
    lastSeen: { ...s.lastSeen },
  };
}

/** field plans of each signal (fields are few; cached by the signal's fields array) */
const FIELD_PLANS = new WeakMap<string[], FieldPlan[]>();
function fieldPlans(s: GateSignalState): FieldPlan[] {
  let f = FIELD_PLANS.get(s.fields);
  if (!f) {
    f = s.fields.map(fieldPlan);
    FIELD_PLANS.set(s.fields, f);
  }
  return f;
}

function valuesOf(
  c: CohortCounts | undefined,
  dim: string,
): Record<string, CohortCounts> | undefined {
  const v = c?.segments?.[dim];
  return v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
}

/** one signal's events / exposure in one segment of both cohorts */
function updateCellRate(
  state: GateState,
  s: GateSignalState,
  r: RateTestState,
  b: CohortCounts,
  c: CohortCounts,
): void {
  for (const fp of fieldPlans(s))
    if (!present(b, fp) || !present(c, fp)) return;
  switch (s.kind) {
    case 'error-rate':
      updateRateTest(
        r,
        c.errors as number,
        c.requests as number,
        b.errors as number,
        b.requests as number,
      );
      break;
    case 'latency': {
      const t = state.ctx.slo.latency?.thresholdMs;
      if (t === undefined) return;
      const cs = slowCount(c.latency as LatencyHistogram, t);
      const bs = slowCount(b.latency as LatencyHistogram, t);
      if (cs && bs) updateRateTest(r, cs.slow, cs.total, bs.slow, bs.total);
      break;
    }
    case 'kpi-proportion': {
      const vc = c.kpis![s.key!] as ProportionKpiCounts;
      const vb = b.kpis![s.key!] as ProportionKpiCounts;
      if ('trials' in vc && 'trials' in vb)
        updateRateTest(r, vc.successes, vc.trials, vb.successes, vb.trials);
      break;
    }
    case 'count': {
      const vc = c.counts![s.key!];
      const vb = b.counts![s.key!];
      updateRateTest(r, vc.events, vc.exposures, vb.events, vb.exposures);
      break;
    }
    default:
      break;
  }
}

function cellFor(
  state: GateState,
  seg: SegmentsState,
  dim: string,
  value: string,
): SegmentCellState | undefined {
  const found = seg.cells.find(x => x.dimension === dim && x.value === value);
  if (found) return found;
  const over = seg.overflow[dim];
  if (over?.includes(value)) return undefined;
  const count = seg.cells.filter(x => x.dimension === dim).length;
  if (count >= state.policy.segments.maxValues) {
    seg.overflow[dim] = [...(over ?? []), value];
    return undefined;
  }
  const cell: SegmentCellState = {
    dimension: dim,
    value,
    rates: state.signals.map(s => (s.rate ? createRateTest() : null)),
    baselineRequests: 0,
    canaryRequests: 0,
    lastSeen: 0,
  };
  seg.cells.push(cell);
  return cell;
}

/** Fold one tick's segments (both cohorts' counts of a segment are needed; absent = missing). */
export function observeSegments(
  state: GateState,
  t: number,
  b: CohortCounts | undefined,
  c: CohortCounts | undefined,
  terms: ShareTerms,
): void {
  const seg = state.segments;
  if (!seg) return;
  const p0 = state.ctx.expectedCanaryShare;
  for (const mix of seg.mix) {
    const dim = mix.dimension;
    const bv = valuesOf(b, dim);
    const cv = valuesOf(c, dim);
    if (!bv || !cv) continue;
    let any = false;
    for (const value of Object.keys(cv)) {
      const bc = bv[value];
      const cc = cv[value];
      if (!bc || !cc || typeof bc !== 'object' || typeof cc !== 'object')
        continue;
      any = true;
      const cell = cellFor(state, seg, dim, value);
      if (cell) {
        cell.lastSeen = t;
        if (isCount(bc.requests) && isCount(cc.requests)) {
          cell.baselineRequests += bc.requests;
          cell.canaryRequests += cc.requests;
        }
        state.signals.forEach((s, i) => {
          const r = cell.rates[i];
          if (r) updateCellRate(state, s, r, bc, cc);
        });
      }
      // the mix: this value's canary requests among its requests, null share p0
      if (isCount(bc.requests) && isCount(cc.requests)) {
        let vi = mix.values.indexOf(value);
        if (vi < 0 && mix.values.length < MAX_MIX_VALUES) {
          mix.values.push(value);
          mix.tests.push(createRateTest());
          vi = mix.values.length - 1;
        }
        if (vi >= 0)
          updateRateTest(
            mix.tests[vi],
            cc.requests,
            p0,
            bc.requests,
            1 - p0,
            terms,
          );
      }
    }
    if (any) seg.lastSeen[dim] = t;
  }
}

export interface SegmentCheck {
  evidence: SegmentEvidence;
  /** one reason per harmed segment */
  harmReasons: string[];
  /** configured dimensions absent from the latest tick (promotion waits) */
  missingReasons: string[];
}

/** each rate signal's share of a cell's α (as the whole splits its α) */
export function signalShares(state: GateState, plan: StatePlan): number[] {
  const rateIdx = state.signals.map(s => !!s.rate);
  const w = plan.sig.map((sp, i) => (rateIdx[i] ? sp.weight : 0));
  const wSum = w.reduce((a, x) => a + x, 0);
  const n = rateIdx.filter(Boolean).length;
  const useW =
    state.policy.alphaSplit === 'weights' &&
    wSum > 0 &&
    w.every((x, i) => !rateIdx[i] || x > 0);
  return w.map((x, i) => {
    if (!rateIdx[i]) return 0;
    return useW ? x / wSum : 1 / Math.max(1, n);
  });
}

export const pctText = (x: number | null, d = 2) =>
  x === null || !Number.isFinite(x) ? 'n/a' : `${(x * 100).toFixed(d)}%`;
const signed = (x: number) =>
  Number.isFinite(x)
    ? `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)}%`
    : '+∞';
export const eText = (logE: number) => Number(Math.exp(logE).toPrecision(3));

function cellSignal(
  s: GateSignalState,
  r: RateTestState,
  uDet: number,
  sigma: number,
  alpha: number,
): SegmentSignalEvidence {
  const threshold = Math.log(1 / alpha);
  const ciAlpha = Math.min(0.5, 2 * alpha);
  const ev: SegmentSignalEvidence = {
    name: s.name,
    kind: s.kind,
    baseline: null,
    canary: null,
    difference: null,
    ci: null,
    alphaCi: ciAlpha,
    statistic: 0,
    threshold,
    rule: 'missing',
    samples: {
      baseline: r.baselineExposure,
      canary: r.canaryExposure,
      ticks: r.ticks,
    },
  };
  if (r.ticks === 0) return ev;
  const pb =
    r.baselineExposure > 0 ? r.baselineEvents / r.baselineExposure : null;
  const pc = r.canaryExposure > 0 ? r.canaryEvents / r.canaryExposure : null;
  ev.baseline = pb;
  ev.canary = pc;
  ev.difference = pb && pc !== null ? pc / pb - 1 : null;
  if (r.canaryEvents + r.baselineEvents === 0) {
    ev.rule = 'insufficient-data';
    return ev;
  }
  const tables = mixtureTables(r, sigma, TABLES);
  ev.statistic = rateLogMixtureLR(r, uDet, s.harmSign, sigma, tables);
  const [lo, hi] = rateConfidenceSequence(r, ciAlpha, sigma, tables);
  ev.ci = [Math.exp(lo) - 1, Math.exp(hi) - 1];
  ev.rule = ev.statistic >= threshold ? 'deterioration' : 'inconclusive';
  return ev;
}

/** The segment tests at a decision. */
export function segmentCheck(
  state: GateState,
  plan: StatePlan,
  nowTick: number,
): SegmentCheck | undefined {
  const seg = state.segments;
  if (!seg) return undefined;
  const sp = state.policy.segments;
  const dims = sp.dimensions;
  const cellBudget = dims.length * sp.maxValues;
  const cellAlpha = sp.alpha / cellBudget;
  const shares = signalShares(state, plan);
  const cells: SegmentCellEvidence[] = [];
  const harmReasons: string[] = [];
  const harmed: string[] = [];
  for (const dim of dims) {
    const dimCells = seg.cells.filter(x => x.dimension === dim);
    const bTot = dimCells.reduce((a, x) => a + x.baselineRequests, 0);
    const cTot = dimCells.reduce((a, x) => a + x.canaryRequests, 0);
    for (const cell of dimCells) {
      const baselineShare = bTot > 0 ? cell.baselineRequests / bTot : null;
      const canaryShare = cTot > 0 ? cell.canaryRequests / cTot : null;
      const tested = baselineShare !== null && baselineShare >= sp.minShare;
      const signals: SegmentSignalEvidence[] = [];
      cell.rates.forEach((r, i) => {
        if (!r) return;
        signals.push(
          cellSignal(
            state.signals[i],
            r,
            plan.sig[i].uDet,
            plan.sig[i].sigma,
            cellAlpha * shares[i],
          ),
        );
      });
      const worse = tested
        ? signals.filter(x => x.rule === 'deterioration')
        : [];
      const name = `${dim}=${cell.value}`;
      if (worse.length) harmed.push(name);
      for (const w of worse) {
        harmReasons.push(
          `segment ${name}: ${w.name} canary ${pctText(w.canary, 3)} vs baseline ${pctText(w.baseline, 3)} (${w.difference === null ? 'n/a' : signed(w.difference)}, ${Math.round((1 - w.alphaCi) * 10000) / 100}% always-valid CI ${w.ci ? `${signed(w.ci[0])} to ${signed(w.ci[1])}` : 'n/a'}): canary worse than baseline in this segment (e-value ${eText(w.statistic)} ≥ ${eText(w.threshold)})`,
        );
      }
      cells.push({
        dimension: dim,
        value: cell.value,
        baselineShare,
        canaryShare,
        tested,
        missing: cell.lastSeen < nowTick,
        harmed: worse.length > 0,
        signals,
        note: tested
          ? undefined
          : `below the ${pctText(sp.minShare, 0)} minimum share: reported, not tested`,
      });
    }
    for (const value of seg.overflow[dim] ?? []) {
      cells.push({
        dimension: dim,
        value,
        baselineShare: null,
        canaryShare: null,
        tested: false,
        missing: false,
        harmed: false,
        signals: [],
        note: `beyond the first ${sp.maxValues} values of ${dim} (segments.maxValues): not tested`,
      });
    }
  }
  const missingDimensions = dims.filter(d => (seg.lastSeen[d] ?? -1) < nowTick);
  const missingReasons = missingDimensions.length
    ? [
        `segment telemetry missing in the latest tick: ${missingDimensions.join(', ')}; not promoting until the segments are seen`,
      ]
    : [];
  return {
    evidence: {
      dimensions: dims,
      alpha: sp.alpha,
      cellBudget,
      onHarm: sp.onHarm,
      minShare: sp.minShare,
      cells,
      harmed,
      missingDimensions,
    },
    harmReasons,
    missingReasons,
  };
}
