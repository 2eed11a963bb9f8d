import { mockServices } from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import {
  FakeDeployProvider,
  catalogComponent,
} from '@tollgate/plugin-rollouts-node/testUtils';
import { EntityIndex } from './EntityIndex';
import { ProviderRegistry } from '../providers/ProviderRegistry';

const component = (name: string, annotation: string) =>
  catalogComponent(name, {
    rollouts: annotation,
    owner: 'group:default/team-a',
  });

describe('EntityIndex', () => {
  it("finds the service whatever accepted spelling its annotation uses, through the provider's normalizeTarget", async () => {
    // A provider whose targets are `<cluster>/<ns>/<name>`, with `<ns>/<name>` meaning its only cluster.
    const argoLike = Object.assign(new FakeDeployProvider('argo-rollouts'), {
      normalizeTarget: (t: string) => {
        const parts = t.split('/');
        if (parts.length === 3 && parts[0] === 'prod-eu')
          return parts.slice(1).join('/');
        if (parts.length !== 2) throw new Error(`bad target ${t}`);
        return t;
      },
    });
    const providers = new ProviderRegistry();
    providers.addDeploy(argoLike);
    providers.addDeploy(new FakeDeployProvider('plain'));
    const catalog = catalogServiceMock({
      entities: [
        component('checkout', 'argo-rollouts:prod-eu/payments/checkout-api'),
        component('search', 'argo-rollouts:search/search-api, plain:shop/Cart'),
        component('odd', 'argo-rollouts:a/b/c/d'),
      ],
    });
    const index = new EntityIndex(
      catalog,
      mockServices.auth(),
      30_000,
      (p, t) => providers.normalizeTarget(p, t),
    );

    expect(
      (await index.byTarget('argo-rollouts', 'payments/checkout-api'))
        ?.entityRef,
    ).toBe('component:default/checkout');
    expect(
      (await index.byTarget('argo-rollouts', 'prod-eu/payments/checkout-api'))
        ?.entityRef,
    ).toBe('component:default/checkout');
    expect(
      (await index.byTarget('argo-rollouts', 'prod-eu/search/search-api'))
        ?.entityRef,
    ).toBe('component:default/search');
    // A target the provider cannot parse is compared as written; a provider without normalizeTarget compares text.
    expect((await index.byTarget('argo-rollouts', 'a/b/c/d'))?.entityRef).toBe(
      'component:default/odd',
    );
    expect((await index.byTarget('plain', 'shop/Cart'))?.entityRef).toBe(
      'component:default/search',
    );
    expect(await index.byTarget('plain', 'shop/cart')).toBeUndefined();
  });
});

describe('EntityIndex.consumersOf', () => {
  const rel = (type: string, targetRef: string) => ({ type, targetRef });
  const withRelations = (
    e: ReturnType<typeof component>,
    relations: Array<{ type: string; targetRef: string }>,
  ) => ({ ...e, relations });

  it("lists the entities that dependsOn the service and the consumers of the APIs it provides, each once, with their index entry when they have Tollgate's annotation", async () => {
    const catalog = catalogServiceMock({
      entities: [
        withRelations(component('catalog-svc', 'simulator:shop/catalog'), [
          rel('dependencyOf', 'component:default/storefront'),
          rel('providesApi', 'api:default/catalog-api'),
          rel('dependsOn', 'resource:default/db'),
        ]),
        withRelations(component('storefront', 'simulator:shop/storefront'), [
          rel('dependsOn', 'component:default/catalog-svc'),
          rel('consumesApi', 'api:default/catalog-api'),
        ]),
        {
          apiVersion: 'backstage.io/v1alpha1',
          kind: 'API',
          metadata: { name: 'catalog-api', namespace: 'default' },
          spec: { type: 'openapi', owner: 'team-a', definition: '{}' },
          relations: [
            rel('apiProvidedBy', 'component:default/catalog-svc'),
            rel('apiConsumedBy', 'component:default/storefront'),
            rel('apiConsumedBy', 'component:default/mobile-bff'),
          ],
        },
      ] as any,
    });
    const index = new EntityIndex(catalog, mockServices.auth());
    const consumers = await index.consumersOf('component:default/catalog-svc');
    expect(
      consumers.map(c => [c.entityRef, c.relation, c.via, !!c.entity]),
    ).toEqual([
      // it depends on the service and consumes its API: one entry naming both
      [
        'component:default/storefront',
        'dependsOn',
        'api:default/catalog-api',
        true,
      ],
      [
        'component:default/mobile-bff',
        'consumesApi',
        'api:default/catalog-api',
        false,
      ],
    ]);
    // the consumer's own index entry carries its annotations (its telemetry target)
    expect(consumers[0].entity?.annotations['tollgate.dev/rollouts']).toBe(
      'simulator:shop/storefront',
    );
    // a service nobody depends on has no consumers
    expect(await index.consumersOf('component:default/storefront')).toEqual([]);
  });
});
