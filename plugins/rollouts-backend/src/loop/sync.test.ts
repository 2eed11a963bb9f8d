import { ConfigReader } from '@backstage/config';
import { mockServices } from '@backstage/backend-test-utils';
import {
  FakeDeployProvider,
  FakeTelemetryProvider,
} from '@tollgate/plugin-rollouts-node/testUtils';
import knexFactory from 'knex';
import {
  DatabaseRolloutsStore,
  migrateRolloutsDatabase,
} from '../database/DatabaseRolloutsStore';
import { PolicyResolver } from '../policy/PolicyResolver';
import type { EntityLookup } from '../catalog/EntityIndex';
import { GateLoop } from './GateLoop';
import {
  ladderFor,
  providerRolloutProblem,
  registeredExternalId,
} from './sync';
import { ProviderRegistry } from '../providers/ProviderRegistry';
import { RolloutEvents } from '../events/RolloutEvents';

const PROVIDER_STEPS = [
  { weight: 1 },
  { weight: 5 },
  { weight: 25 },
  { weight: 100 },
];

describe('ladderFor', () => {
  it("keeps the provider's ladder, with the policy's durations and approvals when the weights agree", () => {
    const policy = [
      { weight: 1, minDurationSeconds: 600 },
      { weight: 5 },
      { weight: 25, requiresApproval: true },
      { weight: 100 },
    ];
    expect(ladderFor(PROVIDER_STEPS, policy)).toBe(policy);
    expect(
      ladderFor(PROVIDER_STEPS, [
        { weight: 10 },
        { weight: 50 },
        { weight: 100 },
      ]),
    ).toBe(PROVIDER_STEPS);
    expect(ladderFor(PROVIDER_STEPS, undefined)).toBe(PROVIDER_STEPS);
  });
});

describe('providerRolloutProblem', () => {
  const ok = {
    externalId: 'a@1',
    target: 'a',
    version: '1',
    status: 'progressing' as const,
    steps: PROVIDER_STEPS,
    currentStepIndex: 1,
    currentWeight: 5,
    startedAt: new Date(),
    stepStartedAt: new Date(),
  };
  it('accepts a plausible rollout and names what cannot be right', () => {
    expect(providerRolloutProblem(ok)).toBeUndefined();
    expect(providerRolloutProblem({ ...ok, currentStepIndex: 11 })).toBe(
      'currentStepIndex 11 is not one of its 4 steps',
    );
    expect(providerRolloutProblem({ ...ok, currentWeight: -5 })).toBe(
      'currentWeight -5 is not a percentage',
    );
    expect(providerRolloutProblem({ ...ok, steps: [] })).toBe(
      'it has no steps',
    );
  });
});

describe('GateLoop sync', () => {
  async function setup() {
    const knex = knexFactory({
      client: 'better-sqlite3',
      connection: ':memory:',
      useNullAsDefault: true,
    });
    await migrateRolloutsDatabase(knex);
    const store = DatabaseRolloutsStore.fromKnex(knex);
    const deploy = new FakeDeployProvider('fake');
    const providers = new ProviderRegistry();
    providers.addDeploy(deploy);
    providers.addTelemetry(new FakeTelemetryProvider('fake', () => []));
    const entities: EntityLookup = {
      byTarget: async () => ({
        entityRef: 'component:default/checkout',
        annotations: {},
      }),
      byRef: async () => ({
        entityRef: 'component:default/checkout',
        annotations: {},
      }),
      all: async () => [],
    };
    const loop = new GateLoop({
      store,
      providers,
      entities,
      policies: PolicyResolver.fromConfig(new ConfigReader({})),
      events: new RolloutEvents({ logger: mockServices.logger.mock() }),
      logger: mockServices.logger.mock(),
      telemetryStepSeconds: 10,
      retry: { attempts: 1, initialBackoffMs: 1 },
    });
    return { knex, store, deploy, loop };
  }

  it("keeps a step's wait for approval while the provider reports it progressing", async () => {
    const { knex, store, deploy, loop } = await setup();
    deploy.add({
      target: 'shop/checkout',
      currentStepIndex: 1,
      currentWeight: 5,
    });
    await loop.sync();
    const [row] = await store.listRollouts({});
    await store.updateRollout(row.id, row.rowVersion, {
      status: 'awaiting-approval',
    });
    await loop.sync();
    expect((await store.getRollout(row.id))?.status).toBe('awaiting-approval');
    await knex.destroy();
  });

  it("keeps a person's pause across syncs while the provider reports progressing, until it is resumed in Tollgate", async () => {
    const { knex, store, deploy, loop } = await setup();
    deploy.add({
      target: 'shop/checkout',
      currentStepIndex: 1,
      currentWeight: 5,
    });
    await loop.sync();
    const [row] = await store.listRollouts({});
    const personActs = async (action: 'pause' | 'resume') => {
      const now = (await store.getRollout(row.id))!;
      await store.finishAction({
        rollout: now,
        patch: { status: action === 'pause' ? 'paused' : 'progressing' },
        decision: {
          rolloutId: row.id,
          entityRef: row.entityRef,
          stepIndex: now.currentStepIndex,
          verdict: action,
          kind: 'manual',
          actor: 'user:default/on-call',
          reasons: ['reason given: checking a dashboard'],
          evidence: null,
          policyHash: null,
          outcome: 'applied',
        },
      });
    };
    // A deploy system without a pause (Unleash) keeps reporting the ramp as progressing.
    await personActs('pause');
    for (let i = 0; i < 3; i++) await loop.sync();
    expect((await store.getRollout(row.id))?.status).toBe('paused');
    await personActs('resume');
    await personActs('pause');
    await loop.sync();
    expect((await store.getRollout(row.id))?.status).toBe('paused');
    await personActs('resume');
    await loop.sync();
    expect((await store.getRollout(row.id))?.status).toBe('progressing');
    await knex.destroy();
  });

  it('follows the provider when a pause it reported is lifted there', async () => {
    const { knex, store, deploy, loop } = await setup();
    deploy.add({
      target: 'shop/checkout',
      currentStepIndex: 1,
      currentWeight: 5,
    });
    await loop.sync();
    const [row] = await store.listRollouts({});
    await store.updateRollout(row.id, row.rowVersion, { status: 'paused' });
    await loop.sync();
    expect((await store.getRollout(row.id))?.status).toBe('progressing');
    await knex.destroy();
  });

  it('takes the rollout CI registered as the one the provider reports later, not as a second rollout', async () => {
    const { knex, store, deploy, loop } = await setup();
    // CI registers 2.1.0 before the provider lists it (POST /v1/rollouts writes this row).
    const now = new Date().toISOString();
    const { rollout: ci } = await store.upsertDiscovered({
      id: '018f0000-0000-7000-8000-000000000001',
      entityRef: 'component:default/checkout',
      provider: 'fake',
      target: 'shop/checkout',
      externalId: registeredExternalId({
        target: 'shop/checkout',
        version: '2.1.0',
      }),
      version: '2.1.0',
      status: 'pending',
      steps: [{ weight: 10, minDurationSeconds: 600 }, { weight: 100 }],
      currentStepIndex: 0,
      currentWeight: 0,
      startedAt: now,
      stepStartedAt: now,
    });
    deploy.add({
      target: 'shop/checkout',
      version: '2.1.0',
      externalId: 'argo:prod/shop/checkout#rev-7',
      currentStepIndex: 1,
      currentWeight: 5,
    });
    await loop.sync();
    await loop.sync();

    const rows = await store.listRollouts({});
    expect(rows.map(r => r.id)).toEqual([ci.id]);
    expect(rows[0]).toMatchObject({
      status: 'progressing',
      currentStepIndex: 1,
      currentWeight: 5,
    });
    // The provider's ladder, since the registration's weights differ from it.
    expect(rows[0].steps.map(s => s.weight)).toEqual([1, 5, 25, 100]);
    await knex.destroy();
  });

  it('ignores a rollout reported in a state that cannot be right, and does not end the one it knows', async () => {
    const { knex, store, deploy, loop } = await setup();
    const reported = deploy.add({ target: 'shop/checkout' });
    await loop.sync();
    deploy.add({ ...reported, currentStepIndex: 9, currentWeight: -5 });
    await loop.sync();
    const [row] = await store.listRollouts({});
    expect(row).toMatchObject({
      status: 'progressing',
      currentStepIndex: 0,
      currentWeight: 1,
    });
    await knex.destroy();
  });
});
