import { createBackendPlugin } from '@backstage/backend-plugin-api';
import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import {
  rolloutsDeployProvidersExtensionPoint,
  type RolloutsDeployProvider,
} from '@tollgate/plugin-rollouts-node';
import { rolloutsModuleUnleash, UnleashDeployProvider } from './index';

/** A stand-in for the rollouts backend that owns the extension point and keeps what modules add. */
function capturingRolloutsPlugin(
  onInit?: (providers: RolloutsDeployProvider[]) => Promise<void>,
) {
  const providers: RolloutsDeployProvider[] = [];
  const plugin = createBackendPlugin({
    pluginId: 'rollouts',
    register(env) {
      env.registerExtensionPoint(rolloutsDeployProvidersExtensionPoint, {
        addDeployProvider(...items) {
          providers.push(...items);
        },
      });
      env.registerInit({
        deps: {},
        async init() {
          await onInit?.(providers);
        },
      });
    },
  });
  return { plugin, providers };
}

describe('rolloutsModuleUnleash', () => {
  it('registers an UnleashDeployProvider with the configured id', async () => {
    const { plugin, providers } = capturingRolloutsPlugin();
    await startTestBackend({
      features: [
        plugin,
        rolloutsModuleUnleash,
        mockServices.rootConfig.factory({
          data: {
            rollouts: {
              providers: {
                unleash: {
                  id: 'flags',
                  baseUrl: 'http://127.0.0.1:1',
                  apiToken: 'secret',
                },
              },
            },
          },
        }),
      ],
    });
    expect(providers).toHaveLength(1);
    expect(providers[0]).toBeInstanceOf(UnleashDeployProvider);
    expect(providers[0].id).toBe('flags');
  });

  it('registers nothing when enabled is false', async () => {
    const { plugin, providers } = capturingRolloutsPlugin();
    await startTestBackend({
      features: [
        plugin,
        rolloutsModuleUnleash,
        mockServices.rootConfig.factory({
          data: { rollouts: { providers: { unleash: { enabled: false } } } },
        }),
      ],
    });
    expect(providers).toEqual([]);
  });

  it('fails the start with the missing config key named', async () => {
    const { plugin } = capturingRolloutsPlugin();
    await expect(
      startTestBackend({
        features: [
          plugin,
          rolloutsModuleUnleash,
          mockServices.rootConfig.factory({
            data: {
              rollouts: {
                providers: { unleash: { baseUrl: 'http://127.0.0.1:1' } },
              },
            },
          }),
        ],
      }),
    ).rejects.toThrow(/apiToken/);
  });
});
