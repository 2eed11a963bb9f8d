import type { LoggerService } from '@backstage/backend-plugin-api';
import type { PipelineStage } from '@tollgate/plugin-rollouts-common';
import type { StoredRollout } from '../database/RolloutsStore';
import type { ProviderRegistry } from '../providers/ProviderRegistry';
import { errorMessage } from '../providers/retry';
import type { StoredPipeline } from './PipelineStore';
import { isDefined, pipelineDecision } from './stageActions';
import { stageRollout, type StartContext } from './startStage';

/** What reconciling an interrupted start needs: a start's context, the deploy providers and the logger. */
export interface ReconcileContext extends StartContext {
  providers: ProviderRegistry;
  logger: LoggerService;
  /** A start claimed longer ago than this was interrupted (its replica died): reconciled. Default 60 s. */
  staleClaimMs?: number;
}

async function rolloutOf(
  ctx: ReconcileContext,
  stage: PipelineStage,
): Promise<StoredRollout | undefined> {
  return stage.rolloutId ? ctx.store.getRollout(stage.rolloutId) : undefined;
}

/** A start whose replica died between claim and release: settled with the provider. */
/**
 * A claimed start: when the deploy system already runs the release, the
 * start happened (its process may have died before logging it): logged
 * and settled at once. When it does not, the claim is released only once
 * it is a minute old (a live replica may be calling the deploy system).
 */
export async function reconcileStart(
  ctx: ReconcileContext,
  p: StoredPipeline,
  now: Date,
) {
  const stale =
    now.getTime() - Date.parse(p.updatedAt) >= (ctx.staleClaimMs ?? 60_000);
  const k = Number(p.pendingAction!.split(':')[1]);
  const stage = p.stages[k];
  let runs = false;
  let own: StoredRollout | undefined;
  try {
    const pr = await ctx.providers
      .deploy(stage.provider)
      .getRollout(stage.target);
    runs = pr?.version === p.version;
    if (!runs && !stale) return;
    if (pr && runs) own = await stageRollout(ctx, p, stage.provider, pr);
  } catch (e) {
    ctx.logger.warn(
      `rollouts: could not reconcile the start of ${stage.name}: ${errorMessage(e)}`,
    );
    return;
  }
  const subject = await rolloutOf(ctx, p.stages[k - 1]);
  await ctx.pipelines.update(
    p,
    runs
      ? {
          pendingAction: null,
          nextStage: k + 1,
          stages: p.stages.map((x, i) =>
            i === k
              ? {
                  ...x,
                  state: 'starting',
                  startedBy: 'pipeline',
                  startedAt: now.toISOString(),
                }
              : x,
          ),
        }
      : { pendingAction: null },
    now,
    [
      pipelineDecision(ctx.actuator, own ?? subject, {
        reasons: [
          `pipeline: an interrupted start of stage ${stage.name} was reconciled with ${stage.provider}: it ${runs ? 'runs' : 'does not run'} ${p.version} on ${stage.target}`,
        ],
      }),
    ].filter(isDefined),
  );
}
