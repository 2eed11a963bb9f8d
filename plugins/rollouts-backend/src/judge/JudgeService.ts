import type { LoggerService } from '@backstage/backend-plugin-api';
import { NotFoundError } from '@backstage/errors';
import {
  ACTIVE_ROLLOUT_STATUSES,
  type FlaggerHook,
  type FlaggerWebhookPayload,
  type GateEvaluationSummary,
  type GateVerdict,
  type JudgeQuery,
  type RolloutStatus,
} from '@tollgate/plugin-rollouts-common';
import { randomUUID } from 'node:crypto';
import type { RolloutsStore, StoredRollout } from '../database/RolloutsStore';
import type { IndexedEntity, EntityIndex } from '../catalog/EntityIndex';
import type { RolloutEvaluator } from '../evaluation/RolloutEvaluator';
import type { RolloutEvents } from '../events/RolloutEvents';

/** The gate verdict as an external controller reads it. */
export interface JudgeAnswer {
  rolloutId: string;
  entityRef: string;
  provider: string;
  target: string;
  version: string;
  status: RolloutStatus;
  verdict: GateVerdict;
  /** `continue` or `promote`: nothing is wrong so far (Argo: `successCondition: result.healthy`). */
  healthy: boolean;
  promote: boolean;
  rollback: boolean;
  /** Tollgate cannot judge (missing telemetry, broken policy): neither success nor failure. */
  hold: boolean;
  rubric: GateEvaluationSummary['rubric'];
  score: number;
  reasons: string[];
  evaluatedAt: string;
  /** The answer reuses an evaluation younger than `rollouts.judge.maxEvaluationAgeSeconds`. */
  cached: boolean;
}

export interface JudgeServiceOptions {
  store: RolloutsStore;
  entities: EntityIndex;
  evaluator: RolloutEvaluator;
  events: RolloutEvents;
  logger: LoggerService;
  /** An evaluation younger than this is reused instead of reading telemetry again. */
  maxEvaluationAgeSeconds: number;
  now?: () => Date;
}

/** How Tollgate answers each Flagger hook, with the HTTP status Flagger reads. */
export interface FlaggerReply {
  status: number;
  body: { ok: boolean; message: string; answer?: JudgeAnswer };
}

const ACTIVE = [...ACTIVE_ROLLOUT_STATUSES];

/**
 * Tollgate as the judge of a rollout another controller drives: Argo
 * Rollouts' `web` metric provider and Flagger's webhooks ask for the gate
 * verdict; Tollgate evaluates, logs and answers, and never acts on the
 * deploy system itself for these rollouts.
 */
export class JudgeService {
  readonly #o: JudgeServiceOptions;
  readonly #now: () => Date;

  constructor(options: JudgeServiceOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
  }

  /** Argo Rollouts' `web` metric: the verdict for one revision, as JSON. */
  async argo(query: JudgeQuery, actor: string): Promise<JudgeAnswer> {
    const { rollout, entity } = await this.#rolloutFor(
      query.provider,
      query.target,
      query.version,
      actor,
      'argo-rollouts analysis',
      query.weight,
    );
    const { answer, changed } = await this.#judge(rollout, entity);
    if (changed) {
      await this.#log(rollout, answer.verdict, actor, [
        `argo-rollouts analysis asked: ${describe(answer)}`,
        ...answer.reasons,
      ]);
    }
    return answer;
  }

  /** One Flagger webhook call: the status code Flagger acts on, logged as a decision. */
  async flagger(
    hook: FlaggerHook,
    payload: FlaggerWebhookPayload,
    actor: string,
  ): Promise<FlaggerReply> {
    const target = `${payload.namespace}/${payload.name}`;
    const version = payload.checksum || 'current';
    const phase = payload.phase ? ` (phase ${payload.phase})` : '';
    const { rollout, entity } = await this.#rolloutFor(
      'flagger',
      target,
      version,
      actor,
      `flagger ${hook}`,
    );

    if (hook === 'pre-rollout' || hook === 'post-rollout') {
      let current = rollout;
      let message = `recorded ${hook}${phase}`;
      if (hook === 'post-rollout' && payload.phase) {
        let status: RolloutStatus | undefined;
        if (payload.phase === 'Succeeded') status = 'promoted';
        else if (payload.phase === 'Failed') status = 'rolled-back';
        if (status && current.status !== status) {
          const updated = await this.#o.store.updateRollout(
            current.id,
            current.rowVersion,
            {
              status,
              pendingAction: null,
              currentWeight: status === 'promoted' ? 100 : 0,
              finishedAt: this.#now().toISOString(),
            },
          );
          if (updated) {
            current = updated;
            this.#o.events.changed(
              updated,
              status === 'rolled-back' ? { notify: 'rollback' } : undefined,
            );
          }
          message = `flagger reports the canary ${payload.phase === 'Succeeded' ? 'promoted' : 'rolled back'}`;
        }
      }
      await this.#log(current, 'observe', actor, [
        `flagger ${hook}${phase}: answered 200 — ${message}`,
      ]);
      return { status: 200, body: { ok: true, message } };
    }

    const { answer } = await this.#judge(rollout, entity);
    let ok: boolean;
    let why: string;
    switch (hook) {
      case 'confirm-rollout':
        ok = !(
          answer.hold &&
          answer.reasons.some(r => r.startsWith('policy cannot be used'))
        );
        why = ok
          ? 'Tollgate is watching this canary'
          : `the service's rollout policy is broken: ${answer.reasons[0]}`;
        break;
      case 'confirm-promotion':
        ok = answer.promote;
        why = ok
          ? 'the gate is ready to promote'
          : `not ready to promote (${answer.verdict})`;
        break;
      case 'rollback':
        ok = answer.rollback;
        why = ok
          ? 'the gate says roll back'
          : `no rollback (${answer.verdict})`;
        break;
      default: // rollout, confirm-traffic-increase
        ok = answer.healthy;
        why = ok
          ? `the canary is healthy so far (${answer.verdict})`
          : `the canary is not healthy (${answer.verdict})`;
    }
    const status = ok ? 200 : 412;
    await this.#log(rollout, answer.verdict, actor, [
      `flagger ${hook}${phase}: answered ${status} — ${why}`,
      ...answer.reasons,
    ]);
    return { status, body: { ok, message: why, answer } };
  }

  /** Finds the revision's rollout, registering it (and retiring older revisions) on first sight. */
  async #rolloutFor(
    provider: string,
    target: string,
    version: string,
    actor: string,
    source: string,
    weight?: number,
  ): Promise<{ rollout: StoredRollout; entity: IndexedEntity }> {
    const entity = await this.#o.entities.byTarget(provider, target);
    if (!entity) {
      throw new NotFoundError(
        `target: no catalog entity claims ${provider}:${target}; annotate its entity with tollgate.dev/rollouts: ${provider}:${target}`,
      );
    }
    const now = this.#now().toISOString();
    const { rollout, created } = await this.#o.store.upsertDiscovered({
      id: randomUUID(),
      entityRef: entity.entityRef,
      provider,
      target,
      externalId: `${target}@${version}`,
      version,
      status: 'progressing',
      steps: [{ weight: 100 }],
      currentStepIndex: 0,
      currentWeight: weight ?? 0,
      startedAt: now,
      stepStartedAt: now,
    });
    if (created) {
      await this.#log(rollout, 'register', actor, [
        `${source} registered revision ${version} of ${target}; ${provider} drives it, Tollgate judges`,
      ]);
      for (const older of await this.#o.store.listRollouts({
        entityRefs: [entity.entityRef],
        status: ACTIVE,
      })) {
        if (
          older.id === rollout.id ||
          older.provider !== provider ||
          older.target !== target
        )
          continue;
        const retired = await this.#o.store.updateRollout(
          older.id,
          older.rowVersion,
          { status: 'aborted', finishedAt: now, pendingAction: null },
        );
        if (retired) {
          await this.#log(retired, 'observe', actor, [
            `superseded by revision ${version}`,
          ]);
          this.#o.events.changed(retired);
        }
      }
      this.#o.events.changed(rollout);
      return { rollout, entity };
    }
    if (
      weight !== undefined &&
      weight !== rollout.currentWeight &&
      ACTIVE.includes(rollout.status)
    ) {
      // A new weight is a new step: its window starts now.
      const moved = await this.#o.store.updateRollout(
        rollout.id,
        rollout.rowVersion,
        {
          currentWeight: weight,
          stepStartedAt: now,
          lastEvaluation: undefined,
        },
      );
      if (moved) return { rollout: moved, entity };
      return {
        rollout: (await this.#o.store.getRollout(rollout.id)) ?? rollout,
        entity,
      };
    }
    return { rollout, entity };
  }

  /** The verdict now: a person's pending rollback, a final state, a recent evaluation, or a fresh one. */
  async #judge(
    rollout: StoredRollout,
    entity: IndexedEntity,
  ): Promise<{ answer: JudgeAnswer; changed: boolean }> {
    const now = this.#now();
    const previous = rollout.lastEvaluation;
    if (
      rollout.pendingAction === 'rollback' ||
      rollout.status === 'rolled-back' ||
      rollout.status === 'aborted'
    ) {
      const reasons =
        previous?.verdict === 'rollback'
          ? previous.reasons
          : [`the rollout is ${rollout.status}`];
      return {
        answer: answerOf(
          rollout,
          {
            verdict: 'rollback',
            rubric: 'not ready',
            score: 0,
            reasons,
            evaluatedAt: now.toISOString(),
          },
          false,
        ),
        changed: false,
      };
    }
    if (rollout.status === 'promoted') {
      return {
        answer: answerOf(
          rollout,
          {
            verdict: 'promote',
            rubric: 'ready',
            score: 100,
            reasons: ['the rollout is promoted'],
            evaluatedAt: now.toISOString(),
          },
          false,
        ),
        changed: false,
      };
    }
    if (
      previous &&
      now.getTime() - Date.parse(previous.evaluatedAt) <
        this.#o.maxEvaluationAgeSeconds * 1000
    ) {
      return { answer: answerOf(rollout, previous, true), changed: false };
    }
    const evaluation = await this.#o.evaluator.evaluate(
      rollout,
      entity.annotations,
      now,
    );
    const summary: GateEvaluationSummary = evaluation.ok
      ? evaluation.summary
      : {
          verdict: 'hold',
          rubric: 'not ready',
          score: 0,
          reasons: evaluation.reasons,
          evaluatedAt: now.toISOString(),
        };
    const updated = await this.#o.store.updateRollout(
      rollout.id,
      rollout.rowVersion,
      {
        lastEvaluation: summary,
        ...(evaluation.ok
          ? {
              evidence: evaluation.decision as unknown as Record<
                string,
                unknown
              >,
              lastError: null,
            }
          : {
              lastError: {
                message: summary.reasons[0],
                at: summary.evaluatedAt,
              },
            }),
        ...(evaluation.policy
          ? {
              policyName: evaluation.policy.name,
              policyHash: evaluation.policy.hash,
            }
          : {}),
      },
    );
    if (updated)
      this.#o.events.changed(
        updated,
        summary.verdict === 'hold' && previous?.verdict !== 'hold'
          ? { notify: 'hold' }
          : undefined,
      );
    return {
      answer: answerOf(updated ?? rollout, summary, false),
      changed: previous?.verdict !== summary.verdict,
    };
  }

  #log(
    rollout: StoredRollout,
    verdict: GateVerdict | 'register' | 'observe',
    actor: string,
    reasons: string[],
  ) {
    return this.#o.store.appendDecision({
      rolloutId: rollout.id,
      entityRef: rollout.entityRef,
      stepIndex: rollout.currentStepIndex,
      verdict,
      kind: 'automatic',
      actor,
      reasons,
      evidence:
        (rollout.evidence as Record<string, unknown> | undefined) ?? null,
      policyHash: rollout.policyHash ?? null,
      outcome: 'none',
      createdAt: this.#now().toISOString(),
    });
  }
}

function answerOf(
  rollout: StoredRollout,
  s: GateEvaluationSummary,
  cached: boolean,
): JudgeAnswer {
  return {
    rolloutId: rollout.id,
    entityRef: rollout.entityRef,
    provider: rollout.provider,
    target: rollout.target,
    version: rollout.version,
    status: rollout.status,
    verdict: s.verdict,
    healthy: s.verdict === 'continue' || s.verdict === 'promote',
    promote: s.verdict === 'promote',
    rollback: s.verdict === 'rollback',
    hold: s.verdict === 'hold',
    rubric: s.rubric,
    score: s.score,
    reasons: s.reasons,
    evaluatedAt: s.evaluatedAt,
    cached,
  };
}

function describe(a: JudgeAnswer): string {
  return `verdict ${a.verdict} (${a.rubric}, score ${a.score})`;
}
