import {
  createApiFactory,
  createComponentExtension,
  createPlugin,
  createRoutableExtension,
  discoveryApiRef,
  fetchApiRef,
} from '@backstage/core-plugin-api';
import { hasRolloutsAnnotation } from '@tollgate/plugin-rollouts-common';
import { RolloutsClient, rolloutsApiRef } from './api';
import { onCallRouteRef, rootRouteRef } from './routes';

/** True when the entity has Tollgate rollouts (the `tollgate.dev/rollouts` annotation). @public */
export function isRolloutsAvailable(entity: {
  metadata: { annotations?: Record<string, string> };
}): boolean {
  return hasRolloutsAnnotation(entity);
}

/** @public */
export const rolloutsPlugin = createPlugin({
  id: 'rollouts',
  apis: [
    createApiFactory({
      api: rolloutsApiRef,
      deps: { discoveryApi: discoveryApiRef, fetchApi: fetchApiRef },
      factory: ({ discoveryApi, fetchApi }) =>
        new RolloutsClient({ discoveryApi, fetchApi }),
    }),
  ],
  routes: {
    root: rootRouteRef,
    onCall: onCallRouteRef,
  },
});

/** The executive dashboard. @public */
export const RolloutsPage = rolloutsPlugin.provide(
  createRoutableExtension({
    name: 'RolloutsPage',
    component: () =>
      import('./components/RolloutsPage').then(m => m.RolloutsPage),
    mountPoint: rootRouteRef,
  }),
);

/** The on-call view: rollouts that need a person now. @public */
export const OnCallPage = rolloutsPlugin.provide(
  createRoutableExtension({
    name: 'OnCallPage',
    component: () => import('./components/OnCallPage').then(m => m.OnCallPage),
    mountPoint: onCallRouteRef,
  }),
);

/** The service's Rollouts tab. @public */
export const EntityRolloutsContent = rolloutsPlugin.provide(
  createComponentExtension({
    name: 'EntityRolloutsContent',
    component: {
      lazy: () =>
        import('./components/EntityRolloutsContent').then(
          m => m.EntityRolloutsContent,
        ),
    },
  }),
);

/** The overview card. @public */
export const EntityRolloutsCard = rolloutsPlugin.provide(
  createComponentExtension({
    name: 'EntityRolloutsCard',
    component: {
      lazy: () =>
        import('./components/EntityRolloutsCard').then(
          m => m.EntityRolloutsCard,
        ),
    },
  }),
);
