import { createRouteRef } from '@backstage/core-plugin-api';

/** Root route of the executive dashboard. @public */
export const rootRouteRef = createRouteRef({ id: 'rollouts' });
