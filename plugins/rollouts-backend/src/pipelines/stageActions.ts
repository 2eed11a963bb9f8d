import type { Actuator } from '../actuator/Actuator';
import type {
  NewDecision,
  RolloutPatch,
  RolloutsStore,
  StoredRollout,
} from '../database/RolloutsStore';
import type { DecisionInput } from '../decisions/DecisionWriter';
import type { NotifyKind } from '../events/RolloutEvents';
import type { RetryOptions } from '../providers/retry';

/** What the pipeline does to a stage's rollout, through the actuator (claim, provider call, decision). */
export type StageAction = 'pause' | 'resume' | 'rollback';

const APPLIED: Record<StageAction, (now: Date) => RolloutPatch> = {
  pause: () => ({ status: 'paused' }),
  resume: () => ({ status: 'progressing' }),
  rollback: now => ({ status: 'rolled-back', finishedAt: now.toISOString() }),
};

const NOTIFY: Record<
  StageAction,
  { applied?: NotifyKind; failed?: NotifyKind }
> = {
  pause: {},
  resume: {},
  rollback: { applied: 'rollback', failed: 'rollback-failed' },
};

/**
 * Pauses a later stage's rollout until its turn, resumes it when the turn
 * comes, or rolls it back when the pipeline stopped: one action on the
 * stage's deploy system, logged as the scheduler's with the reason. A
 * deploy system without pause/resume is not called (Tollgate's own pause
 * holds the rollout; sync keeps it).
 */
export async function actOnStage(
  o: { actuator: Actuator; retry: RetryOptions; now: () => Date },
  r: StoredRollout,
  action: StageAction,
  reason: string,
): Promise<void> {
  await o.actuator.act({
    rollout: r,
    action,
    retry: o.retry,
    call: async provider => {
      if (action === 'rollback') return provider.rollback(r.target, reason);
      const fn = provider[action]?.bind(provider);
      return fn ? fn(r.target) : undefined;
    },
    applied: after => ({
      patch: {
        ...APPLIED[action](o.now()),
        ...(action === 'rollback'
          ? { currentWeight: after?.currentWeight ?? 0 }
          : {}),
      },
      decision: {
        verdict: action,
        kind: 'automatic',
        actor: 'scheduler',
        reasons: [reason],
        outcome: 'applied',
      },
      notify: NOTIFY[action].applied,
    }),
    failed: message => ({
      decision: {
        verdict: action,
        kind: 'automatic',
        actor: 'scheduler',
        reasons: [reason, message],
        outcome: 'failed',
      },
      notify: NOTIFY[action].failed,
    }),
  });
}

/** Why a stage's rollout was rolled back: its applied rollback decision (first reason, and the person when one did it). */
export async function rollbackReason(
  store: RolloutsStore,
  r: StoredRollout | undefined,
): Promise<string | undefined> {
  if (!r) return undefined;
  const page = await store.listDecisions({
    rolloutId: r.id,
    limit: 50,
    withEvidence: false,
  });
  const d = page.items.find(
    x => x.verdict === 'rollback' && x.outcome === 'applied',
  );
  if (d)
    return `${d.reasons[0] ?? 'no reason given'}${d.actor === 'scheduler' ? '' : `, by ${d.actor}`}`;
  return r.status === 'rolled-back'
    ? undefined
    : `${r.status} at its deploy system`;
}

/** A pipeline decision (`observe`), logged on the rollout of the stage it is about; none without one. */
export function pipelineDecision(
  actuator: Actuator,
  subject: StoredRollout | undefined,
  d: Partial<DecisionInput> & { reasons: string[] },
): NewDecision | undefined {
  if (!subject) return undefined;
  return actuator.decisions.build(subject, {
    verdict: 'observe',
    kind: d.kind ?? 'automatic',
    actor: d.actor ?? 'scheduler',
    reasons: d.reasons,
    outcome: d.outcome ?? 'none',
  });
}

export function isDefined<T>(x: T | undefined): x is T {
  return x !== undefined;
}
