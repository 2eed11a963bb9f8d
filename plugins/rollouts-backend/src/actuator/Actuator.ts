import type {
  ProviderRollout,
  RolloutsDeployProvider,
} from '@tollgate/plugin-rollouts-node';
import type { DecisionEntry } from '@tollgate/plugin-rollouts-common';
import type {
  RolloutPatch,
  RolloutsStore,
  StoredRollout,
} from '../database/RolloutsStore';
import type {
  DecisionInput,
  DecisionWriter,
} from '../decisions/DecisionWriter';
import type { NotifyKind, RolloutEvents } from '../events/RolloutEvents';
import type { ProviderRegistry } from '../providers/ProviderRegistry';
import { errorMessage, withRetry, type RetryOptions } from '../providers/retry';

export interface ActuatorOptions {
  store: RolloutsStore;
  providers: ProviderRegistry;
  events: RolloutEvents;
  decisions: DecisionWriter;
  /** Clock, injectable for tests. */
  now?: () => Date;
}

/** One action on a deploy system, described by whoever decided it. */
export interface ActionPlan {
  /** The row as read: the claim applies only while it still has this `rowVersion`. */
  rollout: StoredRollout;
  /** What the row says is in flight while the provider is called (`pendingAction`). */
  action: string;
  /** More fields written with the claim (the evaluation that led to the action, say). */
  claim?: RolloutPatch;
  retry: RetryOptions;
  /** The deploy provider call; undefined when the provider has nothing to do (a pause it cannot express). */
  call(provider: RolloutsDeployProvider): Promise<ProviderRollout | undefined>;
  /** The row's new state and the decision, once the provider accepted. */
  applied(
    after: ProviderRollout | undefined,
    claimed: StoredRollout,
  ): { patch: RolloutPatch; decision: DecisionInput; notify?: NotifyKind };
  /** The decision when the provider refused or failed (`message` says who and why). */
  failed(
    message: string,
    claimed: StoredRollout,
  ): { decision: DecisionInput; notify?: NotifyKind };
}

/** A rollout change with no deploy call, and the decision that explains it. */
export interface RolloutChange {
  /** The row as read: the change applies only while it still has this `rowVersion`. */
  rollout: StoredRollout;
  patch: RolloutPatch;
  decision?: DecisionInput;
  /** The change signal (and notification) to send once written; `false` for none. */
  event?: false | { notify?: NotifyKind };
}

/**
 * Starting a release on a target that has no rollout row yet (a
 * multi-stage promotion's next stage): the caller guards it with its own
 * row (the pipeline's), claimed and released with the decision.
 */
export interface ReleaseStartPlan {
  provider: string;
  target: string;
  version: string;
  previousVersion?: string;
  retry: RetryOptions;
  /** Claims the caller's row with a conditional update; false when another writer did first. */
  claim(): Promise<boolean>;
  /** Releases the claim and logs the decision, in one transaction. */
  finish(result: { after?: ProviderRollout; error?: string }): Promise<void>;
}

/** The deploy system runs another release on the target than the row's: acting would hit that one. */
class ReleaseMovedOnError extends Error {}

/**
 * Deploy systems act on a target, not on a release: a promotion or rollback
 * asked on a row whose release the deploy system has already replaced
 * (a newer rollout started, not synced yet) would act on the newer one and
 * be logged under the older. The action is not sent; it is logged as failed
 * with the reason.
 */
async function sameRelease(
  provider: RolloutsDeployProvider,
  rollout: StoredRollout,
  plan: Pick<ActionPlan, 'action' | 'retry'>,
): Promise<void> {
  const current = await withRetry(
    () => provider.getRollout(rollout.target),
    plan.retry,
  );
  if (
    current &&
    current.externalId !== rollout.externalId &&
    current.version !== rollout.version
  ) {
    throw new ReleaseMovedOnError(
      `${provider.id} now runs ${current.version} on ${rollout.target}, not ${rollout.version}: the ${plan.action} was not sent (it would act on that newer release; act on its own rollout)`,
    );
  }
}

/** A change that was written, with its decision. */
export interface Recorded {
  rollout: StoredRollout;
  decision?: DecisionEntry;
}

export type ActuatorResult =
  /** Another writer changed the row first: nothing was called, nothing written. */
  | { outcome: 'not-claimed' }
  | {
      outcome: 'applied';
      rollout: StoredRollout;
      decision: DecisionEntry;
      after?: ProviderRollout;
    }
  | {
      outcome: 'failed';
      rollout: StoredRollout;
      decision: DecisionEntry;
      message: string;
      error: unknown;
    };

/**
 * The one way Tollgate changes a rollout: the gate loop, people's actions
 * and the judge all go through here.
 *
 * An action on a deploy system is: claim the row (a conditional update
 * that sets `pendingAction`, so one process acts on one decision) → call
 * the deploy provider → write the decision and release the row in ONE
 * transaction. A crash before that transaction leaves the row claimed, and
 * the gate loop reconciles it with the provider (and logs that); a crash
 * can never leave a released row without its log entry.
 *
 * A change with no deploy call (an evaluation, a controller's report, a
 * rollout that ended elsewhere) is the row's conditional update and its
 * decision, in one transaction too ({@link Actuator.record}).
 */
export class Actuator {
  readonly #o: ActuatorOptions;
  readonly #now: () => Date;

  constructor(options: ActuatorOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
  }

  /** The decision writer decisions are built with. */
  get decisions(): DecisionWriter {
    return this.#o.decisions;
  }

  /** Claim → provider call → decision and release in one transaction. */
  async act(plan: ActionPlan): Promise<ActuatorResult> {
    const { store, events } = this.#o;
    const provider = this.#o.providers.deploy(plan.rollout.provider);
    const claimed = await store.updateRollout(
      plan.rollout.id,
      plan.rollout.rowVersion,
      { ...plan.claim, pendingAction: plan.action },
    );
    if (!claimed) return { outcome: 'not-claimed' };

    let after: ProviderRollout | undefined;
    try {
      await sameRelease(provider, claimed, plan);
      after = await withRetry(() => plan.call(provider), plan.retry);
    } catch (error) {
      const message =
        error instanceof ReleaseMovedOnError
          ? error.message
          : `${provider.id} did not accept the ${plan.action}: ${errorMessage(error)}`;
      const { decision, notify } = plan.failed(message, claimed);
      const written = await store.finishAction({
        rollout: claimed,
        patch: {
          pendingAction: null,
          lastError: {
            message,
            at: this.#now().toISOString(),
            action: plan.action,
          },
        },
        decision: this.#o.decisions.build(claimed, decision),
      });
      const rollout = written.rollout ?? claimed;
      events.changed(
        rollout,
        notify ? { notify, evidence: decision.evidence } : undefined,
      );
      return {
        outcome: 'failed',
        rollout,
        decision: written.decision,
        message,
        error,
      };
    }
    const { patch, decision, notify } = plan.applied(after, claimed);
    const written = await store.finishAction({
      rollout: claimed,
      patch: { ...patch, pendingAction: null },
      decision: this.#o.decisions.build(claimed, decision),
    });
    // Not released: someone reconciled the row meanwhile; report it as it is now.
    const rollout =
      written.rollout ?? (await store.getRollout(claimed.id)) ?? claimed;
    events.changed(
      rollout,
      notify ? { notify, evidence: decision.evidence } : undefined,
    );
    return { outcome: 'applied', rollout, decision: written.decision, after };
  }

  /**
   * Claim → `startRelease` at the deploy provider → release with the
   * decision. `unsupported` when the provider cannot start releases (the
   * deploy system starts them itself; nothing is claimed).
   */
  async startRelease(
    plan: ReleaseStartPlan,
  ): Promise<'not-claimed' | 'applied' | 'failed' | 'unsupported'> {
    const provider = this.#o.providers.deploy(plan.provider);
    const start = provider.startRelease?.bind(provider);
    if (!start) return 'unsupported';
    if (!(await plan.claim())) return 'not-claimed';
    let after: ProviderRollout;
    try {
      after = await withRetry(
        () => start(plan.target, plan.version, plan.previousVersion),
        plan.retry,
      );
    } catch (e) {
      await plan.finish({
        error: `${provider.id} did not start ${plan.version} on ${plan.target}: ${errorMessage(e)}`,
      });
      return 'failed';
    }
    await plan.finish({ after });
    return 'applied';
  }

  /**
   * A change with no deploy call: the row's conditional update and its
   * decision (if any) in one transaction. Undefined when another writer
   * changed the row first (then nothing is written).
   */
  async record(
    rollout: StoredRollout,
    patch: RolloutPatch,
    decision?: DecisionInput,
    event: false | { notify?: NotifyKind } = {},
  ): Promise<Recorded | undefined> {
    const [written] = await this.recordAll([
      { rollout, patch, decision, event },
    ]);
    return written;
  }

  /**
   * Many changes with no deploy call (the gate loop's evaluations), each
   * row with its decision, in one transaction per chunk. Returns, in input
   * order, what was written (undefined where another writer got there
   * first); throws when the batch could not be written at all.
   */
  async recordAll(
    changes: RolloutChange[],
  ): Promise<Array<Recorded | undefined>> {
    const written = await this.#o.store.updateRollouts(
      changes.map(c => ({
        rollout: c.rollout,
        patch: c.patch,
        decision: c.decision
          ? this.#o.decisions.build(c.rollout, c.decision)
          : undefined,
      })),
    );
    changes.forEach((c, i) => {
      const w = written[i];
      if (!w || c.event === false) return;
      this.#o.events.changed(
        w.rollout,
        c.event?.notify
          ? {
              notify: c.event.notify,
              evidence: c.decision?.evidence ?? c.patch.evidence,
            }
          : undefined,
      );
    });
    return written;
  }
}
