import {
  FINAL_ROLLOUT_STATUSES,
  type GateEvaluationSummary,
  type GateVerdict,
  type RolloutWatch,
  type StoredEvidence,
} from '@tollgate/plugin-rollouts-common';
import type { Actuator, RolloutChange } from '../actuator/Actuator';
import type { RolloutPatch, StoredRollout } from '../database/RolloutsStore';
import type { RolloutPolicy } from '../policy/policy';
import type { ProviderRegistry } from '../providers/ProviderRegistry';
import {
  promotesFully,
  withRetry,
  type RetryOptions,
} from '../providers/retry';

/** What the gate loop does with a verdict that is more than a recorded evaluation. */

/**
 * A hold when the rollout cannot be evaluated (a broken policy, telemetry
 * that is missing or wrong): the row records it, and the log does when the
 * hold or its first reason is new.
 */
export function holdChange(
  rollout: StoredRollout,
  reasons: string[],
  now: Date,
): RolloutChange {
  const previous = rollout.lastEvaluation;
  const logIt =
    previous?.verdict !== 'hold' || previous.reasons[0] !== reasons[0];
  return {
    rollout,
    patch: {
      lastEvaluation: {
        verdict: 'hold',
        rubric: 'not ready',
        score: 0,
        reasons,
        evaluatedAt: now.toISOString(),
      },
      lastError: { message: reasons[0], at: now.toISOString() },
    },
    decision: logIt
      ? {
          verdict: 'hold',
          kind: 'automatic',
          actor: 'scheduler',
          reasons,
          outcome: 'none',
        }
      : undefined,
    event: logIt ? { notify: 'hold' } : false,
  };
}

/** A promotion or rollback the gate decided, through the actuator; true when it was applied. */
export async function actOnVerdict(
  actuator: Actuator,
  o: {
    rollout: StoredRollout;
    verdict: 'promote' | 'rollback';
    reasons: string[];
    evidence: StoredEvidence;
    summary: GateEvaluationSummary;
    policy: RolloutPolicy;
    retry: RetryOptions;
    /** The whole-rollout gate's state to store with the claim (see `gateStates.ts`). */
    gateState?: string;
    /** A first line for the decision log: which rule of the whole-rollout gate decided. */
    ruleNote?: string;
    /** The bake window a promotion to full opens (none: the rollout is done at once). */
    bake?: { seconds: number; now?: Date };
  },
): Promise<boolean> {
  const { rollout, verdict, reasons, evidence, summary, policy } = o;
  const isLast = promotesFully(rollout);
  const watchFrom = o.bake?.now ?? new Date();
  const result = await actuator.act({
    rollout,
    action: verdict,
    claim: {
      lastEvaluation: summary,
      evidence,
      policyName: policy.name,
      policyHash: policy.hash,
      ...(o.gateState ? { gateState: o.gateState } : {}),
    },
    retry: o.retry,
    call: provider => {
      if (verdict === 'rollback')
        return provider.rollback(
          rollout.target,
          reasons[0] ?? 'gate verdict: rollback',
        );
      if (isLast) return provider.promote(rollout.target);
      return provider.setStep(rollout.target, rollout.currentStepIndex + 1);
    },
    applied: after => ({
      patch: {
        status: after!.status,
        currentStepIndex: after!.currentStepIndex,
        currentWeight: after!.currentWeight,
        stepStartedAt: after!.stepStartedAt.toISOString(),
        finishedAt: after!.finishedAt?.toISOString(),
        lastError: null,
        ...(verdict === 'promote' && isLast && o.bake && o.bake.seconds > 0
          ? {
              watch: watchOf(after?.finishedAt ?? watchFrom, o.bake.seconds),
            }
          : {}),
      },
      decision: {
        verdict,
        kind: 'automatic',
        actor: 'scheduler',
        reasons: [
          ...(verdict === 'promote' && !isLast
            ? [
                `step ${rollout.currentStepIndex + 1} passed: moving to ${rollout.steps[rollout.currentStepIndex + 1]?.weight}%`,
              ]
            : []),
          ...(o.ruleNote ? [o.ruleNote] : []),
          ...reasons,
        ],
        evidence,
        outcome: 'applied',
      },
      notify: appliedNotice(verdict, isLast),
    }),
    failed: message => ({
      decision: {
        verdict,
        kind: 'automatic',
        actor: 'scheduler',
        reasons: [message, ...reasons],
        evidence,
        outcome: 'failed',
      },
      notify: verdict === 'rollback' ? 'rollback-failed' : undefined,
    }),
  });
  // not claimed: another replica acted on this rollout first
  return result.outcome === 'applied';
}

/** Who hears of an applied verdict: a rollback, and the promotion to full. */
function appliedNotice(
  verdict: string,
  isLast: boolean,
): 'rollback' | 'completed' | undefined {
  if (verdict === 'rollback') return 'rollback';
  return verdict === 'promote' && isLast ? 'completed' : undefined;
}

/** The decision log's line naming the rule that decided, for the rules other than the step's own gate. */
export function ruleNote(rule: string | undefined): string | undefined {
  if (rule === 'step-timeout')
    return 'rule: step-timeout (the step reached its maximum without a verdict)';
  if (rule === 'change-detection')
    return 'rule: change-detection (a regression that started during the rollout)';
  if (rule === 'bake')
    return 'rule: bake (the watch after the promotion to full)';
  if (rule === 'blast-radius')
    return "rule: blast-radius (a consumer's error-budget burn rose with the step)";
  return undefined;
}

/** A new post-promotion watch: the bake window from `from`. */
export function watchOf(from: Date, seconds: number): RolloutWatch {
  return {
    state: 'watching',
    startedAt: from.toISOString(),
    endsAt: new Date(from.getTime() + seconds * 1000).toISOString(),
    reasons: [
      `promoted to full: watching the released version for the bake window (${Math.round(seconds / 60)} min)`,
    ],
  };
}

/** An action was in flight when a process died: align with the provider, and log it with the row in one transaction. */
export async function reconcileInterrupted(
  actuator: Actuator,
  providers: ProviderRegistry,
  rollout: StoredRollout,
  retry: RetryOptions,
  now: () => Date,
): Promise<void> {
  const provider = providers.deploy(rollout.provider);
  const pr = await withRetry(() => provider.getRollout(rollout.target), retry);
  const finished = pr && FINAL_ROLLOUT_STATUSES.includes(pr.status);
  await actuator.record(
    rollout,
    {
      pendingAction: null,
      ...(pr
        ? {
            status: pr.status,
            currentStepIndex: pr.currentStepIndex,
            currentWeight: pr.currentWeight,
            stepStartedAt: pr.stepStartedAt.toISOString(),
            finishedAt: finished
              ? (pr.finishedAt ?? now()).toISOString()
              : undefined,
          }
        : {}),
    },
    {
      verdict: 'observe',
      kind: 'automatic',
      actor: 'scheduler',
      reasons: [
        `an interrupted ${rollout.pendingAction} was reconciled with ${provider.id}: it reports ${pr ? `${pr.status} at ${pr.currentWeight}%` : 'no rollout'}`,
      ],
      outcome: 'none',
    },
  );
}

/**
 * What the rollout's state and its step say about a promote verdict: hold
 * while paused or awaiting approval, continue until the step's minimum
 * duration, wait for approval where the step asks for it; undefined when
 * the promotion may go ahead.
 */
export function stepRule(
  rollout: StoredRollout,
  now: Date,
):
  | { kind: 'verdict'; verdict: 'hold' | 'continue'; reason: string }
  | { kind: 'approval' }
  | undefined {
  const step = rollout.steps[rollout.currentStepIndex];
  const inStep =
    (now.getTime() - new Date(rollout.stepStartedAt).getTime()) / 1000;
  if (rollout.status === 'paused') {
    return {
      kind: 'verdict',
      verdict: 'hold',
      reason: 'ready to promote, but the rollout is paused',
    };
  }
  if (rollout.status === 'awaiting-approval') {
    return {
      kind: 'verdict',
      verdict: 'hold',
      reason: 'ready to promote; waiting for approval',
    };
  }
  if (step?.minDurationSeconds && inStep < step.minDurationSeconds) {
    return {
      kind: 'verdict',
      verdict: 'continue',
      reason: `step minimum duration not reached (${Math.round(inStep)} of ${step.minDurationSeconds} s)`,
    };
  }
  if (step?.requiresApproval) return { kind: 'approval' };
  return undefined;
}

/** A step that requires approval, ready to promote: the rollout waits, and its owners are asked. */
export function approvalChange(
  rollout: StoredRollout,
  summary: GateEvaluationSummary,
  reasons: string[],
  evidence: StoredEvidence,
): RolloutChange {
  return {
    rollout,
    patch: {
      status: 'awaiting-approval',
      lastEvaluation: {
        ...summary,
        verdict: 'hold',
        reasons: ['ready to promote; waiting for approval', ...reasons],
      },
      evidence,
      lastError: null,
    },
    decision: {
      verdict: 'hold',
      kind: 'automatic',
      actor: 'scheduler',
      reasons: ['step requires approval: ready to promote', ...reasons],
      evidence,
      outcome: 'none',
    },
    event: { notify: 'approval' },
  };
}

/** A continue or hold the gate decided: the row records the evaluation, the log a new verdict or rule. */
export function evaluationChange(
  rollout: StoredRollout,
  o: {
    verdict: GateVerdict;
    rule: string | undefined;
    summary: GateEvaluationSummary;
    reasons: string[];
    evidence: StoredEvidence;
    policy: RolloutPolicy;
    gateState: RolloutPatch['gateState'];
  },
): RolloutChange {
  const { verdict, rule, summary, reasons, evidence, policy, gateState } = o;
  // Log only when the verdict or the rule deciding it changes.
  const previous = rollout.lastEvaluation;
  const changed =
    previous?.verdict !== verdict ||
    (previous?.rule ?? 'gate') !== (rule ?? 'gate');
  // A hold at the step maximum: the owners decide, so they hear about it (once).
  const timedOut = verdict === 'hold' && rule === 'step-timeout';
  const note = ruleNote(rule);
  let notify: 'hold' | 'step-timeout' | undefined;
  if (changed && timedOut) notify = 'step-timeout';
  else if (previous?.verdict !== verdict && verdict === 'hold') notify = 'hold';
  return {
    rollout,
    patch: {
      lastEvaluation: { ...summary, verdict, reasons },
      evidence,
      policyName: policy.name,
      policyHash: policy.hash,
      lastError: null,
      ...(gateState ? { gateState } : {}),
    },
    decision: changed
      ? {
          verdict,
          kind: 'automatic',
          actor: 'scheduler',
          reasons: [...(note ? [note] : []), ...reasons],
          evidence,
          policyHash: policy.hash,
          outcome: 'none',
        }
      : undefined,
    event: { notify },
  };
}
