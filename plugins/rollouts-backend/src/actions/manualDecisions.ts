import type {
  GateVerdict,
  RolloutAction,
} from '@tollgate/plugin-rollouts-common';
import type { StoredRollout } from '../database/RolloutsStore';
import type { DecisionInput } from '../decisions/DecisionWriter';

/** Who hears of a person's applied action: a rollback, and the promotion to full. */
export function actionNotice(
  action: RolloutAction,
  isLast: boolean,
): 'rollback' | 'completed' | undefined {
  if (action === 'rollback') return 'rollback';
  if ((action === 'promote' || action === 'approve') && isLast)
    return 'completed';
  return undefined;
}

/**
 * A person's action as a decision: the action is the verdict, an override
 * when it promotes against the gate, with the gate's verdict at the time
 * and the evidence it was made on.
 */
export function manualDecision(
  rollout: StoredRollout,
  automaticVerdict: GateVerdict | undefined,
  request: { action: RolloutAction; actor: string },
  reasons: string[],
  outcome: DecisionInput['outcome'],
): DecisionInput {
  const overrides =
    (request.action === 'promote' && automaticVerdict !== 'promote') ||
    (request.action === 'rollback' && automaticVerdict !== 'rollback');
  return {
    verdict: request.action,
    kind: overrides && request.action === 'promote' ? 'override' : 'manual',
    actor: request.actor,
    reasons: automaticVerdict
      ? [...reasons, `gate verdict at the time: ${automaticVerdict}`]
      : reasons,
    evidence: rollout.evidence ?? null,
    outcome,
  };
}
