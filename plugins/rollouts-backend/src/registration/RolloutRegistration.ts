import { InputError, NotFoundError } from '@backstage/errors';
import type { RegisterRolloutRequest } from '@tollgate/plugin-rollouts-common';
import { randomUUID } from 'node:crypto';
import type { EntityLookup } from '../catalog/EntityIndex';
import type { RolloutsStore, StoredRollout } from '../database/RolloutsStore';
import type { DecisionWriter } from '../decisions/DecisionWriter';
import { registeredExternalId } from '../loop/sync';
import type { PolicyResolver } from '../policy/PolicyResolver';

/** The ladder a registration gets when neither the request nor a policy names one. */
const DEFAULT_STEPS = [
  { weight: 1 },
  { weight: 5 },
  { weight: 25 },
  { weight: 100 },
];

/**
 * Rollouts CI registers (`POST /v1/rollouts`) before the deploy provider
 * reports them: the rollout waits as `pending` with `target@version` as its
 * id until the gate loop's sync meets the provider's report of it.
 */
export class RolloutRegistration {
  readonly #o: {
    store: RolloutsStore;
    entities: EntityLookup;
    policies: PolicyResolver;
    decisions: DecisionWriter;
  };

  constructor(options: {
    store: RolloutsStore;
    entities: EntityLookup;
    policies: PolicyResolver;
    decisions: DecisionWriter;
  }) {
    this.#o = options;
  }

  /** Registers a rollout (once per target and version) and logs it. */
  async register(
    request: RegisterRolloutRequest,
    actor: string,
  ): Promise<{ rollout: StoredRollout; created: boolean }> {
    const { store, entities, policies, decisions } = this.#o;
    // A policy the caller names must exist; the entity's own policy may be
    // broken or unreadable: the rollout registers and the gate loop holds it, saying why.
    const policy = request.policy
      ? this.#named(request.policy)
      : await policies
          .forAnnotations(
            (await entities.byRef(request.entityRef))?.annotations,
          )
          .catch(() => undefined);
    const steps = request.steps ?? policy?.steps ?? DEFAULT_STEPS;
    const now = new Date().toISOString();
    const { rollout, created } = await store.upsertDiscovered({
      id: randomUUID(),
      entityRef: request.entityRef,
      provider: request.provider,
      target: request.target,
      externalId: registeredExternalId(request),
      version: request.version,
      previousVersion: request.previousVersion,
      status: 'pending',
      steps,
      currentStepIndex: 0,
      currentWeight: 0,
      startedAt: now,
      stepStartedAt: now,
      policyName: policy?.name,
      policyHash: policy?.hash,
    });
    if (created) {
      await decisions.append(store, rollout, {
        verdict: 'register',
        kind: 'manual',
        actor,
        reasons: [`registered ${request.version} of ${request.target} from CI`],
        stepIndex: 0,
        policyHash: policy?.hash ?? null,
        outcome: 'none',
        createdAt: now,
      });
    }
    return { rollout, created };
  }

  #named(name: string) {
    try {
      return this.#o.policies.named(name);
    } catch (e) {
      if (e instanceof NotFoundError || e instanceof InputError) {
        throw new InputError(`policy: ${e.message}`);
      }
      throw e;
    }
  }
}
