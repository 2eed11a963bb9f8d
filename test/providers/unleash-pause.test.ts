/**
 * A pause taken in Tollgate holds a feature-flag ramp on a real Unleash 8.
 * Unleash has no pause: its flag keeps reporting the ramp as progressing,
 * so the pause lives in Tollgate's row, and each sync from the provider
 * used to overwrite it (the gate could promote within one loop period).
 * Here the whole backend (the rollouts plugin, the Unleash module, a
 * healthy canary that the gate would promote) runs its loop once a
 * second; the paused ramp stays at its percentage in Unleash until the
 * on-call resumes it, and then moves on.
 */
import {
  coreServices,
  createServiceFactory,
} from '@backstage/backend-plugin-api';
import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import type {
  CohortCounts,
  TelemetryTick,
} from '@tollgate/plugin-rollouts-common';
import rolloutsPlugin from '@tollgate/plugin-rollouts-backend';
import { rolloutsModuleUnleash } from '@tollgate/plugin-rollouts-backend-module-unleash';
import {
  FakeTelemetryProvider,
  fakeProvidersModule,
} from '@tollgate/plugin-rollouts-node/testUtils';
import request from 'supertest';
import {
  assertPostgresOrSkip,
  startUnleash,
  type UnleashServer,
} from '@tollgate/test-support';

const runs = assertPostgresOrSkip('a Tollgate pause on a real Unleash');
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));
const FLAG = 'paused-ramp';
const TARGET = `default/${FLAG}@production`;

/** A healthy canary: the same error rate and latency as the baseline, plenty of traffic. */
function healthy(tick: number): TelemetryTick {
  const cohort = (n: number): CohortCounts => ({
    requests: n,
    errors: Math.round(n * 0.001) + (tick % 2),
    latency: {
      le: [100, 300, 1000, Infinity],
      counts: [Math.round(n * 0.9), Math.round(n * 0.995), n, n],
    },
  });
  return { tick, baseline: cohort(95_000), canary: cohort(5_000) };
}

describe.skipIf(!runs)('a Tollgate pause on Unleash', () => {
  let unleash: UnleashServer;

  beforeAll(async () => {
    unleash = await startUnleash();
    await unleash.admin('POST', '/api/admin/tag-types', { name: 'tollgate' });
    await unleash.admin('POST', '/api/admin/projects/default/features', {
      name: FLAG,
      type: 'release',
    });
    await unleash.admin(
      'POST',
      `/api/admin/projects/default/features/${FLAG}/environments/production/strategies`,
      {
        name: 'flexibleRollout',
        title: 'tollgate',
        parameters: { rollout: '5' },
      },
    );
    await unleash.admin(
      'POST',
      `/api/admin/projects/default/features/${FLAG}/environments/production/on`,
    );
    await unleash.admin('POST', `/api/admin/features/${FLAG}/tags`, {
      type: 'tollgate',
      value: 'managed',
    });
  }, 180_000);

  afterAll(async () => {
    await unleash?.stop();
  });

  async function percentageInUnleash(): Promise<number> {
    const feature = await unleash.admin<any>(
      'GET',
      `/api/admin/projects/default/features/${FLAG}`,
    );
    const env = feature.environments.find((e: any) => e.name === 'production');
    const flexible = env.strategies.find(
      (s: any) => s.name === 'flexibleRollout',
    );
    return Number(flexible.parameters.rollout);
  }

  it('holds the ramp at its percentage through every sync until it is resumed in Tollgate', async () => {
    const telemetry = new FakeTelemetryProvider('fake', req => {
      const step = req.stepSeconds * 1000;
      const ticks: TelemetryTick[] = [];
      for (
        let t = req.start.getTime();
        t + step <= req.end.getTime();
        t += step
      )
        ticks.push(healthy(Math.floor(t / step)));
      return ticks;
    });
    const scheduler = mockServices.scheduler();
    const loopRun = () => scheduler.triggerTask('rollouts-gate-loop');
    const { server } = await startTestBackend({
      features: [
        // The loop runs when the test says (a scheduler that runs tasks on trigger only).
        createServiceFactory({
          service: coreServices.scheduler,
          deps: {},
          factory: () => scheduler,
        }),
        rolloutsPlugin,
        rolloutsModuleUnleash,
        fakeProvidersModule({ telemetry: [telemetry] }),
        catalogServiceMock.factory({
          entities: [
            {
              apiVersion: 'backstage.io/v1alpha1',
              kind: 'Component',
              metadata: {
                name: 'checkout',
                namespace: 'default',
                annotations: {
                  'tollgate.dev/rollouts': `unleash:${TARGET}`,
                  'tollgate.dev/telemetry': 'fake',
                },
              },
              spec: { type: 'service', owner: 'group:default/team-checkout' },
            },
          ],
        }),
        mockServices.rootConfig.factory({
          data: {
            rollouts: {
              telemetry: { stepSeconds: 1 },
              policies: {
                standard: {
                  gate: {
                    promote: { minDurationSeconds: 4, minCanaryRequests: 10 },
                    rollout: { minStepSeconds: 4 },
                  },
                },
              },
              providers: {
                unleash: {
                  baseUrl: unleash.url,
                  apiToken: unleash.adminToken,
                  steps: [
                    { weight: 5, minDurationSeconds: 4 },
                    { weight: 25, minDurationSeconds: 4 },
                    { weight: 100 },
                  ],
                },
              },
            },
          },
        }),
      ],
    });
    const service = mockCredentials.service.header();
    const rollout = async () => {
      const list = await request(server)
        .get('/api/rollouts/v1/rollouts?entityRef=component:default/checkout')
        .set('Authorization', service)
        .expect(200);
      return list.body.items[0];
    };

    // The loop discovers the ramp; the on-call pauses it.
    await loopRun();
    const found = await rollout();
    expect(found, 'the ramp discovered from Unleash').toMatchObject({
      provider: 'unleash',
      currentWeight: 5,
    });
    await request(server)
      .post(`/api/rollouts/v1/rollouts/${found.id}/actions/pause`)
      .set('Authorization', service)
      .send({ reason: 'checking a dashboard', idempotencyKey: 'pause-1234' })
      .expect(200);

    // Eight loop runs over a healthy canary, past the step's minimum
    // duration: the pause holds, in Tollgate and in Unleash.
    for (let i = 0; i < 8; i++) {
      await sleep(1000);
      await loopRun();
    }
    const paused = await rollout();
    expect(paused).toMatchObject({ status: 'paused', currentWeight: 5 });
    expect(await percentageInUnleash()).toBe(5);
    expect(paused.lastEvaluation?.reasons?.join(' ') ?? '').toMatch(/paused/);

    await request(server)
      .post(`/api/rollouts/v1/rollouts/${found.id}/actions/resume`)
      .set('Authorization', service)
      .send({ reason: 'dashboard looks fine', idempotencyKey: 'resume-1234' })
      .expect(200);
    let after = 5;
    for (let i = 0; i < 20 && after === 5; i++) {
      await sleep(1000);
      await loopRun();
      after = await percentageInUnleash();
    }
    expect(after, 'the gate promotes once resumed').toBeGreaterThan(5);
  });
});
