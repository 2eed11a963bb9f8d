import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import {
  FakeDeployProvider,
  FakeTelemetryProvider,
  fakeProvidersModule,
  rolloutsPermissionsMock,
  catalogComponent,
} from '@tollgate/plugin-rollouts-node/testUtils';
import knexFactory from 'knex';
import request from 'supertest';
import { rolloutsPlugin } from './plugin';

const OWNER = 'user:default/priya';
const STRANGER = 'user:default/mallory';

const component = (name: string, target: string, owner: string) =>
  catalogComponent(name, {
    rollouts: `fake:${target}`,
    owner,
    annotations: { 'tollgate.dev/runbook': `https://runbooks.example/${name}` },
  });

async function startBackend(extra: any[] = []) {
  const deploy = new FakeDeployProvider('fake');
  deploy.add({
    target: 'shop/checkout',
    version: '2.1.0',
    previousVersion: '2.0.9',
  });
  const telemetry = new FakeTelemetryProvider('fake', () => []);
  const auditor = mockServices.auditor.mock();
  const fakeModule = fakeProvidersModule({
    deploy: [deploy],
    telemetry: [telemetry],
  });
  // Owners of component:default/checkout may act; everyone may read.
  const permissions = rolloutsPermissionsMock(
    q =>
      q.permission === 'rollouts.rollout.read' ||
      (q.resourceRef === 'component:default/checkout' &&
        q.userEntityRef === OWNER) ||
      q.principalType === 'service',
  );
  const { server } = await startTestBackend({
    features: [
      rolloutsPlugin,
      fakeModule,
      catalogServiceMock.factory({
        entities: [
          component('checkout', 'shop/checkout', 'group:default/team-checkout'),
        ],
      }),
      permissions.factory,
      auditor.factory,
      mockServices.rootConfig.factory({
        data: { rollouts: { schedule: { frequencySeconds: 3600 } } },
      }),
      ...extra,
    ],
  });
  return { server, deploy, auditor };
}

describe('rollouts backend over HTTP', () => {
  it('opens /health alone and rejects anonymous requests elsewhere', async () => {
    const { server } = await startBackend();
    await request(server)
      .get('/api/rollouts/health')
      .expect(200, { status: 'ok' });
    await request(server)
      .get('/api/rollouts/v1/rollouts')
      .set('Authorization', mockCredentials.none.header())
      .expect(401);
  });

  it("registers a rollout from CI, lists it, and takes an owner's rollback once per idempotency key", async () => {
    const { server, deploy, auditor } = await startBackend();
    const registered = await request(server)
      .post('/api/rollouts/v1/rollouts')
      .set('Authorization', mockCredentials.service.header())
      .send({
        entityRef: 'component:default/checkout',
        provider: 'fake',
        target: 'shop/checkout',
        version: '2.1.0',
      })
      .expect(201);
    expect(registered.body).toMatchObject({
      status: 'pending',
      entityRef: 'component:default/checkout',
    });
    const id = registered.body.id;

    const list = await request(server)
      .get('/api/rollouts/v1/rollouts?entityRef=component:default/checkout')
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(200);
    expect(list.body.items.map((r: any) => r.version)).toEqual(['2.1.0']);

    const detail = await request(server)
      .get(`/api/rollouts/v1/rollouts/${id}`)
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(200);
    expect(detail.body.runbookUrl).toBe('https://runbooks.example/checkout');

    const body = {
      reason: 'error rate doubled on canary',
      idempotencyKey: 'rollback-0001',
    };
    const [first, second] = await Promise.all([
      request(server)
        .post(`/api/rollouts/v1/rollouts/${id}/actions/rollback`)
        .set('Authorization', mockCredentials.user.header(OWNER))
        .send(body),
      request(server)
        .post(`/api/rollouts/v1/rollouts/${id}/actions/rollback`)
        .set('Authorization', mockCredentials.user.header(OWNER))
        .send(body),
    ]);
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(first.body.rollout.status).toBe('rolled-back');
    expect(second.body.rollout.status).toBe('rolled-back');
    expect(deploy.calls.filter(c => c.method === 'rollback')).toHaveLength(1);

    const decisions = await request(server)
      .get(`/api/rollouts/v1/rollouts/${id}/decisions`)
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(200);
    const rollback = decisions.body.items.find(
      (d: any) => d.verdict === 'rollback',
    );
    expect(rollback).toMatchObject({
      actor: OWNER,
      kind: 'manual',
      outcome: 'applied',
    });
    expect(rollback.reasons.join(' ')).toContain(
      'error rate doubled on canary',
    );

    // The post-rollout report: Markdown from the log, as a download.
    const report = await request(server)
      .get(`/api/rollouts/v1/rollouts/${id}/report`)
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(200);
    expect(report.headers['content-type']).toContain('text/markdown');
    expect(report.headers['content-disposition']).toContain(
      'rollout-shop-checkout-2.1.0.md',
    );
    expect(report.text).toContain(
      '# Rollout report: component:default/checkout 2.1.0',
    );
    expect(report.text).toContain(
      '| user:default/priya | rollback | 1 | applied | reason given: error rate doubled on canary |',
    );
    await request(server)
      .get(
        '/api/rollouts/v1/rollouts/00000000-0000-4000-8000-000000000000/report',
      )
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(404);

    // Verifying reads the whole log: its own permission, which this policy gives services only.
    const refused = await request(server)
      .get('/api/rollouts/v1/decisions/verify')
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(403);
    expect(refused.body.error.message).toContain('rollouts.decisions.verify');
    // Services may; callers asking at once all get the result.
    const verified = await Promise.all(
      [1, 2, 3].map(() =>
        request(server)
          .get('/api/rollouts/v1/decisions/verify')
          .set('Authorization', mockCredentials.service.header()),
      ),
    );
    expect(verified.map(v => [v.status, v.body])).toEqual(
      [1, 2, 3].map(() => [200, { ok: true, checked: 2 }]),
    );
    expect(auditor.createEvent).toHaveBeenCalledWith(
      expect.objectContaining({ eventId: 'rollout-action' }),
    );
  });

  it('answers a decision page or summary the client already has with 304, and the new page after an append', async () => {
    const { server } = await startBackend();
    const { body: registered } = await request(server)
      .post('/api/rollouts/v1/rollouts')
      .set('Authorization', mockCredentials.service.header())
      .send({
        entityRef: 'component:default/checkout',
        provider: 'fake',
        target: 'shop/checkout',
        version: '2.1.0',
      })
      .expect(201);
    const auth = mockCredentials.user.header(OWNER);
    const path = `/api/rollouts/v1/rollouts/${registered.id}/decisions`;
    const first = await request(server)
      .get(path)
      .set('Authorization', auth)
      .expect(200);
    expect(first.body.items.map((d: any) => d.verdict)).toEqual(['register']);
    await request(server)
      .get(path)
      .set('Authorization', auth)
      .set('If-None-Match', first.headers.etag)
      .expect(304);
    await request(server)
      .post(`/api/rollouts/v1/rollouts/${registered.id}/actions/pause`)
      .set('Authorization', auth)
      .send({ reason: 'looking at it', idempotencyKey: 'pause-0001' });
    const after = await request(server)
      .get(path)
      .set('Authorization', auth)
      .set('If-None-Match', first.headers.etag)
      .expect(200);
    expect(after.body.items.length).toBeGreaterThan(1);
    expect(after.headers.etag).not.toBe(first.headers.etag);

    const summary = await request(server)
      .get('/api/rollouts/v1/summary?days=30')
      .set('Authorization', auth)
      .expect(200);
    await request(server)
      .get('/api/rollouts/v1/summary?days=30')
      .set('Authorization', auth)
      .set('If-None-Match', summary.headers.etag)
      .expect(304);
  });

  it("answers an unexpected failure with a 500 naming a log reference, never the database's words", async () => {
    const knex = knexFactory({
      client: 'better-sqlite3',
      connection: ':memory:',
      useNullAsDefault: true,
    });
    const logger = mockServices.logger.mock();
    const { server } = await startBackend([
      mockServices.database.factory({ knex }),
      logger.factory,
    ]);
    await knex.destroy(); // every query fails from now on
    const res = await request(server)
      .get('/api/rollouts/v1/rollouts')
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(500);
    expect(res.body.error.message).toMatch(
      /^internal error \(ref [0-9a-f]{8}\); the backend log has the details$/,
    );
    const ref = res.body.error.message.match(/ref ([0-9a-f]{8})/)[1];
    expect(JSON.stringify(res.body)).not.toMatch(
      /select|rollouts\b.*from|pool|knex|sqlite/i,
    );
    // The log has the reference and what really happened.
    const logged = logger.error.mock.calls.find((c: unknown[]) =>
      String(c[0]).includes(ref),
    );
    expect(String(logged?.[0])).toMatch(/GET \/v1\/rollouts failed/);
    // A caller's mistake still names the field.
    const bad = await request(server)
      .get('/api/rollouts/v1/rollouts?limit=zero')
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(400);
    expect(bad.body.error.message).toMatch(/limit/);
  });

  it('answers 403 to a non-owner and records an auditor event that failed', async () => {
    const { server, deploy, auditor } = await startBackend();
    const { body: rollout } = await request(server)
      .post('/api/rollouts/v1/rollouts')
      .set('Authorization', mockCredentials.service.header())
      .send({
        entityRef: 'component:default/checkout',
        provider: 'fake',
        target: 'shop/checkout',
        version: '2.1.0',
      });
    const failed = vi.fn(async () => {});
    auditor.createEvent.mockImplementation(async () => ({
      success: async () => {},
      fail: failed,
    }));
    const res = await request(server)
      .post(`/api/rollouts/v1/rollouts/${rollout.id}/actions/rollback`)
      .set('Authorization', mockCredentials.user.header(STRANGER))
      .send({ reason: 'I think it is broken', idempotencyKey: 'stranger-0001' })
      .expect(403);
    expect(res.body.error.message).toMatch(/rollouts\.rollout\.rollback/);
    expect(failed).toHaveBeenCalled();
    expect(deploy.calls).toHaveLength(0);
  });

  it('rejects bad bodies with a 400 that names the field, and writes nothing', async () => {
    const { server } = await startBackend();
    const { body: rollout } = await request(server)
      .post('/api/rollouts/v1/rollouts')
      .set('Authorization', mockCredentials.service.header())
      .send({
        entityRef: 'component:default/checkout',
        provider: 'fake',
        target: 'shop/checkout',
        version: '2.1.0',
      });
    const missingReason = await request(server)
      .post(`/api/rollouts/v1/rollouts/${rollout.id}/actions/rollback`)
      .set('Authorization', mockCredentials.user.header(OWNER))
      .send({ idempotencyKey: 'abcdefgh-1' })
      .expect(400);
    expect(missingReason.body.error.message).toMatch(/reason/);
    const badStep = await request(server)
      .post('/api/rollouts/v1/rollouts')
      .set('Authorization', mockCredentials.service.header())
      .send({
        entityRef: 'component:default/checkout',
        provider: 'fake',
        target: 'x',
        version: '1',
        steps: [{ weight: 5 }, { weight: 150 }],
      })
      .expect(400);
    expect(badStep.body.error.message).toMatch(/steps\[1\]\.weight/);
    const badAction = await request(server)
      .post(`/api/rollouts/v1/rollouts/${rollout.id}/actions/explode`)
      .set('Authorization', mockCredentials.user.header(OWNER))
      .send({ reason: 'x', idempotencyKey: 'abcdefgh-2' })
      .expect(400);
    expect(badAction.body.error.message).toMatch(/action/);
    const validate = await request(server)
      .post('/api/rollouts/v1/policies/validate')
      .set('Authorization', mockCredentials.user.header(OWNER))
      .send({
        yaml: 'slo:\n  availability: 1.5\nkpis:\n  - name: conversion\n    type: ratio\n    direction: increase\n',
      })
      .expect(200);
    expect(validate.body.valid).toBe(false);
    expect(validate.body.problems.map((p: any) => p.path)).toEqual(
      expect.arrayContaining(['slo.availability', 'kpis[0].type']),
    );
    const decisions = await request(server)
      .get(`/api/rollouts/v1/rollouts/${rollout.id}/decisions`)
      .set('Authorization', mockCredentials.user.header(OWNER));
    expect(decisions.body.items.map((d: any) => d.verdict)).toEqual([
      'register',
    ]);
  });

  it('says so when the deploy system fails a rollback, and records it as failed', async () => {
    const { server, deploy } = await startBackend();
    const { body: rollout } = await request(server)
      .post('/api/rollouts/v1/rollouts')
      .set('Authorization', mockCredentials.service.header())
      .send({
        entityRef: 'component:default/checkout',
        provider: 'fake',
        target: 'shop/checkout',
        version: '2.1.0',
      });
    deploy.failWith = new Error(
      'connect ECONNREFUSED kubernetes.default.svc:443',
    );
    const res = await request(server)
      .post(`/api/rollouts/v1/rollouts/${rollout.id}/actions/rollback`)
      .set('Authorization', mockCredentials.user.header(OWNER))
      .send({ reason: 'pager went off', idempotencyKey: 'rollback-fail-1' })
      .expect(503);
    expect(res.body.error.message).toMatch(
      /fake did not accept the rollback.*ECONNREFUSED/,
    );
    const detail = await request(server)
      .get(`/api/rollouts/v1/rollouts/${rollout.id}`)
      .set('Authorization', mockCredentials.user.header(OWNER));
    expect(detail.body.lastError.message).toMatch(/ECONNREFUSED/);
    const decisions = await request(server)
      .get(`/api/rollouts/v1/rollouts/${rollout.id}/decisions`)
      .set('Authorization', mockCredentials.user.header(OWNER));
    expect(decisions.body.items[0]).toMatchObject({
      verdict: 'rollback',
      outcome: 'failed',
    });
  });
});

/** A backend whose catalog has `entities` (svc-0 … svc-N-1) and one registered rollout each. */
async function registeredServices(
  entities: ReturnType<typeof component>[],
  permissions: ReturnType<typeof rolloutsPermissionsMock>,
  versionOf: (i: number) => string = () => '1.0.0',
) {
  const { server } = await startTestBackend({
    features: [
      rolloutsPlugin,
      fakeProvidersModule({
        deploy: [new FakeDeployProvider('fake')],
        telemetry: [new FakeTelemetryProvider('fake', () => [])],
      }),
      catalogServiceMock.factory({ entities }),
      permissions.factory,
      mockServices.rootConfig.factory({
        data: { rollouts: { schedule: { frequencySeconds: 3600 } } },
      }),
    ],
  });
  for (let i = 0; i < entities.length; i++) {
    await request(server)
      .post('/api/rollouts/v1/rollouts')
      .set('Authorization', mockCredentials.service.header())
      .send({
        entityRef: `component:default/svc-${i}`,
        provider: 'fake',
        target: `shop/svc-${i}`,
        version: versionOf(i),
      })
      .expect(201);
  }
  return server;
}

describe('reads over many services', () => {
  it('asks the permission backend in batches it accepts (it refuses requests over 100 KB)', async () => {
    const N = 600;
    const entities = Array.from({ length: N }, (_, i) =>
      component(`svc-${i}`, `shop/svc-${i}`, 'group:default/team-shop'),
    );
    const permissions = rolloutsPermissionsMock(() => true);
    const server = await registeredServices(entities, permissions);
    permissions.authorize.mockClear();
    const list = await request(server)
      .get('/api/rollouts/v1/rollouts?status=active&limit=1000')
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(200);
    expect(list.body.items).toHaveLength(N);
    const sizes = permissions.authorize.mock.calls.map(
      (c: unknown[]) => (c[0] as unknown[]).length,
    );
    expect(sizes.reduce((a: number, b: number) => a + b, 0)).toBe(N);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(250);
  });

  it('pages the list over the services the caller may read, with a total, an owner filter and a search', async () => {
    const N = 30;
    const entities = Array.from({ length: N }, (_, i) =>
      component(
        `svc-${i}`,
        `shop/svc-${i}`,
        i % 2 ? 'group:default/team-odd' : 'group:default/team-even',
      ),
    );
    // the caller may read every third service only
    const readable = (ref?: string) => Number(ref?.split('-').pop()) % 3 === 0;
    const permissions = rolloutsPermissionsMock(
      q => q.principalType === 'service' || readable(q.resourceRef),
    );
    const server = await registeredServices(entities, permissions, i =>
      i === 9 ? '9.9.9-hotfix' : '1.0.0',
    );
    const get = (query: string) =>
      request(server)
        .get(`/api/rollouts/v1/rollouts?status=active&${query}`)
        .set('Authorization', mockCredentials.user.header(OWNER))
        .expect(200)
        .then(r => r.body as { items: { entityRef: string }[]; total: number });
    const names = (b: { items: { entityRef: string }[] }) =>
      b.items.map(r => r.entityRef.replace('component:default/', ''));

    // 10 readable services, in pages of 4: full pages, no repeats, the same total on each
    const pages = [
      await get('limit=4'),
      await get('limit=4&offset=4'),
      await get('limit=4&offset=8'),
    ];
    expect(pages.map(p => p.items.length)).toEqual([4, 4, 2]);
    expect(pages.map(p => p.total)).toEqual([10, 10, 10]);
    const seen = pages.flatMap(names);
    expect(new Set(seen).size).toBe(10);
    expect(seen.every(n => readable(n))).toBe(true);

    // owner filter from the catalog: team-even's readable services (0, 6, 12, 18, 24)
    const even = await get('limit=50&owner=group:default/team-even');
    expect(even.total).toBe(5);
    expect(names(even).sort()).toEqual([
      'svc-0',
      'svc-12',
      'svc-18',
      'svc-24',
      'svc-6',
    ]);
    // search by version or name, still only what the caller may read
    expect(names(await get('q=HOTFIX'))).toEqual(['svc-9']);
    expect((await get('q=svc-1')).total).toBe(3); // svc-12, -15, -18 (svc-1, -10, -11… are not readable)

    const bad = await request(server)
      .get('/api/rollouts/v1/rollouts?offset=-1')
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(400);
    expect(JSON.stringify(bad.body)).toMatch(/offset/);
  });
});
