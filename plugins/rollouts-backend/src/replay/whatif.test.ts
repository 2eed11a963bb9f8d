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
  advanceRolloutStep,
  createRolloutGate,
  decideRollout,
  observeRolloutTick,
} from '@tollgate/plugin-rollouts-engine';
import {
  FakeDeployProvider,
  FakeTelemetryProvider,
  fakeProvidersModule,
  rolloutsPermissionsMock,
  catalogComponent,
} from '@tollgate/plugin-rollouts-node/testUtils';
import knexFactory, { type Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import {
  DatabaseRolloutsStore,
  migrateRolloutsDatabase,
} from '../database/DatabaseRolloutsStore';
import type { StoredRollout } from '../database/RolloutsStore';
import { gateContextFor, gatePolicyFor } from '../evaluation/gateInputs';
import { rolloutsPlugin } from '../plugin';
import { validatePolicyObject } from '../policy/policy';
import { ShadowStore } from '../shadow/ShadowStore';
import { KeptTelemetryStore } from './KeptTelemetryStore';

const OWNER = 'user:default/priya';
const STRANGER = 'user:default/mallory';
const CHECKOUT = 'component:default/checkout';
const PAYMENTS = 'component:default/payments';

const CANDIDATE = {
  slo: { availability: 0.995, latency: { thresholdMs: 500, objective: 0.99 } },
  gate: {
    promote: { minDurationSeconds: 300, minCanaryRequests: 300 },
    rollout: { minStepSeconds: 120, minStepCanaryRequests: 100 },
  },
};
const STEPS = [{ weight: 10 }, { weight: 50 }, { weight: 100 }];
const T0 = Date.parse('2026-12-01T10:00:00Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString();

/** One-minute intervals at `share`; the canary's error rate `factor` × the baseline's. */
function ticks(n: number, share: number, factor: number): TelemetryTick[] {
  return Array.from({ length: n }, (_, i) => {
    const total = 20_000;
    const canary = Math.round(total * share);
    const latency = (requests: number) => ({
      le: [100, 500, 1000, Infinity],
      counts: [
        Math.round(requests * 0.8),
        requests - Math.round(requests * 0.004) - (i % 3),
        requests - (i % 2),
        requests,
      ],
    });
    return {
      tick: i + 1,
      baseline: {
        requests: total - canary,
        errors: Math.round((total - canary) * 0.002),
        latency: latency(total - canary),
      },
      canary: {
        requests: canary,
        errors: Math.round(canary * 0.002 * factor) + (i % 2),
        latency: latency(canary),
      },
    };
  });
}

const component = (name: string) =>
  catalogComponent(name, { rollouts: `fake:shop/${name}` });

/** A finished rollout, its kept steps (or none), and how it ended. */
async function seed(
  knex: Knex,
  o: {
    entityRef: string;
    version: string;
    startMinute: number;
    steps: TelemetryTick[][];
    ended: 'promoted' | 'rolled-back';
    keep: boolean;
  },
) {
  const store = DatabaseRolloutsStore.fromKnex(knex);
  const id = randomUUID();
  const stepStarts: number[] = [];
  let m = o.startMinute;
  for (const s of o.steps) {
    stepStarts.push(m);
    m += s.length;
  }
  const { rollout } = await store.upsertDiscovered({
    id,
    entityRef: o.entityRef,
    provider: 'fake',
    target: `shop/${o.entityRef.split('/')[1]}`,
    externalId: `${o.entityRef}@${o.version}`,
    version: o.version,
    status: o.ended,
    steps: STEPS,
    currentStepIndex: o.steps.length - 1,
    currentWeight: STEPS[o.steps.length - 1].weight,
    startedAt: at(o.startMinute),
    stepStartedAt: at(stepStarts[stepStarts.length - 1]),
    finishedAt: at(m),
  } as Omit<StoredRollout, 'rowVersion' | 'updatedAt'>);
  // what happened, as the log says it (the delivery figures fold it)
  await store.appendDecision({
    rolloutId: rollout.id,
    entityRef: o.entityRef,
    stepIndex: o.steps.length - 1,
    verdict: o.ended === 'promoted' ? 'promote' : 'rollback',
    kind: 'automatic',
    actor: 'scheduler',
    reasons: ['seeded'],
    evidence: null,
    policyHash: null,
    outcome: 'applied',
    createdAt: at(m),
  });
  if (o.keep)
    await new KeptTelemetryStore(knex).keep(
      o.steps.map((t, i) => ({
        rolloutId: rollout.id,
        entityRef: o.entityRef,
        stepIndex: i,
        stepStartedAt: at(stepStarts[i]),
        weight: STEPS[i].weight,
        tickSeconds: 60,
        ticks: t,
        keptAt: at(m),
      })),
    );
  return rollout.id;
}

/** The engine run directly over the same intervals, as the gate loop runs it: the first promote/rollback per step. */
function directRun(steps: TelemetryTick[][]) {
  const policy = validatePolicyObject(CANDIDATE).policy!;
  const ctx = gateContextFor(
    { entityRef: CHECKOUT, currentWeight: 10 } as StoredRollout,
    policy,
    60,
  );
  const rs = createRolloutGate(ctx, gatePolicyFor(policy), [0.1, 0.5]);
  let offset = 0;
  let minute = 0;
  for (let i = 0; i < steps.length; i++) {
    if (i > 0) advanceRolloutStep(rs, i);
    for (const t of steps[i]) {
      observeRolloutTick(rs, { ...t, tick: t.tick + offset });
      const v = decideRollout(rs).verdict;
      if (v === 'rollback')
        return { verdict: v, step: i, minute: minute + t.tick };
      if (v === 'promote') {
        minute += t.tick;
        if (i === 1) return { verdict: v, step: i, minute };
        break;
      }
    }
    offset += steps[i].length;
  }
  return undefined;
}

describe('POST /v1/policies/whatif', () => {
  let knex: Knex;
  let server: Parameters<typeof request>[0];
  const auditor = mockServices.auditor.mock();
  const bad = [ticks(40, 0.1, 6)];
  const good = [ticks(30, 0.1, 1), ticks(30, 0.5, 1)];
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    knex = knexFactory({
      client: 'better-sqlite3',
      connection: ':memory:',
      useNullAsDefault: true,
    });
    await migrateRolloutsDatabase(knex);
    ids.bad = await seed(knex, {
      entityRef: CHECKOUT,
      version: '1.0.0',
      startMinute: 0,
      steps: bad,
      ended: 'promoted',
      keep: true,
    });
    ids.good = await seed(knex, {
      entityRef: CHECKOUT,
      version: '1.1.0',
      startMinute: 100,
      steps: good,
      ended: 'promoted',
      keep: true,
    });
    ids.lost = await seed(knex, {
      entityRef: CHECKOUT,
      version: '1.2.0',
      startMinute: 200,
      steps: good,
      ended: 'rolled-back',
      keep: false,
    });
    ids.payments = await seed(knex, {
      entityRef: PAYMENTS,
      version: '7.0.0',
      startMinute: 300,
      steps: good,
      ended: 'promoted',
      keep: true,
    });
    const permissions = rolloutsPermissionsMock(
      q =>
        (q.permission === 'rollouts.rollout.read' &&
          !(q.userEntityRef === STRANGER && q.resourceRef === CHECKOUT)) ||
        q.principalType === 'service',
    );
    ({ server } = await startTestBackend({
      features: [
        rolloutsPlugin,
        fakeProvidersModule({
          deploy: [new FakeDeployProvider('fake')],
          telemetry: [new FakeTelemetryProvider('fake', () => [])],
        }),
        catalogServiceMock.factory({
          entities: [component('checkout'), component('payments')],
        }),
        permissions.factory,
        auditor.factory,
        mockServices.database.factory({ knex }),
        mockServices.rootConfig.factory({
          data: { rollouts: { schedule: { frequencySeconds: 3600 } } },
        }),
      ],
    }));
  });
  afterAll(() => knex.destroy());

  const whatIf = (body: object, user = OWNER) =>
    request(server)
      .post('/api/rollouts/v1/policies/whatif')
      .set('Authorization', mockCredentials.user.header(user))
      .send(body);

  it('replays each rollout as a direct engine run does, and says which it cannot replay', async () => {
    const res = await whatIf({
      policy: CANDIDATE,
      selection: { services: [CHECKOUT], from: at(-10), to: at(1000) },
    }).expect(200);
    const body = res.body as WhatIfResult;
    const byId = new Map(body.rollouts.map(r => [r.rolloutId, r]));

    const expectedBad = directRun(bad)!;
    expect(expectedBad.verdict).toBe('rollback');
    expect(byId.get(ids.bad)).toMatchObject({
      replayable: true,
      actual: { outcome: 'full' },
      whatIf: {
        outcome: 'rollback',
        stepIndex: expectedBad.step,
        minute: expectedBad.minute,
      },
      comparison: 'would-rollback',
    });
    const expectedGood = directRun(good)!;
    expect(expectedGood.verdict).toBe('promote');
    expect(byId.get(ids.good)).toMatchObject({
      replayable: true,
      whatIf: { outcome: 'full', minute: expectedGood.minute },
    });
    // no kept telemetry: listed as not replayable, never counted as healthy
    expect(byId.get(ids.lost)).toMatchObject({
      replayable: false,
      actual: { outcome: 'rollback' },
    });
    expect(byId.get(ids.lost)!.notReplayable).toMatch(/no kept telemetry/);
    expect(body.totals).toMatchObject({
      replayed: 2,
      notReplayable: 1,
      whatIf: { rollbacks: 1, promotionsToFull: 1 },
      actual: { rollbacks: 0, promotionsToFull: 2 },
    });
    expect(body.truncated).toBe(false);
  });

  it('caps the work and says so', async () => {
    const res = await whatIf({
      policy: CANDIDATE,
      selection: { limit: 1, from: at(-10), to: at(1000) },
    }).expect(200);
    expect(res.body.rollouts).toHaveLength(1);
    expect(res.body.truncated).toBe(true);
  });

  it("replays only rollouts the caller may read: another team's are not listed", async () => {
    const res = await whatIf(
      { policy: CANDIDATE, selection: { from: at(-10), to: at(1000) } },
      STRANGER,
    ).expect(200);
    expect((res.body as WhatIfResult).rollouts.map(r => r.entityRef)).toEqual([
      PAYMENTS,
    ]);
    const asked = await whatIf(
      { policy: CANDIDATE, selection: { services: [CHECKOUT] } },
      STRANGER,
    ).expect(200);
    expect(asked.body.rollouts).toEqual([]);
  });

  it("audits a service token's replay (telemetry is evidence), not a person's", async () => {
    const body = {
      policy: CANDIDATE,
      selection: { from: at(-10), to: at(1000) },
    };
    auditor.createEvent.mockClear();
    await whatIf(body).expect(200);
    expect(auditor.createEvent).not.toHaveBeenCalled();
    const res = await request(server)
      .post('/api/rollouts/v1/policies/whatif')
      .set('Authorization', mockCredentials.service.header())
      .send(body)
      .expect(200);
    expect(res.body.rollouts.length).toBeGreaterThan(0);
    expect(auditor.createEvent).toHaveBeenCalledWith(
      expect.objectContaining({
        eventId: 'evidence-read',
        severityLevel: 'low',
      }),
    );
  });

  it("answers a rollout's shadow policies and would-have entries to whoever may read it", async () => {
    await new ShadowStore(knex).put([
      {
        rolloutId: ids.good,
        policyName: 'strict',
        entityRef: CHECKOUT,
        lastPair: 'promote/continue',
        updatedAt: at(110),
      },
    ]);
    await DatabaseRolloutsStore.fromKnex(knex).appendDecision({
      rolloutId: ids.good,
      entityRef: CHECKOUT,
      stepIndex: 0,
      verdict: 'continue',
      kind: 'shadow',
      actor: 'shadow:strict',
      reasons: [
        'would have: continue under shadow policy strict (enforced: promote)',
      ],
      evidence: null,
      policyHash: null,
      outcome: 'none',
      createdAt: at(110),
    });
    const res = await request(server)
      .get(`/api/rollouts/v1/rollouts/${ids.good}/shadow`)
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(200);
    expect(res.body.policies).toEqual([
      {
        policy: 'strict',
        enforced: 'promote',
        shadow: 'continue',
        updatedAt: at(110),
      },
    ]);
    expect(res.body.items.map((d: { kind: string }) => d.kind)).toEqual([
      'shadow',
    ]);
    // the rollout's own decision list leaves it out
    const list = await request(server)
      .get(`/api/rollouts/v1/rollouts/${ids.good}/decisions`)
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(200);
    expect(list.body.items.map((d: { kind: string }) => d.kind)).not.toContain(
      'shadow',
    );
    await request(server)
      .get(`/api/rollouts/v1/rollouts/${ids.good}/shadow`)
      .set('Authorization', mockCredentials.user.header(STRANGER))
      .expect(403);
  });

  it('names the field of bad input', async () => {
    const policy = await whatIf({
      policy: {
        ...CANDIDATE,
        kpis: [{ name: 'conversion', type: 'ratio', direction: 'increase' }],
      },
    }).expect(400);
    expect(policy.body.error.message).toMatch(/policy\.kpis\[0\]\.type/);
    const yaml = await whatIf({ yaml: 'slo: [' }).expect(400);
    expect(yaml.body.error.message).toMatch(/yaml/);
    const from = await whatIf({
      policy: CANDIDATE,
      selection: { from: 'yesterday' },
    }).expect(400);
    expect(from.body.error.message).toMatch(/selection\.from/);
    const limit = await whatIf({
      policy: CANDIDATE,
      selection: { limit: 5000 },
    }).expect(400);
    expect(limit.body.error.message).toMatch(/selection\.limit/);
    const none = await whatIf({ selection: {} }).expect(400);
    expect(none.body.error.message).toMatch(/policy|yaml/);
  });
});
