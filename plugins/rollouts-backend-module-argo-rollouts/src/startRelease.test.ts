/**
 * `startRelease` (a multi-stage promotion's next stage) against the fake
 * API server: `kubectl argo rollouts set image` as a JSON patch.
 */
import { mockServices } from '@backstage/backend-test-utils';
import {
  ArgoRolloutsDeployProvider,
  type ArgoRolloutsDeployProviderOptions,
} from './ArgoRolloutsDeployProvider';
import { ArgoRolloutsError } from './errors';
import { FakeKubeApi } from './__testUtils__/FakeKubeApi';
import { allFixtures, cartService, TOKENS } from './__testUtils__/fixtures';

const NOW = new Date('2026-11-20T10:00:00Z');
const CART = '/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/cart-service';

function provider(
  api: FakeKubeApi,
  options: Partial<ArgoRolloutsDeployProviderOptions> = {},
) {
  return ArgoRolloutsDeployProvider.create({
    clusters: [
      {
        name: 'prod-eu',
        url: api.url,
        serviceAccountToken: 'tollgate-token',
        skipTLSVerify: true,
      },
    ],
    logger: mockServices.logger.mock(),
    now: () => NOW,
    ...options,
  });
}

/** Argo's controller, a little late: it reconciles the rollout on the second read after a write. */
function lateController(api: FakeKubeApi, namespace: string, name: string) {
  let readsSinceWrite = -1;
  api.beforeHandle = r => {
    if (r.method === 'PATCH') readsSinceWrite = 0;
    else if (readsSinceWrite >= 0 && r.path.endsWith(`/rollouts/${name}`)) {
      readsSinceWrite++;
      if (readsSinceWrite === 2) api.reconcile(namespace, name);
    }
  };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  const e = await promise.then(
    () => undefined,
    err => err,
  );
  expect(e).toBeInstanceOf(Error);
  return e as Error;
}

/** cart-service with an envoy sidecar listed first and its app container named `server`. */
function cartWithSidecar() {
  const { rollout, replicaSets } = cartService();
  const withSidecar = (containers: any[]) => [
    { name: 'envoy', image: 'envoyproxy/envoy:v1.31.0' },
    ...containers.map(c => ({ ...c, name: 'server' })),
  ];
  rollout.spec.template.spec.containers = withSidecar(
    rollout.spec.template.spec.containers,
  ) as any;
  for (const rs of replicaSets)
    rs.spec.template.spec.containers = withSidecar(
      rs.spec.template.spec.containers,
    ) as any;
  return { rollouts: [rollout], replicaSets };
}

describe('ArgoRolloutsDeployProvider.startRelease', () => {
  let api: FakeKubeApi;
  afterEach(async () => {
    await api.close();
  });

  it('sets the version as the image tag with a JSON patch (set image), waits for Argo, and reports the new revision at its first step', async () => {
    api = await FakeKubeApi.start({
      identities: TOKENS,
      ...allFixtures(),
      now: () => NOW,
    });
    const p = provider(api);
    const before = await p.getRollout('shop/cart-service');
    expect(before).toMatchObject({ version: '2.4.1', status: 'promoted' });
    const rv = api.rollout('shop', 'cart-service').metadata.resourceVersion;
    lateController(api, 'shop', 'cart-service');

    const started = await p.startRelease(
      'prod-eu/shop/cart-service',
      '2.5.0',
      '2.4.1',
    );

    expect(
      api.writes.map(w => ({
        method: w.method,
        path: w.path,
        contentType: w.contentType,
        body: w.body,
        status: w.status,
      })),
    ).toEqual([
      {
        method: 'PATCH',
        path: CART,
        contentType: 'application/json-patch+json',
        body: [
          { op: 'replace', path: '/metadata/resourceVersion', value: rv },
          {
            op: 'test',
            path: '/spec/template/spec/containers/0/name',
            value: 'cart-service',
          },
          {
            op: 'add',
            path: '/spec/template/spec/containers/0/image',
            value: 'ghcr.io/acme/cart-service:2.5.0',
          },
        ],
        status: 200,
      },
    ]);
    // Only the image changed in the pod template.
    const after = api.rollout('shop', 'cart-service');
    expect(after.spec.template.spec.containers[0]).toEqual({
      ...cartService().rollout.spec.template.spec.containers[0],
      image: 'ghcr.io/acme/cart-service:2.5.0',
    });
    // Returned once the controller took the new template up: the new revision, at its first step.
    expect(started).toMatchObject({
      target: 'shop/cart-service',
      version: '2.5.0',
      previousVersion: '2.4.1',
      status: 'progressing',
      currentStepIndex: 0,
      currentWeight: 25,
    });
    expect(started.externalId).toMatch(/^prod-eu\/shop\/cart-service@/);
    expect(started.externalId).not.toBe(before!.externalId);
    expect(await p.getRollout('shop/cart-service')).toMatchObject({
      externalId: started.externalId,
      version: '2.5.0',
    });

    // Idempotent: the version already runs, nothing is written.
    const again = await p.startRelease('shop/cart-service', '2.5.0');
    expect(again.externalId).toBe(started.externalId);
    expect(api.writes).toHaveLength(1);
  });

  it("plans again on a 409 when Argo's controller wrote in between, and patches with the fresh resourceVersion", async () => {
    api = await FakeKubeApi.start({
      identities: TOKENS,
      ...allFixtures(),
      now: () => NOW,
    });
    let raced = false;
    api.beforeHandle = r => {
      if (r.method === 'PATCH' && !raced) {
        raced = true;
        api.touchRollout('shop', 'cart-service', ro => {
          ro.status.readyReplicas = 2;
        });
      } else if (r.method === 'GET' && raced)
        api.reconcile('shop', 'cart-service');
    };
    const started = await provider(api).startRelease(
      'shop/cart-service',
      '2.5.0',
    );
    expect(api.writes.map(w => w.status)).toEqual([409, 200]);
    const [first, second] = api.writes.map(
      w => (w.body as Array<{ value: unknown }>)[0].value,
    );
    expect(Number(second)).toBeGreaterThan(Number(first));
    expect(started).toMatchObject({ version: '2.5.0', status: 'progressing' });
  });

  it('uses the configured container and image repository, and reads the version from that container too', async () => {
    api = await FakeKubeApi.start({
      identities: TOKENS,
      ...cartWithSidecar(),
      now: () => NOW,
    });
    const releases = [
      {
        target: 'prod-eu/shop/cart-service',
        container: 'server',
        image: 'registry.example.com:5000/shop/cart',
      },
    ];
    // Without the config the version is the first container's (the sidecar's) tag.
    expect(await provider(api).getRollout('shop/cart-service')).toMatchObject({
      version: 'v1.31.0',
    });
    const p = provider(api, { releases });
    expect(await p.getRollout('shop/cart-service')).toMatchObject({
      version: '2.4.1',
      previousVersion: '2.4.0',
    });
    lateController(api, 'shop', 'cart-service');
    const started = await p.startRelease('shop/cart-service', '2.5.0-rc.1');
    const ops = api.writes[0].body as Array<{ path: string; value: unknown }>;
    expect(ops.slice(1)).toEqual([
      {
        op: 'test',
        path: '/spec/template/spec/containers/1/name',
        value: 'server',
      },
      {
        op: 'add',
        path: '/spec/template/spec/containers/1/image',
        value: 'registry.example.com:5000/shop/cart:2.5.0-rc.1',
      },
    ]);
    expect(
      api.rollout('shop', 'cart-service').spec.template.spec.containers[0]
        .image,
    ).toBe('envoyproxy/envoy:v1.31.0');
    expect(started).toMatchObject({
      version: '2.5.0-rc.1',
      previousVersion: '2.4.1',
      status: 'progressing',
    });
  });

  it('refuses, writing nothing, while another version rolls out, for a bad version, a missing container or rollout', async () => {
    api = await FakeKubeApi.start({
      identities: TOKENS,
      ...allFixtures(),
      now: () => NOW,
    });
    const p = provider(api, {
      releases: [{ target: 'shop/inventory', container: 'app' }],
    });
    expect(
      (await rejection(p.startRelease('search/search-api', '3.13.0'))).message,
    ).toMatch(/still rolling out 3\.12\.0 \(progressing\)/);
    expect(
      (await rejection(p.startRelease('shop/cart-service', '2.5.0 beta')))
        .message,
    ).toMatch(/version "2\.5\.0 beta" cannot be an image tag/);
    expect(
      (await rejection(p.startRelease('shop/inventory', 'green'))).message,
    ).toMatch(/releases: container "app" not found .*containers: inventory/);
    const missing = await rejection(p.startRelease('shop/nope', '1.0.0'));
    expect(missing).toBeInstanceOf(ArgoRolloutsError);
    expect((missing as ArgoRolloutsError).statusCode).toBe(404);
    expect(api.writes).toEqual([]);
  });

  it("says so when Argo's controller does not take the new template up, and a retry finishes without a second write", async () => {
    api = await FakeKubeApi.start({
      identities: TOKENS,
      ...allFixtures(),
      now: () => NOW,
    });
    const p = provider(api, { releaseObserveTimeoutMs: 300 });
    const e = await rejection(p.startRelease('shop/cart-service', '2.5.0'));
    expect(e.message).toMatch(
      /2\.5\.0 was set on shop\/cart-service, but Argo's controller has not taken up generation 13 within 0.3 s \(observed 12\)/,
    );
    api.reconcile('shop', 'cart-service');
    expect(await p.startRelease('shop/cart-service', '2.5.0')).toMatchObject({
      version: '2.5.0',
      status: 'progressing',
    });
    expect(api.writes).toHaveLength(1);
  });

  it('checks releases[] when the provider is created, naming the field', () => {
    const make = (release: Record<string, string>) => () =>
      ArgoRolloutsDeployProvider.create({
        clusters: [
          {
            name: 'prod-eu',
            url: 'https://k8s.example',
            serviceAccountToken: 't',
          },
        ],
        logger: mockServices.logger.mock(),
        releases: [{ target: 'shop/cart-service', ...release }],
      });
    expect(make({ image: 'ghcr.io/acme/cart:2.4.1' })).toThrow(
      'rollouts.providers.argoRollouts.releases[0].image: "ghcr.io/acme/cart:2.4.1" carries a tag or digest; give the repository only (e.g. "ghcr.io/acme/cart")',
    );
    expect(make({ image: 'Not An Image' })).toThrow(
      /releases\[0\]\.image: "Not An Image" is not an image repository/,
    );
    expect(make({ container: 'Server_1' })).toThrow(
      /releases\[0\]\.container: "Server_1" is not a container name/,
    );
    expect(make({ target: 'a/b/c/d' })).toThrow(
      /releases\[0\]\.target: target "a\/b\/c\/d" is not of the form/,
    );
    expect(make({ image: 'localhost:5000/cart' })).not.toThrow();
  });
});
