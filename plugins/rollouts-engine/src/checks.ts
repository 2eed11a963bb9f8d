/**
 * The checks a decision runs besides the signal tests: freshness, sample ratio mismatch, burn
 * rates, and the two promotion brakes (recent window, KPI lean).
 */
import {
  computeWindowSums,
  burnWindows,
  canaryExcessSignificant,
  guardCheck,
} from './burn';
import { kpiLean } from './kpiLean';
import { binomialUpperTail } from './math';
import type { StatePlan } from './plan';
import { TABLES } from './plan';
import { durationText, num, pct, pValue, signedPct } from './reasons';
import {
  mixtureTables,
  rateConfidenceSequence,
  rateLogMixtureLR,
} from './sequential';
import { GateState, windowTicks } from './state';
import type {
  BurnEvidence,
  FreshnessEvidence,
  SignalEvidence,
  SrmEvidence,
} from './types';

export const SLIS = ['availability', 'latency'] as const;

/** the last tick a key was seen (before the first tick when never) */
export function seenAt(state: GateState, k: string): number {
  return (
    state.lastSeen[k] ?? (state.firstTick === null ? 0 : state.firstTick - 1)
  );
}

/** canary share for a log rate ratio u against the expected share p0 */
export function shareAt(p0: number, u: number): number {
  if (u === Infinity) return 1;
  if (u === -Infinity) return 0;
  return (p0 * Math.exp(u)) / (p0 * Math.exp(u) + 1 - p0);
}

export interface FreshnessCheck {
  freshness: FreshnessEvidence;
  canaryMissingTicks: number;
  baselineMissingTicks: number;
  missingFields: string[];
  worstFieldGap: number;
}

/** Which cohort lines and fields are missing at `nowTick`. */
export function freshnessCheck(
  state: GateState,
  plan: StatePlan,
  nowTick: number,
): FreshnessCheck {
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

  return {
    freshness,
    canaryMissingTicks,
    baselineMissingTicks,
    missingFields,
    worstFieldGap,
  };
}

/** Sample ratio mismatch: the canary's share of requests against the expected share. */
export function srmCheck(state: GateState, plan: StatePlan): SrmEvidence {
  const p = state.policy;
  const ctx = state.ctx;
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
  return {
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
}

export interface BurnCheck {
  burn: BurnEvidence;
  /** the window sums at nowTick, aligned with `windowSums.lengths` */
  wsums: ArrayLike<number>[];
  /** canary-only burn alerts (reasons) */
  canaryOnly: string[];
  /** the service outside the canary is burning (alert or promotion guard) */
  serviceAlert: boolean;
}

/** Burn windows of the canary, the baseline and the service; the guard; canary-only alerts. */
export function burnCheck(
  state: GateState,
  plan: StatePlan,
  nowTick: number,
): BurnCheck {
  const p = state.policy;
  const ctx = state.ctx;
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

  return { burn, wsums, canaryOnly, serviceAlert };
}

/**
 * The promotion brakes: the recent window (errors, slow requests) and the KPI lean. Reasons
 * that withhold a promotion; they never roll back.
 */
export function promotionBrakes(
  state: GateState,
  plan: StatePlan,
  wsums: ArrayLike<number>[],
  signals: SignalEvidence[],
): string[] {
  const p = state.policy;
  const ctx = state.ctx;
  const enabled = state.signals;
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

  return recentBlock;
}
