import type {
  AuditorService,
  AuthService,
  HttpAuthService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { NotFoundError } from '@backstage/errors';
import {
  rolloutReadPermission,
  type RolloutTimeseries,
} from '@tollgate/plugin-rollouts-common';
import type express from 'express';
import { requirePermission } from '../actions/rolloutAction';
import type { RolloutsStore } from '../database/RolloutsStore';
import type { RolloutTimeseriesService } from '../timeseries/rolloutTimeseries';
import { auditServiceRead } from './audit';
import { rolloutIdParam } from './errors';

export interface TimeseriesRoutesOptions {
  store: RolloutsStore;
  auth: AuthService;
  httpAuth: HttpAuthService;
  permissions: PermissionsService;
  auditor: AuditorService;
  /** Without it (a router built for tests of other routes) the route answers 404. */
  timeseries?: RolloutTimeseriesService;
}

/**
 * `GET /v1/rollouts/:id/timeseries`: the rollout's current step (a
 * finished one's last step) interval by interval as the gate engine saw it,
 * and the deploy provider's description of the target's cohort. Needs
 * `rollouts.rollout.read` on the rollout's entity, as the rollout itself.
 */
export function timeseriesRoutes(
  router: express.Router,
  o: TimeseriesRoutesOptions,
) {
  const { store, auth, httpAuth, permissions, auditor } = o;

  router.get('/v1/rollouts/:id/timeseries', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const id = rolloutIdParam(req);
    // The series is evidence: a service token's read is audited (a person's page is not).
    const body = await auditServiceRead(
      { auditor, auth },
      credentials,
      { eventId: 'evidence-read', request: req, meta: { rolloutId: id } },
      async (): Promise<RolloutTimeseries> => {
        const rollout = await store.getRollout(id);
        if (!rollout) throw new NotFoundError(`id: no rollout with id ${id}`);
        await requirePermission(
          permissions,
          credentials,
          rolloutReadPermission,
          rollout.entityRef,
        );
        if (!o.timeseries) {
          throw new NotFoundError('timeseries: not available in this backend');
        }
        return o.timeseries.forRollout(rollout);
      },
    );
    res.json(body);
  });
}
