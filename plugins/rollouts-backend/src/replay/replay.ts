import type {
  GateDecision,
  GateVerdict,
  RolloutStatus,
  RolloutStep,
  WhatIfOutcome,
  WhatIfRolloutResult,
  WhatIfStep,
} from '@tollgate/plugin-rollouts-common';
import {
  advanceRolloutStep,
  createGateState,
  createRolloutGate,
  decide,
  decideRollout,
  observeRolloutTick,
  observeTickInPlace,
  type GateState,
  type RolloutGateState,
} from '@tollgate/plugin-rollouts-engine';
import type { StoredRollout } from '../database/RolloutsStore';
import { gateContextFor, gatePolicyFor } from '../evaluation/gateInputs';
import { ladderOf, tickOffset } from '../loop/stepLadder';
import type { RolloutPolicy } from '../policy/policy';
import type { KeptStep } from './KeptTelemetryStore';

/** What a replay needs of a past rollout: its row and what happened to it. */
export interface ReplayedRollout {
  id: string;
  entityRef: string;
  version: string;
  status: RolloutStatus;
  steps: RolloutStep[];
  startedAt: string;
  finishedAt?: string;
  /** From its delivery figures: the first applied promotion to full, the first applied rollback. */
  reachedFullAt?: string;
  rolledBackAt?: string;
}

const ACTIVE: RolloutStatus[] = ['progressing', 'paused', 'awaiting-approval'];

const minutesBetween = (from: string, to: string) =>
  Math.round(((Date.parse(to) - Date.parse(from)) / 60_000) * 10) / 10;
const round1 = (x: number) => Math.round(x * 10) / 10;

/** What happened to the rollout, from its row and delivery figures. */
export function actualOutcome(
  r: ReplayedRollout,
  kept: KeptStep[],
): WhatIfOutcome {
  const lastStep = kept.length ? kept[kept.length - 1].stepIndex : undefined;
  if (r.reachedFullAt)
    return {
      outcome: 'full',
      minute: minutesBetween(r.startedAt, r.reachedFullAt),
    };
  if (r.rolledBackAt)
    return {
      outcome: 'rollback',
      stepIndex: lastStep,
      minute: minutesBetween(r.startedAt, r.rolledBackAt),
    };
  if (ACTIVE.includes(r.status))
    return { outcome: 'active', stepIndex: lastStep };
  if (r.status === 'promoted')
    return {
      outcome: 'full',
      minute: r.finishedAt
        ? minutesBetween(r.startedAt, r.finishedAt)
        : undefined,
    };
  if (r.status === 'rolled-back')
    return {
      outcome: 'rollback',
      stepIndex: lastStep,
      minute: r.finishedAt
        ? minutesBetween(r.startedAt, r.finishedAt)
        : undefined,
    };
  return { outcome: 'stopped', stepIndex: lastStep };
}

/** Why the kept telemetry cannot be replayed (undefined: it can). */
function gapOf(kept: KeptStep[]): string | undefined {
  if (!kept.length) return 'no kept telemetry';
  for (let i = 0; i < kept.length; i++)
    if (kept[i].stepIndex !== i) return `step ${i + 1} has no kept telemetry`;
  return undefined;
}

/**
 * Re-runs the gate engine over a past rollout's kept telemetry under a
 * candidate policy, step by step as the rollout went: in each step the
 * intervals the gate saw there, one at a time, the verdict after each (a
 * promotion before the step's minimum duration is `continue`, as in the
 * gate loop). The first rollback or promotion ends the step; a promotion
 * goes on with the next step's kept intervals, which the real rollout
 * observed at that share (later in time when the candidate promotes
 * earlier). When the kept intervals of a step end before the candidate
 * decides (the real rollout moved on or stopped sooner), the replay is
 * `undecided` there: nothing is guessed past the telemetry. The engine
 * state is carried across steps exactly as the gate loop carries it
 * (`loop/gateStates.ts`).
 */
export function replayRollout(
  r: ReplayedRollout,
  kept: KeptStep[],
  policy: RolloutPolicy,
): WhatIfRolloutResult {
  const actual = actualOutcome(r, kept);
  const base = {
    rolloutId: r.id,
    entityRef: r.entityRef,
    version: r.version,
    startedAt: r.startedAt,
    actual,
  };
  const gap = gapOf(kept);
  if (gap) return { ...base, replayable: false, notReplayable: gap };

  const ladder = ladderOf(r.steps);
  const gatePolicy = gatePolicyFor(policy);
  const contextAt = (k: KeptStep) =>
    gateContextFor(
      { entityRef: r.entityRef, currentWeight: k.weight } as StoredRollout,
      policy,
      k.tickSeconds,
    );
  const whole =
    ladder !== undefined &&
    kept.every(
      k =>
        k.stepIndex < ladder.length &&
        Math.abs(ladder[k.stepIndex] * 100 - k.weight) < 1e-6,
    );
  let rs: RolloutGateState | undefined;
  const steps: WhatIfStep[] = [];
  let minute = 0; // the candidate's own clock: its steps end when it decides
  let whatIf: WhatIfOutcome | undefined;
  let later = false;

  for (let i = 0; i < kept.length && !whatIf; i++) {
    const k = kept[i];
    const ctx = contextAt(k);
    let step: GateState | undefined;
    if (whole) {
      if (!rs)
        rs = createRolloutGate(
          { ...ctx, expectedCanaryShare: ladder![0] },
          gatePolicy,
          ladder!,
        );
      if (rs.stepIndex < i) advanceRolloutStep(rs, i);
    } else step = createGateState(ctx, gatePolicy);
    const offset = tickOffset(r.startedAt, k.stepStartedAt, k.tickSeconds);
    const minSeconds = r.steps[i]?.minDurationSeconds ?? 0;
    let verdict: GateVerdict = 'continue';
    let decision: GateDecision | undefined;
    let decidedAt: number | undefined;
    const ticks = [...k.ticks].sort((a, b) => a.tick - b.tick);
    for (const tick of ticks) {
      if (rs) observeRolloutTick(rs, { ...tick, tick: tick.tick + offset });
      else observeTickInPlace(step!, tick);
      decision = rs ? decideRollout(rs) : decide(step!);
      const elapsed = tick.tick * k.tickSeconds;
      verdict = decision.verdict;
      if (verdict === 'promote' && elapsed < minSeconds) verdict = 'continue';
      if (verdict === 'promote' || verdict === 'rollback') {
        decidedAt = elapsed;
        break;
      }
    }
    const actualEnd =
      kept[i + 1]?.stepStartedAt ??
      r.rolledBackAt ??
      r.reachedFullAt ??
      r.finishedAt;
    steps.push({
      stepIndex: i,
      weight: k.weight,
      intervals: ticks.length,
      actualMinutes: actualEnd
        ? minutesBetween(k.stepStartedAt, actualEnd)
        : round1((ticks.length * k.tickSeconds) / 60),
      verdict,
      ...(decidedAt !== undefined
        ? { decidedAtMinute: round1(decidedAt / 60) }
        : {}),
    });
    const reasons = decision?.reasons.slice(0, 3) ?? [
      'no intervals kept for the step',
    ];
    if (decidedAt !== undefined) minute += decidedAt / 60;
    if (verdict === 'rollback') {
      whatIf = {
        outcome: 'rollback',
        stepIndex: i,
        minute: round1(minute),
        reasons,
      };
    } else if (verdict === 'promote') {
      const last = ladder ? i >= ladder.length - 1 : i >= r.steps.length - 2;
      if (last)
        whatIf = {
          outcome: 'full',
          stepIndex: i,
          minute: round1(minute),
          reasons,
        };
      else if (!kept[i + 1])
        whatIf = {
          outcome: 'undecided',
          stepIndex: i,
          minute: round1(minute),
          reasons: [
            `would have promoted step ${i + 1} at minute ${round1(decidedAt! / 60)} of the step; no telemetry of step ${i + 2} was kept (the release did not reach it)`,
          ],
        };
    } else {
      later = Boolean(kept[i + 1]) || actual.outcome === 'full';
      minute += (ticks.length * k.tickSeconds) / 60;
      whatIf = {
        outcome: 'undecided',
        stepIndex: i,
        minute: round1(minute),
        reasons: [
          `still ${verdict} after the step's ${ticks.length} kept intervals${
            later
              ? ': the release moved on sooner than this policy would have'
              : ''
          }`,
          ...reasons,
        ],
      };
    }
  }
  whatIf ??= { outcome: 'undecided', minute: round1(minute) };
  return {
    ...base,
    replayable: true,
    whatIf,
    steps,
    comparison: compare(actual, whatIf, later),
  };
}

function compare(
  actual: WhatIfOutcome,
  whatIf: WhatIfOutcome,
  later: boolean,
): WhatIfRolloutResult['comparison'] {
  const rolledBack = actual.outcome === 'rollback';
  if (whatIf.outcome === 'rollback')
    return rolledBack ? 'same' : 'would-rollback';
  if (rolledBack) return 'would-not-rollback';
  if (whatIf.outcome === 'full' && actual.outcome === 'full') {
    const d = (whatIf.minute ?? 0) - (actual.minute ?? 0);
    if (d < -0.5) return 'earlier';
    if (d > 0.5) return 'later';
    return 'same';
  }
  if (whatIf.outcome === 'full') return 'earlier';
  return later ? 'later' : 'undecided';
}
