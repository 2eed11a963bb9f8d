import {
  coreServices,
  createBackendPlugin,
} from '@backstage/backend-plugin-api';
import { actionsRegistryServiceRef } from '@backstage/backend-plugin-api/alpha';
import { catalogServiceRef } from '@backstage/plugin-catalog-node';
import { notificationService } from '@backstage/plugin-notifications-node';
import { signalsServiceRef } from '@backstage/plugin-signals-node';
import { rolloutsPermissions } from '@tollgate/plugin-rollouts-common';
import {
  rolloutsDeployProvidersExtensionPoint,
  rolloutsTelemetryProvidersExtensionPoint,
} from '@tollgate/plugin-rollouts-node';
import { registerRolloutActions } from './actions/registry';
import { DatabaseRolloutsStore } from './database/DatabaseRolloutsStore';
import { PolicyResolver } from './policy/PolicyResolver';
import { ActionService } from './actions/ActionService';
import { EntityIndex } from './catalog/EntityIndex';
import { RolloutEvaluator } from './evaluation/RolloutEvaluator';
import { GateLoop } from './loop/GateLoop';
import { JudgeService } from './judge/JudgeService';
import { ProviderRegistry } from './providers/ProviderRegistry';
import { RolloutEvents } from './events/RolloutEvents';
import { createRouter, FLAGGER_WEBHOOK_PATH } from './api/router';
import { seedHistory } from './loop/seedHistory';

/**
 * Tollgate's backend plugin: gates on the scheduler, the decision log, the
 * actions and the REST API under `/api/rollouts`.
 *
 * @public
 */
export const rolloutsPlugin = createBackendPlugin({
  pluginId: 'rollouts',
  register(env) {
    const providers = new ProviderRegistry();
    env.registerExtensionPoint(rolloutsDeployProvidersExtensionPoint, {
      addDeployProvider(...items) {
        items.forEach(p => providers.addDeploy(p));
      },
    });
    env.registerExtensionPoint(rolloutsTelemetryProvidersExtensionPoint, {
      addTelemetryProvider(...items) {
        items.forEach(p => providers.addTelemetry(p));
      },
    });

    env.registerInit({
      deps: {
        config: coreServices.rootConfig,
        logger: coreServices.logger,
        database: coreServices.database,
        scheduler: coreServices.scheduler,
        httpRouter: coreServices.httpRouter,
        httpAuth: coreServices.httpAuth,
        auth: coreServices.auth,
        permissions: coreServices.permissions,
        permissionsRegistry: coreServices.permissionsRegistry,
        auditor: coreServices.auditor,
        urlReader: coreServices.urlReader,
        lifecycle: coreServices.lifecycle,
        catalog: catalogServiceRef,
        signals: signalsServiceRef,
        notifications: notificationService,
        actionsRegistry: actionsRegistryServiceRef,
      },
      async init(deps) {
        const { config, logger } = deps;
        deps.permissionsRegistry.addPermissions(rolloutsPermissions);
        const store = await DatabaseRolloutsStore.create({
          database: deps.database,
        });
        const policies = PolicyResolver.fromConfig(config, deps.urlReader);
        for (const broken of policies.brokenPolicies()) {
          logger.warn(
            `rollouts: policy "${broken.name}" (${broken.where}) is invalid and holds every rollout that uses it: ${broken.problems.map(p => `${p.path}: ${p.message}`).join('; ')}`,
          );
        }
        const entities = new EntityIndex(
          deps.catalog,
          deps.auth,
          undefined,
          (p, t) => providers.normalizeTarget(p, t),
        );
        const notificationsEnabled =
          config.getOptionalBoolean('rollouts.notifications.enabled') ?? true;
        const events = new RolloutEvents({
          logger,
          signals: deps.signals,
          notifications: notificationsEnabled ? deps.notifications : undefined,
        });
        const retry = {
          attempts: config.getOptionalNumber('rollouts.retries.attempts') ?? 3,
          initialBackoffMs:
            config.getOptionalNumber('rollouts.retries.initialBackoffMs') ??
            200,
          timeoutMs:
            (config.getOptionalNumber('rollouts.retries.timeoutSeconds') ??
              30) * 1000,
        };
        const retryBudgetPerRun =
          config.getOptionalNumber('rollouts.retries.budgetPerRun') ?? 100;
        const telemetryStepSeconds =
          config.getOptionalNumber('rollouts.telemetry.stepSeconds') ?? 60;
        const defaultTelemetryProvider = config.getOptionalString(
          'rollouts.telemetry.defaultProvider',
        );
        const loop = new GateLoop({
          store,
          providers,
          entities,
          policies,
          events,
          logger,
          retry,
          retryBudgetPerRun,
          telemetryStepSeconds,
          defaultTelemetryProvider,
        });
        const actions = new ActionService(store, providers, events, retry);
        const judge = new JudgeService({
          store,
          entities,
          events,
          logger,
          evaluator: new RolloutEvaluator({
            providers,
            policies,
            retry,
            telemetryStepSeconds,
            defaultTelemetryProvider,
          }),
          maxEvaluationAgeSeconds:
            config.getOptionalNumber(
              'rollouts.judge.maxEvaluationAgeSeconds',
            ) ?? telemetryStepSeconds,
        });

        deps.httpRouter.use(
          await createRouter({
            store,
            actions,
            entities,
            policies,
            judge,
            auth: deps.auth,
            httpAuth: deps.httpAuth,
            permissions: deps.permissions,
            auditor: deps.auditor,
            logger,
          }),
        );
        // The same actions for agents and scripts (rollouts:get-status, rollouts:rollback, …).
        registerRolloutActions({
          registry: deps.actionsRegistry,
          store,
          actions,
          permissions: deps.permissions,
          auditor: deps.auditor,
        });
        deps.httpRouter.addAuthPolicy({
          path: '/health',
          allow: 'unauthenticated',
        });
        deps.httpRouter.addAuthPolicy({
          path: FLAGGER_WEBHOOK_PATH,
          allow: 'unauthenticated',
        });

        const frequencySeconds =
          config.getOptionalNumber('rollouts.schedule.frequencySeconds') ?? 60;
        // A replica that dies mid-run holds the loop until this timeout: keep it
        // a few runs long, not minutes.
        const timeoutSeconds =
          config.getOptionalNumber('rollouts.schedule.timeoutSeconds') ??
          Math.max(30, 3 * frequencySeconds);
        // A graceful stop (SIGTERM on a rolling restart) lets the run in
        // progress finish its action and write its evaluations, and starts no new one.
        deps.lifecycle.addShutdownHook(() =>
          loop.stop(Math.min(timeoutSeconds, 30) * 1000),
        );
        let seeded = false;
        await deps.scheduler.scheduleTask({
          id: 'rollouts-gate-loop',
          scope: 'global',
          frequency: { seconds: frequencySeconds },
          timeout: { seconds: timeoutSeconds },
          initialDelay: { seconds: 2 },
          fn: async () => {
            try {
              if (!seeded) {
                await seedHistory({ store, providers, entities, logger });
                seeded = true;
              }
            } catch (e) {
              // History is a nicety: the gates must run without it.
              seeded = true;
              logger.error(
                'rollouts: could not seed the rollout history',
                e as Error,
              );
            }
            const result = await loop.run();
            logger.debug(
              `rollouts: gate loop evaluated ${result.evaluated}, acted ${result.actions}, failed ${result.failures}`,
            );
          },
        });
      },
    });
  },
});
