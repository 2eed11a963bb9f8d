import type { LoggerService } from '@backstage/backend-plugin-api';
import {
  ACTIVE_ROLLOUT_STATUSES,
  FINAL_ROLLOUT_STATUSES,
  type RolloutStep,
} from '@tollgate/plugin-rollouts-common';
import type { ProviderRollout } from '@tollgate/plugin-rollouts-node';
import { randomUUID } from 'node:crypto';
import type { Actuator } from '../actuator/Actuator';
import type { EntityLookup } from '../catalog/EntityIndex';
import type { RolloutsStore, StoredRollout } from '../database/RolloutsStore';
import type { RolloutEvents } from '../events/RolloutEvents';
import type { PolicyResolver } from '../policy/PolicyResolver';
import type { RolloutPolicy } from '../policy/policy';
import type { ProviderRegistry } from '../providers/ProviderRegistry';
import { errorMessage, withRetry, type RetryOptions } from '../providers/retry';

/**
 * The steps of a rollout a deploy provider reports: the provider's ladder
 * (its `setStep` moves along it), with the policy's minimum durations and
 * approvals when the policy's ladder has the same weights.
 */
export function ladderFor(
  provider: RolloutStep[],
  policy: RolloutStep[] | undefined,
): RolloutStep[] {
  if (
    !policy ||
    policy.length !== provider.length ||
    policy.some((s, i) => s.weight !== provider[i].weight)
  )
    return provider;
  return policy;
}

/** Why a rollout a provider reported cannot be right, or undefined. */
export function providerRolloutProblem(
  pr: ProviderRollout,
): string | undefined {
  if (!Array.isArray(pr.steps) || pr.steps.length === 0)
    return 'it has no steps';
  if (
    !Number.isInteger(pr.currentStepIndex) ||
    pr.currentStepIndex < 0 ||
    pr.currentStepIndex >= pr.steps.length
  ) {
    return `currentStepIndex ${pr.currentStepIndex} is not one of its ${pr.steps.length} steps`;
  }
  if (
    !Number.isFinite(pr.currentWeight) ||
    pr.currentWeight < 0 ||
    pr.currentWeight > 100
  ) {
    return `currentWeight ${pr.currentWeight} is not a percentage`;
  }
  if (!(pr.startedAt instanceof Date) || Number.isNaN(pr.startedAt.getTime()))
    return 'startedAt is not a date';
  return undefined;
}

/** The id a rollout registered from CI carries until its provider reports it. */
export function registeredExternalId(r: {
  target: string;
  version: string;
}): string {
  return `${r.target}@${r.version}`;
}

/**
 * A rollout a deploy provider reported, as a row: the existing one, or a
 * new one with the entity's policy (its step durations and approvals where
 * its ladder has the provider's weights). The sync registers what it
 * discovers this way, and so does a pipeline for the stage it started.
 */
export async function registerDiscovered(
  o: { store: RolloutsStore; policies: PolicyResolver },
  r: {
    entityRef: string;
    annotations: Record<string, string> | undefined;
    provider: string;
    pr: ProviderRollout;
  },
): Promise<{ rollout: StoredRollout; created: boolean }> {
  const { pr } = r;
  let policy: RolloutPolicy | undefined;
  try {
    policy = await o.policies.forAnnotations(r.annotations);
  } catch {
    policy = undefined; // recorded when the gate evaluates it
  }
  return o.store.upsertDiscovered({
    id: randomUUID(),
    entityRef: r.entityRef,
    provider: r.provider,
    target: pr.target,
    externalId: pr.externalId,
    version: pr.version,
    previousVersion: pr.previousVersion,
    status: pr.status,
    steps: ladderFor(pr.steps, policy?.steps),
    currentStepIndex: pr.currentStepIndex,
    currentWeight: pr.currentWeight,
    startedAt: pr.startedAt.toISOString(),
    stepStartedAt: pr.stepStartedAt.toISOString(),
    finishedAt: pr.finishedAt?.toISOString(),
    policyName: policy?.name,
    policyHash: policy?.hash,
  });
}

export interface RolloutSyncOptions {
  store: RolloutsStore;
  providers: ProviderRegistry;
  entities: EntityLookup;
  policies: PolicyResolver;
  events: RolloutEvents;
  actuator: Actuator;
  logger: LoggerService;
  now: () => Date;
}

/**
 * Imports what the deploy providers report: new rollouts (registered and
 * logged), state changed outside Tollgate, and active rollouts a provider
 * no longer reports (aborted, logged). The provider is the truth for deploy
 * state, except while an action of Tollgate's is in flight on the row.
 */
export class RolloutSync {
  readonly #o: RolloutSyncOptions;

  constructor(options: RolloutSyncOptions) {
    this.#o = options;
  }

  /** Imports what the providers report; returns the number of rollouts seen. */
  async sync(retry: RetryOptions): Promise<number> {
    let seen = 0;
    // One read of the active rollouts serves every provider: a reported rollout found here needs no lookup.
    const active = await this.#o.store.listRollouts({
      status: [...ACTIVE_ROLLOUT_STATUSES],
    });
    const known = new Map(
      active.map(r => [`${r.provider}\n${r.externalId}`, r]),
    );
    // Rollouts CI registered (POST /v1/rollouts) before the provider reported
    // them carry `target@version` as their id: the provider's report of that
    // target and version is the same rollout, not a second one.
    const registeredKey = (
      provider: string,
      r: { target: string; version: string },
    ) =>
      `${provider}\n${this.#o.providers.normalizeTarget(provider, r.target)}@${r.version}`;
    const registered = new Map(
      active
        .filter(r => r.externalId === registeredExternalId(r))
        .map(r => [registeredKey(r.provider, r), r]),
    );
    for (const provider of this.#o.providers.deployProviders()) {
      let reported: ProviderRollout[];
      try {
        reported = await withRetry(() => provider.listRollouts(), retry);
      } catch (e) {
        this.#o.logger.error(
          `rollouts: deploy provider ${provider.id} could not list rollouts: ${errorMessage(e)}`,
        );
        continue;
      }
      const reportedIds = new Set<string>();
      for (const pr of reported) {
        reportedIds.add(pr.externalId);
        const entity = await this.#o.entities.byTarget(provider.id, pr.target);
        const entityRef = entity?.entityRef ?? pr.entityRef;
        if (!entityRef) continue; // nobody in the catalog claims this target
        const problem = providerRolloutProblem(pr);
        if (problem) {
          // Wrong data is not news: keep what is known and say so.
          this.#o.logger.error(
            `rollouts: ${provider.id} reported ${pr.target}@${pr.version} in a state that cannot be right (${problem}); ignored`,
          );
          continue;
        }
        seen++;
        const row =
          known.get(`${provider.id}\n${pr.externalId}`) ??
          registered.get(registeredKey(provider.id, pr));
        if (row) reportedIds.add(row.externalId);
        await this.#upsert(
          provider.id,
          pr,
          entityRef,
          entity?.annotations,
          row,
        );
      }
      // Active rollouts the provider no longer reports ended outside Tollgate.
      for (const r of active) {
        if (
          r.provider !== provider.id ||
          reportedIds.has(r.externalId) ||
          r.pendingAction
        )
          continue;
        await this.#o.actuator.record(
          r,
          { status: 'aborted', finishedAt: this.#o.now().toISOString() },
          {
            verdict: 'observe',
            kind: 'automatic',
            actor: 'scheduler',
            reasons: [
              `${provider.id} no longer reports this rollout; it ended outside Tollgate`,
            ],
            outcome: 'none',
          },
          false,
        );
      }
    }
    return seen;
  }

  async #upsert(
    providerId: string,
    pr: ProviderRollout,
    entityRef: string,
    annotations: Record<string, string> | undefined,
    known: StoredRollout | undefined,
  ) {
    let rollout = known;
    if (!rollout) {
      const result = await registerDiscovered(this.#o, {
        entityRef,
        annotations,
        provider: providerId,
        pr,
      });
      if (result.created) {
        await this.#o.actuator.decisions.append(this.#o.store, result.rollout, {
          verdict: 'register',
          kind: 'automatic',
          actor: 'scheduler',
          reasons: [`${providerId} reported ${pr.version} on ${pr.target}`],
          outcome: 'none',
        });
        this.#o.events.changed(result.rollout);
        return;
      }
      rollout = result.rollout;
    }
    // The provider is the truth for deploy state changed outside Tollgate.
    if (rollout.pendingAction) return;
    const status = await this.#statusAfterSync(rollout, pr);
    // A registration's ladder gives way to the provider's (its durations and approvals kept where the weights agree).
    const steps =
      rollout.externalId === pr.externalId
        ? rollout.steps
        : ladderFor(pr.steps, rollout.steps);
    const changed =
      rollout.status !== status ||
      rollout.currentStepIndex !== pr.currentStepIndex ||
      rollout.currentWeight !== pr.currentWeight ||
      steps !== rollout.steps;
    if (!changed) return;
    const finished = FINAL_ROLLOUT_STATUSES.includes(pr.status);
    await this.#o.actuator.record(rollout, {
      ...(steps !== rollout.steps ? { steps } : {}),
      status,
      currentStepIndex: pr.currentStepIndex,
      currentWeight: pr.currentWeight,
      stepStartedAt: pr.stepStartedAt.toISOString(),
      finishedAt: finished
        ? (pr.finishedAt ?? this.#o.now()).toISOString()
        : undefined,
    });
  }

  /**
   * The status a sync leaves: the provider's, except for Tollgate's own
   * states on top of a provider that reports "progressing". Waiting for
   * approval at the same step is Tollgate's. So is a pause a person took in
   * Tollgate (its last pause or resume in the log is an applied pause): a
   * deploy system without a pause (Unleash) keeps reporting the ramp as
   * progressing, and a pause there must hold until someone resumes it in
   * Tollgate. A pause the provider reported and then lifted (resumed in
   * Argo) follows the provider.
   */
  async #statusAfterSync(
    rollout: StoredRollout,
    pr: ProviderRollout,
  ): Promise<StoredRollout['status']> {
    if (pr.status !== 'progressing') return pr.status;
    if (
      rollout.status === 'awaiting-approval' &&
      pr.currentStepIndex === rollout.currentStepIndex
    )
      return rollout.status;
    if (rollout.status === 'paused' && (await this.#pausedInTollgate(rollout)))
      return rollout.status;
    return pr.status;
  }

  async #pausedInTollgate(rollout: StoredRollout): Promise<boolean> {
    for (let before: number | undefined; ;) {
      const page = await this.#o.store.listDecisions({
        rolloutId: rollout.id,
        limit: 50,
        before,
        withEvidence: false,
      });
      const last = page.items.find(
        d =>
          (d.verdict === 'pause' || d.verdict === 'resume') &&
          d.outcome === 'applied',
      );
      if (last) return last.verdict === 'pause';
      if (page.nextCursor === undefined) return false;
      before = page.nextCursor;
    }
  }
}
