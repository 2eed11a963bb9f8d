/** Each signal's tests at a decision: deterioration, non-inferiority, interval and score. */
import { MIN_MEAN_SAMPLES, sampleVariance } from './math';
import {
  logRatioBound,
  settingsNow,
  SignalPlan,
  StatePlan,
  TABLES,
} from './plan';
import {
  mixtureTables,
  normalLogMixtureOneSided,
  normalMixtureRadius,
  poissonBelowLogMixture,
  rateConfidenceSequence,
  rateLogMixtureLR,
} from './sequential';
import type { GateSignalState, GateState } from './state';
import type { SignalEvidence } from './types';
import { pct } from './reasons';

export function evaluateSignal(
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

export function scoreFrom(hLo: number, hHi: number, bound: number): number {
  if (!Number.isFinite(hLo) || !Number.isFinite(hHi)) {
    if (hHi < bound) return 1;
    if (hLo > bound) return 0;
    return 0.5;
  }
  if (hHi <= hLo) return hHi < bound ? 1 : 0;
  return Math.min(1, Math.max(0, (bound - hLo) / (hHi - hLo)));
}
