/** Folding one telemetry tick into a gate state. */
import { histogramQuantile, slowCount } from './histogram';
import { present } from './fields';
import { planOf } from './plan';
import { observeSegments } from './segments';
import { updateRateTest } from './sequential';
import {
  addRow,
  BurnRow,
  cloneGateState,
  GateState,
  upperBound,
} from './state';
import type {
  LatencyHistogram,
  MeanKpiCounts,
  ProportionKpiCounts,
  TelemetryTick,
} from './types';
import { key } from './fields';

/** Pure: returns a new state with the tick folded in (the input state is not modified). */
export function observeTick(state: GateState, tick: TelemetryTick): GateState {
  const next = cloneGateState(state);
  observeTickInPlace(next, tick);
  return next;
}

export function quantileOf(
  q: number,
  h: LatencyHistogram | undefined,
): number | null {
  if (!h) return null;
  const v = histogramQuantile(q, h);
  return v !== null && Number.isFinite(v) ? v : null;
}
/** p50/p95/p99 like PromQL histogram_quantile; finite numbers or null (JSON-safe) */
export function quantilesOf(
  h?: LatencyHistogram,
): Record<string, number | null> {
  return {
    p50: quantileOf(0.5, h),
    p95: quantileOf(0.95, h),
    p99: quantileOf(0.99, h),
  };
}

/** has the cohort the field in the tick being folded (a field outside the plan: from `lastSeen`) */
export function hasField(
  state: GateState,
  pres: Uint8Array,
  cohort: 'baseline' | 'canary',
  idx: number,
  f: string,
  t: number,
): boolean {
  return idx >= 0 ? pres[idx] === 1 : state.lastSeen[key(cohort, f)] === t;
}

export type SlowCounts = {
  slow: number;
  total: number;
  boundary: number;
} | null;

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
  if (state.segments) observeSegments(state, t, b, c, plan.srmTerms);
}
