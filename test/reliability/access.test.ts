/**
 * Access: every route of the rollouts API against every kind of caller.
 *
 * - Without valid credentials (no header, the "none" token, an invalid or
 *   garbled token, a token issued for another plugin, a cookie): 401 on
 *   every route but `/health`. The Flagger webhook path is open at the HTTP
 *   router (Flagger sends no headers) and answers 401 itself unless a
 *   service token comes in the header or in `metadata.token`.
 * - A user without the permission gets a 403 naming it, and every refused
 *   action is an auditor event that failed.
 * - Service-only routes (register, judge, Flagger) refuse user credentials;
 *   a service gets only what the permission policy grants it.
 * - Nothing is written by a refused request.
 */
import {
  BLOCKED,
  CI_SERVICE,
  decisionLog,
  headers,
  OWNER,
  PAYMENTS_OWNER,
  READONLY_SERVICE,
  registerRollout,
  rolloutIds,
  startReliabilityBackend,
  STRANGER,
  type RawRequest,
  type ReliabilityBackend,
} from './support/backend';
import { mockCredentials } from '@backstage/backend-test-utils';

const ACTIONS = ['promote', 'pause', 'resume', 'approve', 'rollback'] as const;
const HOOKS = [
  'confirm-rollout',
  'pre-rollout',
  'rollout',
  'confirm-traffic-increase',
  'confirm-promotion',
  'rollback',
  'post-rollout',
] as const;
const PERMISSION_OF: Record<(typeof ACTIONS)[number], string> = {
  promote: 'rollouts.rollout.promote',
  pause: 'rollouts.rollout.promote',
  resume: 'rollouts.rollout.promote',
  approve: 'rollouts.rollout.approve',
  rollback: 'rollouts.rollout.rollback',
};

/** One concrete, well-formed request per route (and per action and hook). */
interface Endpoint {
  route: string;
  label: string;
  build(auth: Record<string, string>, ctx: Ctx): RawRequest;
}

interface Ctx {
  checkoutId: string;
  paymentsId: string;
  key(): string;
}

const json = (auth: Record<string, string>, body: unknown) => ({
  headers: { ...auth, 'Content-Type': 'application/json' },
  body: JSON.stringify(body),
});

const flaggerPayload = (token?: string) => ({
  name: 'podinfo',
  namespace: 'test',
  phase: 'Progressing',
  checksum: 'c0ffee',
  ...(token ? { metadata: { token } } : {}),
});

const ENDPOINTS: Endpoint[] = [
  {
    route: 'GET /health',
    label: 'GET /health',
    build: auth => ({ method: 'GET', path: '/health', headers: auth }),
  },
  {
    route: 'GET /v1/rollouts',
    label: 'GET /v1/rollouts',
    build: auth => ({ method: 'GET', path: '/v1/rollouts', headers: auth }),
  },
  {
    route: 'POST /v1/rollouts',
    label: 'POST /v1/rollouts',
    build: (auth, ctx) => ({
      method: 'POST',
      path: '/v1/rollouts',
      ...json(auth, {
        entityRef: 'component:default/payments',
        provider: 'fake',
        target: 'shop/payments',
        version: `access-${ctx.key()}`,
      }),
    }),
  },
  {
    route: 'GET /v1/rollouts/:id',
    label: 'GET /v1/rollouts/:id',
    build: (auth, ctx) => ({
      method: 'GET',
      path: `/v1/rollouts/${ctx.checkoutId}`,
      headers: auth,
    }),
  },
  {
    route: 'GET /v1/rollouts/:id/decisions',
    label: 'GET /v1/rollouts/:id/decisions',
    build: (auth, ctx) => ({
      method: 'GET',
      path: `/v1/rollouts/${ctx.checkoutId}/decisions`,
      headers: auth,
    }),
  },
  {
    route: 'GET /v1/rollouts/:id/shadow',
    label: 'GET /v1/rollouts/:id/shadow',
    build: (auth, ctx) => ({
      method: 'GET',
      path: `/v1/rollouts/${ctx.checkoutId}/shadow`,
      headers: auth,
    }),
  },
  {
    route: 'GET /v1/rollouts/:id/decisions/:seq/evidence',
    label: 'GET /v1/rollouts/:id/decisions/:seq/evidence',
    build: (auth, ctx) => ({
      method: 'GET',
      path: `/v1/rollouts/${ctx.checkoutId}/decisions/1/evidence`,
      headers: auth,
    }),
  },
  ...ACTIONS.map(action => ({
    route: 'POST /v1/rollouts/:id/actions/:action',
    label: `POST /v1/rollouts/:id/actions/${action}`,
    build: (auth: Record<string, string>, ctx: Ctx) => ({
      method: 'POST',
      path: `/v1/rollouts/${ctx.checkoutId}/actions/${action}`,
      ...json(auth, {
        reason: `access check: ${action}`,
        idempotencyKey: `access-${ctx.key()}`,
      }),
    }),
  })),
  {
    route: 'POST /v1/policies/validate',
    label: 'POST /v1/policies/validate',
    build: auth => ({
      method: 'POST',
      path: '/v1/policies/validate',
      ...json(auth, { yaml: 'slo:\n  availability: 0.99\n' }),
    }),
  },
  {
    route: 'GET /v1/decisions/verify',
    label: 'GET /v1/decisions/verify',
    build: auth => ({
      method: 'GET',
      path: '/v1/decisions/verify',
      headers: auth,
    }),
  },
  {
    route: 'GET /v1/decisions/export',
    label: 'GET /v1/decisions/export',
    build: auth => ({
      method: 'GET',
      path: '/v1/decisions/export?limit=10',
      headers: auth,
    }),
  },
  {
    route: 'GET /v1/decisions/checkpoint-key',
    label: 'GET /v1/decisions/checkpoint-key',
    build: auth => ({
      method: 'GET',
      path: '/v1/decisions/checkpoint-key',
      headers: auth,
    }),
  },
  {
    route: 'GET /v1/summary',
    label: 'GET /v1/summary',
    build: auth => ({
      method: 'GET',
      path: '/v1/summary?days=7',
      headers: auth,
    }),
  },
  {
    route: 'GET /v1/summary/services',
    label: 'GET /v1/summary/services',
    build: auth => ({
      method: 'GET',
      path: '/v1/summary/services?days=7&sort=budgetSpent&limit=5',
      headers: auth,
    }),
  },
  {
    route: 'GET /v1/shadow',
    label: 'GET /v1/shadow',
    build: auth => ({
      method: 'GET',
      path: '/v1/shadow?days=7',
      headers: auth,
    }),
  },
  {
    route: 'POST /v1/policies/whatif',
    label: 'POST /v1/policies/whatif',
    build: auth => ({
      method: 'POST',
      path: '/v1/policies/whatif',
      ...json(auth, {
        yaml: 'slo:\n  availability: 0.99\n',
        selection: { limit: 5 },
      }),
    }),
  },
  {
    route: 'POST /v1/judge',
    label: 'POST /v1/judge',
    build: (auth, ctx) => ({
      method: 'POST',
      path: '/v1/judge',
      ...json(auth, {
        target: 'shop/cart',
        version: `access-${ctx.key()}`,
        weight: 10,
      }),
    }),
  },
  {
    route: 'GET /v1/judge',
    label: 'GET /v1/judge',
    build: (auth, ctx) => ({
      method: 'GET',
      path: `/v1/judge?target=shop%2Fcart&version=access-${ctx.key()}&weight=10`,
      headers: auth,
    }),
  },
  ...HOOKS.map(hook => ({
    route: 'POST /v1/webhooks/flagger/:hook',
    label: `POST /v1/webhooks/flagger/${hook}`,
    build: (auth: Record<string, string>) => ({
      method: 'POST',
      path: `/v1/webhooks/flagger/${hook}`,
      ...json(auth, flaggerPayload()),
    }),
  })),
];

const ROUTES = [...new Set(ENDPOINTS.map(e => e.route))];

/** Callers without valid credentials. */
const ANONYMOUS: Array<{ who: string; auth: Record<string, string> }> = [
  { who: 'no Authorization header', auth: {} },
  {
    who: 'the "none" token',
    auth: { Authorization: mockCredentials.none.header() },
  },
  {
    who: 'an invalid user token',
    auth: { Authorization: headers.invalidUser() },
  },
  {
    who: 'an invalid service token',
    auth: { Authorization: headers.invalidService() },
  },
  {
    who: 'a token for another plugin',
    auth: { Authorization: headers.otherPluginService() },
  },
  {
    who: 'an unknown bearer token',
    auth: { Authorization: "Bearer ' OR '1'='1" },
  },
  { who: 'an empty bearer', auth: { Authorization: 'Bearer ' } },
  {
    who: 'basic credentials',
    auth: { Authorization: 'Basic YWRtaW46YWRtaW4=' },
  },
  {
    who: 'a token with no scheme',
    auth: { Authorization: mockCredentials.user.token(OWNER) },
  },
  {
    who: 'a limited-access cookie only',
    auth: { Cookie: mockCredentials.limitedUser.cookie(OWNER) },
  },
];

/** Callers with valid credentials, and what the permission mock grants them. */
const PRINCIPALS = {
  owner: {
    who: `${OWNER} (owns checkout)`,
    auth: { Authorization: headers.user(OWNER) },
  },
  otherOwner: {
    who: `${PAYMENTS_OWNER} (owns payments, not checkout)`,
    auth: { Authorization: headers.user(PAYMENTS_OWNER) },
  },
  stranger: {
    who: `${STRANGER} (owns nothing)`,
    auth: { Authorization: headers.user(STRANGER) },
  },
  blocked: {
    who: `${BLOCKED} (may not even read)`,
    auth: { Authorization: headers.user(BLOCKED) },
  },
  ci: {
    who: `service ${CI_SERVICE} (register, judge, act)`,
    auth: { Authorization: headers.service() },
  },
  readonly: {
    who: `service ${READONLY_SERVICE} (read only)`,
    auth: { Authorization: headers.serviceAs(READONLY_SERVICE) },
  },
} as const;
type Principal = keyof typeof PRINCIPALS;

const SERVICE_ONLY = [
  'POST /v1/rollouts',
  'POST /v1/judge',
  'GET /v1/judge',
  'POST /v1/webhooks/flagger/:hook',
];

/** What each principal gets on each route, as implemented: 'ok' means it passed authentication and authorization. */
function expected(route: string, p: Principal): 'ok' | 403 {
  const user =
    p === 'owner' || p === 'otherOwner' || p === 'stranger' || p === 'blocked';
  if (user && SERVICE_ONLY.includes(route)) return 403; // "This endpoint does not allow 'user' credentials"
  switch (route) {
    case 'GET /v1/rollouts/:id':
    case 'GET /v1/rollouts/:id/decisions':
    case 'GET /v1/rollouts/:id/shadow':
    case 'GET /v1/rollouts/:id/decisions/:seq/evidence':
      return p === 'blocked' ? 403 : 'ok';
    case 'POST /v1/rollouts/:id/actions/:action':
      return p === 'owner' || p === 'ci' ? 'ok' : 403;
    case 'POST /v1/rollouts':
    case 'POST /v1/judge':
    case 'GET /v1/judge':
    case 'GET /v1/decisions/verify':
    case 'POST /v1/webhooks/flagger/:hook':
      return p === 'ci' ? 'ok' : 403;
    default:
      // health, list, summary and the decision log export (filtered or redacted by read permission), validate, the checkpoint key
      return 'ok';
  }
}

describe('access to every route', () => {
  let b: ReliabilityBackend;
  let ctx: Ctx;
  const counts = {
    anonymous: 0,
    flaggerTokens: 0,
    matrix: 0,
    refusedActions: 0,
    auditedFailures: 0,
  };

  beforeAll(async () => {
    b = await startReliabilityBackend();
    let n = 0;
    ctx = {
      checkoutId: await registerRollout(b, 'checkout', '2.1.0'),
      paymentsId: await registerRollout(b, 'payments', '7.0.0'),
      key: () => `${Date.now().toString(36)}-${++n}`,
    };
  });
  afterAll(async () => {
    await b?.stop();
    console.log(
      `[reliability] access: ${counts.anonymous} anonymous requests over ${ROUTES.length} routes (${ENDPOINTS.length} endpoints × ${ANONYMOUS.length} kinds of missing or bad credentials): ` +
        `open = [/health]; ${counts.flaggerTokens} Flagger calls checked for their token; ${counts.matrix} principal × endpoint checks; ` +
        `${counts.refusedActions} refused actions, ${counts.auditedFailures} failed auditor events`,
    );
  });

  it('answers 401 to a caller without valid credentials everywhere but /health, and writes nothing', async () => {
    const before = {
      log: await decisionLog(b),
      rollouts: await rolloutIds(b),
      calls: b.deploy.calls.length,
    };
    const open = new Set<string>();
    const wrong: string[] = [];
    for (const { who, auth } of ANONYMOUS) {
      for (const endpoint of ENDPOINTS) {
        const res = await b.send(endpoint.build(auth, ctx));
        counts.anonymous++;
        if (res.status !== 401) open.add(endpoint.route);
        if (endpoint.route === 'GET /health') {
          if (res.status !== 200 || res.json?.status !== 'ok')
            wrong.push(
              `${endpoint.label} with ${who}: ${res.status} ${res.text}`,
            );
          continue;
        }
        if (res.status !== 401) {
          wrong.push(
            `${endpoint.label} with ${who}: ${res.status} ${res.text.slice(0, 200)}`,
          );
        } else if (typeof res.json?.error?.message !== 'string') {
          wrong.push(
            `${endpoint.label} with ${who}: a 401 without a JSON error`,
          );
        } else if (
          endpoint.route === 'POST /v1/webhooks/flagger/:hook' &&
          !auth.Authorization &&
          !/^metadata\.token: a Backstage service token is required/.test(
            res.json.error.message,
          )
        ) {
          // the router lets it through; the webhook must say what to send
          wrong.push(
            `${endpoint.label} with ${who}: a 401 without the webhook's token hint: ${res.json.error.message}`,
          );
        }
      }
    }
    expect(wrong).toEqual([]);
    expect([...open]).toEqual(['GET /health']);
    const after = {
      log: await decisionLog(b),
      rollouts: await rolloutIds(b),
      calls: b.deploy.calls.length,
    };
    expect(after).toEqual(before);
    expect(b.auditEvents).toEqual([
      expect.objectContaining({
        eventId: 'rollout-register',
        outcome: 'success',
      }),
      expect.objectContaining({
        eventId: 'rollout-register',
        outcome: 'success',
      }),
      // decision-log-verify events of the two snapshots above
      ...b.auditEvents
        .slice(2)
        .map(() => expect.objectContaining({ eventId: 'decision-log-verify' })),
    ]);
  });

  it('opens the Flagger webhooks at the router but takes only a service token, in the header or in metadata.token', async () => {
    const call = (
      hook: string,
      token: string | undefined,
      auth: Record<string, string> = {},
    ) =>
      b.send({
        method: 'POST',
        path: `/v1/webhooks/flagger/${hook}`,
        ...json(auth, flaggerPayload(token)),
      });
    const results: Array<[string, number, string]> = [];
    for (const hook of HOOKS) {
      const cases: Array<
        [string, string | undefined, Record<string, string>, number, RegExp]
      > = [
        [
          'no token',
          undefined,
          {},
          401,
          /^metadata\.token: a Backstage service token is required/,
        ],
        [
          'an empty metadata.token',
          '',
          {},
          401,
          /^metadata\.token: a Backstage service token is required/,
        ],
        [
          'a user token in metadata.token',
          mockCredentials.user.token(OWNER),
          {},
          401,
          /^metadata\.token: only service tokens/,
        ],
        [
          'a forged metadata.token',
          'forged',
          {},
          401,
          /^metadata\.token: not a valid Backstage token$/,
        ],
        [
          'a malformed mock token in metadata.token',
          'mock-service-token:{',
          {},
          401,
          /^metadata\.token: not a valid Backstage token$/,
        ],
        [
          'a token for another plugin in metadata.token',
          headers.otherPluginService().slice(7),
          {},
          401,
          /^metadata\.token: not a valid Backstage token$/,
        ],
        [
          'a user token in the header',
          undefined,
          { Authorization: headers.user(OWNER) },
          403,
          /does not allow 'user' credentials/,
        ],
        [
          'a read-only service in the header',
          undefined,
          PRINCIPALS.readonly.auth,
          403,
          /rollouts\.judge/,
        ],
        [
          'a read-only service in metadata.token',
          headers.serviceAs(READONLY_SERVICE).slice(7),
          {},
          403,
          /rollouts\.judge/,
        ],
      ];
      for (const [who, token, auth, status, message] of cases) {
        const res = await call(hook, token, auth);
        counts.flaggerTokens++;
        results.push([
          `${hook} with ${who}`,
          res.status,
          res.json?.error?.message ?? res.text,
        ]);
        expect(res.status, `${hook} with ${who}: ${res.text}`).toBe(status);
        expect(res.json.error.message, `${hook} with ${who}`).toMatch(message);
      }
    }
    // A hook that does not exist is still refused first for want of a token.
    const unknownHook = await call('promote-now', undefined);
    expect(unknownHook.status).toBe(401);
    // A service token, in either place, is let in.
    const viaMetadata = await call(
      'pre-rollout',
      mockCredentials.service.token(),
    );
    expect(viaMetadata.status, viaMetadata.text).toBe(200);
    const viaHeader = await call('pre-rollout', undefined, PRINCIPALS.ci.auth);
    expect(viaHeader.status, viaHeader.text).toBe(200);
    counts.flaggerTokens += 3;
  });

  it('refuses an action to a user without the permission with a 403, and audits it as failed', async () => {
    const before = { log: await decisionLog(b), calls: b.deploy.calls.length };
    const events = b.auditEvents.length;
    const permissionCalls = b.permissionCalls.length;
    const attempts: Array<[Principal, string, string]> = [];
    for (const action of ACTIONS) {
      attempts.push(
        ['stranger', action, ctx.checkoutId],
        ['otherOwner', action, ctx.checkoutId],
        ['owner', action, ctx.paymentsId],
        ['readonly', action, ctx.checkoutId],
      );
    }
    for (const [p, action, id] of attempts) {
      const res = await b.send({
        method: 'POST',
        path: `/v1/rollouts/${id}/actions/${action}`,
        ...json(PRINCIPALS[p].auth, {
          reason: 'I think it is broken',
          idempotencyKey: `refused-${ctx.key()}`,
        }),
      });
      const entity =
        id === ctx.checkoutId
          ? 'component:default/checkout'
          : 'component:default/payments';
      expect(res.status, `${p} ${action}: ${res.text}`).toBe(403);
      expect(res.json.error).toEqual({
        name: 'NotAllowedError',
        message: `you lack the ${PERMISSION_OF[action as keyof typeof PERMISSION_OF]} permission on ${entity}`,
      });
      counts.refusedActions++;
    }
    const audited = b.auditEvents.slice(events);
    expect(audited).toHaveLength(attempts.length);
    audited.forEach((event, i) => {
      const [, action, id] = attempts[i];
      expect(event).toMatchObject({
        eventId: 'rollout-action',
        outcome: 'failure',
        severityLevel:
          action === 'rollback' || action === 'promote' ? 'high' : 'medium',
        meta: { action, rolloutId: id, reason: 'I think it is broken' },
      });
      expect(event.error?.name).toBe('NotAllowedError');
    });
    counts.auditedFailures += audited.length;
    // Each refusal asked the permission service about the right permission on the right entity.
    const asked = b.permissionCalls.slice(permissionCalls);
    expect(asked.every(c => c.result === 'DENY')).toBe(true);
    expect(asked.map(c => c.permission)).toEqual(
      attempts.map(
        ([, action]) => PERMISSION_OF[action as keyof typeof PERMISSION_OF],
      ),
    );
    // Nothing moved, nothing was logged.
    expect({ log: await decisionLog(b), calls: b.deploy.calls.length }).toEqual(
      before,
    );

    // A service without the register permission: 403, audited as failed.
    const register = await b.send({
      method: 'POST',
      path: '/v1/rollouts',
      ...json(PRINCIPALS.readonly.auth, {
        entityRef: 'component:default/payments',
        provider: 'fake',
        target: 'shop/payments',
        version: '8.0.0',
      }),
    });
    expect(register.status).toBe(403);
    expect(register.json.error.message).toBe(
      'you lack the rollouts.rollout.register permission',
    );
    expect(b.auditEvents[b.auditEvents.length - 1]).toMatchObject({
      eventId: 'rollout-register',
      outcome: 'failure',
      error: expect.objectContaining({ name: 'NotAllowedError' }),
    });
    counts.auditedFailures++;
  });

  it('gives each principal exactly what it is granted on every route', async () => {
    const wrong: string[] = [];
    const table: string[] = [];
    // Refusals first, so the allowed actions below cannot change what they see.
    const order: Principal[] = [
      'blocked',
      'stranger',
      'otherOwner',
      'readonly',
      'owner',
      'ci',
    ];
    for (const p of order) {
      const row: string[] = [];
      for (const endpoint of ENDPOINTS) {
        const res = await b.send(endpoint.build(PRINCIPALS[p].auth, ctx));
        counts.matrix++;
        const want = expected(endpoint.route, p);
        const got =
          res.status === 401 || res.status === 403 ? res.status : 'ok';
        row.push(`${endpoint.label}=${res.status}`);
        if (got !== want || res.status >= 500) {
          wrong.push(
            `${PRINCIPALS[p].who} on ${endpoint.label}: wanted ${want}, got ${res.status} ${res.text.slice(0, 200)}`,
          );
        }
        if (res.status === 403) {
          const message: string = res.json?.error?.message ?? '';
          const user = p !== 'ci' && p !== 'readonly';
          const said =
            user && SERVICE_ONLY.includes(endpoint.route)
              ? message === "This endpoint does not allow 'user' credentials"
              : /^you lack the rollouts\.[a-z.]+ permission/.test(message);
          if (!said)
            wrong.push(
              `${PRINCIPALS[p].who} on ${endpoint.label}: a 403 saying ${JSON.stringify(message)}`,
            );
        }
      }
      table.push(`${p}: ${row.join(' ')}`);
    }
    expect(wrong).toEqual([]);

    // What read permission filters rather than refuses.
    const blockedList = await b.send(
      ENDPOINTS[1].build(PRINCIPALS.blocked.auth, ctx),
    );
    expect(blockedList.json.items).toEqual([]);
    const strangerList = await b.send(
      ENDPOINTS[1].build(PRINCIPALS.stranger.auth, ctx),
    );
    expect(strangerList.json.items.length).toBeGreaterThan(0);
    const blockedSummary = await b.send({
      method: 'GET',
      path: '/v1/summary?days=30',
      headers: PRINCIPALS.blocked.auth,
    });
    expect(blockedSummary.status).toBe(200);
    expect(JSON.stringify(blockedSummary.json)).not.toContain(
      'component:default/checkout',
    );
    // the summary's service rows are paged over readable services only
    const serviceRows = (who: Principal) =>
      b.send({
        method: 'GET',
        path: '/v1/summary/services?days=30&q=checkout',
        headers: PRINCIPALS[who].auth,
      });
    expect((await serviceRows('blocked')).json).toMatchObject({
      items: [],
      total: 0,
    });
    expect(
      (await serviceRows('owner')).json.items.map((s: any) => s.entityRef),
    ).toContain('component:default/checkout');
    // what-if replays only what the caller may read: checkout's rollout is not listed for blocked
    const replay = (who: Principal) =>
      b.send(
        ENDPOINTS.find(e => e.route === 'POST /v1/policies/whatif')!.build(
          PRINCIPALS[who].auth,
          ctx,
        ),
      );
    const blockedReplay = await replay('blocked');
    expect(blockedReplay.status).toBe(200);
    expect(JSON.stringify(blockedReplay.json)).not.toContain(
      'component:default/checkout',
    );
    expect(JSON.stringify((await replay('owner')).json)).toContain(
      'component:default/checkout',
    );
    console.log(
      `[reliability] access: status per principal and endpoint:\n  ${table.join('\n  ')}`,
    );
  });
});
