import {
  ConflictError,
  InputError,
  NotFoundError,
  ServiceUnavailableError,
} from '@backstage/errors';
import {
  FINAL_ROLLOUT_STATUSES,
  ROLLOUT_ACTIONS,
  type DecisionEntry,
  type Rollout,
  type RolloutAction,
} from '@tollgate/plugin-rollouts-common';
import type { Actuator } from '../actuator/Actuator';
import type { RolloutsStore, StoredRollout } from '../database/RolloutsStore';
import type { ProviderRegistry } from '../providers/ProviderRegistry';
import {
  errorMessage,
  promotesFully,
  type RetryOptions,
} from '../providers/retry';
import { actionNotice, manualDecision } from './manualDecisions';

export interface ActionResult {
  rollout: Rollout;
  decision?: DecisionEntry;
  /** True when nothing had to be done (e.g. rolling back a rolled-back rollout). */
  alreadyInState?: boolean;
  /** True when this answer is the stored result of an earlier request with the same key. */
  replayed?: boolean;
}

export function publicRollout(r: StoredRollout): Rollout {
  const {
    rowVersion,
    externalId,
    pendingAction,
    evidence,
    gateState,
    ...rest
  } = r;
  return rest;
}

/**
 * Actions people take: promote, pause, resume, approve, rollback. Each is
 * idempotent per key, claims the rollout row before calling the provider,
 * and is written to the decision log whether it worked or not.
 */
export class ActionService {
  readonly #store: RolloutsStore;
  readonly #providers: ProviderRegistry;
  readonly #actuator: Actuator;
  readonly #retry: RetryOptions;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(options: {
    store: RolloutsStore;
    providers: ProviderRegistry;
    actuator: Actuator;
    retry: RetryOptions;
    sleep?: (ms: number) => Promise<void>;
  }) {
    this.#store = options.store;
    this.#providers = options.providers;
    this.#actuator = options.actuator;
    this.#retry = options.retry;
    this.#sleep = options.sleep ?? (ms => new Promise(r => setTimeout(r, ms)));
  }

  async act(request: {
    rolloutId: string;
    action: RolloutAction;
    reason: string;
    idempotencyKey: string;
    actor: string;
  }): Promise<ActionResult> {
    const rollout = await this.#store.getRollout(request.rolloutId);
    if (!rollout)
      throw new NotFoundError(`no rollout with id ${request.rolloutId}`);

    const claim = await this.#store.claimActionRequest({
      idempotencyKey: request.idempotencyKey,
      rolloutId: request.rolloutId,
      action: request.action,
      actor: request.actor,
      createdAt: new Date().toISOString(),
    });
    if (!claim.claimed) {
      return this.#replay(request, claim.existing!);
    }
    try {
      const result = await this.#perform(rollout, request);
      await this.#store.finishActionRequest(
        request.idempotencyKey,
        'done',
        result,
      );
      return result;
    } catch (e) {
      await this.#store.finishActionRequest(request.idempotencyKey, 'failed', {
        name: (e as Error)?.name ?? 'Error',
        message: errorMessage(e),
      });
      throw e;
    }
  }

  async #replay(
    request: { rolloutId: string; action: string; idempotencyKey: string },
    existing: NonNullable<
      Awaited<ReturnType<RolloutsStore['getActionRequest']>>
    >,
  ): Promise<ActionResult> {
    if (
      existing.rolloutId !== request.rolloutId ||
      existing.action !== request.action
    ) {
      throw new ConflictError(
        `idempotencyKey was already used for ${existing.action} on rollout ${existing.rolloutId}`,
      );
    }
    let record = existing;
    for (let i = 0; i < 100 && record.state === 'running'; i++) {
      await this.#sleep(100);
      record =
        (await this.#store.getActionRequest(request.idempotencyKey)) ?? record;
    }
    if (record.state === 'running') {
      throw new ConflictError(
        'the first request with this idempotencyKey is still running',
      );
    }
    if (record.state === 'failed') {
      const err = record.result as { name: string; message: string };
      throw new ServiceUnavailableError(
        `the first request with this idempotencyKey failed: ${err.message}`,
      );
    }
    return { ...(record.result as ActionResult), replayed: true };
  }

  async #perform(
    rollout: StoredRollout,
    request: { action: RolloutAction; reason: string; actor: string },
  ): Promise<ActionResult> {
    const { action } = request;
    const final = FINAL_ROLLOUT_STATUSES.includes(rollout.status);
    // What is already true needs no provider call.
    if (
      (action === 'rollback' && rollout.status === 'rolled-back') ||
      (action === 'promote' && rollout.status === 'promoted') ||
      (action === 'pause' && rollout.status === 'paused') ||
      (action === 'resume' && rollout.status === 'progressing')
    ) {
      return { rollout: publicRollout(rollout), alreadyInState: true };
    }
    if (!ROLLOUT_ACTIONS.includes(action))
      throw new InputError(`unknown action ${action}`);
    if (final) {
      throw new ConflictError(
        `cannot ${action}: the rollout already ended (${rollout.status})`,
      );
    }
    if (action === 'approve' && rollout.status !== 'awaiting-approval') {
      throw new ConflictError(
        `cannot approve: the rollout is ${rollout.status}, not awaiting approval`,
      );
    }
    if (action === 'resume' && rollout.status !== 'paused') {
      throw new ConflictError(
        `cannot resume: the rollout is ${rollout.status}, not paused`,
      );
    }
    if (!this.#providers.hasDeploy(rollout.provider)) {
      return this.#requestFromController(rollout, request);
    }
    if (rollout.pendingAction) {
      const settled = await this.#sameActionInFlight(rollout, action);
      if (settled) return settled;
      throw new ConflictError(
        `another action (${rollout.pendingAction}) is in flight on this rollout; try again in a moment`,
      );
    }

    const isLast = promotesFully(rollout);
    const gateVerdict = rollout.lastEvaluation?.verdict;
    const result = await this.#actuator.act({
      rollout,
      action,
      retry: this.#retry,
      call: provider => {
        switch (action) {
          case 'rollback':
            return provider.rollback(rollout.target, request.reason);
          case 'promote':
          case 'approve':
            return isLast
              ? provider.promote(rollout.target)
              : provider.setStep(rollout.target, rollout.currentStepIndex + 1);
          case 'pause':
            return provider.pause
              ? provider.pause(rollout.target)
              : Promise.resolve(undefined);
          default: // resume
            return provider.resume
              ? provider.resume(rollout.target)
              : Promise.resolve(undefined);
        }
      },
      applied: after => {
        let localStatus: StoredRollout['status'] | undefined;
        if (action === 'pause') localStatus = 'paused';
        else if (action === 'resume') localStatus = 'progressing';
        else if (
          (action === 'promote' || action === 'approve') &&
          (after?.status === 'paused' || after?.status === 'awaiting-approval')
        ) {
          localStatus = 'progressing';
        }
        return {
          patch: {
            lastError: null,
            ...(after
              ? {
                  status: after.status,
                  currentStepIndex: after.currentStepIndex,
                  currentWeight: after.currentWeight,
                  stepStartedAt: after.stepStartedAt.toISOString(),
                  finishedAt: after.finishedAt?.toISOString(),
                }
              : {}),
            ...(localStatus ? { status: localStatus } : {}),
          },
          decision: manualDecision(
            rollout,
            gateVerdict,
            request,
            [`reason given: ${request.reason}`],
            'applied',
          ),
          notify: actionNotice(action, isLast),
        };
      },
      failed: message => ({
        decision: manualDecision(
          rollout,
          gateVerdict,
          request,
          [message, `reason given: ${request.reason}`],
          'failed',
        ),
        notify: action === 'rollback' ? 'rollback-failed' : undefined,
      }),
    });
    if (result.outcome === 'not-claimed') {
      // Someone else changed the rollout first: re-read and report the state.
      const now = await this.#store.getRollout(rollout.id);
      if (
        now &&
        ((action === 'rollback' && now.status === 'rolled-back') ||
          (action === 'promote' && now.status === 'promoted'))
      ) {
        return { rollout: publicRollout(now), alreadyInState: true };
      }
      const settled = now?.pendingAction
        ? await this.#sameActionInFlight(now, action)
        : undefined;
      if (settled) return settled;
      throw new ConflictError(
        'the rollout changed while the action was being taken; reload and try again',
      );
    }
    if (result.outcome === 'failed') {
      throw new ServiceUnavailableError(
        `${result.message}. The ${action} is recorded as failed; retry it with a new idempotency key.`,
      );
    }
    return {
      rollout: publicRollout(result.rollout),
      decision: result.decision,
    };
  }

  /**
   * Two people rolling back at once (on any replica): the second waits for
   * the first one's rollback and reports its result instead of failing.
   * Undefined when the action in flight is a different one, or still
   * running after 30 s.
   */
  async #sameActionInFlight(
    rollout: StoredRollout,
    action: RolloutAction,
  ): Promise<ActionResult | undefined> {
    if (
      rollout.pendingAction !== action ||
      (action !== 'rollback' && action !== 'promote')
    )
      return undefined;
    const done: StoredRollout['status'] =
      action === 'rollback' ? 'rolled-back' : 'promoted';
    for (let i = 0; i < 300; i++) {
      await this.#sleep(100);
      const now = await this.#store.getRollout(rollout.id);
      if (!now) return undefined;
      if (now.status === done)
        return { rollout: publicRollout(now), alreadyInState: true };
      if (now.pendingAction !== action) return undefined;
    }
    return undefined;
  }

  /**
   * A rollout another controller drives (Flagger, Argo Rollouts with
   * Tollgate as its judge): Tollgate cannot move it, so a rollback becomes
   * the verdict the controller reads at its next call.
   */
  async #requestFromController(
    rollout: StoredRollout,
    request: { action: RolloutAction; reason: string; actor: string },
  ): Promise<ActionResult> {
    if (request.action !== 'rollback') {
      throw new ConflictError(
        `${rollout.provider} drives this rollout and Tollgate only judges it: ${request.action} it in ${rollout.provider}`,
      );
    }
    if (rollout.pendingAction === 'rollback') {
      return { rollout: publicRollout(rollout), alreadyInState: true };
    }
    const at = new Date().toISOString();
    const written = await this.#actuator.record(
      rollout,
      {
        pendingAction: 'rollback',
        lastEvaluation: {
          verdict: 'rollback',
          rubric: 'not ready',
          score: 0,
          reasons: [
            `rollback requested by ${request.actor}: ${request.reason}`,
          ],
          evaluatedAt: at,
        },
      },
      manualDecision(
        rollout,
        rollout.lastEvaluation?.verdict,
        request,
        [
          `requested from ${rollout.provider}: it rolls back at its next call to Tollgate (Flagger's rollback webhook, Argo's analysis)`,
          `reason given: ${request.reason}`,
        ],
        'none',
      ),
      { notify: 'rollback' },
    );
    if (!written) {
      const now = await this.#store.getRollout(rollout.id);
      if (now?.pendingAction === 'rollback' || now?.status === 'rolled-back') {
        return { rollout: publicRollout(now), alreadyInState: true };
      }
      throw new ConflictError(
        'the rollout changed while the action was being taken; reload and try again',
      );
    }
    return {
      rollout: publicRollout(written.rollout),
      decision: written.decision,
    };
  }
}
