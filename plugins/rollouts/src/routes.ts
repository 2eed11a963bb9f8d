import { createRouteRef } from '@backstage/core-plugin-api';

/** Root route of the executive dashboard. @public */
export const rootRouteRef = createRouteRef({ id: 'rollouts' });

/** The on-call view: what needs a person now. @public */
export const onCallRouteRef = createRouteRef({ id: 'rollouts-on-call' });
