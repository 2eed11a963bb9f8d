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
import { ActionService } from './actions/ActionService';
import { registerRolloutActions } from './actions/registry';
import { Actuator } from './actuator/Actuator';
import { createRouter, FLAGGER_WEBHOOK_PATH } from './api/router';
import { RolloutTimeseriesService } from './timeseries/rolloutTimeseries';
import { EntityIndex } from './catalog/EntityIndex';
import { readRolloutsConfig } from './config';
import { DatabaseRolloutsStore } from './database/DatabaseRolloutsStore';
import { CheckpointSigner } from './database/decisionCheckpoints';
import { DecisionWriter } from './decisions/DecisionWriter';
import { RolloutEvaluator } from './evaluation/RolloutEvaluator';
import { RolloutEvents } from './events/RolloutEvents';
import { JudgeService } from './judge/JudgeService';
import { GateLoop } from './loop/GateLoop';
import { scheduleGateLoop } from './loop/schedule';
import { warnAboutBrokenPolicies } from './policy/brokenPolicies';
import { PolicyResolver } from './policy/PolicyResolver';
import { ProviderRegistry } from './providers/ProviderRegistry';
import { RolloutRegistration } from './registration/RolloutRegistration';
import { PipelineDriver } from './pipelines/PipelineDriver';
import { PipelineStore } from './pipelines/PipelineStore';
import { shadowsAndReplay } from './shadow/wiring';

/**
 * Tollgate's backend plugin: gates on the scheduler, the decision log, the
 * actions and the REST API under `/api/rollouts`. This file only wires;
 * each concept lives in its folder.
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
        const { logger } = deps;
        const config = readRolloutsConfig(deps.config);
        deps.permissionsRegistry.addPermissions(rolloutsPermissions);
        const checkpoints = config.checkpoints
          ? new CheckpointSigner(
              config.checkpoints.privateKeyPem,
              config.checkpoints.every,
            )
          : undefined;
        if (checkpoints) {
          logger.info(
            `Decision log: a signed checkpoint every ${checkpoints.every} entries (key ${checkpoints.keyId})`,
          );
        } else {
          logger.info(
            'Decision log: no signed checkpoints (rollouts.decisionLog.checkpoints.privateKey is not set)',
          );
        }
        const store = await DatabaseRolloutsStore.create({
          database: deps.database,
          checkpoints,
        });
        const policies = PolicyResolver.fromConfig(deps.config, deps.urlReader);
        warnAboutBrokenPolicies(policies, logger);
        const entities = new EntityIndex(
          deps.catalog,
          deps.auth,
          undefined,
          (p, t) => providers.normalizeTarget(p, t),
        );
        const events = new RolloutEvents({
          logger,
          signals: deps.signals,
          notifications: config.notificationsEnabled
            ? deps.notifications
            : undefined,
        });
        const decisions = new DecisionWriter();
        const actuator = new Actuator({ store, providers, events, decisions });
        const evaluator = new RolloutEvaluator({
          providers,
          policies,
          retry: config.retry,
          telemetryStepSeconds: config.telemetryStepSeconds,
          defaultTelemetryProvider: config.defaultTelemetryProvider,
          entities,
        });
        // Shadow policies beside the enforced one, kept telemetry and what-if replay.
        const shadowing = await shadowsAndReplay({
          config: deps.config,
          database: deps.database,
          scheduler: deps.scheduler,
          logger,
          policies,
          evaluator,
          store,
        });
        // Multi-stage promotion (tollgate.dev/stages): one pipeline per release.
        const pipelineStore = new PipelineStore(
          await deps.database.getClient(),
          store,
        );
        const pipelineDriver = new PipelineDriver({
          store,
          pipelines: pipelineStore,
          providers,
          entities,
          policies,
          actuator,
          logger,
          retry: config.retry,
        });
        const loop = new GateLoop({
          holdReason: (r, a) => pipelineDriver.holdReason(r, a),
          store,
          providers,
          entities,
          policies,
          events,
          logger,
          actuator,
          evaluator,
          shadows: shadowing.shadows,
          keeper: shadowing.keeper,
          retry: config.retry,
          retryBudgetPerRun: config.retryBudgetPerRun,
          telemetryStepSeconds: config.telemetryStepSeconds,
          defaultTelemetryProvider: config.defaultTelemetryProvider,
        });
        const actions = new ActionService({
          store,
          providers,
          actuator,
          retry: config.retry,
        });
        const judge = new JudgeService({
          store,
          entities,
          events,
          logger,
          evaluator,
          actuator,
          maxEvaluationAgeSeconds: config.judgeMaxEvaluationAgeSeconds,
          shadows: shadowing.shadows,
          keeper: shadowing.keeper,
        });
        const registration = new RolloutRegistration({
          store,
          entities,
          policies,
          decisions,
        });

        const timeseries = new RolloutTimeseriesService({
          providers,
          policies,
          entities,
          telemetryStepSeconds: config.telemetryStepSeconds,
          defaultTelemetryProvider: config.defaultTelemetryProvider,
        });

        deps.httpRouter.use(
          await createRouter({
            store,
            actions,
            registration,
            entities,
            judge,
            auth: deps.auth,
            httpAuth: deps.httpAuth,
            permissions: deps.permissions,
            auditor: deps.auditor,
            logger,
            timeseries,
            pipelines: { store: pipelineStore, driver: pipelineDriver },
            shadows: shadowing.shadowStore,
            whatIf: shadowing.whatIf,
            sloWindowDays: config.sloWindowDays,
          }),
        );
        deps.httpRouter.addAuthPolicy({
          path: '/health',
          allow: 'unauthenticated',
        });
        deps.httpRouter.addAuthPolicy({
          path: FLAGGER_WEBHOOK_PATH,
          allow: 'unauthenticated',
        });
        // The same actions for agents and scripts (rollouts:get-status, rollouts:rollback, …).
        registerRolloutActions({
          registry: deps.actionsRegistry,
          store,
          actions,
          permissions: deps.permissions,
          auditor: deps.auditor,
        });

        deps.lifecycle.addShutdownHook(() => loop.stop(config.shutdownGraceMs));
        // the judge's shadow entries and kept telemetry still being written
        deps.lifecycle.addShutdownHook(() => judge.idle());
        await scheduleGateLoop({
          scheduler: deps.scheduler,
          schedule: config.schedule,
          loop,
          store,
          providers,
          entities,
          logger,
          decisions,
          keptTelemetry: shadowing.keptTelemetry,
          afterRun: () => pipelineDriver.run(),
        });
      },
    });
  },
});
