import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import type { TelemetryTick } from '@tollgate/plugin-rollouts-common';
import {
  FakeTelemetryProvider,
  fakeProvidersModule,
  rolloutsPermissionsMock,
} from '@tollgate/plugin-rollouts-node/testUtils';
import request from 'supertest';
import { rolloutsPlugin } from '../plugin';
import { component, ticks } from './__testUtils__/judged';

const OWNER = 'user:default/priya';

type Allow = Parameters<typeof rolloutsPermissionsMock>[0];

// Services may judge; users act on what they own.
const servicesJudge: Allow = q => {
  if (q.permission === 'rollouts.judge') return q.principalType === 'service';
  return q.permission === 'rollouts.rollout.read' || q.userEntityRef === OWNER;
};

/** What the auditor was told: each event as created, then how it ended. */
interface AuditRecord {
  eventId: string;
  severityLevel?: string;
  meta?: Record<string, unknown>;
  ended?: 'success' | 'fail';
  outcome?: Record<string, unknown>;
}

async function startBackend(allow: Allow = servicesJudge) {
  const audits: AuditRecord[] = [];
  const auditor = mockServices.auditor.mock({
    createEvent: async options => {
      const record: AuditRecord = {
        eventId: options.eventId,
        severityLevel: options.severityLevel,
        meta: options.meta as Record<string, unknown> | undefined,
      };
      audits.push(record);
      return {
        success: async o => {
          record.ended = 'success';
          record.outcome = o?.meta as Record<string, unknown> | undefined;
        },
        fail: async () => {
          record.ended = 'fail';
        },
      };
    },
  });
  const answers = new Map<string, TelemetryTick[]>();
  const telemetry = new FakeTelemetryProvider('fake', req => {
    const t = answers.get(req.target);
    if (!t) throw new Error(`no series for ${req.target}`);
    return t;
  });
  const fakeModule = fakeProvidersModule({
    moduleId: 'fake-telemetry',
    telemetry: [telemetry],
  });
  const permissions = rolloutsPermissionsMock(allow);
  const { server } = await startTestBackend({
    features: [
      rolloutsPlugin,
      fakeModule,
      catalogServiceMock.factory({
        entities: [
          component('podinfo', 'flagger:test/podinfo'),
          component('checkout', 'argo-rollouts:shop/checkout'),
        ],
      }),
      permissions.factory,
      auditor.factory,
      mockServices.rootConfig.factory({
        data: {
          rollouts: {
            schedule: { frequencySeconds: 3600 },
            telemetry: { stepSeconds: 10 },
            judge: { maxEvaluationAgeSeconds: 0 },
            policies: {
              standard: {
                slo: { availability: 0.995 },
                gate: {
                  promote: { minDurationSeconds: 60, minCanaryRequests: 300 },
                },
              },
            },
          },
        },
      }),
    ],
  });
  return { server, answers, telemetry, permissions, audits };
}

const flaggerPayload = (extra: Record<string, unknown> = {}) => ({
  name: 'podinfo',
  namespace: 'test',
  phase: 'Progressing',
  checksum: '85d557f47b',
  metadata: { token: mockCredentials.service.token() },
  ...extra,
});

async function decisionsOf(server: any, rolloutId: string) {
  const res = await request(server)
    .get(`/api/rollouts/v1/rollouts/${rolloutId}/decisions`)
    .set('Authorization', mockCredentials.user.header(OWNER))
    .expect(200);
  return res.body.items as Array<{
    verdict: string;
    actor: string;
    reasons: string[];
    seq: number;
    policyHash: string | null;
  }>;
}

/** One decision's evidence snapshot (lists leave it out). */
async function evidenceOf(server: any, rolloutId: string, seq: number) {
  const res = await request(server)
    .get(`/api/rollouts/v1/rollouts/${rolloutId}/decisions/${seq}/evidence`)
    .set('Authorization', mockCredentials.user.header(OWNER))
    .expect(200);
  return res.body.evidence as Record<string, unknown> | null;
}

describe('Tollgate as the judge of Flagger and Argo Rollouts', () => {
  it('answers Flagger webhooks as Flagger expects and logs every call', async () => {
    const { server, answers } = await startBackend();
    const hook = (name: string, body: object = flaggerPayload()) =>
      request(server)
        .post(`/api/rollouts/v1/webhooks/flagger/${name}`)
        .send(body);

    // Before any telemetry: the rollout registers, and a promotion waits.
    const pre = await hook('pre-rollout').expect(200);
    expect(pre.body.ok).toBe(true);
    const noData = await hook('confirm-promotion').expect(412);
    expect(noData.body.answer.verdict).toBe('hold');
    expect(noData.body.answer.reasons[0]).toMatch(/telemetry unavailable/);

    // A healthy canary: promotion confirmed, no rollback.
    answers.set('test/podinfo', ticks(0.001));
    const promotion = await hook('confirm-promotion').expect(200);
    expect(promotion.body.answer).toMatchObject({
      verdict: 'promote',
      promote: true,
      rollback: false,
    });
    await hook('rollback').expect(412);
    await hook('confirm-traffic-increase').expect(200);

    // The canary starts failing: Flagger's rollback hook gets its 200.
    answers.set('test/podinfo', ticks(0.2));
    const rollback = await hook('rollback').expect(200);
    expect(rollback.body.answer.rollback).toBe(true);
    expect(rollback.body.answer.reasons.join(' ')).toMatch(/error/i);
    await hook('confirm-promotion').expect(412);
    await hook('rollout').expect(412);

    await hook('post-rollout', flaggerPayload({ phase: 'Failed' })).expect(200);
    const id = pre.body.message && promotion.body.answer.rolloutId;
    const detail = await request(server)
      .get(`/api/rollouts/v1/rollouts/${id}`)
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(200);
    expect(detail.body).toMatchObject({
      status: 'rolled-back',
      provider: 'flagger',
      target: 'test/podinfo',
      version: '85d557f47b',
    });

    const log = await decisionsOf(server, id);
    const calls = log.filter(d => d.reasons[0]?.startsWith('flagger '));
    expect(calls).toHaveLength(10);
    expect(calls.every(d => d.actor.startsWith('service:'))).toBe(true);
    expect(log.map(d => d.reasons[0])).toContain(
      'flagger rollback (phase Progressing): answered 200 — the gate says roll back',
    );
    const verify = await request(server)
      .get('/api/rollouts/v1/decisions/verify')
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(200);
    expect(verify.body.ok).toBe(true);
  });

  it('takes only service tokens, from the header or from the webhook metadata', async () => {
    const { server } = await startBackend();
    const url = '/api/rollouts/v1/webhooks/flagger/pre-rollout';
    const { metadata, ...anonymous } = flaggerPayload();
    const none = await request(server).post(url).send(anonymous).expect(401);
    expect(none.body.error.message).toMatch(/metadata\.token/);
    await request(server)
      .post(url)
      .send(
        flaggerPayload({
          metadata: { token: mockCredentials.user.token(OWNER) },
        }),
      )
      .expect(401);
    await request(server)
      .post(url)
      .send(flaggerPayload({ metadata: { token: 'forged' } }))
      .expect(401);
    await request(server)
      .post(url)
      .set('Authorization', mockCredentials.service.header())
      .send(anonymous)
      .expect(200);
    await request(server)
      .post('/api/rollouts/v1/judge')
      .set('Authorization', mockCredentials.none.header())
      .send({ target: 'shop/checkout', version: 'abc' })
      .expect(401);
    await request(server)
      .post('/api/rollouts/v1/judge')
      .set('Authorization', mockCredentials.user.header(OWNER))
      .send({ target: 'shop/checkout', version: 'abc' })
      .expect(res => expect([401, 403]).toContain(res.status));
  });

  it('names what is wrong in a bad webhook call, and writes nothing', async () => {
    const { server } = await startBackend();
    const bad = await request(server)
      .post('/api/rollouts/v1/webhooks/flagger/promote-now')
      .send(flaggerPayload())
      .expect(400);
    expect(bad.body.error.message).toMatch(/^hook: must be one of/);
    const noName = await request(server)
      .post('/api/rollouts/v1/webhooks/flagger/pre-rollout')
      .send(flaggerPayload({ name: 42 }))
      .expect(400);
    expect(noName.body.error.message).toMatch(/name: Expected string/);
    const unknown = await request(server)
      .post('/api/rollouts/v1/webhooks/flagger/pre-rollout')
      .send(flaggerPayload({ name: 'nobody' }))
      .expect(404);
    expect(unknown.body.error.message).toMatch(
      /no catalog entity claims flagger:test\/nobody/,
    );
    const list = await request(server)
      .get('/api/rollouts/v1/rollouts')
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(200);
    expect(list.body.items).toEqual([]);
  });

  it('gives Argo Rollouts a verdict fit for successCondition and failureCondition', async () => {
    const { server, answers } = await startBackend();
    // As Argo Rollouts' web provider sends it: POST, a JSON body.
    const judge = (query: string) =>
      request(server)
        .post('/api/rollouts/v1/judge')
        .set('Authorization', mockCredentials.service.header())
        .set('Content-Type', 'application/json')
        .send(
          Object.fromEntries(
            [...new URLSearchParams(query)].map(([k, v]) =>
              k === 'weight' ? [k, Number(v)] : [k, v],
            ),
          ),
        );

    answers.set('shop/checkout', ticks(0.001));
    const healthy = await judge(
      'target=shop/checkout&version=6f9c7d&weight=10',
    ).expect(200);
    expect(healthy.body).toMatchObject({
      provider: 'argo-rollouts',
      healthy: true,
      rollback: false,
      hold: false,
    });

    answers.set('shop/checkout', ticks(0.25));
    const failing = await judge(
      'target=shop/checkout&version=6f9c7d&weight=10',
    ).expect(200);
    expect(failing.body).toMatchObject({
      verdict: 'rollback',
      rollback: true,
      healthy: false,
    });

    const missing = await judge(
      'target=shop/checkout&version=6f9c7d&weight=101',
    ).expect(400);
    expect(missing.body.error.message).toMatch(
      /weight: Number must be less than 100/,
    );
    await judge('target=shop/checkout').expect(400, /body: version: Required/);

    // A new revision supersedes the old one.
    answers.set('shop/checkout', ticks(0.001));
    const next = await judge(
      'target=shop/checkout&version=7a0b1c&weight=10',
    ).expect(200);
    expect(next.body.version).toBe('7a0b1c');
    const list = await request(server)
      .get('/api/rollouts/v1/rollouts?entityRef=component:default/checkout')
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(200);
    const byVersion = Object.fromEntries(
      list.body.items.map((r: any) => [r.version, r.status]),
    );
    expect(byVersion).toEqual({ '6f9c7d': 'aborted', '7a0b1c': 'progressing' });
  });

  it("lets on-call roll back a Flagger canary from Tollgate: Flagger's rollback hook says yes", async () => {
    const { server, answers } = await startBackend();
    answers.set('test/podinfo', ticks(0.001));
    const hook = (name: string) =>
      request(server)
        .post(`/api/rollouts/v1/webhooks/flagger/${name}`)
        .send(flaggerPayload());
    const first = await hook('rollback').expect(412);
    const id = first.body.answer.rolloutId;

    const act = (action: string, key: string) =>
      request(server)
        .post(`/api/rollouts/v1/rollouts/${id}/actions/${action}`)
        .set('Authorization', mockCredentials.user.header(OWNER))
        .send({
          reason: 'customers report failed checkouts',
          idempotencyKey: key,
        });
    const promote = await act('promote', 'promote-0001').expect(409);
    expect(promote.body.error.message).toMatch(/flagger drives this rollout/);
    const rollback = await act('rollback', 'rollback-0001').expect(200);
    expect(rollback.body.decision.reasons[0]).toMatch(
      /rolls back at its next call/,
    );
    await act('rollback', 'rollback-0002').expect(200, /"alreadyInState":true/);

    const now = await hook('rollback').expect(200);
    expect(now.body.answer.reasons[0]).toBe(
      `rollback requested by ${OWNER}: customers report failed checkouts`,
    );
  });

  it('logs each answer with the evidence and policy it was made on, the first time too', async () => {
    const { server, answers } = await startBackend();
    answers.set('test/podinfo', ticks(0.001));
    const first = await request(server)
      .post('/api/rollouts/v1/webhooks/flagger/confirm-promotion')
      .send(flaggerPayload())
      .expect(200);
    const id = first.body.answer.rolloutId;
    const detail = await request(server)
      .get(`/api/rollouts/v1/rollouts/${id}`)
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(200);
    expect(detail.body.evidence).toBeTruthy();
    expect(detail.body.policyHash).toMatch(/^[0-9a-f]{64}$/);

    const [answered] = (await decisionsOf(server, id)).filter(d =>
      d.reasons[0]?.startsWith('flagger confirm-promotion'),
    );
    expect(answered.verdict).toBe('promote');
    expect(await evidenceOf(server, id, answered.seq)).toEqual(
      detail.body.evidence,
    );
    expect(answered.policyHash).toBe(detail.body.policyHash);

    // Argo's first question is logged on its evaluation too.
    answers.set('shop/checkout', ticks(0.001));
    const argo = await request(server)
      .post('/api/rollouts/v1/judge')
      .set('Authorization', mockCredentials.service.header())
      .send({ target: 'shop/checkout', version: '6f9c7d', weight: 10 })
      .expect(200);
    const argoDetail = await request(server)
      .get(`/api/rollouts/v1/rollouts/${argo.body.rolloutId}`)
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(200);
    const [argoAnswer] = (
      await decisionsOf(server, argo.body.rolloutId)
    ).filter(d => d.reasons[0]?.startsWith('argo-rollouts analysis asked'));
    expect(
      await evidenceOf(server, argo.body.rolloutId, argoAnswer.seq),
    ).toEqual(argoDetail.body.evidence);
    expect(argoAnswer.policyHash).toBe(argoDetail.body.policyHash);
  });

  it('answers a GET from the verdict already given, and writes nothing', async () => {
    const { server, answers } = await startBackend();
    const read = (version: string) =>
      request(server)
        .get(`/api/rollouts/v1/judge?target=shop/checkout&version=${version}`)
        .set('Authorization', mockCredentials.service.header());
    const rollouts = async () =>
      (
        await request(server)
          .get('/api/rollouts/v1/rollouts?entityRef=component:default/checkout')
          .set('Authorization', mockCredentials.user.header(OWNER))
          .expect(200)
      ).body.items;

    // Never judged: nothing is registered by asking.
    const unknown = await read('6f9c7d').expect(404);
    expect(unknown.body.error.message).toMatch(/POST \/v1\/judge/);
    expect(await rollouts()).toEqual([]);

    answers.set('shop/checkout', ticks(0.001));
    // Argo's jsonBody values are templated strings: the weight too.
    const judged = await request(server)
      .post('/api/rollouts/v1/judge')
      .set('Authorization', mockCredentials.service.header())
      .send({ target: 'shop/checkout', version: '6f9c7d', weight: '10' })
      .expect(200);
    const before = await rollouts();
    expect(before).toEqual([
      expect.objectContaining({ version: '6f9c7d', currentWeight: 10 }),
    ]);
    const log = await decisionsOf(server, judged.body.rolloutId);

    // The canary turns bad, and a new revision appears: GETs change nothing.
    answers.set('shop/checkout', ticks(0.25));
    const again = await read('6f9c7d').expect(200);
    expect(again.body).toMatchObject({
      rolloutId: judged.body.rolloutId,
      verdict: judged.body.verdict,
      evaluatedAt: judged.body.evaluatedAt,
      cached: true,
    });
    await read('7a0b1c').expect(404);
    await request(server)
      .get(
        '/api/rollouts/v1/judge?target=shop/checkout&version=6f9c7d&weight=50',
      )
      .set('Authorization', mockCredentials.service.header())
      .expect(200);
    expect(await rollouts()).toEqual(before);
    expect(await decisionsOf(server, judged.body.rolloutId)).toEqual(log);
  });

  it("judges a target only with rollouts.judge on the target's own entity", async () => {
    // This token's grant covers checkout's entity only.
    const { server, answers, permissions } = await startBackend(q =>
      q.permission === 'rollouts.judge'
        ? q.resourceRef === 'component:default/checkout'
        : servicesJudge(q),
    );
    answers.set('shop/checkout', ticks(0.001));
    answers.set('test/podinfo', ticks(0.001));

    await request(server)
      .post('/api/rollouts/v1/judge')
      .set('Authorization', mockCredentials.service.header())
      .send({ target: 'shop/checkout', version: '6f9c7d' })
      .expect(200);
    await request(server)
      .get('/api/rollouts/v1/judge?target=shop/checkout&version=6f9c7d')
      .set('Authorization', mockCredentials.service.header())
      .expect(200);

    // podinfo belongs to another entity: refused, and nothing registered.
    const refused = await request(server)
      .post('/api/rollouts/v1/webhooks/flagger/pre-rollout')
      .send(flaggerPayload())
      .expect(403);
    expect(refused.body.error.message).toBe(
      'you lack the rollouts.judge permission on component:default/podinfo',
    );
    await request(server)
      .post('/api/rollouts/v1/webhooks/flagger/confirm-promotion')
      .set('Authorization', mockCredentials.service.header())
      .send(flaggerPayload())
      .expect(403);
    await request(server)
      .post('/api/rollouts/v1/judge')
      .set('Authorization', mockCredentials.service.header())
      .send({ provider: 'flagger', target: 'test/podinfo', version: 'x' })
      .expect(403);
    await request(server)
      .get(
        '/api/rollouts/v1/judge?provider=flagger&target=test/podinfo&version=x',
      )
      .set('Authorization', mockCredentials.service.header())
      .expect(403);
    const podinfo = await request(server)
      .get('/api/rollouts/v1/rollouts?entityRef=component:default/podinfo')
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(200);
    expect(podinfo.body.items).toEqual([]);

    const judgeQuestions = permissions.calls.filter(
      c => c.permission === 'rollouts.judge',
    );
    expect(judgeQuestions.map(c => [c.resourceRef, c.result])).toEqual([
      ['component:default/checkout', 'ALLOW'],
      ['component:default/checkout', 'ALLOW'],
      ['component:default/podinfo', 'DENY'],
      ['component:default/podinfo', 'DENY'],
      ['component:default/podinfo', 'DENY'],
      ['component:default/podinfo', 'DENY'],
    ]);
  });

  it('audits every machine call: judge, Flagger and service reads of evidence (a rollout’s, a decision’s)', async () => {
    const { server, answers, audits } = await startBackend(q =>
      q.permission === 'rollouts.judge'
        ? q.resourceRef === 'component:default/checkout'
        : servicesJudge(q),
    );
    answers.set('shop/checkout', ticks(0.001));
    const judged = await request(server)
      .post('/api/rollouts/v1/judge')
      .set('Authorization', mockCredentials.service.header())
      .send({ target: 'shop/checkout', version: '6f9c7d', weight: 10 })
      .expect(200);
    await request(server)
      .get('/api/rollouts/v1/judge?target=shop/checkout&version=6f9c7d')
      .set('Authorization', mockCredentials.service.header())
      .expect(200);
    await request(server)
      .post('/api/rollouts/v1/webhooks/flagger/confirm-promotion')
      .send(flaggerPayload())
      .expect(403);
    // A service reads the evidence; a person's page does not raise an event.
    await request(server)
      .get(`/api/rollouts/v1/rollouts/${judged.body.rolloutId}`)
      .set('Authorization', mockCredentials.service.header())
      .expect(200);
    await request(server)
      .get(`/api/rollouts/v1/rollouts/${judged.body.rolloutId}`)
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(200);
    const [newest] = await decisionsOf(server, judged.body.rolloutId);
    await request(server)
      .get(
        `/api/rollouts/v1/rollouts/${judged.body.rolloutId}/decisions/${newest.seq}/evidence`,
      )
      .set('Authorization', mockCredentials.service.header())
      .expect(200);
    await evidenceOf(server, judged.body.rolloutId, newest.seq);

    const subject = expect.stringMatching(/./);
    expect(audits).toEqual([
      {
        eventId: 'judge',
        severityLevel: 'low',
        meta: {
          provider: 'argo-rollouts',
          target: 'shop/checkout',
          version: '6f9c7d',
          weight: 10,
          subject,
        },
        ended: 'success',
        outcome: {
          rolloutId: judged.body.rolloutId,
          verdict: judged.body.verdict,
          cached: false,
        },
      },
      {
        eventId: 'judge-read',
        severityLevel: 'low',
        meta: {
          provider: 'argo-rollouts',
          target: 'shop/checkout',
          version: '6f9c7d',
          subject,
        },
        ended: 'success',
        outcome: {
          rolloutId: judged.body.rolloutId,
          verdict: judged.body.verdict,
          cached: true,
        },
      },
      {
        eventId: 'flagger-webhook',
        severityLevel: 'low',
        meta: {
          hook: 'confirm-promotion',
          provider: 'flagger',
          target: 'test/podinfo',
          version: '85d557f47b',
          subject,
        },
        ended: 'fail',
      },
      {
        eventId: 'evidence-read',
        severityLevel: 'low',
        meta: { rolloutId: judged.body.rolloutId, subject },
        ended: 'success',
      },
      {
        eventId: 'evidence-read',
        severityLevel: 'low',
        meta: { rolloutId: judged.body.rolloutId, seq: newest.seq, subject },
        ended: 'success',
      },
    ]);
  });
});
