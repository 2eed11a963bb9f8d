import {
  ACTIVE_ROLLOUT_STATUSES,
  ATTENTION_KINDS,
  RUNBOOK_ANNOTATION,
  readKeyNumbers,
  readSignals,
  type AttentionItem,
  type AttentionKind,
  type AttentionList,
} from '@tollgate/plugin-rollouts-common';
import { publicRollout } from '../actions/ActionService';
import type { EntityLookup } from '../catalog/EntityIndex';
import type { RolloutsStore, StoredRollout } from '../database/RolloutsStore';

/** How long a rollout the post-promotion watch rolled back stays on the on-call view. */
export const WATCH_FIRED_HOURS = 24;

/**
 * Why a rollout needs a person now, most urgent first: a rollback the
 * deploy system refused, a post-promotion watch that rolled the release
 * back, a canary burning error budget, a hold (and why), stale telemetry,
 * a step waiting for approval, a pause someone has to lift.
 */
export function attentionNeeds(
  r: StoredRollout,
  now: Date,
): AttentionItem['needs'] {
  const needs: AttentionItem['needs'] = [];
  const active = ACTIVE_ROLLOUT_STATUSES.includes(r.status);
  if (r.lastError?.action === 'rollback') {
    needs.push({
      kind: 'failed-rollback',
      text: `the rollback failed at ${r.provider}: ${r.lastError.message}`,
    });
  }
  if (
    r.watch?.state === 'rolled-back' &&
    r.finishedAt &&
    now.getTime() - Date.parse(r.finishedAt) < WATCH_FIRED_HOURS * 3_600_000
  ) {
    needs.push({
      kind: 'watch-fired',
      text: `the post-promotion watch rolled the release back: ${r.watch.reasons[0] ?? 'harm in the bake window'}`,
    });
  }
  if (active) {
    const key = readKeyNumbers(r.evidence);
    if (key.burnAlerting)
      needs.push({
        kind: 'burning',
        text: 'the canary burns error budget faster than the alert threshold',
      });
    if (r.lastEvaluation?.verdict === 'hold')
      needs.push({
        kind: 'hold',
        text: `the gate holds: ${r.lastEvaluation.reasons[0] ?? 'no reason given'}`,
      });
    if (key.stale)
      needs.push({
        kind: 'stale',
        text: 'telemetry is stale: the gate cannot promote on it',
      });
    if (r.status === 'awaiting-approval')
      needs.push({
        kind: 'awaiting-approval',
        text: `step ${r.currentStepIndex + 1} (${r.currentWeight} %) waits for a person's approval`,
      });
    if (r.status === 'paused')
      needs.push({
        kind: 'paused',
        text: 'paused: the gate does not promote until someone resumes it',
      });
  }
  const rank = (k: AttentionKind) => ATTENTION_KINDS.indexOf(k);
  return needs.sort((a, b) => rank(a.kind) - rank(b.kind));
}

/**
 * The on-call view: every rollout the caller may read that needs a person
 * now, most urgent first, with its owner, runbook, SLIs and who acted last.
 */
export async function listAttention(
  deps: { store: RolloutsStore; entities: EntityLookup },
  allowed: (entityRefs: string[]) => Promise<Set<string>>,
  now: Date,
): Promise<AttentionList> {
  const since = new Date(
    now.getTime() - WATCH_FIRED_HOURS * 3_600_000,
  ).toISOString();
  const [active, recent] = await Promise.all([
    deps.store.listRollouts({
      status: [...ACTIVE_ROLLOUT_STATUSES],
      withEvidence: true,
    }),
    deps.store.listRollouts({ status: ['rolled-back'], finishedSince: since }),
  ]);
  const candidates = [...active, ...recent]
    .map(rollout => ({ rollout, needs: attentionNeeds(rollout, now) }))
    .filter(c => c.needs.length > 0);
  const readable = await allowed(candidates.map(c => c.rollout.entityRef));
  const items = await Promise.all(
    candidates
      .filter(c => readable.has(c.rollout.entityRef))
      .map(async ({ rollout, needs }): Promise<AttentionItem> => {
        const [entity, log] = await Promise.all([
          deps.entities.byRef(rollout.entityRef),
          deps.store.listDecisions({
            rolloutId: rollout.id,
            limit: 20,
            withEvidence: false,
          }),
        ]);
        const last = log.items.find(
          d => d.outcome !== 'none' || d.kind !== 'automatic',
        );
        return {
          rollout: publicRollout(rollout),
          needs,
          owner: entity?.owner,
          runbookUrl: entity?.annotations[RUNBOOK_ANNOTATION],
          lastAction: last
            ? { actor: last.actor, verdict: last.verdict, at: last.createdAt }
            : undefined,
          health: readSignals(rollout.evidence).filter(
            s => s.kind === 'error-rate' || s.kind === 'latency',
          ),
        };
      }),
  );
  const rank = (i: AttentionItem) => ATTENTION_KINDS.indexOf(i.needs[0].kind);
  items.sort(
    (a, b) =>
      rank(a) - rank(b) ||
      Date.parse(b.rollout.updatedAt) - Date.parse(a.rollout.updatedAt),
  );
  return { items, generatedAt: now.toISOString() };
}
