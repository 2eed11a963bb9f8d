import type { LoggerService } from '@backstage/backend-plugin-api';
import { ConflictError, NotFoundError } from '@backstage/errors';
import {
  isActiveStatus,
  parseStagesAnnotation,
  stagesForEntity,
  type PipelineStage,
  type StagesDeclaration,
} from '@tollgate/plugin-rollouts-common';
import type { Actuator } from '../actuator/Actuator';
import type { EntityLookup } from '../catalog/EntityIndex';
import type { PolicyResolver } from '../policy/PolicyResolver';
import type { RolloutsStore, StoredRollout } from '../database/RolloutsStore';
import type { ProviderRegistry } from '../providers/ProviderRegistry';
import { errorMessage, type RetryOptions } from '../providers/retry';
import type { PipelineStore, StoredPipeline } from './PipelineStore';
import {
  endedBadly,
  refreshStages,
  stageHoldReason,
  stageIndexOf,
  stageRollouts,
  stillRuns,
  stoppedStages,
  type SameTarget,
} from './stageStates';
import {
  actOnStage,
  isDefined,
  pipelineDecision,
  rollbackReason,
} from './stageActions';
import { reconcileStart, type ReconcileContext } from './reconcileStart';
import { startStage } from './startStage';

export interface PipelineDriverOptions {
  store: RolloutsStore;
  pipelines: PipelineStore;
  providers: ProviderRegistry;
  entities: EntityLookup;
  /** The policies, for a stage rollout registered at its start (its ladder's durations and approvals). */
  policies: PolicyResolver;
  actuator: Actuator;
  logger: LoggerService;
  retry: RetryOptions;
  now?: () => Date;
  /** A start claimed longer ago than this was interrupted (its replica died): reconciled. Default 60 s. */
  staleClaimMs?: number;
}

/** A first-stage rollout that ended badly this recently still gets its (stopped) pipeline. */
const RECENT_MS = 10 * 60_000;
/** How far back finished rollouts matter to a pipeline (its stages' outcomes). */
const LOOKBACK_MS = 7 * 86_400_000;

/**
 * Multi-stage promotion (`tollgate.dev/stages` or the policy's `stages`): a release that starts on
 * the first stage gets a pipeline; stage N+1 starts once stage N completed
 * its ladder and soaked (or a person promotes it early), through the
 * deploy provider's `startRelease`. A rollout a deploy system started on a
 * later stage before its turn is held (paused) until the turn comes; a
 * rollback in any stage stops the pipeline and rolls back the release in
 * the later stages it already runs in. Every change is a conditional
 * update of the pipeline row (with its decision in the same transaction),
 * so replicas never start a stage twice.
 */
export class PipelineDriver {
  readonly #o: PipelineDriverOptions;
  readonly #now: () => Date;
  readonly #ctx: ReconcileContext;

  constructor(options: PipelineDriverOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
    this.#ctx = { ...options, now: this.#now };
  }

  readonly #same: SameTarget = (stage, rollout) =>
    stage.provider === rollout.provider &&
    this.#o.providers.normalizeTarget(stage.provider, stage.target) ===
      this.#o.providers.normalizeTarget(rollout.provider, rollout.target);

  /**
   * The entity's stages: its `tollgate.dev/stages` annotation, else its
   * policy's `stages` (targets filled in for the entity). Throws naming
   * the annotation or the policy when the declaration is broken; a policy
   * that cannot be resolved declares nothing here (the gate holds its
   * rollouts with that reason).
   */
  async declaration(
    entityRef: string,
    annotations: Record<string, string> | undefined,
  ): Promise<StagesDeclaration | undefined> {
    const own = parseStagesAnnotation(annotations);
    if (own) return own;
    let policy;
    try {
      policy = await this.#o.policies.forAnnotations(annotations);
    } catch {
      return undefined;
    }
    return stagesForEntity(policy, entityRef);
  }

  /**
   * Why the gate loop must not move this rollout now, or undefined: a
   * broken stages declaration holds all the entity's rollouts; a later
   * stage waits for its turn or says the pipeline stopped.
   */
  async holdReason(
    rollout: StoredRollout,
    annotations: Record<string, string> | undefined,
  ): Promise<string | undefined> {
    let decl: StagesDeclaration | undefined;
    try {
      decl = await this.declaration(rollout.entityRef, annotations);
    } catch (e) {
      return `${errorMessage(e)}: held until the declaration is fixed`;
    }
    if (!decl) return undefined;
    const stage = stageIndexOf(decl.stages, rollout, this.#same);
    if (stage <= 0) return undefined;
    const p = await this.#o.pipelines.forRelease(
      rollout.entityRef,
      rollout.version,
    );
    return stageHoldReason(p?.stages ?? decl.stages, stage, p, rollout.version);
  }

  /** One pass over every entity with stages; one entity's failure never stops the others. */
  async run(): Promise<void> {
    for (const entity of await this.#o.entities.all()) {
      let decl: StagesDeclaration | undefined;
      try {
        decl = await this.declaration(entity.entityRef, entity.annotations);
      } catch {
        continue; // the gate loop holds its rollouts with the reason
      }
      if (!decl) continue;
      try {
        await this.#runEntity(entity.entityRef, decl);
      } catch (e) {
        this.#o.logger.error(
          `rollouts: pipeline of ${entity.entityRef} failed: ${errorMessage(e)}`,
        );
      }
    }
  }

  async #runEntity(entityRef: string, decl: StagesDeclaration) {
    const now = this.#now();
    const rows = await this.#o.store.listRollouts({
      entityRefs: [entityRef],
      finishedSince: new Date(now.getTime() - LOOKBACK_MS).toISOString(),
    });
    // A release that starts on the first stage gets its pipeline (one that
    // rolled back before a run saw it too: its later stages say why).
    const recent = new Date(now.getTime() - RECENT_MS).toISOString();
    for (const r of rows) {
      const counts =
        isActiveStatus(r.status) ||
        (endedBadly(r) && (r.finishedAt ?? '') >= recent);
      if (!counts || !this.#same(decl.stages[0], r)) continue;
      await this.#o.pipelines.create(
        {
          entityRef,
          version: r.version,
          previousVersion: r.previousVersion,
          status: 'running',
          stages: decl.stages.map((s, i) => ({
            ...s,
            state: i === 0 ? 'running' : 'waiting',
            ...(i === 0
              ? {
                  rolloutId: r.id,
                  startedAt: r.startedAt,
                  startedBy: 'deploy-system' as const,
                }
              : {}),
          })),
          nextStage: 1,
          soakSeconds: decl.soakSeconds,
        },
        now,
      );
    }
    const pipelines = await this.#o.pipelines.list({
      entityRef,
      status: ['running', 'stopped'],
      limit: 20,
    });
    for (const p of pipelines) {
      const own = stageRollouts(p, rows, this.#same);
      if (p.status === 'stopped') await this.#sweepStopped(p, own);
      else await this.#advance(p, own, now);
    }
  }

  async #advance(
    p: StoredPipeline,
    own: Array<StoredRollout | undefined>,
    now: Date,
  ) {
    if (p.pendingAction) {
      await reconcileStart(this.#ctx, p, now);
      return;
    }
    const stages = refreshStages(p, own);
    const bad = stages.findIndex(s => s.state === 'rolled-back');
    if (bad >= 0) {
      await this.#stop(p, stages, bad, own, now);
      return;
    }
    // Later stages a deploy system started before their turn: paused until it comes.
    for (let i = p.nextStage; i < stages.length; i++) {
      const r = own[i];
      if (r?.status === 'progressing' && !r.pendingAction)
        await actOnStage(
          this.#ctx,
          r,
          'pause',
          `pipeline: ${stages[i].note ?? `waiting for stage ${stages[i - 1].name}`}`,
        );
    }
    let next: StoredPipeline = p;
    if (JSON.stringify(stages) !== JSON.stringify(p.stages)) {
      const written = await this.#o.pipelines.update(p, { stages }, now);
      if (!written) return; // another replica moved it; the next run sees its state
      next = written.pipeline;
    }
    if (stages.every(s => s.state === 'completed')) {
      await this.#o.pipelines.update(
        next,
        { status: 'completed' },
        now,
        [
          pipelineDecision(this.#o.actuator, own[stages.length - 1], {
            reasons: [
              `pipeline: ${p.version} completed every stage (${stages.map(s => s.name).join(' → ')})`,
            ],
          }),
        ].filter(isDefined),
      );
      return;
    }
    const k = next.nextStage;
    if (k >= stages.length || stages[k - 1].state !== 'completed') return;
    const done = stages[k - 1].completedAt ?? now.toISOString();
    const soakUntil = new Date(
      Date.parse(done) + p.soakSeconds * 1000,
    ).toISOString();
    if (now.toISOString() < soakUntil) {
      if (next.soakUntil !== soakUntil)
        await this.#o.pipelines.update(next, { soakUntil }, now);
      return;
    }
    const soaked = p.soakSeconds ? ` and soaked ${p.soakSeconds} s` : '';
    await startStage(this.#ctx, next, k, own, {
      kind: 'automatic',
      actor: 'scheduler',
      reasons: [
        `pipeline: stage ${stages[k - 1].name} completed${soaked}; stage ${stages[k].name} starts`,
      ],
      startedBy: 'pipeline',
    });
  }

  /** A rollback in stage `bad`: the pipeline stops; the later stages say why and never start. */
  async #stop(
    p: StoredPipeline,
    stages: PipelineStage[],
    bad: number,
    own: Array<StoredRollout | undefined>,
    now: Date,
  ) {
    const why = await rollbackReason(this.#o.store, own[bad]);
    const reason = `rolled back in ${stages[bad].name}${why ? ` (${why})` : ''}`;
    const later = stages
      .slice(bad + 1)
      .filter(s => s.state !== 'completed')
      .map(s => s.name);
    const written = await this.#o.pipelines.update(
      p,
      {
        status: 'stopped',
        stoppedReason: reason,
        stages: stoppedStages(stages, bad, reason),
      },
      now,
      [
        pipelineDecision(this.#o.actuator, own[bad], {
          reasons: [
            `pipeline stopped: ${reason}${later.length ? `; ${later.join(', ')} will not run ${p.version}` : ''}`,
          ],
        }),
      ].filter(isDefined),
    );
    if (written) await this.#sweepStopped(written.pipeline, own);
  }

  /** A stopped pipeline's release still running in a later stage is rolled back (also after a crash). */
  async #sweepStopped(
    p: StoredPipeline,
    own: Array<StoredRollout | undefined>,
  ) {
    const stages = refreshStages(p, own);
    if (JSON.stringify(stages) !== JSON.stringify(p.stages))
      await this.#o.pipelines.update(p, { stages }, this.#now());
    const from = own.findIndex(r => r && endedBadly(r));
    for (let i = from + 1; from >= 0 && i < own.length; i++) {
      const r = own[i];
      if (!stillRuns(r) || r.pendingAction) continue;
      const reason = `pipeline stopped: ${p.stoppedReason ?? 'an earlier stage rolled back'}`;
      await actOnStage(this.#ctx, r, 'rollback', reason);
    }
  }

  /** A person starts the next stage before the current one's ladder and soak are done. */
  async promoteEarly(o: {
    pipelineId: string;
    stage?: string;
    actor: string;
    reason: string;
  }): Promise<{ pipeline: StoredPipeline; started: boolean }> {
    const p = await this.#o.pipelines.get(o.pipelineId);
    if (!p) throw new NotFoundError(`id: no pipeline with id ${o.pipelineId}`);
    const k = p.nextStage;
    const named =
      o.stage === undefined ? k : p.stages.findIndex(s => s.name === o.stage);
    if (named < 0)
      throw new NotFoundError(`stage: the pipeline has no stage "${o.stage}"`);
    // Idempotent: a stage that started already is not started again.
    if (named < k) return { pipeline: p, started: false };
    if (p.status !== 'running')
      throw new ConflictError(
        `pipeline: it is ${p.status}${p.stoppedReason ? ` (${p.stoppedReason})` : ''}; no stage can start`,
      );
    if (named > k)
      throw new ConflictError(
        `stage: only the next stage (${p.stages[k].name}) can be promoted early, not ${o.stage}`,
      );
    if (p.pendingAction)
      throw new ConflictError(
        `pipeline: stage ${p.stages[k].name} is starting; try again`,
      );
    const rows = await this.#o.store.listRollouts({
      entityRefs: [p.entityRef],
      finishedSince: new Date(
        this.#now().getTime() - LOOKBACK_MS,
      ).toISOString(),
    });
    const own = stageRollouts(p, rows, this.#same);
    if (own[k - 1] && endedBadly(own[k - 1]!))
      throw new ConflictError(
        `stage: ${p.stages[k - 1].name} rolled back; the pipeline stops`,
      );
    const ok = await startStage(this.#ctx, p, k, own, {
      kind: 'manual',
      actor: o.actor,
      reasons: [
        `pipeline: ${o.actor} promoted stage ${p.stages[k].name} early (before ${p.stages[k - 1].name} completed and soaked): ${o.reason}`,
      ],
      startedBy: 'early-promotion',
    });
    const after = (await this.#o.pipelines.get(p.id))!;
    if (!ok && after.nextStage <= k) {
      throw new ConflictError(
        `pipeline: stage ${p.stages[k].name} could not start${after.stages[k].note ? `: ${after.stages[k].note}` : ''}`,
      );
    }
    return { pipeline: after, started: ok };
  }
}
