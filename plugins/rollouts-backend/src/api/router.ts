import type {
  AuditorService,
  AuthService,
  BackstageCredentials,
  HttpAuthService,
  LoggerService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import {
  AuthenticationError,
  CustomErrorBase,
  InputError,
  NotFoundError,
} from '@backstage/errors';
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
  decisionLogVerifyPermission,
  type FlaggerHook,
  formatZodIssues,
  listDecisionsQuerySchema,
  listRolloutsQuerySchema,
  registerRolloutRequestSchema,
  rolloutReadPermission,
  rolloutRegisterPermission,
  ROLLOUT_ACTIONS,
  RUNBOOK_ANNOTATION,
  summaryQuerySchema,
  validatePolicyRequestSchema,
  type RolloutAction,
  type RolloutDetail,
  type RolloutStatus,
} from '@tollgate/plugin-rollouts-common';
import express from 'express';
import Router from 'express-promise-router';
import { randomUUID } from 'node:crypto';
import type { z } from 'zod/v3';
import type { RolloutsStore } from '../database/RolloutsStore';
import type { PolicyResolver } from '../policy/PolicyResolver';
import { validatePolicyObject, validatePolicyYaml } from '../policy/policy';
import {
  actorOf,
  requirePermission as requirePermissionOf,
  takeRolloutAction,
} from '../actions/rolloutAction';
import { ActionService, publicRollout } from '../actions/ActionService';
import type { EntityIndex } from '../catalog/EntityIndex';
import type { JudgeService } from '../judge/JudgeService';
import { registeredExternalId } from '../loop/GateLoop';
import { computeSummary } from '../summary/summary';

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
  /** Where unexpected errors are logged in full (their answer names only a reference). */
  logger?: LoggerService;
}

/** Errors whose message is meant for the caller (@backstage/errors' own, e.g. InputError, and the providers' 503). */
const CALLER_ERRORS = new Set([
  'InputError',
  'AuthenticationError',
  'NotAllowedError',
  'NotFoundError',
  'ConflictError',
  'NotModifiedError',
  'NotImplementedError',
  'ServiceUnavailableError',
]);

const ACTIVE = [...ACTIVE_ROLLOUT_STATUSES];
const FINISHED = [...FINAL_ROLLOUT_STATUSES];

/** The largest request body the API reads. */
export const BODY_LIMIT_BYTES = 256 * 1024;

/** 413: the body is larger than {@link BODY_LIMIT_BYTES}. */
class PayloadTooLargeError extends CustomErrorBase {
  name = 'PayloadTooLargeError' as const;
  statusCode = 413;
}

/** 415: the body is not JSON, or not in a charset or encoding the API reads. */
class UnsupportedMediaTypeError extends CustomErrorBase {
  name = 'UnsupportedMediaTypeError' as const;
  statusCode = 415;
}

/** A value quoted in an error message: JSON-escaped and cut to 80 characters. */
function quote(value: unknown): string {
  const text = String(value);
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}

function decodeQueryPart(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A rollout id from the path: rollout ids are UUIDs, anything else is a 400 naming `id`. */
function rolloutIdParam(req: express.Request): string {
  const id = req.params.id;
  if (!UUID.test(id))
    throw new InputError(`id: must be a rollout id (a UUID), got ${quote(id)}`);
  return id;
}

/**
 * Body-parser's errors (too large, not JSON, unknown charset or encoding)
 * become errors that say `body:` and what is wrong, without echoing the body.
 */
function bodyError(error: any): Error {
  if (error instanceof CustomErrorBase) return error; // already says what is wrong
  const type: string | undefined = error?.type;
  switch (type) {
    case 'entity.too.large': {
      const bytes = error.length ?? error.expected;
      return new PayloadTooLargeError(
        `body: is larger than the ${BODY_LIMIT_BYTES / 1024} kB limit${typeof bytes === 'number' ? ` (${bytes} bytes)` : ''}`,
      );
    }
    case 'entity.parse.failed': {
      const text = typeof error.body === 'string' ? error.body.trimStart() : '';
      if (text && !text.startsWith('{') && !text.startsWith('[')) {
        return new InputError('body: must be a JSON object');
      }
      return new InputError(
        `body: is not valid JSON (${String(error.message).slice(0, 200)})`,
      );
    }
    case 'charset.unsupported':
      return new UnsupportedMediaTypeError(
        `body: unsupported charset ${quote(error.charset)}; send UTF-8 JSON`,
      );
    case 'encoding.unsupported':
      return new UnsupportedMediaTypeError(
        `body: unsupported Content-Encoding ${quote(error.encoding)}; send identity, gzip or deflate`,
      );
    case 'request.aborted':
    case 'request.size.invalid':
      return new InputError(`body: ${error.message}`);
    default: {
      const status = error?.statusCode ?? error?.status;
      if (
        error?.expose === true &&
        typeof status === 'number' &&
        status >= 400 &&
        status < 500
      ) {
        // e.g. a gzip body that does not inflate
        return new InputError(
          `body: could not be read (${String(error.message).slice(0, 200)})`,
        );
      }
      return error;
    }
  }
}

function parse<T extends z.ZodTypeAny>(
  schema: T,
  input: unknown,
  where: string,
): z.infer<T> {
  const result = schema.safeParse(input ?? {});
  if (!result.success) {
    const lines = formatZodIssues(result.error);
    const more =
      lines.length > 20 ? `; and ${lines.length - 20} more problems` : '';
    throw new InputError(
      `invalid ${where}: ${lines.slice(0, 20).join('; ')}${more}`,
    );
  }
  return result.data;
}

/** HTTP only: parse, authorize, call the services, answer. */
export async function createRouter(
  options: RouterOptions,
): Promise<express.Router> {
  const {
    store,
    actions,
    entities,
    policies,
    judge,
    auth,
    httpAuth,
    permissions,
    auditor,
  } = options;
  const router = Router();
  // A POST body must be JSON: anything else would reach the handlers as `{}`
  // and be answered with a confusing list of missing fields.
  router.use((req, _res, next) => {
    const length = req.headers['content-length'];
    const hasBody =
      req.headers['transfer-encoding'] !== undefined ||
      (length !== undefined && length !== '0');
    if (req.method === 'POST' && hasBody && !req.is('application/json')) {
      const type = req.headers['content-type'];
      throw new UnsupportedMediaTypeError(
        `body: must be JSON with Content-Type: application/json (got ${type ? quote(type) : 'no Content-Type'})`,
      );
    }
    next();
  });
  // A query string that does not percent-decode would reach the handlers
  // still encoded (the query parser gives up silently): refuse it.
  router.use((req, _res, next) => {
    const at = req.originalUrl.indexOf('?');
    if (at < 0 || req.path === '/health') {
      next();
      return;
    }
    for (const part of req.originalUrl.slice(at + 1).split('&')) {
      const eq = part.indexOf('=');
      const rawKey = eq < 0 ? part : part.slice(0, eq);
      const key = decodeQueryPart(rawKey);
      if (key === undefined) {
        throw new InputError(
          `invalid query: ${quote(rawKey)}: the parameter name is not valid percent-encoded UTF-8`,
        );
      }
      if (eq >= 0 && decodeQueryPart(part.slice(eq + 1)) === undefined) {
        throw new InputError(
          `invalid query: ${key.replace(/\[.*$/, '')}: is not valid percent-encoded UTF-8`,
        );
      }
    }
    next();
  });
  router.use(express.json({ limit: BODY_LIMIT_BYTES }));
  router.use(
    (
      error: unknown,
      _req: express.Request,
      _res: express.Response,
      next: express.NextFunction,
    ) => {
      next(bodyError(error));
    },
  );

  async function allowedEntityRefs(
    credentials: BackstageCredentials,
    refs: string[],
  ): Promise<Set<string>> {
    const unique = [...new Set(refs)];
    if (unique.length === 0) return new Set();
    const decisions = await permissions.authorize(
      unique.map(resourceRef => ({
        permission: rolloutReadPermission,
        resourceRef,
      })),
      { credentials },
    );
    return new Set(
      unique.filter((_, i) => decisions[i].result === AuthorizeResult.ALLOW),
    );
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

  function namedPolicy(name: string) {
    try {
      return policies.named(name);
    } catch (e) {
      if (e instanceof NotFoundError || e instanceof InputError)
        throw new InputError(`policy: ${e.message}`);
      throw e;
    }
  }

  router.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/v1/rollouts', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
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
    const allowed = await allowedEntityRefs(
      credentials,
      rows.map(r => r.entityRef),
    );
    res.json({
      items: rows.filter(r => allowed.has(r.entityRef)).map(publicRollout),
    });
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
      // A policy the caller names must exist; the entity's own policy may be
      // broken or unreadable: the rollout registers and the gate loop holds it, saying why.
      const policy = body.policy
        ? namedPolicy(body.policy)
        : await policies
            .forAnnotations((await entities.byRef(body.entityRef))?.annotations)
            .catch(() => undefined);
      const steps = body.steps ??
        policy?.steps ?? [
          { weight: 1 },
          { weight: 5 },
          { weight: 25 },
          { weight: 100 },
        ];
      const now = new Date().toISOString();
      const { rollout, created } = await store.upsertDiscovered({
        id: randomUUID(),
        entityRef: body.entityRef,
        provider: body.provider,
        target: body.target,
        externalId: registeredExternalId(body),
        version: body.version,
        previousVersion: body.previousVersion,
        status: 'pending',
        steps,
        currentStepIndex: 0,
        currentWeight: 0,
        startedAt: now,
        stepStartedAt: now,
        policyName: policy?.name,
        policyHash: policy?.hash,
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
          policyHash: policy?.hash ?? null,
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
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const id = rolloutIdParam(req);
    const rollout = await store.getRollout(id);
    if (!rollout) throw new NotFoundError(`id: no rollout with id ${id}`);
    await requirePermission(
      credentials,
      rolloutReadPermission,
      rollout.entityRef,
    );
    const entity = await entities.byRef(rollout.entityRef);
    const detail: RolloutDetail = {
      ...publicRollout(rollout),
      evidence: rollout.evidence,
      runbookUrl: entity?.annotations[RUNBOOK_ANNOTATION],
    };
    res.json(detail);
  });

  router.get('/v1/rollouts/:id/decisions', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const id = rolloutIdParam(req);
    const query = parse(listDecisionsQuerySchema, req.query, 'query');
    const rollout = await store.getRollout(id);
    if (!rollout) throw new NotFoundError(`id: no rollout with id ${id}`);
    await requirePermission(
      credentials,
      rolloutReadPermission,
      rollout.entityRef,
    );
    res.json(
      await store.listDecisions({
        rolloutId: rollout.id,
        limit: query.limit,
        before: query.before,
      }),
    );
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
    const result =
      body.yaml !== undefined
        ? validatePolicyYaml(body.yaml)
        : validatePolicyObject(body.policy);
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
    // Authenticate first: this path is open at the HTTP router, so nothing
    // else is looked at for a caller without a service token.
    const credentials = await flaggerCredentials(req);
    const hook = req.params.hook as FlaggerHook;
    if (!FLAGGER_HOOKS.includes(hook)) {
      throw new InputError(
        `hook: must be one of ${FLAGGER_HOOKS.join(', ')}, got ${quote(hook)}`,
      );
    }
    const payload = parse(flaggerWebhookPayloadSchema, req.body, 'body');
    await requirePermission(credentials, rolloutJudgePermission);
    if (payload.metadata) delete payload.metadata.token;
    const reply = await judge.flagger(hook, payload, actorOf(credentials));
    res.status(reply.status).json(reply.body);
  });

  async function flaggerCredentials(
    req: express.Request,
  ): Promise<BackstageCredentials> {
    if (req.headers.authorization) {
      return httpAuth.credentials(req, { allow: ['service'] });
    }
    const token = (req.body as any)?.metadata?.token;
    if (typeof token !== 'string' || !token) {
      throw new AuthenticationError(
        "metadata.token: a Backstage service token is required; set it in the Canary webhook's metadata (Flagger sends no headers)",
      );
    }
    let credentials: BackstageCredentials;
    try {
      credentials = await auth.authenticate(token);
    } catch {
      throw new AuthenticationError(
        'metadata.token: not a valid Backstage token',
      );
    }
    if (!auth.isPrincipal(credentials, 'service')) {
      throw new AuthenticationError(
        'metadata.token: only service tokens (backend.auth.externalAccess) may call the Flagger webhooks',
      );
    }
    return credentials;
  }

  const summaryJson = new WeakMap<object, string>();
  router.get('/v1/summary', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const query = parse(summaryQuerySchema, req.query, 'query');
    let refs = (await entities.all())
      .filter(e => !query.owner || e.owner === query.owner)
      .filter(e => !query.system || e.system === query.system)
      .map(e => e.entityRef);
    const allowed = await allowedEntityRefs(credentials, refs);
    refs = refs.filter(r => allowed.has(r));
    // computeSummary hands back the same object while its cache holds, so
    // its JSON text is kept with it: a dashboard full of managers costs one
    // serialisation per change, not one per request.
    const summary = await computeSummary(store, {
      days: query.days ?? 30,
      entityRefs: refs,
    });
    let text = summaryJson.get(summary);
    if (text === undefined) {
      text = JSON.stringify(summary);
      summaryJson.set(summary, text);
    }
    res.type('application/json').send(text);
  });

  // Under /api/rollouts, a path no route serves is a 404 that says so.
  router.use((req, _res, next) => {
    if (req.method === 'OPTIONS') {
      next();
      return;
    }
    throw new NotFoundError(
      `path: no route for ${req.method} ${quote(req.path)}`,
    );
  });

  // Express could not percent-decode a path parameter.
  router.use(
    (
      error: any,
      req: express.Request,
      _res: express.Response,
      next: express.NextFunction,
    ) => {
      if (
        error?.status === 400 &&
        typeof error.message === 'string' &&
        error.message.startsWith('Failed to decode param')
      ) {
        next(
          new InputError(
            `path: ${quote(req.path)} is not valid percent-encoded UTF-8`,
          ),
        );
        return;
      }
      next(error);
    },
  );

  // Anything else (a database error, a bug) is logged in full and answers a
  // plain 500 naming a reference in that log: no SQL, table names or stack.
  router.use(
    (
      error: any,
      req: express.Request,
      _res: express.Response,
      next: express.NextFunction,
    ) => {
      if (
        CALLER_ERRORS.has(error?.name) ||
        (typeof error?.statusCode === 'number' && error.statusCode < 500)
      ) {
        next(error);
        return;
      }
      const ref = randomUUID().slice(0, 8);
      options.logger?.error(
        `rollouts: ${req.method} ${req.path} failed (ref ${ref}): ${error?.message ?? error}`,
        error instanceof Error ? error : undefined,
      );
      next(
        new Error(
          `internal error (ref ${ref}); the backend log has the details`,
        ),
      );
    },
  );

  return router;
}
