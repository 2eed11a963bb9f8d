import { ConfigReader } from '@backstage/config';
import {
  assertPostgresOrSkip,
  startPostgres,
  type PostgresServer,
} from '@tollgate/test-support';
import knexFactory, { type Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import {
  DatabaseRolloutsStore,
  migrateRolloutsDatabase,
} from '../database/DatabaseRolloutsStore';
import type { StoredRollout } from '../database/RolloutsStore';
import { validatePolicyObject } from '../policy/policy';
import { WhatIfService } from '../replay/WhatIfService';
import { PolicyResolver } from '../policy/PolicyResolver';
import {
  KeptTelemetryStore,
  packTicks,
  unpackTicks,
} from '../replay/KeptTelemetryStore';
import { readShadowConfig, shadowPolicyRef } from './shadowConfig';
import { ShadowStore } from './ShadowStore';

const TICKS = Array.from({ length: 12 }, (_, i) => ({
  tick: i + 1,
  time: 1_800_000_000 + i * 60,
  baseline: {
    requests: 9000,
    errors: 18,
    latency: { le: [100, 500, Infinity], counts: [7000, 8990, 9000] },
  },
  canary: {
    requests: 1000,
    errors: 2 + (i % 2),
    latency: { le: [100, 500, Infinity], counts: [780, 998, 1000] },
  },
}));

async function storesOn(knex: Knex) {
  await migrateRolloutsDatabase(knex);
  const kept = new KeptTelemetryStore(knex);
  const shadows = new ShadowStore(knex);
  const id = randomUUID();
  const step = (stepIndex: number, n: number, keptAt: string) => ({
    rolloutId: id,
    entityRef: 'component:default/checkout',
    stepIndex,
    stepStartedAt: `2026-12-01T10:${String(stepIndex * 20).padStart(2, '0')}:00.000Z`,
    weight: [10, 50][stepIndex],
    tickSeconds: 60,
    ticks: TICKS.slice(0, n),
    keptAt,
  });
  // a step is rewritten as it grows
  await kept.keep([step(0, 5, '2026-12-01T10:05:00.000Z')]);
  await kept.keep([
    step(0, 12, '2026-12-01T10:12:00.000Z'),
    step(1, 3, '2026-12-01T10:23:00.000Z'),
  ]);
  const read = (await kept.stepsOf([id])).get(id)!;
  expect(read.map(s => [s.stepIndex, s.weight, s.ticks.length])).toEqual([
    [0, 10, 12],
    [1, 50, 3],
  ]);
  // every count, and the histogram's +Inf bound, come back as they were
  expect(read[0].ticks).toEqual(TICKS);
  // the retention: rows kept before the cut are pruned
  expect(await kept.prune(new Date('2026-12-01T10:20:00.000Z'))).toBe(1);
  expect((await kept.stepsOf([id])).get(id)!.map(s => s.stepIndex)).toEqual([
    1,
  ]);

  // a shadow's row: a write without a gate state keeps the stored one
  await shadows.put([
    {
      rolloutId: id,
      policyName: 'strict',
      entityRef: 'component:default/checkout',
      gateState: '{"v":1,"key":"k"}',
      lastPair: 'continue/continue',
      updatedAt: '2026-12-01T10:00:00.000Z',
    },
  ]);
  await shadows.put([
    {
      rolloutId: id,
      policyName: 'strict',
      entityRef: 'component:default/checkout',
      lastPair: 'continue/rollback',
      updatedAt: '2026-12-01T10:01:00.000Z',
    },
  ]);
  expect(await shadows.get(id, 'strict')).toMatchObject({
    gateState: '{"v":1,"key":"k"}',
    lastPair: 'continue/rollback',
  });

  // the panel's reads: the rollout's shadows and its would-have entries (not its others)
  const store = DatabaseRolloutsStore.fromKnex(knex);
  await store.upsertDiscovered({
    id,
    entityRef: 'component:default/checkout',
    provider: 'fake',
    target: 'shop/checkout',
    externalId: `checkout@${id}`,
    version: '2.0.0',
    status: 'progressing',
    steps: [{ weight: 10 }, { weight: 50 }, { weight: 100 }],
    currentStepIndex: 1,
    currentWeight: 50,
    startedAt: '2026-12-01T10:00:00.000Z',
    stepStartedAt: '2026-12-01T10:20:00.000Z',
  } as Omit<StoredRollout, 'rowVersion' | 'updatedAt'>);
  const entry = (
    kind: 'shadow' | 'automatic',
    verdict: 'rollback' | 'continue',
  ) => ({
    rolloutId: id,
    entityRef: 'component:default/checkout',
    stepIndex: 1,
    verdict,
    kind,
    actor: kind === 'shadow' ? 'shadow:strict' : 'scheduler',
    reasons: [
      kind === 'shadow'
        ? 'would have: rollback under shadow policy strict (enforced: continue)'
        : 'observing',
    ],
    evidence: null,
    policyHash: null,
    outcome: 'none' as const,
    createdAt: '2026-12-01T10:22:00.000Z',
  });
  await store.appendDecisions([
    entry('automatic', 'continue'),
    entry('shadow', 'rollback'),
  ]);
  expect(await shadows.shadowedSince('2026-11-01T00:00:00.000Z')).toEqual([
    {
      policyName: 'strict',
      rolloutId: id,
      entityRef: 'component:default/checkout',
    },
  ]);
  const entries = await shadows.entriesOf([id], '2026-11-01T00:00:00.000Z');
  expect(entries.map(e => [e.verdict, e.actor, e.version, e.status])).toEqual([
    ['rollback', 'shadow:strict', '2.0.0', 'progressing'],
  ]);
  // the rollout's own list leaves the would-have entry out; asked for, it is there
  expect(
    (await store.listDecisions({ rolloutId: id })).items.map(d => d.kind),
  ).toEqual(['automatic']);
  expect(
    (await store.listDecisions({ rolloutId: id, shadow: 'include' })).items.map(
      d => d.kind,
    ),
  ).toEqual(['shadow', 'automatic']);
  expect(await store.verifyDecisions()).toMatchObject({ ok: true });

  // and a what-if over it: its kept step 2 without step 1 is not replayable, never healthy
  const result = await new WhatIfService({ db: knex, kept }).run(
    validatePolicyObject({
      slo: {
        availability: 0.995,
        latency: { thresholdMs: 500, objective: 0.99 },
      },
    }).policy!,
    {
      readable: new Set(['component:default/checkout']),
      from: '2026-11-01T00:00:00.000Z',
      to: '2026-12-31T00:00:00.000Z',
      limit: 10,
    },
  );
  expect(result.rollouts).toMatchObject([
    {
      rolloutId: id,
      replayable: false,
      notReplayable: 'step 1 has no kept telemetry',
    },
  ]);
  expect(result.totals).toMatchObject({ replayed: 0, notReplayable: 1 });
}

describe('kept telemetry and shadow states', () => {
  it('packs intervals compactly and losslessly', () => {
    const packed = packTicks(TICKS);
    expect(unpackTicks(packed)).toEqual(TICKS);
    expect(packed.length).toBeLessThan(JSON.stringify(TICKS).length / 3);
  });

  it('keeps, reads, prunes and stores on SQLite', async () => {
    expect.hasAssertions();
    const knex = knexFactory({
      client: 'better-sqlite3',
      connection: ':memory:',
      useNullAsDefault: true,
    });
    await storesOn(knex);
    await knex.destroy();
  });

  it('validates rollouts.shadowPolicies and the retention, naming the key', () => {
    const policies = PolicyResolver.fromConfig(
      new ConfigReader({
        rollouts: {
          policies: {
            strict: {
              slo: {
                availability: 0.999,
                latency: { thresholdMs: 300, objective: 0.99 },
              },
            },
          },
        },
      }),
    );
    const read = (rollouts: object) =>
      readShadowConfig(new ConfigReader({ rollouts }), policies);
    expect(() => read({ shadowPolicies: [{ policy: 'lax' }] })).toThrow(
      /rollouts\.shadowPolicies\[0\]\.policy: .*no policy named "lax"/,
    );
    expect(() =>
      read({ shadowPolicies: [{ policy: 'strict', services: ['not a ref'] }] }),
    ).toThrow(
      /rollouts\.shadowPolicies\[0\]\.services\[0\]: must be an entity ref/,
    );
    expect(() =>
      read({ shadowPolicies: [{ policy: 'strict', team: 'x' }] }),
    ).toThrow(/rollouts\.shadowPolicies\[0\]\.team: unknown key/);
    expect(() => read({ telemetry: { retentionDays: -1 } })).toThrow(
      /rollouts\.telemetry\.retentionDays: must be a number of days/,
    );
    // a rule in shadow: a rule name the gate has, named by its path otherwise
    const ruled = validatePolicyObject({
      slo: { availability: 0.995 },
      shadowRules: ['segments', 'everything'],
    });
    expect(ruled.problems).toEqual([
      expect.objectContaining({ path: 'shadowRules[1]' }),
    ]);
    const inShadow = validatePolicyObject({
      slo: { availability: 0.995 },
      gate: { segments: { dimensions: ['device'] } },
      shadowRules: ['segments', 'change-detection'],
    }).policy!;
    // enforced without them; the shadow has the gate as written
    expect(inShadow.gate).toMatchObject({
      segments: { dimensions: [] },
      rollout: { changeDetection: { enabled: false } },
    });
    expect(inShadow.shadowGate).toEqual({
      segments: { dimensions: ['device'] },
    });
    const config = read({
      shadowPolicies: [{ policy: 'strict', services: ['checkout'] }],
    });
    expect(config.retentionDays).toBe(30);
    // names without a kind are components; the annotation wins over config
    expect(shadowPolicyRef(config, 'component:default/checkout', {})).toBe(
      'default:strict',
    );
    expect(
      shadowPolicyRef(config, 'component:default/cart', {}),
    ).toBeUndefined();
    expect(
      shadowPolicyRef(config, 'component:default/cart', {
        'tollgate.dev/shadow-policy': 'default:other',
      }),
    ).toBe('default:other');
  });
});

const runPg = assertPostgresOrSkip(
  'kept telemetry and shadow states on PostgreSQL',
);
describe.runIf(runPg)('kept telemetry and shadow states on PostgreSQL', () => {
  let pg: PostgresServer;
  beforeAll(async () => {
    pg = await startPostgres();
  }, 120_000);
  afterAll(() => pg?.stop());

  it('keeps, reads, prunes and stores', async () => {
    expect.hasAssertions();
    const name = `shadow_${randomUUID().slice(0, 8)}`;
    await pg.createDatabase(name);
    const knex = knexFactory({ client: 'pg', connection: pg.connection(name) });
    await storesOn(knex);
    await knex.destroy();
  }, 60_000);
});
