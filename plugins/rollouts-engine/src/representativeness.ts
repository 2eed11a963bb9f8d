/**
 * Representativeness (M9): the canary's segment mix against the expected share, per dimension.
 * Each value's canary requests among its requests are Binomial(E_v, p0) under "the canary gets its
 * expected share of every segment"; given the E_v they are independent across values, so the
 * product of the values' two-sided mixtures (the SRM test's prior) is one e-process per
 * dimension, tested at `segments.representativeness.alpha / dimensions`. Its state is folded
 * with the segments (`segments.ts`).
 */
import { rateLogMixtureLR } from './sequential';
import { eText, pctText } from './segments';
import type { GateState } from './state';
import type { RepresentativenessEvidence } from './types';

export interface RepresentativenessCheck {
  evidence: RepresentativenessEvidence[];
  reasons: string[];
}

/** The segment mix of the canary against the expected share, per dimension (M9). */
export function representativenessCheck(
  state: GateState,
): RepresentativenessCheck | undefined {
  const seg = state.segments;
  const rp = state.policy.segments.representativeness;
  if (!seg || !rp.enabled) return undefined;
  const sigma = state.policy.srm.mixtureScale;
  const alpha = rp.alpha / Math.max(1, seg.mix.length);
  const threshold = Math.log(1 / alpha);
  const evidence: RepresentativenessEvidence[] = [];
  const reasons: string[] = [];
  for (const mix of seg.mix) {
    const bTot = mix.tests.reduce((a, r) => a + r.baselineEvents, 0);
    const cTot = mix.tests.reduce((a, r) => a + r.canaryEvents, 0);
    let statistic = 0;
    const values = mix.values.map((value, i) => {
      const r = mix.tests[i];
      const st = r.ticks > 0 ? rateLogMixtureLR(r, 0, 0, sigma) : 0;
      statistic += st;
      return {
        value,
        baseline: r.baselineEvents,
        canary: r.canaryEvents,
        baselineShare: bTot > 0 ? r.baselineEvents / bTot : null,
        canaryShare: cTot > 0 ? r.canaryEvents / cTot : null,
        statistic: st,
      };
    });
    const mismatch = statistic >= threshold;
    evidence.push({
      dimension: mix.dimension,
      statistic,
      threshold,
      alpha,
      mismatch,
      values,
    });
    if (mismatch) {
      const off = values.reduce((a, v) => (v.statistic > a.statistic ? v : a));
      const over =
        (off.canaryShare ?? 0) >= (off.baselineShare ?? 0)
          ? 'over-sampled'
          : 'under-sampled';
      reasons.push(
        `unrepresentative canary: ${mix.dimension}=${off.value} is ${over} (${pctText(off.canaryShare, 1)} of canary requests vs ${pctText(off.baselineShare, 1)} of baseline; segment-mix e-value ${eText(statistic)} ≥ ${eText(threshold)}); the cohorts are not comparable`,
      );
    }
  }
  return { evidence, reasons };
}
