import type {
  AuditorService,
  AuthService,
  BackstageCredentials,
  HttpAuthService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { AuthenticationError, InputError } from '@backstage/errors';
import {
  FLAGGER_HOOKS,
  flaggerWebhookPayloadSchema,
  judgeQuerySchema,
  rolloutJudgePermission,
  type FlaggerHook,
  type JudgeQuery,
} from '@tollgate/plugin-rollouts-common';
import type express from 'express';
import { actorOf, requirePermission } from '../actions/rolloutAction';
import type { JudgeAnswer, JudgeService } from '../judge/JudgeService';
import { auditMachineCall, type MachineCallAudit } from './audit';
import { parse, quote } from './errors';

/** Flagger cannot send headers: its webhooks carry the token in `metadata.token`, so this path checks it itself. */
export const FLAGGER_WEBHOOK_PATH = '/v1/webhooks/flagger';

export interface JudgeRoutesOptions {
  judge: JudgeService;
  auth: AuthService;
  httpAuth: HttpAuthService;
  permissions: PermissionsService;
  auditor: AuditorService;
}

/** The service principal's subject (the external access token's `subject`). */
function subjectOf(credentials: BackstageCredentials): string {
  return (credentials.principal as { subject?: string }).subject ?? 'unknown';
}

/**
 * The routes external controllers call: Argo Rollouts' `web` metric
 * provider (`POST /v1/judge`, which may register and log; `GET /v1/judge`
 * only reads) and Flagger's webhooks. Every call after authentication is
 * a low-severity auditor event (`judge`, `judge-read`, `flagger-webhook`),
 * a refused one too.
 */
export function judgeRoutes(router: express.Router, o: JudgeRoutesOptions) {
  const { judge, auth, httpAuth, permissions, auditor } = o;

  // Argo Rollouts' `web` metric provider asks here: `method: POST`, a JSON
  // body and service credentials in the Authorization header. It registers
  // a revision on first sight, retires older ones and logs the verdict.
  router.post('/v1/judge', async (req, res) => {
    const credentials = await httpAuth.credentials(req, { allow: ['service'] });
    const body = parse(judgeQuerySchema, req.body, 'body');
    const answer = await auditMachineCall(
      auditor,
      judgeAudit(req, credentials, 'judge', body),
      async () => {
        await requireJudge(credentials, body.provider, body.target);
        return judge.argo(body, actorOf(credentials));
      },
    );
    res.json(answer);
  });

  // The verdict a revision was last given. Reads only: it registers,
  // evaluates and logs nothing.
  router.get('/v1/judge', async (req, res) => {
    const credentials = await httpAuth.credentials(req, { allow: ['service'] });
    const query = parse(judgeQuerySchema, req.query, 'query');
    const answer = await auditMachineCall(
      auditor,
      judgeAudit(req, credentials, 'judge-read', query),
      async () => {
        await requireJudge(credentials, query.provider, query.target);
        return judge.read(query);
      },
    );
    res.json(answer);
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
    if (payload.metadata) delete payload.metadata.token;
    const target = `${payload.namespace}/${payload.name}`;
    const reply = await auditMachineCall(
      auditor,
      {
        eventId: 'flagger-webhook',
        request: req,
        meta: {
          hook,
          provider: 'flagger',
          target,
          version: payload.checksum || 'current',
          subject: subjectOf(credentials),
        },
        outcome: r => ({
          status: r.status,
          ...(r.body.answer
            ? {
                rolloutId: r.body.answer.rolloutId,
                verdict: r.body.answer.verdict,
              }
            : {}),
        }),
      },
      async () => {
        await requireJudge(credentials, 'flagger', target);
        return judge.flagger(hook, payload, actorOf(credentials));
      },
    );
    res.status(reply.status).json(reply.body);
  });

  function judgeAudit(
    req: express.Request,
    credentials: BackstageCredentials,
    eventId: string,
    q: JudgeQuery,
  ): MachineCallAudit<JudgeAnswer> {
    return {
      eventId,
      request: req,
      meta: {
        provider: q.provider,
        target: q.target,
        version: q.version,
        ...(q.weight !== undefined ? { weight: q.weight } : {}),
        subject: subjectOf(credentials),
      },
      outcome: a => ({
        rolloutId: a.rolloutId,
        verdict: a.verdict,
        cached: a.cached,
      }),
    };
  }

  /** `rollouts.judge` on the catalog entity that claims the target (404 when none does). */
  async function requireJudge(
    credentials: BackstageCredentials,
    provider: string,
    target: string,
  ) {
    const entity = await judge.entityFor(provider, target);
    await requirePermission(
      permissions,
      credentials,
      rolloutJudgePermission,
      entity.entityRef,
    );
  }

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
}
