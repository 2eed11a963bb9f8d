import {
  coreServices,
  createBackendModule,
} from '@backstage/backend-plugin-api';
import { rolloutsDeployProvidersExtensionPoint } from '@tollgate/plugin-rollouts-node';
import { UnleashDeployProvider } from './UnleashDeployProvider';

/**
 * The Unleash provider: feature-flag cohort ramps through Unleash's Admin
 * API, configured under `rollouts.providers.unleash`. Registers a deploy
 * provider with the id `unleash` (or `rollouts.providers.unleash.id`).
 *
 * @public
 */
export const rolloutsModuleUnleash = createBackendModule({
  pluginId: 'rollouts',
  moduleId: 'unleash',
  register(env) {
    env.registerInit({
      deps: {
        config: coreServices.rootConfig,
        logger: coreServices.logger,
        deploy: rolloutsDeployProvidersExtensionPoint,
      },
      async init({ config, logger, deploy }) {
        const provider = UnleashDeployProvider.fromConfig(config, { logger });
        if (!provider) {
          logger.info('rollouts unleash provider disabled by config');
          return;
        }
        deploy.addDeployProvider(provider);
        logger.info(`rollouts unleash provider "${provider.id}" registered`);
      },
    });
  },
});
