import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import type { RolloutTimeseries } from '@tollgate/plugin-rollouts-common';
import {
  FakeDeployProvider,
  FakeTelemetryProvider,
  fakeProvidersModule,
  rolloutsPermissionsMock,
} from '@tollgate/plugin-rollouts-node/testUtils';
import type { RolloutsDeployProvider } from '@tollgate/plugin-rollouts-node';
import request from 'supertest';
import { rolloutsPlugin } from '../plugin';

const OWNER = 'user:default/priya';
const STRANGER = 'user:default/mallory';

/** 30 one-minute intervals, the canary at 10 % of the traffic. */
const TICKS = Array.from({ length: 30 }, (_, i) => ({
  tick: i + 1,
  baseline: { requests: 9000, errors: 18 },
  canary: { requests: 1000, errors: 2 + (i % 2) },
}));

/** The fake deploy system, describing its targets' cohorts as a flag platform does. */
class DescribingDeployProvider extends FakeDeployProvider {
  describeTarget?: RolloutsDeployProvider['describeTarget'];
}

async function startBackend() {
  const deploy = new DescribingDeployProvider('fake');
  deploy.describeTarget = async (target: string) => ({
    provider: 'fake',
    target,
    kind: 'feature-flag',
    enabled: true,
    strategy: 'flexibleRollout',
    percentage: 10,
    stickiness: 'userId',
    groupId: 'checkout',
  });
  const telemetry = new FakeTelemetryProvider('fake', () => TICKS);
  const permissions = rolloutsPermissionsMock(
    q => q.userEntityRef === OWNER || q.principalType === 'service',
  );
  const { server } = await startTestBackend({
    features: [
      rolloutsPlugin,
      fakeProvidersModule({ deploy: [deploy], telemetry: [telemetry] }),
      catalogServiceMock.factory({
        entities: [
          {
            apiVersion: 'backstage.io/v1alpha1',
            kind: 'Component',
            metadata: {
              name: 'checkout',
              namespace: 'default',
              annotations: { 'tollgate.dev/rollouts': 'fake:shop/checkout' },
            },
            spec: { type: 'service', owner: 'team', lifecycle: 'production' },
          },
        ],
      }),
      permissions.factory,
      mockServices.rootConfig.factory({
        data: { rollouts: { schedule: { frequencySeconds: 3600 } } },
      }),
    ],
  });
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
  return { server, telemetry, deploy, id: registered.body.id as string };
}

describe('GET /v1/rollouts/:id/timeseries', () => {
  it("folds the step's intervals through the gate and adds the flag's cohort; read permission on the entity", async () => {
    const { server, telemetry, id } = await startBackend();
    const res = await request(server)
      .get(`/api/rollouts/v1/rollouts/${id}/timeseries`)
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(200);
    const body = res.body as RolloutTimeseries;
    expect(telemetry.requests).toHaveLength(1);
    expect(body.rolloutId).toBe(id);
    expect(body.intervalsRead).toBe(30);
    expect(body.intervals).toHaveLength(30);
    const errors = body.signals.find(s => s.name === 'error rate')!;
    expect(errors.points).toHaveLength(30);
    expect(errors.points[0]).toMatchObject({
      tick: 1,
      canary: 0.002,
      baseline: 0.002,
    });
    expect(errors.points[29].ci).toHaveLength(2);
    expect(body.target).toEqual({
      provider: 'fake',
      target: 'shop/checkout',
      kind: 'feature-flag',
      enabled: true,
      strategy: 'flexibleRollout',
      percentage: 10,
      stickiness: 'userId',
      groupId: 'checkout',
    });

    // a second reader of the same rollout row shares the read
    const again = await request(server)
      .get(`/api/rollouts/v1/rollouts/${id}/timeseries`)
      .set('Authorization', mockCredentials.service.header())
      .expect(200);
    expect(again.body).toEqual(body);
    expect(telemetry.requests).toHaveLength(1);

    await request(server)
      .get(`/api/rollouts/v1/rollouts/${id}/timeseries`)
      .set('Authorization', mockCredentials.user.header(STRANGER))
      .expect(403);
    await request(server)
      .get(
        '/api/rollouts/v1/rollouts/00000000-0000-4000-8000-000000000000/timeseries',
      )
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(404);
  });

  it('answers what it has when the telemetry or the description fails, and says why', async () => {
    const { server, telemetry, deploy, id } = await startBackend();
    telemetry.failWith = new Error('prometheus: retention exceeded');
    deploy.describeTarget = async () => {
      throw new Error('unleash unreachable');
    };
    const res = await request(server)
      .get(`/api/rollouts/v1/rollouts/${id}/timeseries`)
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(200);
    const body = res.body as RolloutTimeseries;
    expect(body.signals).toEqual([]);
    expect(body.notes.join('\n')).toContain('prometheus: retention exceeded');
    expect(body.targetError).toContain('unleash unreachable');
  });
});
