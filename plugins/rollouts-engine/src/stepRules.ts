/**
 * The rules a whole rollout applies per step: the exposure each promotion opens, the step's
 * minimum and maximum duration, how α is split, and what reaching the step maximum does.
 */
import type { GatePolicy } from './policy';
import { pct } from './reasons';
import type { GateDecision, HarmBound } from './types';

export interface StepRules {
  /** the share the next promotion opens (1: full) */
  nextShare: number;
  /** minimum duration and canary requests before promoting */
  minSeconds: number;
  minCanaryRequests: number;
  /** the step maximum */
  maxSeconds: number;
  /** the parts of each signal's α spent on the test from the start and on the change detector */
  startAlphaShare: number;
  changeAlphaShare: number;
}

/** linear in the exposure opened: `small` at none, `full` at 100 % */
function byExposure(small: number, full: number, share: number): number {
  return small + (full - small) * share;
}

/**
 * The rules of step `stepIndex` (0-based) of `ladder`. Promotion criteria scale with the exposure
 * the promotion opens: the minimum duration and canary requests go linearly from the policy's
 * `rollout.minStepSeconds` / `minStepCanaryRequests` (no exposure; never more than the full
 * exposure's) to `promote.minDurationSeconds` / `minCanaryRequests` (everyone), and the non-inferiority margins are divided by the exposure
 * (`promote.exposure`, applied by the step gate). A step's own `minDurationSeconds` and
 * `maxDurationSeconds` (policy `steps[]`, when it has one entry per ladder step) win.
 */
export function stepRules(
  policy: GatePolicy,
  ladder: number[],
  stepIndex: number,
): StepRules {
  const r = policy.rollout;
  const nextShare = stepIndex + 1 < ladder.length ? ladder[stepIndex + 1] : 1;
  const own =
    policy.steps.length === ladder.length ? policy.steps[stepIndex] : undefined;
  // Opening a small exposure never asks more than opening everyone: a policy whose
  // promote.minDurationSeconds is below rollout.minStepSeconds uses it for every step.
  const fullSeconds = policy.promote.minDurationSeconds;
  const minSeconds = Math.max(
    byExposure(Math.min(r.minStepSeconds, fullSeconds), fullSeconds, nextShare),
    own?.minDurationSeconds ?? 0,
  );
  const cd = r.changeDetection;
  return {
    nextShare,
    minSeconds,
    minCanaryRequests: byExposure(
      Math.min(r.minStepCanaryRequests, policy.promote.minCanaryRequests),
      policy.promote.minCanaryRequests,
      nextShare,
    ),
    maxSeconds: Math.max(
      own?.maxDurationSeconds ?? r.maxStepSeconds,
      minSeconds,
    ),
    startAlphaShare: cd.enabled ? 1 - cd.alphaShare : 1,
    changeAlphaShare: cd.enabled ? cd.alphaShare : 0,
  };
}

/** the worst value of a signal's difference that its always-valid interval allows */
export function harmBounds(d: GateDecision): HarmBound[] {
  return d.signals.map(s => {
    const harmUp =
      s.kind === 'error-rate' ||
      s.kind === 'latency' ||
      s.direction === 'decrease';
    let upper: number | null = null;
    if (s.ci) upper = harmUp ? s.ci[1] : s.ci[0];
    return {
      name: s.name,
      upper: upper !== null && Number.isFinite(upper) ? upper : null,
      scale: s.scale,
      level: 1 - s.alphaCi,
    };
  });
}

function boundText(b: HarmBound): string {
  const level = `${Math.round(b.level * 1000) / 10}%`;
  if (b.upper === null) return `${b.name} not bounded yet`;
  const v =
    b.scale === 'relative'
      ? `${b.upper >= 0 ? '+' : '−'}${Math.abs(b.upper * 100).toFixed(1)}%`
      : `${b.upper >= 0 ? '+' : ''}${Number(b.upper.toPrecision(3))}`;
  return `${b.name} at worst ${v} (${level} always-valid)`;
}

export interface TimeoutOutcome {
  action: 'promote' | 'hold';
  /** why, in words (the bounds when promoting, the condition when holding) */
  why: string;
  harmBounds: HarmBound[];
}

/**
 * What reaching the step maximum does. Promote (policy `rollout.onStepTimeout:
 * promote-if-small`) only when the next step opens at most `rollout.timeoutMaxExposure` and no
 * harm is evident: no hold condition (missing data, sample ratio mismatch, service-wide burn), no
 * promotion brake (recent window, KPI lean) and no deterioration; the reasons state the harm
 * bounds the data support. Otherwise hold, saying why.
 */
export function timeoutOutcome(
  policy: GatePolicy,
  rules: StepRules,
  d: GateDecision,
  extra: { brakes: string[]; serviceAlert: boolean },
): TimeoutOutcome {
  const bounds = harmBounds(d);
  const holdWhy: string[] = [];
  if (policy.rollout.onStepTimeout === 'hold')
    holdWhy.push('the policy holds at a step maximum');
  if (rules.nextShare > policy.rollout.timeoutMaxExposure) {
    holdWhy.push(
      `the next step would open ${pct(rules.nextShare, 0)}, above the ${pct(policy.rollout.timeoutMaxExposure, 0)} a timeout may promote to`,
    );
  }
  if (d.verdict !== 'continue') holdWhy.push('a hold condition is on');
  if (d.checks.freshness.missingFields.length)
    holdWhy.push('telemetry is missing');
  if (d.checks.srm.mismatch) holdWhy.push('sample ratio mismatch');
  if (d.checks.segments?.missingDimensions.length)
    holdWhy.push('segment telemetry is missing');
  if (extra.serviceAlert)
    holdWhy.push('the service is burning its error budget');
  if (extra.brakes.length)
    holdWhy.push('the canary looks worse (promotion brake)');
  if (d.signals.some(s => s.rule === 'deterioration'))
    holdWhy.push('a signal deteriorated');
  if (d.checks.promotion.canaryRequests < rules.minCanaryRequests) {
    holdWhy.push(
      `too little data to bound the harm (${d.checks.promotion.canaryRequests} of ${Math.ceil(rules.minCanaryRequests)} canary requests)`,
    );
  }
  if (holdWhy.length)
    return { action: 'hold', why: holdWhy.join('; '), harmBounds: bounds };
  return {
    action: 'promote',
    why: `the next exposure is small and no harm is evident: ${bounds.map(boundText).join(', ')}`,
    harmBounds: bounds,
  };
}
