import type { LoggerService } from '@backstage/backend-plugin-api';
import type { HistoricalRollout } from '@tollgate/plugin-rollouts-node';
import { randomUUID } from 'node:crypto';
import type { RolloutsStore } from '../database/RolloutsStore';
import type { DecisionWriter } from '../decisions/DecisionWriter';
import type { EntityLookup } from '../catalog/EntityIndex';
import type { ProviderRegistry } from '../providers/ProviderRegistry';
import type {
  KeptStep,
  KeptTelemetryStore,
} from '../replay/KeptTelemetryStore';

/** Where seeded history's telemetry is kept, and for how long (as the live rollouts' is). */
export interface SeededTelemetry {
  store: KeptTelemetryStore;
  retentionDays: number;
  now?: () => Date;
}

/**
 * A historical rollout's telemetry as kept steps: each kept as of its
 * step's end (the next step's start, else its last decision), so the
 * retention prunes it as it would a live rollout's; steps already older
 * than the retention are not written.
 */
function keptStepsOf(
  h: HistoricalRollout,
  rollout: { id: string; entityRef: string },
  kept: SeededTelemetry,
): KeptStep[] {
  const steps = h.telemetry ?? [];
  const oldest =
    (kept.now?.() ?? new Date()).getTime() - kept.retentionDays * 86_400_000;
  return steps.flatMap((s, i) => {
    const decided = h.decisions
      .filter(d => d.stepIndex === s.stepIndex)
      .map(d => d.at.getTime());
    const end =
      steps[i + 1]?.stepStartedAt.getTime() ??
      (decided.length ? Math.max(...decided) : undefined) ??
      h.finishedAt?.getTime() ??
      s.stepStartedAt.getTime() + s.ticks.length * s.tickSeconds * 1000;
    if (end < oldest || !s.ticks.length) return [];
    return [
      {
        rolloutId: rollout.id,
        entityRef: rollout.entityRef,
        stepIndex: s.stepIndex,
        stepStartedAt: s.stepStartedAt.toISOString(),
        weight: s.weight,
        tickSeconds: s.tickSeconds,
        ticks: s.ticks,
        keptAt: new Date(end).toISOString(),
      },
    ];
  });
}

/**
 * Imports the finished rollouts providers offer as history (the simulator
 * does), once: a rollout already in the store is skipped, so restarts and
 * replicas do not duplicate it. The telemetry a provider gives with its
 * history is kept for what-if replay (`keptTelemetry`, when telemetry is
 * kept at all), one row per step as the live rollouts' is.
 */
export async function seedHistory(options: {
  store: RolloutsStore;
  providers: ProviderRegistry;
  entities: EntityLookup;
  logger: LoggerService;
  decisions: DecisionWriter;
  keptTelemetry?: SeededTelemetry;
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
      if (options.keptTelemetry && h.telemetry?.length)
        // keyed by rollout and step: written again, it replaces the rows
        await options.keptTelemetry.store.keep(
          keptStepsOf(h, rollout, options.keptTelemetry),
        );
    }
  }
  if (imported)
    options.logger.info(
      `rollouts: imported ${imported} finished rollouts as history`,
    );
  return imported;
}
