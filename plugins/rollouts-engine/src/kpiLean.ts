/**
 * The promotion brake for business KPIs.
 *
 * A KPI effect that matters (conversion −10%) is small next to its noise:
 * at a 25% canary and a few hundred conversions per minute, no always-valid
 * test can tell −10% from nothing within the half hour after which the other
 * signals allow a promotion, and promoting then would expose everyone to
 * the loss. So a KPI that *looks* worse over the step — one-sided p below
 * `alpha` on a plain (fixed-sample) test of all the step's data — keeps the
 * rollout where it is: the gate keeps observing at the current exposure
 * until the always-valid deterioration test proves the harm (rollback) or
 * the lean fades. The brake only ever withholds a promotion; it never rolls
 * back, so the rollback error rate stays the always-valid tests' own.
 */
import type { GateSignalState } from './state';
import { MIN_MEAN_SAMPLES, normalCdf, sampleVariance } from './math';
/** trials per cohort before a proportion is compared */
const MIN_TRIALS = 30;

export interface KpiLean {
  /** canary and baseline value over the step (rate or mean) */
  canary: number;
  baseline: number;
  /** z of "the canary is worse" (positive = worse) */
  z: number;
  /** one-sided p-value of "the canary is worse" */
  pValue: number;
}

/**
 * How much worse the canary's KPI looks over the step, from the signal's
 * running sums (two-proportion z-test with a pooled variance; Welch's z for
 * means). Undefined for other signals or with too little data.
 */
export function kpiLean(s: GateSignalState): KpiLean | undefined {
  let canary: number;
  let baseline: number;
  let se: number;
  if (s.kind === 'kpi-proportion' && s.rate) {
    const {
      canaryEvents: xc,
      canaryExposure: nc,
      baselineEvents: xb,
      baselineExposure: nb,
    } = s.rate;
    if (nc < MIN_TRIALS || nb < MIN_TRIALS) return undefined;
    canary = xc / nc;
    baseline = xb / nb;
    const pooled = (xc + xb) / (nc + nb);
    se = Math.sqrt(pooled * (1 - pooled) * (1 / nc + 1 / nb));
  } else if (s.kind === 'kpi-mean' && s.mean) {
    const m = s.mean;
    if (m.cn < MIN_MEAN_SAMPLES || m.bn < MIN_MEAN_SAMPLES) return undefined;
    canary = m.csum / m.cn;
    baseline = m.bsum / m.bn;
    se = Math.sqrt(
      sampleVariance(m.cn, m.csum, m.csumSq) / m.cn +
        sampleVariance(m.bn, m.bsum, m.bsumSq) / m.bn,
    );
  } else {
    return undefined;
  }
  if (!(se > 0) || !Number.isFinite(se)) return undefined;
  const z = (s.harmSign * (canary - baseline)) / se;
  return { canary, baseline, z, pValue: normalCdf(-z) };
}
