import {
  coreServices,
  createBackendModule,
} from '@backstage/backend-plugin-api';
import { rolloutsTelemetryProvidersExtensionPoint } from '@tollgate/plugin-rollouts-node';
import { CONFIG_ROOT } from './config';
import { PrometheusTelemetryProvider } from './PrometheusTelemetryProvider';

/**
 * The Prometheus telemetry provider: cohort counts from PromQL, configured
 * under `rollouts.providers.prometheus`. Registers one telemetry provider
 * (id `prometheus` unless configured otherwise).
 *
 * @public
 */
export const rolloutsModulePrometheus = createBackendModule({
  pluginId: 'rollouts',
  moduleId: 'prometheus',
  register(env) {
    env.registerInit({
      deps: {
        config: coreServices.rootConfig,
        logger: coreServices.logger,
        telemetry: rolloutsTelemetryProvidersExtensionPoint,
      },
      async init({ config, logger, telemetry }) {
        if (config.getOptionalBoolean(`${CONFIG_ROOT}.enabled`) === false) {
          logger.info(
            'rollouts prometheus telemetry provider disabled by config',
          );
          return;
        }
        const provider = PrometheusTelemetryProvider.fromConfig(config, {
          logger,
        });
        telemetry.addTelemetryProvider(provider);
        logger.info(
          `rollouts prometheus telemetry provider '${provider.id}' at ${config.getString(`${CONFIG_ROOT}.baseUrl`)}`,
        );
      },
    });
  },
});
