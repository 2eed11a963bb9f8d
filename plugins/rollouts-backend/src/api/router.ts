import type {
  AuditorService,
  AuthService,
  BackstageCredentials,
  HttpAuthService,
  LoggerService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { InputError, NotFoundError } from '@backstage/errors';
import type {
  BasicPermission,
  ResourcePermission,
} from '@backstage/plugin-permission-common';
import {
  actionRequestSchema,
  decisionLogVerifyPermission,
  listDecisionsQuerySchema,
  listRolloutsQuerySchema,
  registerRolloutRequestSchema,
  rolloutReadPermission,
  rolloutRegisterPermission,
  ROLLOUT_ACTIONS,
  rolloutReport,
  RUNBOOK_ANNOTATION,
  validatePolicyRequestSchema,
  type RolloutAction,
  type RolloutDetail,
} from '@tollgate/plugin-rollouts-common';
import type express from 'express';
import Router from 'express-promise-router';
import { ActionService, publicRollout } from '../actions/ActionService';
import {
  actorOf,
  requirePermission as requirePermissionOf,
  takeRolloutAction,
} from '../actions/rolloutAction';
import type { EntityLookup } from '../catalog/EntityIndex';
import type { RolloutsStore } from '../database/RolloutsStore';
import type { JudgeService } from '../judge/JudgeService';
import { validatePolicyObject, validatePolicyYaml } from '../policy/policy';
import type { RolloutRegistration } from '../registration/RolloutRegistration';
import { listAttention } from '../attention/attention';
import { allDecisionsOf } from '../report/rolloutReport';
import { listRolloutsPage } from './rolloutList';
import { readableEntityRefs } from './readableEntities';
import { DecisionPageCache } from './decisionPageCache';
import { sendCachedJson } from './cachedJson';
import {
  errorAnswers,
  parse,
  quote,
  requestChecks,
  rolloutIdParam,
} from './errors';
import { decisionRoutes } from './decisionRoutes';
import { auditServiceRead } from './audit';
import { judgeRoutes } from './judgeRoutes';
import { timeseriesRoutes } from './timeseriesRoutes';
import { pipelineRoutes } from './pipelineRoutes';
import type { PipelineDriver } from '../pipelines/PipelineDriver';
import type { PipelineStore } from '../pipelines/PipelineStore';
import { shadowRoutes } from './shadowRoutes';
import { summaryRoutes } from './summaryRoutes';
import type { ShadowStore } from '../shadow/ShadowStore';
import type { WhatIfService } from '../replay/WhatIfService';
import type { RolloutTimeseriesService } from '../timeseries/rolloutTimeseries';

export { FLAGGER_WEBHOOK_PATH } from './judgeRoutes';

export interface RouterOptions {
  store: RolloutsStore;
  actions: ActionService;
  registration: RolloutRegistration;
  entities: EntityLookup;
  judge: JudgeService;
  auth: AuthService;
  httpAuth: HttpAuthService;
  permissions: PermissionsService;
  auditor: AuditorService;
  /** Reads a rollout's step interval by interval (`GET /v1/rollouts/:id/timeseries`). */
  timeseries?: RolloutTimeseriesService;
  /** Multi-stage promotion (`GET /v1/pipelines`, `POST /v1/pipelines/:id/promote`); without it those answer 404. */
  pipelines?: { store: PipelineStore; driver: PipelineDriver };
  /** Where unexpected errors are logged in full (their answer names only a reference). */
  logger?: LoggerService;
  /** Shadow policies' figures (`GET /v1/shadow`) and what-if replay (`POST /v1/policies/whatif`). */
  shadows?: ShadowStore;
  whatIf?: WhatIfService;
  /** `rollouts.slo.windowDays`: the window the summary's error-budget shares are taken over (default 30). */
  sloWindowDays?: number;
}

/** HTTP only: parse, authorize, call the services, answer. */
export async function createRouter(
  options: RouterOptions,
): Promise<express.Router> {
  const {
    store,
    actions,
    registration,
    entities,
    judge,
    auth,
    httpAuth,
    permissions,
    auditor,
  } = options;
  const router = Router();
  requestChecks(router);
  const decisionPages = new DecisionPageCache(store);

  function allowedEntityRefs(
    credentials: BackstageCredentials,
    refs: string[],
  ): Promise<Set<string>> {
    return readableEntityRefs(permissions, credentials, refs);
  }

  function requirePermission(
    credentials: BackstageCredentials,
    permission: ResourcePermission<'catalog-entity'> | BasicPermission,
    resourceRef?: string,
  ) {
    return requirePermissionOf(
      permissions,
      credentials,
      permission,
      resourceRef,
    );
  }

  router.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/v1/rollouts', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const query = parse(listRolloutsQuerySchema, req.query, 'query');
    const page = await listRolloutsPage(
      {
        store,
        entities,
        allowedEntityRefs: refs => allowedEntityRefs(credentials, refs),
      },
      query,
    );
    res.json({ items: page.items.map(publicRollout), total: page.total });
  });

  router.get('/v1/attention', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    res.json(
      await listAttention(
        { store, entities },
        refs => allowedEntityRefs(credentials, refs),
        new Date(),
      ),
    );
  });

  router.post('/v1/rollouts', async (req, res) => {
    const credentials = await httpAuth.credentials(req, { allow: ['service'] });
    const body = parse(registerRolloutRequestSchema, req.body, 'body');
    const event = await auditor.createEvent({
      eventId: 'rollout-register',
      request: req,
      severityLevel: 'medium',
      meta: {
        entityRef: body.entityRef,
        target: body.target,
        version: body.version,
      },
    });
    try {
      await requirePermission(credentials, rolloutRegisterPermission);
      const { rollout, created } = await registration.register(
        body,
        actorOf(credentials),
      );
      await event.success({ meta: { rolloutId: rollout.id, created } });
      res.status(created ? 201 : 200).json(publicRollout(rollout));
    } catch (error) {
      await event.fail({ error: error as Error });
      throw error;
    }
  });

  router.get('/v1/rollouts/:id', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const id = rolloutIdParam(req);
    // A service token reading evidence is audited (a person's page is not).
    const detail = await auditServiceRead(
      { auditor, auth },
      credentials,
      { eventId: 'evidence-read', request: req, meta: { rolloutId: id } },
      async (): Promise<RolloutDetail> => {
        const rollout = await store.getRollout(id);
        if (!rollout) throw new NotFoundError(`id: no rollout with id ${id}`);
        await requirePermission(
          credentials,
          rolloutReadPermission,
          rollout.entityRef,
        );
        const entity = await entities.byRef(rollout.entityRef);
        return {
          ...publicRollout(rollout),
          evidence: rollout.evidence,
          runbookUrl: entity?.annotations[RUNBOOK_ANNOTATION],
        };
      },
    );
    res.json(detail);
  });

  router.get('/v1/rollouts/:id/report', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const id = rolloutIdParam(req);
    // The report carries every decision's evidence: a service token's read is audited.
    const { rollout, markdown } = await auditServiceRead(
      { auditor, auth },
      credentials,
      { eventId: 'evidence-read', request: req, meta: { rolloutId: id } },
      async () => {
        const found = await store.getRollout(id);
        if (!found) throw new NotFoundError(`id: no rollout with id ${id}`);
        await requirePermission(
          credentials,
          rolloutReadPermission,
          found.entityRef,
        );
        const decisions = await allDecisionsOf(store, found.id);
        return {
          rollout: found,
          markdown: rolloutReport(publicRollout(found), decisions, {
            generatedAt: new Date().toISOString(),
          }),
        };
      },
    );
    res
      .type('text/markdown; charset=utf-8')
      .attachment(
        `rollout-${rollout.target.replace(/[^\w.-]+/g, '-')}-${rollout.version}.md`,
      )
      .send(markdown);
  });

  router.get('/v1/rollouts/:id/decisions', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const id = rolloutIdParam(req);
    const query = parse(listDecisionsQuerySchema, req.query, 'query');
    const page = await decisionPages.page(id, query, entityRef =>
      requirePermission(credentials, rolloutReadPermission, entityRef),
    );
    if (!page) throw new NotFoundError(`id: no rollout with id ${id}`);
    sendCachedJson(res, page);
  });

  router.post('/v1/rollouts/:id/actions/:action', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const id = rolloutIdParam(req);
    const action = req.params.action as RolloutAction;
    if (!ROLLOUT_ACTIONS.includes(action)) {
      throw new InputError(
        `action: must be one of ${ROLLOUT_ACTIONS.join(', ')}, got ${quote(action)}`,
      );
    }
    const body = parse(actionRequestSchema, req.body, 'body');
    const rollout = await store.getRollout(id);
    if (!rollout) throw new NotFoundError(`id: no rollout with id ${id}`);
    // The same path the actions registry takes (src/actions/rolloutAction.ts).
    res.json(
      await takeRolloutAction(
        { actions, permissions, auditor },
        {
          rollout,
          action,
          reason: body.reason,
          idempotencyKey: body.idempotencyKey,
          credentials,
          request: req,
        },
      ),
    );
  });

  router.post('/v1/policies/validate', async (req, res) => {
    await httpAuth.credentials(req, { allow: ['user', 'service'] });
    const body = parse(validatePolicyRequestSchema, req.body, 'body');
    // No target here: raw queries are refused (policies name templates).
    const strict = { refuseRawQueries: true };
    const result =
      body.yaml !== undefined
        ? validatePolicyYaml(body.yaml, strict)
        : validatePolicyObject(body.policy, strict);
    res.json({
      valid: result.problems.length === 0,
      problems: result.problems,
      hash: result.policy?.hash,
    });
  });

  // Reads the whole log: permission-checked, and callers who ask while a
  // verification runs share it instead of starting another full read.
  let verifying: ReturnType<RolloutsStore['verifyDecisions']> | undefined;
  router.get('/v1/decisions/verify', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const event = await auditor.createEvent({
      eventId: 'decision-log-verify',
      request: req,
      severityLevel: 'low',
    });
    try {
      await requirePermission(credentials, decisionLogVerifyPermission);
      if (!verifying) {
        verifying = store.verifyDecisions();
        const done = () => {
          verifying = undefined;
        };
        verifying.then(done, done);
      }
      const result = await verifying;
      await event.success({ meta: { ok: result.ok, checked: result.checked } });
      res.json(result);
    } catch (error) {
      await event.fail({ error: error as Error });
      throw error;
    }
  });

  judgeRoutes(router, { judge, auth, httpAuth, permissions, auditor });
  decisionRoutes(router, options);
  timeseriesRoutes(router, options);
  if (options.pipelines)
    pipelineRoutes(router, {
      ...options,
      pipelines: options.pipelines.store,
      driver: options.pipelines.driver,
    });
  shadowRoutes(router, options);

  summaryRoutes(router, options);

  errorAnswers(router, options.logger);
  return router;
}
