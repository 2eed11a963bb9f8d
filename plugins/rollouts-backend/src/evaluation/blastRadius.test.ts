import { ConfigReader } from '@backstage/config';
import type { TelemetryTick } from '@tollgate/plugin-rollouts-common';
import { FakeTelemetryProvider } from '@tollgate/plugin-rollouts-node/testUtils';
import type { EntityLookup } from '../catalog/EntityIndex';
import type { StoredRollout } from '../database/RolloutsStore';
import { PolicyResolver } from '../policy/PolicyResolver';
import type { RolloutPolicy } from '../policy/policy';
import { ProviderRegistry } from '../providers/ProviderRegistry';
import { consumerCounts, readBlastRadius } from './blastRadius';

describe('consumerCounts', () => {
  it('sums the cohorts of each interval; an interval or cohort without both counts is missing, never zero', () => {
    const ticks: TelemetryTick[] = [
      {
        tick: 1,
        baseline: { requests: 900, errors: 2 },
        canary: { requests: 100, errors: 1 },
      },
      { tick: 2, baseline: { requests: 1000 } }, // no error count: missing
      { tick: 3, baseline: { requests: 10, errors: 11 } }, // cannot be right: missing
      { tick: 4, baseline: { requests: 1000, errors: 0 } },
    ];
    expect(consumerCounts(ticks, 6)).toEqual({
      errors: 3,
      requests: 2000,
      ticks: 2,
      missingTicks: 4,
    });
  });
});

describe('readBlastRadius', () => {
  const STEP_START = Date.UTC(2026, 11, 7, 12, 0, 0);
  const NOW = new Date(STEP_START + 300_000);
  const rollout = {
    id: 'r1',
    entityRef: 'component:default/producer',
    provider: 'fake',
    target: 'shop/producer',
    steps: [{ weight: 1 }, { weight: 5 }, { weight: 25 }, { weight: 100 }],
    currentStepIndex: 1,
    currentWeight: 5,
    stepStartedAt: new Date(STEP_START).toISOString(),
  } as unknown as StoredRollout;
  const policies = PolicyResolver.fromConfig(
    new ConfigReader({
      rollouts: {
        policies: {
          standard: { slo: { availability: 0.999 } },
          strict: { slo: { availability: 0.9999 } },
        },
      },
    }),
  );
  const entities: EntityLookup = {
    byTarget: async () => undefined,
    byRef: async () => undefined,
    all: async () => [],
    consumersOf: async () => [
      {
        entityRef: 'component:default/consumer',
        relation: 'dependsOn',
        entity: {
          entityRef: 'component:default/consumer',
          annotations: {
            'tollgate.dev/rollouts': 'fake:shop/consumer',
            'tollgate.dev/policy': 'default:strict',
          },
        },
      },
    ],
  };
  const policy = (gate: Record<string, unknown> = {}) =>
    ({
      gate,
      slo: { availability: 0.99 },
      kpis: [],
    }) as unknown as RolloutPolicy;

  function world() {
    const telemetry = new FakeTelemetryProvider('fake', req => {
      const before = req.end.getTime() <= STEP_START;
      return [
        {
          tick: 1,
          baseline: before
            ? { requests: 100_000, errors: 8 }
            : { requests: 20_000, errors: 2 },
        },
      ];
    });
    const providers = new ProviderRegistry();
    providers.addTelemetry(telemetry);
    return { telemetry, providers };
  }

  it("reads the consumer's window before the step and the step so far on its own target, and burns its own policy's budget", async () => {
    const { telemetry, providers } = world();
    const ev = await readBlastRadius(
      { entities, providers, policies, telemetryStepSeconds: 60 },
      rollout,
      policy({ blastRadius: { beforeSeconds: 600 } }),
      NOW,
      { attempts: 1, initialBackoffMs: 1 },
    );
    expect(
      telemetry.requests.map(r => [
        r.target,
        r.start.getTime() - STEP_START,
        r.end.getTime() - STEP_START,
      ]),
    ).toEqual([
      ['shop/consumer', -600_000, 0],
      ['shop/consumer', 0, 300_000],
    ]);
    const c = ev!.consumers[0];
    // the consumer's own SLO (99.99 %), not the producer's (99 %)
    expect(c.availability).toBe(0.9999);
    expect(c.burnBefore).toBeCloseTo(8 / 100_000 / 0.0001, 9);
    expect(c.burnDuring).toBeCloseTo(2 / 20_000 / 0.0001, 9);
    expect(c.status).toBe('no-rise');
    expect(c.before?.missingTicks).toBe(9); // 10 one-minute intervals asked, 1 answered
    expect([ev!.step, ev!.share, ev!.alphaPerTest]).toEqual([
      2,
      0.05,
      0.01 / 3,
    ]);
  });

  it('is off when the policy turns it off or the catalog cannot name consumers', async () => {
    const { providers } = world();
    const deps = { entities, providers, policies, telemetryStepSeconds: 60 };
    const retry = { attempts: 1, initialBackoffMs: 1 };
    expect(
      await readBlastRadius(
        deps,
        rollout,
        policy({ blastRadius: { enabled: false } }),
        NOW,
        retry,
      ),
    ).toBeUndefined();
    const { consumersOf: _, ...noConsumers } = entities;
    expect(
      await readBlastRadius(
        { ...deps, entities: noConsumers },
        rollout,
        policy(),
        NOW,
        retry,
      ),
    ).toBeUndefined();
  });

  it('a consumer whose telemetry fails is not measured, with the reason', async () => {
    const { telemetry, providers } = world();
    telemetry.failWith = new Error('prometheus: 503 Service Unavailable');
    const ev = await readBlastRadius(
      { entities, providers, policies, telemetryStepSeconds: 60 },
      // another step start: its window before is not in the cache the first test filled
      { ...rollout, stepStartedAt: new Date(STEP_START + 1).toISOString() },
      policy(),
      NOW,
      { attempts: 1, initialBackoffMs: 1 },
    );
    expect(ev!.consumers[0].status).toBe('not-measured');
    expect(ev!.consumers[0].reason).toBe(
      'telemetry unavailable: prometheus: 503 Service Unavailable',
    );
    expect(ev!.harmed).toEqual([]);
  });
});
