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
import { DecisionWriter } from '../decisions/DecisionWriter';
import { sqliteStore } from '../loop/__testUtils__/simulatorLoop';
import {
  ENTITY,
  replica,
  simulationOf,
  stageAnnotations,
  stageServices,
} from './__testUtils__/pipelineLoop';
import { pipelineId, PipelineStore } from './PipelineStore';

const NOW = new Date(Date.UTC(2026, 11, 7, 12));

const stages = [
  {
    name: 'staging',
    provider: 'simulator',
    target: 'a',
    state: 'running' as const,
  },
  {
    name: 'prod',
    provider: 'simulator',
    target: 'b',
    state: 'waiting' as const,
  },
];

/** What the store must do on either database. */
async function storeContract(knex: Knex, store: DatabaseRolloutsStore) {
  const pipelines = new PipelineStore(knex, store);
  const input = {
    entityRef: ENTITY,
    version: '1.2.3',
    status: 'running' as const,
    stages,
    nextStage: 1,
    soakSeconds: 60,
  };
  // Two replicas create the same release's pipeline: one row, one id.
  const [a, b] = await Promise.all([
    pipelines.create(input, NOW),
    pipelines.create(input, NOW),
  ]);
  expect([a.created, b.created].filter(Boolean)).toHaveLength(1);
  expect(a.pipeline.id).toBe(pipelineId(ENTITY, '1.2.3'));
  expect(await pipelines.list({ entityRef: ENTITY })).toHaveLength(1);

  // A decision subject: any rollout row.
  const { rollout } = await store.upsertDiscovered({
    id: randomUUID(),
    entityRef: ENTITY,
    provider: 'simulator',
    target: 'a',
    externalId: 'a@1.2.3',
    version: '1.2.3',
    status: 'progressing',
    steps: [{ weight: 10 }, { weight: 100 }],
    currentStepIndex: 0,
    currentWeight: 10,
    startedAt: NOW.toISOString(),
    stepStartedAt: NOW.toISOString(),
  });
  const decision = new DecisionWriter({ now: () => NOW }).build(rollout, {
    verdict: 'observe',
    kind: 'automatic',
    actor: 'scheduler',
    reasons: ['pipeline: stage prod starts'],
    outcome: 'applied',
  });
  // Two claims on the same row version: exactly one applies, with its decision.
  const claims = await Promise.all([
    pipelines.update(
      a.pipeline,
      { pendingAction: 'start:1', nextStage: 2 },
      NOW,
      [decision],
    ),
    pipelines.update(
      a.pipeline,
      { pendingAction: 'start:1', nextStage: 2 },
      NOW,
      [decision],
    ),
  ]);
  expect(claims.filter(Boolean)).toHaveLength(1);
  const log = await store.listDecisions({ rolloutId: rollout.id });
  expect(log.items.map(d => d.reasons[0])).toEqual([
    'pipeline: stage prod starts',
  ]);
  const stored = (await pipelines.get(a.pipeline.id))!;
  expect(stored).toMatchObject({
    nextStage: 2,
    pendingAction: 'start:1',
    rowVersion: 2,
  });
  expect(stored.stages).toEqual(stages);
  // Releasing the claim clears it.
  const released = await pipelines.update(
    stored,
    { pendingAction: null, soakUntil: NOW.toISOString() },
    NOW,
  );
  expect(released?.pipeline.pendingAction).toBeUndefined();
  expect((await pipelines.get(a.pipeline.id))!.pendingAction).toBeUndefined();
  expect((await store.verifyDecisions()).ok).toBe(true);
}

describe('PipelineStore on SQLite', () => {
  it('creates one pipeline per release and applies one of two competing claims', async () => {
    const { knex, store } = await sqliteStore();
    await expect(storeContract(knex, store)).resolves.toBeUndefined();
    await knex.destroy();
  });
});

const runPg = assertPostgresOrSkip('pipelines on PostgreSQL');
describe.runIf(runPg)('PipelineStore on PostgreSQL', () => {
  let pg: PostgresServer;
  beforeAll(async () => {
    pg = await startPostgres();
  }, 60_000);
  afterAll(() => pg.stop());

  async function database(): Promise<Knex[]> {
    const name = `pipelines_${randomUUID().slice(0, 8)}`;
    await pg.createDatabase(name);
    const make = () =>
      knexFactory({
        client: 'pg',
        connection: pg.connection(name),
        pool: { min: 0, max: 5 },
      });
    const k1 = make();
    await migrateRolloutsDatabase(k1);
    return [k1, make()];
  }

  it('creates one pipeline per release and applies one of two competing claims', async () => {
    const [k1, k2] = await database();
    await expect(
      storeContract(k1, DatabaseRolloutsStore.fromKnex(k1)),
    ).resolves.toBeUndefined();
    await Promise.all([k1.destroy(), k2.destroy()]);
  }, 60_000);

  it('two replicas on one PostgreSQL start each stage once', async () => {
    const [k1, k2] = await database();
    const clock = { t: Date.UTC(2026, 11, 7, 12) };
    const sim = simulationOf(stageServices(), clock);
    const a = replica(
      k1,
      DatabaseRolloutsStore.fromKnex(k1),
      sim,
      clock,
      stageAnnotations('30s'),
    );
    const b = replica(
      k2,
      DatabaseRolloutsStore.fromKnex(k2),
      sim,
      clock,
      stageAnnotations('30s'),
    );
    const calls: string[] = [];
    const start = sim.deploy.startRelease!.bind(sim.deploy);
    sim.deploy.startRelease = async (target, version, previous) => {
      calls.push(target);
      return start(target, version, previous);
    };
    for (let i = 0; i < 150; i++) {
      clock.t += 10_000;
      await Promise.all([a.loop.run(), b.loop.run()]);
      await Promise.all([a.driver.run(), b.driver.run()]);
      const [p] = await a.pipelines.list({ entityRef: ENTITY });
      if (p?.status === 'completed') break;
    }
    const [p] = await a.pipelines.list({ entityRef: ENTITY });
    expect(p.status).toBe('completed');
    expect(calls).toEqual(['eu/ship', 'us/ship']);
    await Promise.all([k1.destroy(), k2.destroy()]);
  }, 120_000);
});
