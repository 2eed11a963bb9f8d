import {
  isActiveStatus,
  type PipelineStage,
} from '@tollgate/plugin-rollouts-common';
import type { Actuator } from '../actuator/Actuator';
import type { RolloutsStore, StoredRollout } from '../database/RolloutsStore';
import type { RetryOptions } from '../providers/retry';
import type { EntityLookup } from '../catalog/EntityIndex';
import { registerDiscovered } from '../loop/sync';
import type { PolicyResolver } from '../policy/PolicyResolver';
import type { ProviderRollout } from '@tollgate/plugin-rollouts-node';
import type { PipelineStore, StoredPipeline } from './PipelineStore';
import { actOnStage, isDefined, pipelineDecision } from './stageActions';

/** Who starts a stage: the pipeline in its turn, or a person early. */
export interface Starter {
  kind: 'automatic' | 'manual';
  actor: string;
  reasons: string[];
  startedBy: PipelineStage['startedBy'];
}

/** What starting a stage needs. */
export interface StartContext {
  store: RolloutsStore;
  entities: EntityLookup;
  policies: PolicyResolver;
  pipelines: PipelineStore;
  actuator: Actuator;
  retry: RetryOptions;
  now: () => Date;
}

/**
 * Starts stage `k` now: in its turn or promoted early by a person.
 * Returns false when another writer moved the pipeline first.
 */
export async function startStage(
  ctx: StartContext,
  p: StoredPipeline,
  k: number,
  own: Array<StoredRollout | undefined>,
  who: Starter,
): Promise<boolean> {
  const now = ctx.now();
  const stage = p.stages[k];
  const subject =
    own[k - 1] ??
    (p.stages[k - 1].rolloutId
      ? await ctx.store.getRollout(p.stages[k - 1].rolloutId!)
      : undefined);
  const started = (s: Partial<PipelineStage>): PipelineStage[] =>
    p.stages.map((x, i) =>
      i === k
        ? {
            ...x,
            startedBy: who.startedBy,
            startedAt: now.toISOString(),
            note: undefined,
            ...s,
          }
        : x,
    );
  const held = own[k];
  if (held && isActiveStatus(held.status)) {
    // Its deploy system started it before its turn: let it go on.
    if (held.status === 'paused')
      await actOnStage(ctx, held, 'resume', who.reasons[0]);
    return Boolean(
      await ctx.pipelines.update(
        p,
        {
          nextStage: k + 1,
          soakUntil: undefined,
          stages: started({
            state: 'running',
            rolloutId: held.id,
            startedBy: 'deploy-system',
          }),
        },
        now,
        [
          pipelineDecision(ctx.actuator, subject, {
            ...who,
            reasons: [
              ...who.reasons,
              `it already runs on ${stage.target}; resumed`,
            ],
          }),
        ].filter(isDefined),
      ),
    );
  }
  let claimed: StoredPipeline | undefined;
  const result = await ctx.actuator.startRelease({
    provider: stage.provider,
    target: stage.target,
    version: p.version,
    previousVersion: p.previousVersion,
    retry: ctx.retry,
    claim: async () => {
      claimed = (
        await ctx.pipelines.update(p, { pendingAction: `start:${k}` }, now)
      )?.pipeline;
      return Boolean(claimed);
    },
    finish: async ({ after, error }) => {
      const base = claimed!;
      // The start is logged on the stage's own rollout (registered here when
      // no sync did yet), so the deploy call is in that rollout's log.
      const stageRow = after
        ? await stageRollout(ctx, p, stage.provider, after).catch(
            () => undefined,
          )
        : undefined;
      const decision = pipelineDecision(ctx.actuator, stageRow ?? subject, {
        ...who,
        reasons: error
          ? [`pipeline: could not start stage ${stage.name}: ${error}`]
          : [
              ...who.reasons,
              `${stage.provider} started ${p.version} on ${stage.target}`,
            ],
        outcome: error ? 'failed' : 'applied',
      });
      const written = await ctx.pipelines.update(
        base,
        error
          ? {
              pendingAction: null,
              stages: base.stages.map((x, i) =>
                i === k ? { ...x, note: error } : x,
              ),
            }
          : {
              pendingAction: null,
              nextStage: k + 1,
              stages: started({
                state:
                  after && isActiveStatus(after.status)
                    ? 'running'
                    : 'starting',
              }),
            },
        ctx.now(),
        // a failure is logged once per message, not every run
        [decision]
          .filter(d => d && !(error && stage.note === error))
          .filter(isDefined),
      );
      // Settled by another replica meanwhile: the deploy system acted, so it is logged all the same.
      if (!written && after && decision)
        await ctx.store.appendDecision(decision);
    },
  });
  if (result === 'unsupported') {
    // The deploy system starts releases itself: its turn has come, it is no longer held.
    return Boolean(
      await ctx.pipelines.update(
        p,
        {
          nextStage: k + 1,
          stages: started({
            state: 'starting',
            note: `waiting for ${stage.provider} to start ${p.version} on ${stage.target}`,
          }),
        },
        now,
        [
          pipelineDecision(ctx.actuator, subject, {
            ...who,
            reasons: [
              ...who.reasons,
              `${stage.provider} starts releases itself: ${stage.name} is no longer held`,
            ],
          }),
        ].filter(isDefined),
      ),
    );
  }
  return result === 'applied';
}

/**
 * The stage's rollout as the deploy provider reported it on start: the
 * existing row, or a new one registered as the sync would (the policy's
 * step durations and approvals where its ladder has the same weights).
 */
export async function stageRollout(
  ctx: StartContext,
  p: StoredPipeline,
  provider: string,
  pr: ProviderRollout,
): Promise<StoredRollout> {
  const entity = await ctx.entities.byRef(p.entityRef);
  const { rollout } = await registerDiscovered(ctx, {
    entityRef: p.entityRef,
    annotations: entity?.annotations,
    provider,
    pr,
  });
  return rollout;
}
