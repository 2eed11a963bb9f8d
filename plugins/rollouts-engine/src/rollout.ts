/**
 * The whole-rollout gate: one rollout walked up a ladder of canary shares, gated as one test.
 *
 * What it carries across steps, and why:
 * - the signals' e-processes (conditional-binomial log-likelihood grids, mean sums): the
 *   likelihood of every tick is taken at that tick's own exposure share, so the product over all
 *   the ticks of all the steps is one e-process, and one rollback test at α covers the whole
 *   rollout whatever the number of steps (instead of a fresh test at α per step, k·α);
 * - the change detectors (`changeDetection.ts`), which catch regressions starting at any time;
 * - the freshness bookkeeping.
 * Each step starts afresh: the SRM test (the expected share changed), the burn windows (a window
 * spanning a change of share would weigh the canary's periods by its traffic), the step's clock
 * and request count, and its promotion criteria, which scale with the exposure the next step
 * opens.
 *
 * α per rollout = policy `alpha`, split per signal as the single-step engine splits it, and each
 * signal's share split between the test from the start (1 − changeDetection.alphaShare) and the
 * change detector (alphaShare): a union bound, so P(any false rollback in the rollout) ≤ α.
 */
import {
  ChangeDetectorState,
  changeDetectorLogStatistic,
  createChangeDetector,
  runningCounts,
  tickCounts,
  updateChangeDetector,
} from './changeDetection';
import { burnCheck, promotionBrakes } from './checks';
import { observeTickInPlace } from './fold';
import { binomialUpperTail, poissonUpperTail } from './math';
import { planOf } from './plan';
import {
  GatePolicy,
  GatePolicyInput,
  parseGatePolicyCached,
  segmentsAlphaOut,
} from './policy';
import { durationText, num, pct } from './reasons';
import {
  observeRolloutSegments,
  rolloutSegmentChange,
  segmentCountsBefore,
  SegmentDetectorState,
} from './segmentChange';
import { createGateState, GateState } from './state';
import { stepRules, timeoutOutcome } from './stepRules';
import type {
  ChangeDetectionEvidence,
  GateContext,
  GateDecision,
  TelemetryTick,
} from './types';
import { decide } from './verdict';

export interface RolloutGateState {
  version: 1;
  /** canary share of each step */
  ladder: number[];
  /** the context of the rollout (its expectedCanaryShare is the current step's) */
  ctx: GateContext;
  /** the whole policy (defaults applied) */
  policy: GatePolicy;
  /** 0-based index of the current step */
  stepIndex: number;
  /** first tick of the current step (null until its first tick) */
  stepFirstTick: number | null;
  /** the current step's gate state (signal tests carried from earlier steps) */
  gate: GateState;
  /** per signal of `gate.signals`: its change detector (rate signals), created at the first tick */
  detectors: Array<ChangeDetectorState | null>;
  /** the rollout's first tick */
  firstTick: number | null;
  /** per segment cell (aligned with `gate.segments.cells`): its change detectors; only with segments and change detection on */
  segmentDetectors?: SegmentDetectorState[];
}

/** The policy the current step's gate runs with: α for the test from the start, exposure-scaled promotion. */
export function stepPolicy(
  policy: GatePolicy,
  ladder: number[],
  stepIndex: number,
): GatePolicy {
  const r = stepRules(policy, ladder, stepIndex);
  // plan.ts takes the segment family's α out of this again: the whole's
  // test from the start gets (alpha − segments' α) · startAlphaShare, and so
  // do the segment cells' (their change detectors get segments' α · alphaShare)
  const out = segmentsAlphaOut(policy);
  const segments = policy.segments.dimensions.length
    ? {
        segments: {
          ...policy.segments,
          alpha: policy.segments.alpha * r.startAlphaShare,
        },
      }
    : {};
  return {
    ...policy,
    ...segments,
    alpha: (policy.alpha - out) * r.startAlphaShare + out * r.startAlphaShare,
    promote: {
      ...policy.promote,
      exposure: r.nextShare,
      minDurationSeconds: r.minSeconds,
      minCanaryRequests: r.minCanaryRequests,
    },
  };
}

function checkLadder(ladder: number[]): void {
  if (!Array.isArray(ladder) || ladder.length === 0) {
    throw new Error('ladder: must list at least one canary share');
  }
  ladder.forEach((s, i) => {
    if (!(s > 0 && s < 1)) {
      throw new Error(`ladder[${i}]: must be between 0 and 1 (exclusive)`);
    }
    if (i > 0 && !(s > ladder[i - 1])) {
      throw new Error(`ladder[${i}]: shares must increase`);
    }
  });
}

/** Start the whole-rollout gate at the first step of `ladder` (canary shares, increasing, in (0, 1)). */
export function createRolloutGate(
  ctx: GateContext,
  policy: GatePolicyInput | GatePolicy | undefined,
  ladder: number[],
): RolloutGateState {
  checkLadder(ladder);
  const p = parseGatePolicyCached(policy ?? {});
  const stepCtx = { ...ctx, expectedCanaryShare: ladder[0] };
  const gate = createGateState(stepCtx, stepPolicy(p, ladder, 0));
  return {
    version: 1,
    ladder: ladder.slice(),
    ctx: stepCtx,
    policy: p,
    stepIndex: 0,
    stepFirstTick: null,
    gate,
    detectors: gate.signals.map(() => null),
    firstTick: null,
    ...(gate.segments && p.rollout.changeDetection.enabled
      ? { segmentDetectors: [] }
      : {}),
  };
}

/**
 * Begin step `toIndex` (default: the next one): a new step gate at that step's share, carrying
 * the signal tests, the change detectors, the burn history and the freshness bookkeeping.
 * Returns false when there is no such step (a promotion from the last step is full).
 */
export function advanceRolloutStep(
  rs: RolloutGateState,
  toIndex = rs.stepIndex + 1,
): boolean {
  if (toIndex <= rs.stepIndex || toIndex >= rs.ladder.length) return false;
  const old = rs.gate;
  const ctx = { ...rs.ctx, expectedCanaryShare: rs.ladder[toIndex] };
  const next = createGateState(ctx, stepPolicy(rs.policy, rs.ladder, toIndex));
  next.signals.forEach((s, i) => {
    const o = old.signals[i];
    if (!o || o.name !== s.name || o.kind !== s.kind) {
      throw new Error(`step ${toIndex + 1}: signal ${s.name} does not match`);
    }
    s.rate = o.rate;
    s.mean = o.mean;
    s.lastQuantiles = o.lastQuantiles;
  });
  // the burn windows start afresh: a window spanning a change of share would weigh the canary's
  // periods by its traffic, and compare it unfairly with the baseline's (Simpson's paradox)
  next.lastTick = old.lastTick;
  next.lastSeen = old.lastSeen;
  next.canaryGapTicks = old.canaryGapTicks;
  next.latencyBoundary = old.latencyBoundary;
  // segment harm tests are carried like the whole's; the segment mix starts afresh (as the SRM test)
  if (old.segments && next.segments) {
    next.segments.cells = old.segments.cells;
    next.segments.overflow = old.segments.overflow;
    next.segments.lastSeen = old.segments.lastSeen;
  }
  rs.ctx = ctx;
  rs.gate = next;
  rs.stepIndex = toIndex;
  rs.stepFirstTick = null;
  return true;
}

/** Fold one tick into the current step (in place). Ticks must increase; older ticks are ignored. */
export function observeRolloutTick(
  rs: RolloutGateState,
  tick: TelemetryTick,
): void {
  const gate = rs.gate;
  const before = gate.signals.map(s => (s.rate ? runningCounts(s.rate) : null));
  const segBefore = rs.segmentDetectors ? segmentCountsBefore(gate) : undefined;
  const last = gate.lastTick;
  observeTickInPlace(gate, tick);
  if (gate.lastTick === last) return;
  const t = gate.lastTick;
  if (rs.stepFirstTick === null) rs.stepFirstTick = t;
  if (rs.firstTick === null) {
    rs.firstTick = t;
    rs.detectors = createDetectors(rs, t);
  }
  gate.signals.forEach((s, i) => {
    const d = rs.detectors[i];
    const b = before[i];
    if (!d || !s.rate || !b) return;
    updateChangeDetector(d, t, tickCounts(s.rate, b));
  });
  if (segBefore) observeRolloutSegments(rs, t, segBefore);
}

function createDetectors(
  rs: RolloutGateState,
  firstTick: number,
): Array<ChangeDetectorState | null> {
  const cd = rs.policy.rollout.changeDetection;
  if (!cd.enabled) return rs.gate.signals.map(() => null);
  const plan = planOf(rs.gate);
  const every = Math.max(1, Math.round(cd.restartSeconds / rs.ctx.tickSeconds));
  return rs.gate.signals.map((s, i) =>
    s.rate
      ? createChangeDetector({
          firstTick,
          every,
          u0: plan.sig[i].uDet,
          side: s.harmSign,
          sigma: plan.sig[i].sigma,
        })
      : null,
  );
}

/** each signal's change-detector α: its share of the rollout's α, times the detector's part */
function detectorThresholds(rs: RolloutGateState): number[] {
  const plan = planOf(rs.gate);
  const r = stepRules(rs.policy, rs.ladder, rs.stepIndex);
  // the step gate runs at α · startAlphaShare; the detector gets α · alphaShare of each signal's part
  return plan.sig.map(sp =>
    Math.log(1 / ((sp.alphaShare / r.startAlphaShare) * r.changeAlphaShare)),
  );
}

/**
 * The promotion guard over a longer window: the service outside the canary (baseline cohort) over
 * the step's last 30 minutes, against `burn.promoteMaxBurn` × the budget (Poisson tail below
 * `burn.guardAlpha`). The step gate's own guard looks at the last tick and the shortest window,
 * which misses a mild incident at low traffic; before widening exposure the rollout looks longer.
 */
function sustainedServiceBurn(
  rs: RolloutGateState,
  nowTick: number,
): string | undefined {
  const gate = rs.gate;
  const p = gate.policy.burn;
  if (!p.enabled) return undefined;
  const w = Math.max(1, Math.round(1800 / rs.ctx.tickSeconds));
  const slis: Array<[string, number, number, number]> = [
    ['availability', 1, 2, 1 - rs.ctx.slo.availability],
  ];
  if (rs.ctx.slo.latency)
    slis.push(['latency', 3, 4, 1 - rs.ctx.slo.latency.objective]);
  for (const [name, ni, xi, budget] of slis) {
    let n = 0;
    let x = 0;
    for (let i = gate.history.length - 1; i >= 0; i--) {
      const row = gate.history[i];
      if (row[0] <= nowTick - w) break;
      if (row[ni] !== null && row[xi] !== null) {
        n += row[ni] as number;
        x += row[xi] as number;
      }
    }
    if (!(n > 0) || !(budget > 0) || x / n <= p.promoteMaxBurn * budget)
      continue;
    const pv = poissonUpperTail(x, p.promoteMaxBurn * budget * n);
    if (pv < p.guardAlpha) {
      return `${name} over the last ${durationText(Math.min(w, gate.history.length), rs.ctx.tickSeconds)} at ${num(x / n / budget)}× the budget (p = ${num(pv, 2)})`;
    }
  }
  return undefined;
}

/**
 * The SRM brake (promotion only): the step's canary share looks off its expected share on a
 * plain two-sided binomial test at p < 0.05. A small canary at low traffic cannot prove a
 * mismatch at the SRM test's α (0.001) before its step minimum, and a broken assignment makes
 * every comparison untrustworthy, so the promotion waits while the share looks off. Like the
 * other brakes it never rolls back or holds: a false alarm only delays.
 */
function shareLean(rs: RolloutGateState): string | undefined {
  const srm = rs.gate.srm;
  const p = rs.gate.policy;
  if (!p.srm.enabled) return undefined;
  const n = srm.canaryEvents + srm.baselineEvents;
  const x = srm.canaryEvents;
  const p0 = rs.ctx.expectedCanaryShare;
  if (!(n > 0)) return undefined;
  const tol = p.srm.tolerance;
  const up =
    x / n > p0 * (1 + tol) ? binomialUpperTail(x, n, p0 * (1 + tol)) : 1;
  const down =
    x / n < p0 * (1 - tol)
      ? binomialUpperTail(n - x, n, 1 - p0 * (1 - tol))
      : 1;
  const pv = Math.min(1, 2 * Math.min(up, down));
  if (!(pv < 0.05)) return undefined;
  return `canary share over the step ${pct(x / n, 2)} vs the expected ${pct(p0, 2)} (two-sided p = ${num(pv, 2)})`;
}

/** The verdict for the rollout at this tick: the step's gate, the change detectors, the step maximum. */
export function decideRollout(
  rs: RolloutGateState,
  now?: { tick: number },
): GateDecision {
  const gate = rs.gate;
  const d = decide(gate, now);
  const rules = stepRules(rs.policy, rs.ladder, rs.stepIndex);
  const tickSeconds = rs.ctx.tickSeconds;
  const thresholds = detectorThresholds(rs);
  const cdEvidence: ChangeDetectionEvidence[] = [];
  const cdReasons: string[] = [];
  rs.detectors.forEach((det, i) => {
    if (!det) return;
    const statistic = changeDetectorLogStatistic(det);
    const fired = statistic >= thresholds[i];
    const name = gate.signals[i].name;
    cdEvidence.push({
      name,
      statistic,
      threshold: thresholds[i],
      restarts: det.restarts,
      fired,
    });
    if (fired) {
      const ev = d.signals[i];
      cdReasons.push(
        `${name}: canary worse than baseline since a change during the rollout (change detector e-value ${num(Math.exp(statistic))} ≥ ${num(Math.exp(thresholds[i]))}; over the rollout canary ${pct(ev.canary, 3)} vs baseline ${pct(ev.baseline, 3)})`,
      );
    }
  });
  // segment cells' detectors: harm since a change inside one segment (segments.onHarm)
  const seg = rolloutSegmentChange(rs, d, rules.changeAlphaShare);
  cdEvidence.push(...seg.evidence);
  cdReasons.push(...seg.rollback);
  const segHold = seg.hold;
  const nowTick = d.tick;
  const stepTicks =
    rs.stepFirstTick === null ? 0 : nowTick - rs.stepFirstTick + 1;
  const minTicks = Math.ceil(rules.minSeconds / tickSeconds);
  const maxTicks = Math.max(1, Math.round(rules.maxSeconds / tickSeconds));
  const out: GateDecision = {
    ...d,
    rollout: {
      step: rs.stepIndex + 1,
      steps: rs.ladder.length,
      share: rs.ladder[rs.stepIndex],
      nextShare: rules.nextShare,
      rule: 'gate',
      alpha: rs.policy.alpha,
      startAlphaShare: rules.startAlphaShare,
      changeDetection: cdEvidence,
      stepTicks,
      minTicks,
      maxTicks,
      minCanaryRequests: rules.minCanaryRequests,
    },
  };
  if (cdReasons.length && d.verdict !== 'rollback') {
    out.verdict = 'rollback';
    out.reasons = [...cdReasons, ...d.reasons];
    out.rollout!.rule = 'change-detection';
    return out;
  }
  if (segHold.length && (d.verdict === 'promote' || d.verdict === 'continue')) {
    out.verdict = 'hold';
    out.reasons = [...segHold, ...d.reasons];
    out.rollout!.rule = 'change-detection';
    return out;
  }
  if (d.verdict === 'promote') {
    const burning = sustainedServiceBurn(rs, nowTick);
    if (burning) {
      out.verdict = 'hold';
      out.reasons = [
        `ready to promote, but the service is burning its error budget: ${burning}; not widening exposure during an incident`,
        ...d.reasons,
      ];
      return out;
    }
    const lean = shareLean(rs);
    if (lean) {
      out.verdict = 'continue';
      out.reasons = [
        `${lean}; not promoting while the assignment looks off (not yet a proven mismatch: the gate keeps watching at this exposure)`,
        ...d.reasons.slice(1),
      ];
      return out;
    }
  }
  if (
    (d.verdict === 'continue' || d.verdict === 'hold') &&
    stepTicks >= maxTicks
  ) {
    const plan = planOf(gate);
    const { wsums, serviceAlert } = burnCheck(gate, plan, nowTick);
    const brakes = promotionBrakes(gate, plan, wsums, d.signals);
    const t = timeoutOutcome(rs.policy, rules, d, {
      brakes,
      serviceAlert,
    });
    const when = durationText(stepTicks, tickSeconds);
    out.rollout!.rule = 'step-timeout';
    out.rollout!.timeout = { action: t.action, harmBounds: t.harmBounds };
    if (t.action === 'promote') {
      out.verdict = 'promote';
      out.reasons = [
        `step maximum reached (${when}) without a verdict; promoting to ${pct(rules.nextShare, 0)}: ${t.why}`,
        ...d.reasons,
      ];
    } else {
      out.verdict = 'hold';
      out.reasons = [
        `step maximum reached (${when}) without a verdict: holding at ${pct(rs.ladder[rs.stepIndex], 0)} (${t.why}); the owners decide`,
        ...d.reasons,
      ];
    }
  }
  return out;
}
