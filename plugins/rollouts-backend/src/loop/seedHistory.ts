import type { LoggerService } from '@backstage/backend-plugin-api';
import { randomUUID } from 'node:crypto';
import type { RolloutsStore } from '../database/RolloutsStore';
import type { DecisionWriter } from '../decisions/DecisionWriter';
import type { EntityLookup } from '../catalog/EntityIndex';
import type { ProviderRegistry } from '../providers/ProviderRegistry';

/**
 * Imports the finished rollouts providers offer as history (the simulator
 * does), once: a rollout already in the store is skipped, so restarts and
 * replicas do not duplicate it.
 */
export async function seedHistory(options: {
  store: RolloutsStore;
  providers: ProviderRegistry;
  entities: EntityLookup;
  logger: LoggerService;
  decisions: DecisionWriter;
}): Promise<number> {
  let imported = 0;
  for (const provider of options.providers.deployProviders()) {
    if (!provider.listHistory) continue;
    const history = await provider.listHistory();
    for (const h of history) {
      const entity = await options.entities.byTarget(provider.id, h.target);
      const entityRef = entity?.entityRef ?? h.entityRef;
      if (!entityRef) continue;
      const last = h.decisions[h.decisions.length - 1];
      const { rollout, created } = await options.store.upsertDiscovered({
        id: randomUUID(),
        entityRef,
        provider: provider.id,
        target: h.target,
        externalId: h.externalId,
        version: h.version,
        previousVersion: h.previousVersion,
        status: h.status,
        steps: h.steps,
        currentStepIndex: h.currentStepIndex,
        currentWeight: h.currentWeight,
        startedAt: h.startedAt.toISOString(),
        stepStartedAt: h.stepStartedAt.toISOString(),
        finishedAt: h.finishedAt?.toISOString(),
        evidence: last?.evidence,
        lastEvaluation: last
          ? {
              verdict: last.verdict,
              rubric: last.verdict === 'promote' ? 'ready' : 'not ready',
              score: last.verdict === 'promote' ? 1 : 0,
              reasons: last.reasons,
              evaluatedAt: last.at.toISOString(),
            }
          : undefined,
      });
      if (!created) continue;
      imported++;
      for (const d of h.decisions) {
        await options.decisions.append(options.store, rollout, {
          stepIndex: d.stepIndex,
          verdict: d.verdict,
          kind: d.actor && d.actor !== 'scheduler' ? 'manual' : 'automatic',
          actor: d.actor ?? 'scheduler',
          reasons: d.reasons,
          evidence: d.evidence ?? null,
          policyHash: null,
          outcome:
            d.verdict === 'promote' || d.verdict === 'rollback'
              ? 'applied'
              : 'none',
          createdAt: d.at.toISOString(),
        });
      }
    }
  }
  if (imported)
    options.logger.info(
      `rollouts: imported ${imported} finished rollouts as history`,
    );
  return imported;
}
