import type {
  AuditorService,
  AuthService,
  HttpAuthService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { InputError, NotFoundError } from '@backstage/errors';
import {
  rolloutReadPermission,
  summaryQuerySchema,
  type GateVerdict,
  type RolloutShadow,
  whatIfRequestSchema,
} from '@tollgate/plugin-rollouts-common';
import type express from 'express';
import { requirePermission } from '../actions/rolloutAction';
import type { EntityLookup } from '../catalog/EntityIndex';
import type { RolloutsStore } from '../database/RolloutsStore';
import { validatePolicyObject, validatePolicyYaml } from '../policy/policy';
import type { WhatIfService } from '../replay/WhatIfService';
import { shadowSummary } from '../shadow/shadowFigures';
import type { ShadowStore } from '../shadow/ShadowStore';
import { auditServiceRead } from './audit';
import { parse, rolloutIdParam } from './errors';
import { readableEntityRefs } from './readableEntities';

export interface ShadowRoutesOptions {
  store: RolloutsStore;
  auth: AuthService;
  auditor: AuditorService;
  httpAuth: HttpAuthService;
  permissions: PermissionsService;
  entities: EntityLookup;
  /** Without them (a router built for tests of other routes) the routes answer 404. */
  shadows?: ShadowStore;
  whatIf?: WhatIfService;
}

/** Rollouts one what-if request replays unless it asks for fewer. */
const DEFAULT_WHATIF_LIMIT = 50;

/**
 * `GET /v1/shadow` (the shadow policies' disagreements) and
 * `POST /v1/policies/whatif` (replay past rollouts under a candidate
 * policy). Both read only rollouts of entities the caller has
 * `rollouts.rollout.read` on: nothing of another team's rollouts is
 * counted, listed or replayed.
 */
export function shadowRoutes(router: express.Router, o: ShadowRoutesOptions) {
  const { httpAuth, permissions, entities } = o;

  router.get('/v1/shadow', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const query = parse(summaryQuerySchema, req.query, 'query');
    if (!o.shadows)
      throw new NotFoundError('shadow: not available in this backend');
    res.json(
      await shadowSummary(o.shadows, {
        days: query.days ?? 30,
        readable: refs => readableEntityRefs(permissions, credentials, refs),
      }),
    );
  });

  router.get('/v1/rollouts/:id/shadow', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const id = rolloutIdParam(req);
    if (!o.shadows)
      throw new NotFoundError('shadow: not available in this backend');
    const shadows = o.shadows;
    // the shadow's entries carry evidence: a service token's read is audited, as the rollout's
    const body = await auditServiceRead(
      { auditor: o.auditor, auth: o.auth },
      credentials,
      { eventId: 'evidence-read', request: req, meta: { rolloutId: id } },
      async (): Promise<RolloutShadow> => {
        const rollout = await o.store.getRollout(id);
        if (!rollout) throw new NotFoundError(`id: no rollout with id ${id}`);
        await requirePermission(
          permissions,
          credentials,
          rolloutReadPermission,
          rollout.entityRef,
        );
        const [rows, page] = await Promise.all([
          shadows.forRollout(rollout.id),
          o.store.listDecisions({
            rolloutId: rollout.id,
            shadow: 'only',
            limit: 50,
            withEvidence: false,
          }),
        ]);
        return {
          policies: rows.map(r => {
            const [enforced, shadow] = (r.lastPair ?? '').split('/');
            return {
              policy: r.policyName,
              ...(shadow
                ? {
                    enforced: enforced as GateVerdict,
                    shadow: shadow as GateVerdict,
                  }
                : {}),
              updatedAt: r.updatedAt,
            };
          }),
          items: page.items,
        };
      },
    );
    res.json(body);
  });

  router.post('/v1/policies/whatif', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const body = parse(whatIfRequestSchema, req.body, 'body');
    if (!o.whatIf)
      throw new NotFoundError('whatif: not available in this backend');
    const strict = { refuseRawQueries: true };
    const checked =
      body.yaml !== undefined
        ? validatePolicyYaml(body.yaml, strict)
        : validatePolicyObject(body.policy, strict);
    if (!checked.policy) {
      const where = body.yaml !== undefined ? 'yaml' : 'policy';
      throw new InputError(
        `invalid body: ${checked.problems
          .slice(0, 20)
          .map(p => `${where}.${p.path}: ${p.message}`)
          .join('; ')}`,
      );
    }
    const sel = body.selection;
    const { whatIf } = o;
    const policy = checked.policy;
    // telemetry replayed is evidence: a service token's replay is audited (a person's is not)
    const result = await auditServiceRead(
      { auditor: o.auditor, auth: o.auth },
      credentials,
      {
        eventId: 'evidence-read',
        request: req,
        meta: { whatIf: policy.hash },
        outcome: r => ({ rollouts: r.rollouts.length }),
      },
      async () => {
        const catalog =
          sel.services ?? (await entities.all()).map(e => e.entityRef);
        const readable = await readableEntityRefs(
          permissions,
          credentials,
          catalog,
        );
        const now = new Date();
        return whatIf.run(policy, {
          readable,
          services: sel.services,
          from: new Date(
            sel.from ?? now.getTime() - 30 * 86_400_000,
          ).toISOString(),
          to: new Date(sel.to ?? now).toISOString(),
          limit: sel.limit ?? DEFAULT_WHATIF_LIMIT,
        });
      },
    );
    res.json(result);
  });
}
