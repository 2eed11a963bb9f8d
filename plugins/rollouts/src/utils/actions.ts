import {
  ROLLOUT_ACTIONS,
  rolloutApprovePermission,
  rolloutPromotePermission,
  rolloutRollbackPermission,
  type Rollout,
  type RolloutAction,
} from '@tollgate/plugin-rollouts-common';
import { entityName } from './format';

export const ACTION_LABELS: Record<RolloutAction, string> = {
  promote: 'Promote',
  pause: 'Pause',
  resume: 'Resume',
  approve: 'Approve',
  rollback: 'Roll back',
};

export const ACTION_PAST: Record<RolloutAction, string> = {
  promote: 'Promoted',
  pause: 'Paused',
  resume: 'Resumed',
  approve: 'Approved',
  rollback: 'Rolled back',
};

export function permissionFor(
  action: RolloutAction,
): typeof rolloutPromotePermission {
  switch (action) {
    case 'rollback':
      return rolloutRollbackPermission;
    case 'approve':
      return rolloutApprovePermission;
    default:
      return rolloutPromotePermission;
  }
}

/** The actions that make sense for a rollout in its current status, in UI order. */
export function availableActions(
  rollout: Pick<Rollout, 'status'>,
): RolloutAction[] {
  const allowed: Partial<Record<Rollout['status'], RolloutAction[]>> = {
    pending: ['pause', 'rollback'],
    progressing: ['promote', 'pause', 'rollback'],
    paused: ['promote', 'resume', 'rollback'],
    'awaiting-approval': ['approve', 'pause', 'rollback'],
  };
  const set = allowed[rollout.status] ?? [];
  return ROLLOUT_ACTIONS.filter(a => set.includes(a));
}

function nextWeight(rollout: Rollout): number | undefined {
  return rollout.steps?.[rollout.currentStepIndex + 1]?.weight;
}

/** Plain words: what the action will do. */
export function describeAction(
  action: RolloutAction,
  rollout: Rollout,
): string {
  const name = entityName(rollout.entityRef);
  const subject = `${name} ${rollout.version}`;
  const prev = rollout.previousVersion ?? 'the previous version';
  const next = nextWeight(rollout);
  const moveOn =
    next === undefined || next >= 100
      ? `all traffic moves to ${rollout.version} and the rollout completes`
      : `traffic moves from ${rollout.currentWeight}% to ${next}% on ${rollout.version} now, without waiting for the gate`;
  switch (action) {
    case 'rollback':
      return `Roll back ${subject}: all traffic returns to ${prev}.`;
    case 'promote':
      return `Promote ${subject}: ${moveOn}.`;
    case 'approve':
      return `Approve ${subject}: ${moveOn}.`;
    case 'pause':
      return `Pause ${subject}: traffic stays at ${rollout.currentWeight}% and the gate stops moving it to the next step until someone resumes it.`;
    case 'resume':
      return `Resume ${subject}: the gate evaluates it again and moves it on from ${rollout.currentWeight}% when the evidence allows.`;
    default:
      return `${action} ${subject}.`;
  }
}

/** A fresh idempotency key (8–128 chars of [A-Za-z0-9_.:-]). */
export function newIdempotencyKey(): string {
  const c = (globalThis as { crypto?: Crypto }).crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  return `k-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}
