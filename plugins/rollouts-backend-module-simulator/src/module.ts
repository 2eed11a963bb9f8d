import {
  coreServices,
  createBackendModule,
} from '@backstage/backend-plugin-api';
import {
  rolloutsDeployProvidersExtensionPoint,
  rolloutsTelemetryProvidersExtensionPoint,
} from '@tollgate/plugin-rollouts-node';
import {
  formatZodIssues,
  rolloutStepsSchema,
  type RolloutStep,
} from '@tollgate/plugin-rollouts-common';
import { DEMO_SERVICES } from './demoServices';

/** The demo service whose first rollback the simulated deploy system refuses (`demoFailedRollback`). */
const DEMO_FAILED_ROLLBACK = 'payments/fraud-scoring';
import { Simulation } from './Simulation';

function stepsFrom(value: unknown): RolloutStep[] | undefined {
  if (value === undefined) return undefined;
  const parsed = rolloutStepsSchema.safeParse(value);
  if (!parsed.success) {
    throw new Error(
      `invalid rollouts.providers.simulator.steps: ${formatZodIssues(parsed.error, 'steps').join('; ')}`,
    );
  }
  return parsed.data;
}

/**
 * The simulator provider: a deploy system and telemetry that need no
 * cluster, for demos and tests. Registers both under the id `simulator`.
 *
 * @public
 */
export const rolloutsModuleSimulator = createBackendModule({
  pluginId: 'rollouts',
  moduleId: 'simulator',
  register(env) {
    env.registerInit({
      deps: {
        config: coreServices.rootConfig,
        logger: coreServices.logger,
        deploy: rolloutsDeployProvidersExtensionPoint,
        telemetry: rolloutsTelemetryProvidersExtensionPoint,
      },
      async init({ config, logger, deploy, telemetry }) {
        const c = config.getOptionalConfig('rollouts.providers.simulator');
        if (c?.getOptionalBoolean('enabled') === false) {
          logger.info('rollouts simulator disabled by config');
          return;
        }
        const simulation = new Simulation({
          seed: c?.getOptionalNumber('seed') ?? 42,
          idleSeconds: c?.getOptionalNumber('idleSeconds'),
          historyDays: c?.getOptionalNumber('historyDays'),
          stateFile: c?.getOptionalString('stateFile'),
          deployLatencyMs: c?.getOptionalNumber('deployLatencyMs'),
          steps: stepsFrom(c?.getOptional('steps')),
          services: DEMO_SERVICES.map(s => ({
            ...s,
            rps: s.rps * (c?.getOptionalNumber('trafficScale') ?? 1),
            // a failed rollback for the dashboard and the on-call page: fraud-scoring's first
            // release regresses and the deploy system refuses its first rollback (every retry)
            ...(s.target === DEMO_FAILED_ROLLBACK &&
            (c?.getOptionalBoolean('demoFailedRollback') ?? true)
              ? {
                  firstScenario: 'latency-regression' as const,
                  rollbackRefusals: 3,
                }
              : {}),
          })),
        } as ConstructorParameters<typeof Simulation>[0]);
        deploy.addDeployProvider(simulation.deploy);
        telemetry.addTelemetryProvider(simulation.telemetry);
        logger.info(
          `rollouts simulator: ${simulation.services.length} services`,
        );
      },
    });
  },
});
