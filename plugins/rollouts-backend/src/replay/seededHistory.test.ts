import { mockServices } from '@backstage/backend-test-utils';
import {
  DEMO_SERVICES,
  Simulation,
} from '@tollgate/plugin-rollouts-backend-module-simulator';
import knexFactory, { type Knex } from 'knex';
import {
  DatabaseRolloutsStore,
  migrateRolloutsDatabase,
} from '../database/DatabaseRolloutsStore';
import { DecisionWriter } from '../decisions/DecisionWriter';
import {
  entityIndexFor,
  STANDARD_POLICY,
} from '../loop/__testUtils__/simulatorLoop';
import { seedHistory } from '../loop/seedHistory';
import { validatePolicyObject } from '../policy/policy';
import { ProviderRegistry } from '../providers/ProviderRegistry';
import { KeptTelemetryStore } from './KeptTelemetryStore';
import { WhatIfService } from './WhatIfService';

const T0 = Date.UTC(2026, 10, 21, 9, 0, 0);
const DAY = 86_400_000;

/** The dashboard's example candidate: slower promotions at a looser α (`EXAMPLE_POLICY`). */
const STRICT = {
  slo: { availability: 0.995, latency: { thresholdMs: 500, objective: 0.99 } },
  gate: {
    alpha: 0.1,
    promote: { minDurationSeconds: 240, minCanaryRequests: 1000 },
  },
};

describe("what-if replay of the simulator's seeded history", () => {
  let knex: Knex;
  let kept: KeptTelemetryStore;
  let seed: () => Promise<number>;

  beforeAll(async () => {
    knex = knexFactory({
      client: 'better-sqlite3',
      connection: ':memory:',
      useNullAsDefault: true,
    });
    await migrateRolloutsDatabase(knex);
    kept = new KeptTelemetryStore(knex);
    const sim = new Simulation({
      seed: 42,
      services: DEMO_SERVICES,
      now: () => new Date(T0),
    });
    const providers = new ProviderRegistry();
    providers.addDeploy(sim.deploy);
    const store = DatabaseRolloutsStore.fromKnex(knex);
    seed = () =>
      seedHistory({
        store,
        providers,
        entities: entityIndexFor(),
        logger: mockServices.logger.mock(),
        decisions: new DecisionWriter(),
        keptTelemetry: {
          store: kept,
          retentionDays: 30,
          now: () => new Date(T0),
        },
      });
  });
  afterAll(() => knex.destroy());

  const run = (policy: object) =>
    new WhatIfService({ db: knex, kept }).run(
      validatePolicyObject(policy).policy!,
      {
        readable: new Set(DEMO_SERVICES.map(s => s.entityRef)),
        from: new Date(T0 - 40 * DAY).toISOString(),
        to: new Date(T0).toISOString(),
        limit: 1000,
      },
    );

  it('keeps the history telemetry once: seeding again duplicates nothing', async () => {
    const imported = await seed();
    expect(imported).toBeGreaterThan(60);
    const size = await kept.size();
    expect(size.rows).toBeGreaterThan(imported);
    expect(await seed()).toBe(0);
    expect(await kept.size()).toEqual(size);
    // kept as of each step's end: nothing older than the retention
    const oldest = await knex('rollout_telemetry').min('kept_at as at').first();
    expect(Date.parse(oldest!.at)).toBeGreaterThanOrEqual(T0 - 30 * DAY);
  });

  it('replays the seeded rollouts, and a stricter policy rolls back releases the standard one promoted', async () => {
    const standard = await run(STANDARD_POLICY);
    const strict = await run(STRICT);
    const rows = await knex('rollouts').count('* as n').first();
    // eslint-disable-next-line no-console
    console.log(
      `seeded ${rows!.n}; standard: ${JSON.stringify(standard.totals)}; strict: ${JSON.stringify(strict.totals)}`,
    );
    // only a rollout whose steps all ended before the retention is not replayable
    const notReplayable = standard.rollouts.filter(r => !r.replayable);
    expect(standard.totals.replayed).toBeGreaterThan(
      9 * standard.totals.notReplayable,
    );
    expect(
      notReplayable.filter(r => Date.parse(r.startedAt) > T0 - 29 * DAY),
    ).toEqual([]);
    expect(standard.totals.actual.rollbacks).toBeGreaterThan(0);
    expect(standard.totals.whatIf.rollbacks).toBeGreaterThan(0);
    expect(standard.totals.whatIf.promotionsToFull).toBeGreaterThan(0);

    const standardOf = new Map(standard.rollouts.map(r => [r.rolloutId, r]));
    const harsher = strict.rollouts.filter(r => {
      const s = standardOf.get(r.rolloutId)!.whatIf;
      if (r.whatIf?.outcome !== 'rollback') return false;
      if (s?.outcome !== 'rollback') return true;
      return (r.whatIf.minute ?? 0) < (s.minute ?? 0);
    });
    expect(harsher.length).toBeGreaterThan(0);
    expect(strict.totals.whatIf.rollbacks).toBeGreaterThan(
      standard.totals.whatIf.rollbacks,
    );
  });
});
