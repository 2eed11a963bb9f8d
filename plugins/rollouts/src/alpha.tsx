import {
  ApiBlueprint,
  PageBlueprint,
  createApiFactory,
  createFrontendPlugin,
  discoveryApiRef,
  fetchApiRef,
} from '@backstage/frontend-plugin-api';
import {
  EntityCardBlueprint,
  EntityContentBlueprint,
} from '@backstage/plugin-catalog-react/alpha';
import {
  compatWrapper,
  convertLegacyRouteRef,
} from '@backstage/core-compat-api';
import NotificationsActiveIcon from '@mui/icons-material/NotificationsActive';
import TimelineIcon from '@mui/icons-material/Timeline';
import { RolloutsClient, rolloutsApiRef } from './api';
import { isRolloutsAvailable } from './plugin';
import { onCallRouteRef, rootRouteRef } from './routes';

const rolloutsApi = ApiBlueprint.make({
  params: defineParams =>
    defineParams(
      createApiFactory({
        api: rolloutsApiRef,
        deps: { discoveryApi: discoveryApiRef, fetchApi: fetchApiRef },
        factory: ({ discoveryApi, fetchApi }) =>
          new RolloutsClient({ discoveryApi, fetchApi }),
      }),
    ),
});

const rolloutsPage = PageBlueprint.make({
  params: {
    path: '/rollouts',
    title: 'Rollouts',
    // the page's nav item in the app's sidebar
    icon: <TimelineIcon fontSize="inherit" />,
    routeRef: convertLegacyRouteRef(rootRouteRef),
    loader: () =>
      import('./components/RolloutsPage').then(m =>
        compatWrapper(<m.RolloutsPage />),
      ),
  },
});

const onCallPage = PageBlueprint.make({
  name: 'on-call',
  params: {
    path: '/on-call',
    title: 'On call',
    icon: <NotificationsActiveIcon fontSize="inherit" />,
    routeRef: convertLegacyRouteRef(onCallRouteRef),
    loader: () =>
      import('./components/OnCallPage').then(m =>
        compatWrapper(<m.OnCallPage />),
      ),
  },
});

const entityRolloutsContent = EntityContentBlueprint.make({
  name: 'rollouts',
  params: {
    path: 'rollouts',
    title: 'Rollouts',
    filter: isRolloutsAvailable,
    loader: () =>
      import('./components/EntityRolloutsContent').then(m =>
        compatWrapper(<m.EntityRolloutsContent />),
      ),
  },
});

const entityRolloutsCard = EntityCardBlueprint.make({
  name: 'rollouts',
  params: {
    type: 'content',
    filter: isRolloutsAvailable,
    loader: () =>
      import('./components/EntityRolloutsCard').then(m =>
        compatWrapper(<m.EntityRolloutsCard />),
      ),
  },
});

/** The Rollouts plugin for the new frontend system. @alpha */
const rolloutsPlugin = createFrontendPlugin({
  pluginId: 'rollouts',
  title: 'Rollouts',
  info: { packageJson: () => import('../package.json') },
  routes: {
    root: convertLegacyRouteRef(rootRouteRef),
    onCall: convertLegacyRouteRef(onCallRouteRef),
  },
  extensions: [
    rolloutsApi,
    rolloutsPage,
    onCallPage,
    entityRolloutsContent,
    entityRolloutsCard,
  ],
});

export default rolloutsPlugin;
export {
  rolloutsApi,
  rolloutsPage,
  onCallPage,
  entityRolloutsContent,
  entityRolloutsCard,
};
