import type { LoggerService } from '@backstage/backend-plugin-api';
import { NotFoundError } from '@backstage/errors';
import {
  ACTIVE_ROLLOUT_STATUSES,
  storedEvidence,
  type FlaggerHook,
  type FlaggerWebhookPayload,
  type GateEvaluationSummary,
  type JudgeQuery,
  type RolloutStatus,
} from '@tollgate/plugin-rollouts-common';
import { randomUUID } from 'node:crypto';
import type { Actuator } from '../actuator/Actuator';
import type { EntityLookup, IndexedEntity } from '../catalog/EntityIndex';
import type { RolloutsStore, StoredRollout } from '../database/RolloutsStore';
import type { DecisionInput } from '../decisions/DecisionWriter';
import type { RolloutEvaluator } from '../evaluation/RolloutEvaluator';
import type { RolloutEvents } from '../events/RolloutEvents';
import type { TelemetryKeeper } from '../replay/TelemetryKeeper';
import type { ShadowRunner } from '../shadow/ShadowRunner';
import { AfterAnswer } from './afterAnswer';
import {
  answerOf,
  describe,
  flaggerVerdict,
  observation,
  settledAnswer,
  type FlaggerReply,
  type JudgeAnswer,
} from './answers';

export type { FlaggerReply, JudgeAnswer } from './answers';

export interface JudgeServiceOptions {
  store: RolloutsStore;
  entities: EntityLookup;
  evaluator: RolloutEvaluator;
  actuator: Actuator;
  events: RolloutEvents;
  logger: LoggerService;
  /** An evaluation younger than this is reused instead of reading telemetry again. */
  maxEvaluationAgeSeconds: number;
  /** Beside each fresh evaluation, as in the gate loop: shadow policies, kept telemetry. */
  shadows?: ShadowRunner;
  keeper?: TelemetryKeeper;
  now?: () => Date;
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
  readonly #after: AfterAnswer;

  constructor(options: JudgeServiceOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
    this.#after = new AfterAnswer(options);
  }

  /** Resolves when the shadows' entries and kept telemetry of the answers given are written. */
  idle(): Promise<void> {
    return this.#after.idle();
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
    return this.#judge(rollout, entity, (answer, changed, basis) =>
      changed
        ? observation(
            answer.verdict,
            actor,
            [
              `argo-rollouts analysis asked: ${describe(answer)}`,
              ...answer.reasons,
            ],
            basis,
          )
        : undefined,
    );
  }

  /**
   * The verdict a revision was last given, read only: nothing is
   * registered, evaluated or logged (`GET /v1/judge`).
   */
  async read(query: JudgeQuery): Promise<JudgeAnswer> {
    const entity = await this.entityFor(query.provider, query.target);
    const externalId = `${query.target}@${query.version}`;
    const rollout = (
      await this.#o.store.listRollouts({ entityRefs: [entity.entityRef] })
    ).find(r => r.provider === query.provider && r.externalId === externalId);
    if (!rollout) {
      throw new NotFoundError(
        `version: Tollgate has not judged revision ${query.version} of ${query.provider}:${query.target}; POST /v1/judge asks for a verdict`,
      );
    }
    const now = this.#now();
    return (
      settledAnswer(rollout, now) ??
      answerOf(
        rollout,
        rollout.lastEvaluation ?? {
          verdict: 'hold',
          rubric: 'not ready',
          score: 0,
          reasons: ['not evaluated yet; POST /v1/judge asks for a verdict'],
          evaluatedAt: now.toISOString(),
        },
        rollout.lastEvaluation !== undefined,
      )
    );
  }

  /** The catalog entity that claims a target; its ref is what the judge permission is asked on. */
  async entityFor(provider: string, target: string): Promise<IndexedEntity> {
    const entity = await this.#o.entities.byTarget(provider, target);
    if (!entity) {
      throw new NotFoundError(
        `target: no catalog entity claims ${provider}:${target}; annotate its entity with tollgate.dev/rollouts: ${provider}:${target}`,
      );
    }
    return entity;
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
      const current = rollout;
      let message = `recorded ${hook}${phase}`;
      if (hook === 'post-rollout' && payload.phase) {
        let status: RolloutStatus | undefined;
        if (payload.phase === 'Succeeded') status = 'promoted';
        else if (payload.phase === 'Failed') status = 'rolled-back';
        if (status && current.status !== status) {
          message = `flagger reports the canary ${payload.phase === 'Succeeded' ? 'promoted' : 'rolled back'}`;
          const written = await this.#o.actuator.record(
            current,
            {
              status,
              pendingAction: null,
              currentWeight: status === 'promoted' ? 100 : 0,
              finishedAt: this.#now().toISOString(),
            },
            observation(
              'observe',
              actor,
              [`flagger ${hook}${phase}: answered 200 — ${message}`],
              current,
            ),
            { notify: status === 'rolled-back' ? 'rollback' : undefined },
          );
          if (written) return { status: 200, body: { ok: true, message } };
        }
      }
      await this.#log(
        current,
        observation(
          'observe',
          actor,
          [`flagger ${hook}${phase}: answered 200 — ${message}`],
          current,
        ),
      );
      return { status: 200, body: { ok: true, message } };
    }

    let ok = false;
    let why = '';
    const answer = await this.#judge(
      rollout,
      entity,
      (judged, _changed, basis) => {
        [ok, why] = flaggerVerdict(hook, judged);
        return observation(
          judged.verdict,
          actor,
          [
            `flagger ${hook}${phase}: answered ${ok ? 200 : 412} — ${why}`,
            ...judged.reasons,
          ],
          basis,
        );
      },
    );
    const status = ok ? 200 : 412;
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
    const entity = await this.entityFor(provider, target);
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
      await this.#log(
        rollout,
        observation(
          'register',
          actor,
          [
            `${source} registered revision ${version} of ${target}; ${provider} drives it, Tollgate judges`,
          ],
          rollout,
        ),
      );
      for (const older of await this.#o.store.listRollouts({
        entityRefs: [entity.entityRef],
        status: ACTIVE,
        withEvidence: true,
      })) {
        if (
          older.id === rollout.id ||
          older.provider !== provider ||
          older.target !== target
        )
          continue;
        await this.#o.actuator.record(
          older,
          { status: 'aborted', finishedAt: now, pendingAction: null },
          observation(
            'observe',
            actor,
            [`superseded by revision ${version}`],
            older,
          ),
        );
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

  /**
   * The verdict now: a person's pending rollback, a final state, a recent
   * evaluation, or a fresh one (the one evaluation path). `log` says what
   * to log about the answer; a fresh evaluation is stored with that
   * decision in one transaction.
   */
  async #judge(
    rollout: StoredRollout,
    entity: IndexedEntity,
    log: (
      answer: JudgeAnswer,
      changed: boolean,
      basis: StoredRollout,
    ) => DecisionInput | undefined,
  ): Promise<JudgeAnswer> {
    const now = this.#now();
    const previous = rollout.lastEvaluation;
    let answer = settledAnswer(rollout, now);
    if (
      !answer &&
      previous &&
      now.getTime() - Date.parse(previous.evaluatedAt) <
        this.#o.maxEvaluationAgeSeconds * 1000
    ) {
      answer = answerOf(rollout, previous, true);
    }
    if (answer) {
      const decision = log(answer, false, rollout);
      if (decision) await this.#log(rollout, decision);
      return answer;
    }

    const evaluation = await this.#o.evaluator.evaluate(
      rollout,
      entity.annotations,
      now,
      { engine: this.#after.engine() },
    );
    // shadows and kept telemetry: queued, written beside the answer, never awaited by it
    this.#after.after({
      rollout,
      annotations: entity.annotations,
      now,
      evaluation,
    });
    const summary: GateEvaluationSummary = evaluation.ok
      ? evaluation.summary
      : {
          verdict: 'hold',
          rubric: 'not ready',
          score: 0,
          reasons: evaluation.reasons,
          evaluatedAt: now.toISOString(),
        };
    const changed = previous?.verdict !== summary.verdict;
    // Logged on this evaluation's evidence and policy, not the row's older
    // ones: a failed evaluation answered on no evidence.
    const evaluated: StoredRollout = {
      ...rollout,
      evidence: evaluation.ok ? storedEvidence(evaluation.decision) : undefined,
      policyHash: evaluation.policy?.hash,
    };
    const decision = log(answerOf(rollout, summary, false), changed, evaluated);
    const written = await this.#o.actuator.record(
      rollout,
      {
        lastEvaluation: summary,
        ...(evaluation.ok
          ? {
              evidence: evaluated.evidence,
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
      decision,
      {
        notify:
          summary.verdict === 'hold' && previous?.verdict !== 'hold'
            ? 'hold'
            : undefined,
      },
    );
    // Another writer changed the row first: the answer still stands and is logged.
    if (!written && decision) await this.#log(rollout, decision);
    return answerOf(written?.rollout ?? rollout, summary, false);
  }

  #log(rollout: StoredRollout, decision: DecisionInput) {
    return this.#o.actuator.decisions.append(this.#o.store, rollout, decision);
  }
}
