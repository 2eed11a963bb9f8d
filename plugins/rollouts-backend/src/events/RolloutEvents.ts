import type { LoggerService } from '@backstage/backend-plugin-api';
import type { NotificationService } from '@backstage/plugin-notifications-node';
import type { SignalsService } from '@backstage/plugin-signals-node';
import {
  readBlastRadius,
  type Rollout,
} from '@tollgate/plugin-rollouts-common';
import { parseEntityRef } from '@backstage/catalog-model';

/** Signals channel the frontend subscribes to for live updates. */
export const ROLLOUTS_SIGNAL_CHANNEL = 'rollouts:changes';
/** The whole message of a change signal: nothing in it needs a permission. */
export const ROLLOUTS_CHANGED_HINT = { changed: true } as const;

export type NotifyKind =
  | 'rollback'
  | 'rollback-failed'
  | 'hold'
  | 'step-timeout'
  | 'approval'
  | 'completed';

/** What the consumers a release harms hear, by what happened to the release. */
const CONSUMER_NOTICE: Partial<
  Record<
    NotifyKind,
    {
      title: (release: string) => string;
      severity: 'normal' | 'high' | 'critical';
    }
  >
> = {
  hold: {
    title: r => `${r} is on hold: it raised your service's error-budget burn`,
    severity: 'high',
  },
  rollback: {
    title: r =>
      `${r} was rolled back: it raised your service's error-budget burn`,
    severity: 'normal',
  },
  'rollback-failed': {
    title: r =>
      `Rollback of ${r} FAILED: it raises your service's error-budget burn`,
    severity: 'critical',
  },
};

/**
 * Tells people: a Backstage signal for every change (pages update live) and
 * a notification to the owning entity for rollbacks (and failed ones),
 * holds (once per hold), approvals needed and completions, with the reason
 * and a link to the service's Rollouts tab. When the evidence says the
 * release harms consumers (blast radius), each harmed consumer's entity
 * hears of the hold or rollback too, with its own burn in the text.
 * Neither may break the gate loop: failures are logged.
 */
export class RolloutEvents {
  constructor(
    private readonly options: {
      logger: LoggerService;
      signals?: SignalsService;
      notifications?: NotificationService;
      baseUrl?: string;
    },
  ) {}

  changed(
    rollout: Rollout & { evidence?: unknown },
    opts?: { notify?: NotifyKind; evidence?: unknown },
  ) {
    const { signals, notifications, logger } = this.options;
    // A broadcast reaches every signed-in user, whatever rollouts.rollout.read
    // says: it carries only the hint that something changed, and pages refetch
    // through the permissioned API.
    signals
      ?.publish({
        recipients: { type: 'broadcast' },
        channel: ROLLOUTS_SIGNAL_CHANNEL,
        message: ROLLOUTS_CHANGED_HINT,
      })
      .catch(e => logger.debug(`rollouts: signal not sent: ${e}`));
    if (!opts?.notify || !notifications) return;
    const what = {
      rollback: {
        title: `Rolled back ${rollout.version}`,
        severity: 'high' as const,
      },
      'rollback-failed': {
        title: `Rollback of ${rollout.version} FAILED`,
        severity: 'critical' as const,
      },
      hold: {
        title: `Rollout of ${rollout.version} on hold`,
        severity: 'normal' as const,
      },
      'step-timeout': {
        title: `Rollout of ${rollout.version} held at its step maximum`,
        severity: 'high' as const,
      },
      approval: {
        title: `Rollout of ${rollout.version} needs approval`,
        severity: 'high' as const,
      },
      completed: {
        title: `Rolled out ${rollout.version} to everyone`,
        severity: 'normal' as const,
      },
    }[opts.notify];
    notifications
      .send({
        recipients: { type: 'entity', entityRef: rollout.entityRef },
        payload: {
          title: what.title,
          description:
            rollout.lastEvaluation?.reasons?.[0] ??
            rollout.lastError?.message ??
            '',
          link: entityRolloutsPath(rollout.entityRef),
          severity: what.severity,
          topic: `rollout:${rollout.id}`,
          scope: `rollout:${rollout.id}:${opts.notify}`,
        },
      })
      .catch(e => logger.debug(`rollouts: notification not sent: ${e}`));
    this.#notifyConsumers(
      rollout,
      opts.notify,
      opts.evidence ?? rollout.evidence,
    );
  }

  #notifyConsumers(rollout: Rollout, notify: NotifyKind, evidence: unknown) {
    const notice = CONSUMER_NOTICE[notify];
    const blast = readBlastRadius(evidence);
    if (!notice || !blast?.harmed.length) return;
    const { notifications, logger } = this.options;
    const release = `${parseEntityRef(rollout.entityRef).name} ${rollout.version}`;
    for (const consumer of blast.consumers) {
      if (consumer.status !== 'harm') continue;
      notifications
        ?.send({
          recipients: { type: 'entity', entityRef: consumer.entityRef },
          payload: {
            title: notice.title(release),
            description: consumer.reason,
            link: entityRolloutsPath(rollout.entityRef),
            severity: notice.severity,
            topic: `rollout:${rollout.id}`,
            scope: `rollout:${rollout.id}:consumer:${consumer.entityRef}:${notify}`,
          },
        })
        .catch(e =>
          logger.debug(`rollouts: consumer notification not sent: ${e}`),
        );
    }
  }
}

/** The entity page's Rollouts tab, e.g. `/catalog/default/component/checkout-api/rollouts`. */
export function entityRolloutsPath(entityRef: string): string {
  const { kind, namespace, name } = parseEntityRef(entityRef);
  return `/catalog/${namespace}/${kind.toLocaleLowerCase('en-US')}/${name}/rollouts`;
}
