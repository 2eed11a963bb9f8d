import {
  coreServices,
  createBackendModule,
} from '@backstage/backend-plugin-api';
import { rolloutsDeployProvidersExtensionPoint } from '@tollgate/plugin-rollouts-node';
import { ArgoRolloutsDeployProvider } from './ArgoRolloutsDeployProvider';
import { readArgoRolloutsConfig } from './config';

/**
 * The Argo Rollouts deploy provider: drives `argoproj.io/v1alpha1` canary
 * Rollouts of the clusters under `rollouts.providers.argoRollouts.clusters`.
 * Registers nothing (and says so) when that key is absent.
 *
 * @public
 */
export const rolloutsModuleArgoRollouts = createBackendModule({
  pluginId: 'rollouts',
  moduleId: 'argo-rollouts',
  register(env) {
    env.registerInit({
      deps: {
        config: coreServices.rootConfig,
        logger: coreServices.logger,
        deploy: rolloutsDeployProvidersExtensionPoint,
      },
      async init({ config, logger, deploy }) {
        const providerConfig = readArgoRolloutsConfig(config);
        if (!providerConfig || providerConfig.clusters.length === 0) {
          logger.warn(
            'rollouts: argo-rollouts module installed but rollouts.providers.argoRollouts.clusters is empty; no provider registered',
          );
          return;
        }
        const provider = ArgoRolloutsDeployProvider.fromConfig(providerConfig, {
          logger,
        });
        deploy.addDeployProvider(provider);
        logger.info(
          `rollouts: argo-rollouts provider "${provider.id}" for clusters ${provider.clusterNames.join(', ')}`,
        );
      },
    });
  },
});
