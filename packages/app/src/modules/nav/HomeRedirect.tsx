import { Navigate } from 'react-router-dom';
import { PageBlueprint } from '@backstage/frontend-plugin-api';

/** The demo portal opens on the Rollouts page. */
export const homeRedirect = PageBlueprint.make({
  name: 'home-redirect',
  params: {
    path: '/',
    noHeader: true,
    loader: async () => <Navigate to="/rollouts" replace />,
  },
});
