import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import {
  FakeTelemetryProvider,
  fakeProvidersModule,
} from '@tollgate/plugin-rollouts-node/testUtils';
import request from 'supertest';
import { rolloutsPlugin } from '../plugin';
import { validatePolicyYaml } from './policy';

const POLICY = `
slo: { availability: 0.995 }
telemetry:
  queries:
    requests: checkout-requests
    error_rate: 'sum(increase(http_requests_total{code=~"5..",{{cohort}}}[{{step}}]))'
    kpis.conversion.trials: sum(increase(x{{{cohort}}}[{{step}}]))
`;

async function startBackend() {
  const { server } = await startTestBackend({
    features: [
      rolloutsPlugin,
      fakeProvidersModule({
        moduleId: 'fake-telemetry',
        telemetry: [new FakeTelemetryProvider('fake', () => [])],
      }),
      catalogServiceMock.factory({ entities: [] }),
      mockServices.rootConfig.factory({
        data: { rollouts: { schedule: { frequencySeconds: 3600 } } },
      }),
    ],
  });
  return server;
}

describe('POST /v1/policies/validate and raw queries', () => {
  it('refuses raw queries in telemetry.queries, naming each field; template names pass', async () => {
    const server = await startBackend();
    const res = await request(server)
      .post('/api/rollouts/v1/policies/validate')
      .set('Authorization', mockCredentials.user.header())
      .send({ yaml: POLICY })
      .expect(200);
    expect(res.body.valid).toBe(false);
    expect(res.body.problems.map((p: { path: string }) => p.path)).toEqual([
      'telemetry.queries.error_rate',
      'telemetry.queries.kpis.conversion.trials',
    ]);
    expect(res.body.problems[0].message).toMatch(
      /^a raw query is refused: .*may only name a query template the platform defined in app-config \(rollouts\.providers\.prometheus\.templates\)/,
    );

    const named = await request(server)
      .post('/api/rollouts/v1/policies/validate')
      .set('Authorization', mockCredentials.service.header())
      .send({
        policy: {
          telemetry: {
            queries: { requests: 'checkout-requests', errors: 'checkout_5xx' },
          },
        },
      })
      .expect(200);
    expect(named.body).toMatchObject({ valid: true, problems: [] });
  });

  it('leaves raw queries to the telemetry provider when a policy is read for a rollout', () => {
    // The provider refuses them unless the platform allows them for the target.
    const { policy, problems } = validatePolicyYaml(POLICY);
    expect(problems).toEqual([]);
    expect(policy?.telemetry?.queries?.error_rate).toMatch(/^sum\(/);
  });
});
