import type {
  FlaggerHook,
  GateEvaluationSummary,
  GateVerdict,
  RolloutStatus,
} from '@tollgate/plugin-rollouts-common';
import type { StoredRollout } from '../database/RolloutsStore';
import type { DecisionInput } from '../decisions/DecisionWriter';

/** What the judge answers controllers, and what it logs about each call. */

/** The gate verdict as an external controller reads it. */
export interface JudgeAnswer {
  rolloutId: string;
  entityRef: string;
  provider: string;
  target: string;
  version: string;
  status: RolloutStatus;
  verdict: GateVerdict;
  /** `continue` or `promote`: nothing is wrong so far (Argo: `successCondition: result.healthy`). */
  healthy: boolean;
  promote: boolean;
  rollback: boolean;
  /** Tollgate cannot judge (missing telemetry, broken policy): neither success nor failure. */
  hold: boolean;
  rubric: GateEvaluationSummary['rubric'];
  score: number;
  reasons: string[];
  evaluatedAt: string;
  /** The answer reuses an evaluation younger than `rollouts.judge.maxEvaluationAgeSeconds`. */
  cached: boolean;
}

/** How Tollgate answers each Flagger hook, with the HTTP status Flagger reads. */
export interface FlaggerReply {
  status: number;
  body: { ok: boolean; message: string; answer?: JudgeAnswer };
}

/**
 * What the judge logs about a call: the controller's question and the
 * answer, on the evidence and policy hash the answer was made on: a fresh
 * evaluation's (not the row's older ones), or the row's for a reused one.
 */
export function observation(
  verdict: DecisionInput['verdict'],
  actor: string,
  reasons: string[],
  rollout: StoredRollout,
): DecisionInput {
  return {
    verdict,
    kind: 'automatic',
    actor,
    reasons,
    evidence: rollout.evidence ?? null,
    policyHash: rollout.policyHash ?? null,
    outcome: 'none',
  };
}

/** What each Flagger hook answers, and why. */
export function flaggerVerdict(
  hook: FlaggerHook,
  answer: JudgeAnswer,
): [boolean, string] {
  switch (hook) {
    case 'confirm-rollout': {
      const ok = !(
        answer.hold &&
        answer.reasons.some(r => r.startsWith('policy cannot be used'))
      );
      return [
        ok,
        ok
          ? 'Tollgate is watching this canary'
          : `the service's rollout policy is broken: ${answer.reasons[0]}`,
      ];
    }
    case 'confirm-promotion':
      return [
        answer.promote,
        answer.promote
          ? 'the gate is ready to promote'
          : `not ready to promote (${answer.verdict})`,
      ];
    case 'rollback':
      return [
        answer.rollback,
        answer.rollback
          ? 'the gate says roll back'
          : `no rollback (${answer.verdict})`,
      ];
    default: // rollout, confirm-traffic-increase
      return [
        answer.healthy,
        answer.healthy
          ? `the canary is healthy so far (${answer.verdict})`
          : `the canary is not healthy (${answer.verdict})`,
      ];
  }
}

export function answerOf(
  rollout: StoredRollout,
  s: GateEvaluationSummary,
  cached: boolean,
): JudgeAnswer {
  return {
    rolloutId: rollout.id,
    entityRef: rollout.entityRef,
    provider: rollout.provider,
    target: rollout.target,
    version: rollout.version,
    status: rollout.status,
    verdict: s.verdict,
    healthy: s.verdict === 'continue' || s.verdict === 'promote',
    promote: s.verdict === 'promote',
    rollback: s.verdict === 'rollback',
    hold: s.verdict === 'hold',
    rubric: s.rubric,
    score: s.score,
    reasons: s.reasons,
    evaluatedAt: s.evaluatedAt,
    cached,
  };
}

export function describe(a: JudgeAnswer): string {
  return `verdict ${a.verdict} (${a.rubric}, score ${a.score})`;
}

/** The answer a rollback (pending or done) or a promotion fixes, without evaluating. */
export function settledAnswer(
  rollout: StoredRollout,
  now: Date,
): JudgeAnswer | undefined {
  if (
    rollout.pendingAction === 'rollback' ||
    rollout.status === 'rolled-back' ||
    rollout.status === 'aborted'
  ) {
    const previous = rollout.lastEvaluation;
    const reasons =
      previous?.verdict === 'rollback'
        ? previous.reasons
        : [`the rollout is ${rollout.status}`];
    return answerOf(
      rollout,
      {
        verdict: 'rollback',
        rubric: 'not ready',
        score: 0,
        reasons,
        evaluatedAt: now.toISOString(),
      },
      false,
    );
  }
  if (rollout.status === 'promoted') {
    return answerOf(
      rollout,
      {
        verdict: 'promote',
        rubric: 'ready',
        score: 100,
        reasons: ['the rollout is promoted'],
        evaluatedAt: now.toISOString(),
      },
      false,
    );
  }
  return undefined;
}
