import type { JsonObject } from '@backstage/types';
import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import { createBackendPlugin } from '@backstage/backend-plugin-api';
import {
  rolloutsDeployProvidersExtensionPoint,
  type RolloutsDeployProvider,
} from '@tollgate/plugin-rollouts-node';
import { ArgoRolloutsDeployProvider } from './ArgoRolloutsDeployProvider';
import { rolloutsModuleArgoRollouts } from './module';
import { FakeKubeApi } from './__testUtils__/FakeKubeApi';
import { allFixtures, TOKENS } from './__testUtils__/fixtures';

/** A stand-in for the rollouts backend: owns the extension point and keeps what modules add. */
function fakeRolloutsPlugin(registered: RolloutsDeployProvider[]) {
  return createBackendPlugin({
    pluginId: 'rollouts',
    register(env) {
      env.registerExtensionPoint(rolloutsDeployProvidersExtensionPoint, {
        addDeployProvider: (...providers) => registered.push(...providers),
      });
      env.registerInit({ deps: {}, async init() {} });
    },
  });
}

describe('rolloutsModuleArgoRollouts', () => {
  let api: FakeKubeApi;
  beforeEach(async () => {
    api = await FakeKubeApi.start({ identities: TOKENS, ...allFixtures() });
  });
  afterEach(() => api.close());

  /** The fake API's cluster entry (`extra`: namespaces and the like). */
  const cluster = (extra: JsonObject = {}): JsonObject => ({
    name: 'prod-eu',
    url: api.url,
    serviceAccountToken: 'tollgate-token',
    skipTLSVerify: true,
    ...extra,
  });

  /** A backend with the module under `rollouts.providers.argoRollouts` = `config`: the providers it registered. */
  async function startWith(
    config: JsonObject,
  ): Promise<RolloutsDeployProvider[]> {
    const registered: RolloutsDeployProvider[] = [];
    await startTestBackend({
      features: [
        fakeRolloutsPlugin(registered),
        rolloutsModuleArgoRollouts,
        mockServices.rootConfig.factory({
          data: { rollouts: { providers: { argoRollouts: config } } },
        }),
      ],
    });
    return registered;
  }

  it('registers the provider for the configured clusters on the deploy providers extension point', async () => {
    const registered = await startWith({
      requestTimeoutSeconds: 5,
      clusters: [cluster({ namespaces: ['payments'] })],
    });
    expect(registered).toHaveLength(1);
    const [provider] = registered;
    expect(provider).toBeInstanceOf(ArgoRolloutsDeployProvider);
    expect(provider.id).toBe('argo-rollouts');
    expect((await provider.listRollouts()).map(r => r.target).sort()).toEqual([
      'payments/checkout-api',
      'payments/payments-worker',
    ]);
  });

  it('takes its id and pause mode from config', async () => {
    const registered = await startWith({
      id: 'argo-eu',
      indefinitePause: 'gate',
      clusters: [cluster()],
    });
    expect(registered[0].id).toBe('argo-eu');
    expect(
      await registered[0].getRollout('payments/checkout-api'),
    ).toMatchObject({
      status: 'progressing',
      steps: [
        { weight: 20 },
        expect.anything(),
        expect.anything(),
        expect.anything(),
        { weight: 100 },
      ],
    });
  });

  it('reads releases[] for startRelease from config, and fails the start on a bad one, naming the field', async () => {
    const start = (release: JsonObject) =>
      startWith({
        clusters: [cluster()],
        releases: [{ target: 'shop/cart-service', ...release }],
      }).then(registered => registered[0]);
    const provider = await start({ image: 'ghcr.io/acme/cart-next' });
    api.beforeHandle = r => {
      if (r.method === 'GET') api.reconcile('shop', 'cart-service');
    };
    expect(
      await provider.startRelease!('shop/cart-service', '2.5.0'),
    ).toMatchObject({ version: '2.5.0', status: 'progressing' });
    expect(
      api.rollout('shop', 'cart-service').spec.template.spec.containers[0]
        .image,
    ).toBe('ghcr.io/acme/cart-next:2.5.0');
    await expect(
      start({ container: 'web', image: 'acme/cart:1' }),
    ).rejects.toThrow(
      'rollouts.providers.argoRollouts.releases[0].image: "acme/cart:1" carries a tag or digest',
    );
  });

  it('registers nothing without clusters', async () => {
    const registered: RolloutsDeployProvider[] = [];
    await startTestBackend({
      features: [
        fakeRolloutsPlugin(registered),
        rolloutsModuleArgoRollouts,
        mockServices.rootConfig.factory({ data: {} }),
      ],
    });
    expect(registered).toEqual([]);
  });

  it('fails the backend start on a bad cluster entry, naming the key', async () => {
    await expect(
      startWith({ clusters: [{ name: 'prod-eu', url: api.url }] }),
    ).rejects.toThrow(
      /rollouts\.providers\.argoRollouts\.clusters\[prod-eu\]: set exactly one of kubeconfig, inCluster or serviceAccountToken/,
    );
  });
});
