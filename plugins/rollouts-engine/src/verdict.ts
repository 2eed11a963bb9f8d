/** The decision: checks in order of precedence, the verdict and its reasons. */
import { burnCheck, freshnessCheck, promotionBrakes, srmCheck } from './checks';
import type { GatePolicy, GatePolicyInput } from './policy';
import { planOf } from './plan';
import {
  ciText,
  durationText,
  estimateText,
  num,
  pct,
  pValue,
  signedDifference,
} from './reasons';
import { representativenessCheck } from './representativeness';
import { segmentCheck } from './segments';
import { evaluateSignal } from './signalTests';
import { createGateState, GateState } from './state';
import { observeTickInPlace } from './fold';
import type {
  GateContext,
  GateDecision,
  GateRubric,
  GateVerdictValue,
  SignalEvidence,
  TelemetryTick,
} from './types';

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

  const {
    freshness,
    canaryMissingTicks,
    baselineMissingTicks,
    missingFields,
    worstFieldGap,
  } = freshnessCheck(state, plan, nowTick);
  const srm = srmCheck(state, plan);
  const srmP = p.srm;
  const observedShare = srm.observedShare;
  const srmCi = srm.ci;
  const { burn, wsums, canaryOnly, serviceAlert } = burnCheck(
    state,
    plan,
    nowTick,
  );
  const baselineBurn = burn.baseline;
  const guard = burn.guard;

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

  // segments: harm inside one segment (policy onHarm), the segment mix (M9), segments missing
  const seg = segmentCheck(state, plan, nowTick);
  const rep = representativenessCheck(state);
  const segmentHold =
    !!seg && seg.harmReasons.length > 0 && seg.evidence.onHarm === 'hold';
  if (seg && seg.evidence.onHarm === 'rollback')
    rollbackReasons.push(...seg.harmReasons);
  if (segmentHold) holdReasons.push(...seg!.harmReasons);
  const repMismatch = !!rep && rep.reasons.length > 0;
  if (repMismatch) holdReasons.push(...rep!.reasons);
  if (seg && state.firstTick !== null) holdReasons.push(...seg.missingReasons);

  const recentBlock = promotionBrakes(state, plan, wsums, signals);

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
    (missingHold ||
      srm.mismatch ||
      serviceAlert ||
      canaryOnly.length ||
      segmentHold ||
      repMismatch)
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

  const decision: GateDecision = {
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
  if (seg) decision.checks.segments = seg.evidence;
  if (rep) decision.checks.representativeness = rep.evidence;
  return decision;
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
