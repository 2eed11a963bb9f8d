import {
  coreServices,
  createServiceFactory,
  type LoggerService,
} from '@backstage/backend-plugin-api';
import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import type {
  TelemetryTick,
  WhatIfResult,
} from '@tollgate/plugin-rollouts-common';
import {
  FakeTelemetryProvider,
  fakeProvidersModule,
  rolloutsPermissionsMock,
} from '@tollgate/plugin-rollouts-node/testUtils';
import knexFactory, { type Knex } from 'knex';
import request from 'supertest';
import { rolloutsPlugin } from '../plugin';
import { component, ticks } from './__testUtils__/judged';

/**
 * Rollouts judged for Argo Rollouts and Flagger are shadowed and their
 * telemetry kept, as the gate loop's are: the enforced policy here tests
 * the error rate, the shadow (`lenient`) does not, so a failing canary
 * gets a rollback answer and a would-have entry; its kept telemetry
 * replays through `POST /v1/policies/whatif` to the judge's verdict.
 */
const OWNER = 'user:default/priya';

const STANDARD = {
  slo: { availability: 0.995 },
  gate: { promote: { minDurationSeconds: 60, minCanaryRequests: 300 } },
};
const LENIENT = {
  ...STANDARD,
  gate: {
    ...STANDARD.gate,
    errorRate: { enabled: false },
    burn: { enabled: false },
  },
};

/** A plugin logger that keeps its warnings. */
function warningsLogger() {
  const warnings: string[] = [];
  const logger: LoggerService = {
    child: () => logger,
    debug: () => {},
    info: () => {},
    error: () => {},
    warn: message => {
      warnings.push(message);
    },
  };
  return {
    warnings,
    factory: createServiceFactory({
      service: coreServices.logger,
      deps: {},
      factory: () => logger,
    }),
  };
}

async function startBackend(knex?: Knex) {
  const logs = warningsLogger();
  const answers = new Map<string, TelemetryTick[]>();
  const telemetry = new FakeTelemetryProvider('fake', req => {
    const t = answers.get(req.target);
    if (!t) throw new Error(`no series for ${req.target}`);
    return t;
  });
  const permissions = rolloutsPermissionsMock(q => {
    if (q.permission === 'rollouts.judge') return q.principalType === 'service';
    return (
      q.permission === 'rollouts.rollout.read' || q.userEntityRef === OWNER
    );
  });
  const { server } = await startTestBackend({
    features: [
      rolloutsPlugin,
      fakeProvidersModule({
        moduleId: 'fake-telemetry',
        telemetry: [telemetry],
      }),
      catalogServiceMock.factory({
        entities: [
          component('podinfo', 'flagger:test/podinfo'),
          component('checkout', 'argo-rollouts:shop/checkout'),
        ],
      }),
      permissions.factory,
      ...(knex ? [mockServices.database.factory({ knex })] : []),
      logs.factory,
      mockServices.rootConfig.factory({
        data: {
          rollouts: {
            schedule: { frequencySeconds: 3600 },
            telemetry: { stepSeconds: 10 },
            judge: { maxEvaluationAgeSeconds: 0 },
            defaultPolicy: 'standard',
            policies: { standard: STANDARD, lenient: LENIENT },
            shadowPolicies: [{ policy: 'lenient' }],
          },
        },
      }),
    ],
  });
  return { server, answers, warnings: logs.warnings };
}

interface ShadowView {
  policies: Array<{ policy: string; enforced?: string; shadow?: string }>;
  items: Array<{
    kind: string;
    actor: string;
    verdict: string;
    reasons: string[];
  }>;
}

/** Polls `read` until `done` holds (the judge writes shadows and kept telemetry right after it answered); the last read. */
async function eventually<T>(
  read: () => Promise<T>,
  done: (t: T) => boolean,
): Promise<T> {
  const until = Date.now() + 5000;
  let last = await read();
  while (!done(last) && Date.now() < until) {
    await new Promise(r => setTimeout(r, 50));
    last = await read();
  }
  return last;
}

describe('the judge shadows what it evaluates and keeps its telemetry', () => {
  it('logs would-have entries and keeps replayable telemetry for Argo Rollouts and Flagger canaries', async () => {
    const { server, answers } = await startBackend();
    const shadowOf = (id: string, entries: number) =>
      eventually(
        async () =>
          (
            await request(server)
              .get(`/api/rollouts/v1/rollouts/${id}/shadow`)
              .set('Authorization', mockCredentials.user.header(OWNER))
              .expect(200)
          ).body as ShadowView,
        v => v.items.length >= entries,
      );
    const whatIf = (policy: object, service: string, id: string) =>
      eventually(
        async () =>
          (
            await request(server)
              .post('/api/rollouts/v1/policies/whatif')
              .set('Authorization', mockCredentials.user.header(OWNER))
              .send({
                policy,
                selection: {
                  services: [service],
                  from: new Date(Date.now() - 3_600_000).toISOString(),
                  to: new Date(Date.now() + 3_600_000).toISOString(),
                },
              })
              .expect(200)
          ).body as WhatIfResult,
        r => Boolean(r.rollouts.find(x => x.rolloutId === id)?.replayable),
      ).then(r => r.rollouts.find(x => x.rolloutId === id));
    const argo = (weight: number) =>
      request(server)
        .post('/api/rollouts/v1/judge')
        .set('Authorization', mockCredentials.service.header())
        .send({ target: 'shop/checkout', version: '6f9c7d', weight })
        .expect(200);

    // Argo Rollouts, step at 10%: healthy; the enforced policy promotes, the shadow (no error-rate test) cannot.
    answers.set('shop/checkout', ticks(0.001));
    const healthy = await argo(10);
    expect(healthy.body.verdict).toBe('promote');
    const id = healthy.body.rolloutId as string;
    const first = await shadowOf(id, 1);
    expect(first.policies).toMatchObject([
      { policy: 'lenient', enforced: 'promote', shadow: 'continue' },
    ]);
    expect(first.items.map(i => [i.kind, i.actor, i.reasons[0]])).toEqual([
      [
        'shadow',
        'shadow:lenient',
        'would have: continue under shadow policy lenient (enforced: promote)',
      ],
    ]);

    // Argo moves to 50% and the canary fails there: the judge says roll back, the shadow would not.
    answers.set('shop/checkout', ticks(0.25, 0.5, 40));
    const failing = await argo(50);
    expect(failing.body.verdict).toBe('rollback');
    const second = await shadowOf(id, 2);
    expect(second.items.map(i => i.reasons[0]).sort()).toEqual([
      'would have: continue under shadow policy lenient (enforced: promote)',
      'would have: continue under shadow policy lenient (enforced: rollback)',
    ]);

    // Its kept telemetry (the 50% step it was judged on) replays to the same verdicts.
    const replayed = await whatIf(STANDARD, 'component:default/checkout', id);
    expect(replayed).toMatchObject({
      replayable: true,
      whatIf: { outcome: 'rollback' },
      steps: [{ stepIndex: 0, weight: 50, intervals: 40 }],
    });
    const asShadow = await whatIf(LENIENT, 'component:default/checkout', id);
    expect(asShadow?.whatIf?.outcome).toBe('undecided');

    // Flagger: its rollback hook on a failing canary (the share is the observed one).
    answers.set('test/podinfo', ticks(0.25));
    const hook = await request(server)
      .post('/api/rollouts/v1/webhooks/flagger/rollback')
      .send({
        name: 'podinfo',
        namespace: 'test',
        phase: 'Progressing',
        checksum: '85d557f47b',
        metadata: { token: mockCredentials.service.token() },
      })
      .expect(200);
    expect(hook.body.answer.verdict).toBe('rollback');
    const podinfo = hook.body.answer.rolloutId as string;
    const flaggerShadow = await shadowOf(podinfo, 1);
    expect(flaggerShadow.items.map(i => i.reasons[0])).toEqual([
      'would have: continue under shadow policy lenient (enforced: rollback)',
    ]);
    const flaggerReplay = await whatIf(
      STANDARD,
      'component:default/podinfo',
      podinfo,
    );
    expect(flaggerReplay).toMatchObject({
      replayable: true,
      whatIf: { outcome: 'rollback' },
      steps: [{ intervals: 60 }],
    });
  });

  it("answers as before when the shadows' and kept telemetry's tables cannot be written", async () => {
    const knex = knexFactory({
      client: 'better-sqlite3',
      connection: ':memory:',
      useNullAsDefault: true,
    });
    const { server, answers, warnings } = await startBackend(knex);
    const argo = () =>
      request(server)
        .post('/api/rollouts/v1/judge')
        .set('Authorization', mockCredentials.service.header())
        .send({ target: 'shop/checkout', version: '6f9c7d', weight: 10 })
        .expect(200);
    answers.set('shop/checkout', ticks(0.001));
    expect((await argo()).body.verdict).toBe('promote');
    await knex.schema.dropTable('rollout_shadows');
    await knex.schema.dropTable('rollout_telemetry');
    answers.set('shop/checkout', ticks(0.25, 0.1, 70));
    const failing = await argo();
    expect(failing.body).toMatchObject({ verdict: 'rollback', cached: false });
    // the answer is logged as ever (decision lists leave shadow entries out)
    const decisions = await request(server)
      .get(`/api/rollouts/v1/rollouts/${failing.body.rolloutId}/decisions`)
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(200);
    expect(decisions.body.items[0]).toMatchObject({ verdict: 'rollback' });
    // what could not be read or written is logged
    const logged = await eventually(
      async () => warnings,
      w => w.some(m => m.includes('could not write')),
    );
    expect(logged.join('\n')).toMatch(
      /shadow policy of component:default\/checkout .* failed after the judge answered: .*no such table: rollout_shadows/,
    );
    expect(logged.join('\n')).toMatch(
      /rollouts: could not write shadow verdicts or kept telemetry: .*no such table: rollout_telemetry/,
    );
  });
});
