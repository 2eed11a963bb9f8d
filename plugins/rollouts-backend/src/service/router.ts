import type {
  AuditorService,
  AuthService,
  BackstageCredentials,
  HttpAuthService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { AuthenticationError, InputError, NotAllowedError, NotFoundError } from '@backstage/errors';
import {
  AuthorizeResult,
  type BasicPermission,
  type ResourcePermission,
} from '@backstage/plugin-permission-common';
import {
  ACTIVE_ROLLOUT_STATUSES,
  actionRequestSchema,
  FINAL_ROLLOUT_STATUSES,
  FLAGGER_HOOKS,
  flaggerWebhookPayloadSchema,
  judgeQuerySchema,
  rolloutJudgePermission,
  type FlaggerHook,
  formatZodIssues,
  listDecisionsQuerySchema,
  listRolloutsQuerySchema,
  registerRolloutRequestSchema,
  rolloutApprovePermission,
  rolloutPromotePermission,
  rolloutReadPermission,
  rolloutRegisterPermission,
  rolloutRollbackPermission,
  ROLLOUT_ACTIONS,
  RUNBOOK_ANNOTATION,
  summaryQuerySchema,
  type RolloutAction,
  type RolloutDetail,
  type RolloutStatus,
} from '@tollgate/plugin-rollouts-common';
import express from 'express';
import Router from 'express-promise-router';
import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import type { RolloutsStore } from '../database/RolloutsStore';
import type { PolicyResolver } from '../policy/PolicyResolver';
import { validatePolicyObject, validatePolicyYaml } from '../policy/policy';
import { ActionService, publicRollout } from './ActionService';
import type { EntityIndex } from './EntityIndex';
import type { JudgeService } from './JudgeService';
import { computeSummary } from './summary';

/** Flagger cannot send headers: its webhooks carry the token in `metadata.token`, so this path checks it itself. */
export const FLAGGER_WEBHOOK_PATH = '/v1/webhooks/flagger';

export interface RouterOptions {
  store: RolloutsStore;
  actions: ActionService;
  entities: EntityIndex;
  policies: PolicyResolver;
  judge: JudgeService;
  auth: AuthService;
  httpAuth: HttpAuthService;
  permissions: PermissionsService;
  auditor: AuditorService;
}

const ACTIVE = [...ACTIVE_ROLLOUT_STATUSES];
const FINISHED = [...FINAL_ROLLOUT_STATUSES];

function parse<T extends z.ZodTypeAny>(schema: T, input: unknown, where: string): z.infer<T> {
  const result = schema.safeParse(input ?? {});
  if (!result.success) {
    throw new InputError(`invalid ${where}: ${formatZodIssues(result.error).join('; ')}`);
  }
  return result.data;
}

const actionPermission: Record<RolloutAction, ResourcePermission<'catalog-entity'>> = {
  promote: rolloutPromotePermission,
  pause: rolloutPromotePermission,
  resume: rolloutPromotePermission,
  approve: rolloutApprovePermission,
  rollback: rolloutRollbackPermission,
};

/** HTTP only: parse, authorize, call the services, answer. */
export async function createRouter(options: RouterOptions): Promise<express.Router> {
  const { store, actions, entities, policies, judge, auth, httpAuth, permissions, auditor } = options;
  const router = Router();
  router.use(express.json({ limit: '256kb' }));

  const actorOf = (credentials: BackstageCredentials) => {
    const principal = credentials.principal as { type: string; userEntityRef?: string; subject?: string };
    return principal.type === 'user'
      ? principal.userEntityRef!
      : `service:${principal.subject ?? 'unknown'}`;
  };

  async function allowedEntityRefs(
    credentials: BackstageCredentials,
    refs: string[],
  ): Promise<Set<string>> {
    const unique = [...new Set(refs)];
    if (unique.length === 0) return new Set();
    const decisions = await permissions.authorize(
      unique.map(resourceRef => ({ permission: rolloutReadPermission, resourceRef })),
      { credentials },
    );
    return new Set(unique.filter((_, i) => decisions[i].result === AuthorizeResult.ALLOW));
  }

  async function requirePermission(
    credentials: BackstageCredentials,
    permission: ResourcePermission<'catalog-entity'> | BasicPermission,
    resourceRef?: string,
  ) {
    const [decision] = await permissions.authorize(
      [resourceRef ? { permission: permission as ResourcePermission<'catalog-entity'>, resourceRef } : { permission: permission as BasicPermission }],
      { credentials },
    );
    if (decision.result !== AuthorizeResult.ALLOW) {
      throw new NotAllowedError(`you lack the ${permission.name} permission${resourceRef ? ` on ${resourceRef}` : ''}`);
    }
  }

  router.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/v1/rollouts', async (req, res) => {
    const credentials = await httpAuth.credentials(req, { allow: ['user', 'service'] });
    const query = parse(listRolloutsQuerySchema, req.query, 'query');
    let status: RolloutStatus[] | undefined;
    if (query.status === 'active') status = ACTIVE;
    else if (query.status === 'finished') status = FINISHED;
    else if (query.status) status = [query.status];
    const rows = await store.listRollouts({
      entityRefs: query.entityRef ? [query.entityRef] : undefined,
      status,
      limit: query.limit ?? 500,
    });
    const allowed = await allowedEntityRefs(credentials, rows.map(r => r.entityRef));
    res.json({ items: rows.filter(r => allowed.has(r.entityRef)).map(publicRollout) });
  });

  router.post('/v1/rollouts', async (req, res) => {
    const credentials = await httpAuth.credentials(req, { allow: ['service'] });
    const body = parse(registerRolloutRequestSchema, req.body, 'body');
    const event = await auditor.createEvent({ eventId: 'rollout-register', request: req, severityLevel: 'medium', meta: { entityRef: body.entityRef, target: body.target, version: body.version } });
    try {
      await requirePermission(credentials, rolloutRegisterPermission);
      const policy = body.policy ? policies.named(body.policy) : await policies.forAnnotations((await entities.byRef(body.entityRef))?.annotations);
      const steps = body.steps ?? policy.steps ?? [{ weight: 1 }, { weight: 5 }, { weight: 25 }, { weight: 100 }];
      const now = new Date().toISOString();
      const { rollout, created } = await store.upsertDiscovered({
        id: randomUUID(),
        entityRef: body.entityRef,
        provider: body.provider,
        target: body.target,
        externalId: `${body.target}@${body.version}`,
        version: body.version,
        previousVersion: body.previousVersion,
        status: 'pending',
        steps,
        currentStepIndex: 0,
        currentWeight: 0,
        startedAt: now,
        stepStartedAt: now,
        policyName: policy.name,
        policyHash: policy.hash,
      });
      if (created) {
        await store.appendDecision({
          rolloutId: rollout.id,
          entityRef: rollout.entityRef,
          stepIndex: 0,
          verdict: 'register',
          kind: 'manual',
          actor: actorOf(credentials),
          reasons: [`registered ${body.version} of ${body.target} from CI`],
          evidence: null,
          policyHash: policy.hash,
          outcome: 'none',
        });
      }
      await event.success({ meta: { rolloutId: rollout.id, created } });
      res.status(created ? 201 : 200).json(publicRollout(rollout));
    } catch (error) {
      await event.fail({ error: error as Error });
      throw error;
    }
  });

  router.get('/v1/rollouts/:id', async (req, res) => {
    const credentials = await httpAuth.credentials(req, { allow: ['user', 'service'] });
    const rollout = await store.getRollout(req.params.id);
    if (!rollout) throw new NotFoundError(`no rollout with id ${req.params.id}`);
    await requirePermission(credentials, rolloutReadPermission, rollout.entityRef);
    const entity = await entities.byRef(rollout.entityRef);
    const detail: RolloutDetail = {
      ...publicRollout(rollout),
      evidence: rollout.evidence,
      runbookUrl: entity?.annotations[RUNBOOK_ANNOTATION],
    };
    res.json(detail);
  });

  router.get('/v1/rollouts/:id/decisions', async (req, res) => {
    const credentials = await httpAuth.credentials(req, { allow: ['user', 'service'] });
    const query = parse(listDecisionsQuerySchema, req.query, 'query');
    const rollout = await store.getRollout(req.params.id);
    if (!rollout) throw new NotFoundError(`no rollout with id ${req.params.id}`);
    await requirePermission(credentials, rolloutReadPermission, rollout.entityRef);
    res.json(await store.listDecisions({ rolloutId: rollout.id, limit: query.limit, before: query.before }));
  });

  router.post('/v1/rollouts/:id/actions/:action', async (req, res) => {
    const credentials = await httpAuth.credentials(req, { allow: ['user', 'service'] });
    const action = req.params.action as RolloutAction;
    if (!ROLLOUT_ACTIONS.includes(action)) {
      throw new InputError(`action: must be one of ${ROLLOUT_ACTIONS.join(', ')}`);
    }
    const body = parse(actionRequestSchema, req.body, 'body');
    const rollout = await store.getRollout(req.params.id);
    if (!rollout) throw new NotFoundError(`no rollout with id ${req.params.id}`);
    const event = await auditor.createEvent({
      eventId: 'rollout-action',
      severityLevel: action === 'rollback' || action === 'promote' ? 'high' : 'medium',
      request: req,
      meta: { action, rolloutId: rollout.id, entityRef: rollout.entityRef, reason: body.reason },
    });
    try {
      await requirePermission(credentials, actionPermission[action], rollout.entityRef);
      const result = await actions.act({
        rolloutId: rollout.id,
        action,
        reason: body.reason,
        idempotencyKey: body.idempotencyKey,
        actor: actorOf(credentials),
      });
      await event.success({ meta: { status: result.rollout.status, replayed: Boolean(result.replayed), alreadyInState: Boolean(result.alreadyInState) } });
      res.json(result);
    } catch (error) {
      await event.fail({ error: error as Error });
      throw error;
    }
  });

  router.post('/v1/policies/validate', async (req, res) => {
    await httpAuth.credentials(req, { allow: ['user', 'service'] });
    const body = req.body as unknown;
    let result;
    if (body && typeof body === 'object' && 'yaml' in body) {
      if (typeof (body as any).yaml !== 'string') throw new InputError('yaml: must be a string holding the policy YAML');
      result = validatePolicyYaml((body as any).yaml);
    } else if (body && typeof body === 'object' && 'policy' in body) {
      result = validatePolicyObject((body as any).policy);
    } else {
      throw new InputError('body: send { "yaml": "<policy YAML>" } or { "policy": { … } }');
    }
    res.json({
      valid: result.problems.length === 0,
      problems: result.problems,
      hash: result.policy?.hash,
    });
  });

  router.get('/v1/decisions/verify', async (req, res) => {
    const credentials = await httpAuth.credentials(req, { allow: ['user', 'service'] });
    const event = await auditor.createEvent({ eventId: 'decision-log-verify', request: req, severityLevel: 'low' });
    const result = await store.verifyDecisions();
    await event.success({ meta: { ok: result.ok, checked: result.checked } });
    void credentials;
    res.json(result);
  });

  // Argo Rollouts' `web` metric provider asks here (service credentials in the Authorization header).
  router.get('/v1/judge', async (req, res) => {
    const credentials = await httpAuth.credentials(req, { allow: ['service'] });
    const query = parse(judgeQuerySchema, req.query, 'query');
    await requirePermission(credentials, rolloutJudgePermission);
    res.json(await judge.argo(query, actorOf(credentials)));
  });

  // Flagger's webhooks. The path is open at the HTTP router so Flagger's
  // header-less calls reach it; every call must still carry a Backstage
  // service token, in the Authorization header or in `metadata.token`.
  router.post(`${FLAGGER_WEBHOOK_PATH}/:hook`, async (req, res) => {
    const hook = req.params.hook as FlaggerHook;
    if (!FLAGGER_HOOKS.includes(hook)) {
      throw new InputError(`hook: must be one of ${FLAGGER_HOOKS.join(', ')}`);
    }
    const credentials = await flaggerCredentials(req);
    const payload = parse(flaggerWebhookPayloadSchema, req.body, 'body');
    await requirePermission(credentials, rolloutJudgePermission);
    if (payload.metadata) delete payload.metadata.token;
    const reply = await judge.flagger(hook, payload, actorOf(credentials));
    res.status(reply.status).json(reply.body);
  });

  async function flaggerCredentials(req: express.Request): Promise<BackstageCredentials> {
    if (req.headers.authorization) {
      return httpAuth.credentials(req, { allow: ['service'] });
    }
    const token = (req.body as any)?.metadata?.token;
    if (typeof token !== 'string' || !token) {
      throw new AuthenticationError('a Backstage service token is required: set metadata.token in the Canary webhook (Flagger sends no headers)');
    }
    const credentials = await auth.authenticate(token);
    if (!auth.isPrincipal(credentials, 'service')) {
      throw new AuthenticationError('metadata.token: only service tokens (backend.auth.externalAccess) may call the Flagger webhooks');
    }
    return credentials;
  }

  router.get('/v1/summary', async (req, res) => {
    const credentials = await httpAuth.credentials(req, { allow: ['user', 'service'] });
    const query = parse(summaryQuerySchema, req.query, 'query');
    let refs = (await entities.all())
      .filter(e => !query.owner || e.owner === query.owner)
      .filter(e => !query.system || e.system === query.system)
      .map(e => e.entityRef);
    const allowed = await allowedEntityRefs(credentials, refs);
    refs = refs.filter(r => allowed.has(r));
    res.json(await computeSummary(store, { days: query.days ?? 30, entityRefs: refs }));
  });

  return router;
}
