import { ConfigReader } from '@backstage/config';
import { mockServices } from '@backstage/backend-test-utils';
import { Simulation, DEMO_SERVICES } from '@tollgate/plugin-rollouts-backend-module-simulator';
import knexFactory, { type Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import {
  assertPostgresOrSkip,
  startPostgres,
  type PostgresServer,
} from '../../../../test/support/postgres';
import { DatabaseRolloutsStore, migrateRolloutsDatabase } from '../database/DatabaseRolloutsStore';
import { PolicyResolver } from '../policy/PolicyResolver';
import type { EntityIndex } from './EntityIndex';
import { GateLoop } from './GateLoop';
import { ProviderRegistry } from './ProviderRegistry';
import { RolloutEvents } from './RolloutEvents';

const policies = PolicyResolver.fromConfig(
  new ConfigReader({
    rollouts: {
      policies: {
        standard: {
          slo: { availability: 0.995, latency: { thresholdMs: 500, objective: 0.99 } },
          kpis: [
            { name: 'conversion', type: 'proportion', direction: 'increase', margin: 0.05 },
            { name: 'order_value', type: 'mean', direction: 'increase', margin: 0.05 },
          ],
          gate: { promote: { minDurationSeconds: 60, minCanaryRequests: 300 } },
        },
      },
    },
  }),
);

/** The catalog part the loop needs: every simulated service, annotated. */
function entityIndexFor(services = DEMO_SERVICES): EntityIndex {
  const byTarget = new Map(services.map(s => [`simulator:${s.target}`, { entityRef: s.entityRef, annotations: {} }]));
  return {
    byTarget: async (p: string, t: string) => byTarget.get(`${p}:${t}`),
    byRef: async (ref: string) => ({ entityRef: ref, annotations: {} }),
    all: async () => [...byTarget.values()],
    refresh: async () => {},
  } as unknown as EntityIndex;
}

function setup(store: DatabaseRolloutsStore, services: typeof DEMO_SERVICES, clock: { t: number }, sim?: Simulation) {
  const simulation =
    sim ?? new Simulation({ seed: 7, services, historyDays: 0, now: () => new Date(clock.t) });
  const providers = new ProviderRegistry();
  providers.addDeploy(simulation.deploy);
  providers.addTelemetry(simulation.telemetry);
  const loop = new GateLoop({
    store,
    providers,
    entities: entityIndexFor(services),
    policies,
    events: new RolloutEvents({ logger: mockServices.logger.mock() }),
    logger: mockServices.logger.mock(),
    telemetryStepSeconds: 10,
    retry: { attempts: 2, initialBackoffMs: 1 },
    now: () => new Date(clock.t),
  });
  return { loop, simulation };
}

async function sqliteStore(): Promise<{ knex: Knex; store: DatabaseRolloutsStore }> {
  const knex = knexFactory({ client: 'better-sqlite3', connection: ':memory:', useNullAsDefault: true });
  await migrateRolloutsDatabase(knex);
  return { knex, store: DatabaseRolloutsStore.fromKnex(knex) };
}

describe('GateLoop with the simulator', () => {
  it('promotes a healthy rollout step by step and rolls back a regressing one', async () => {
    const { knex, store } = await sqliteStore();
    const services = DEMO_SERVICES.filter(s => s.target === 'checkout/cart-service' || s.target === 'checkout/checkout-api')
      .map(s => ({ ...s, rps: s.rps * 4 }));
    const clock = { t: Date.UTC(2026, 10, 21, 12, 0, 0) };
    const { loop } = setup(store, services, clock);
    for (let i = 0; i < 400; i++) {
      clock.t += 10_000;
      await loop.run();
      const all = (await store.listRollouts({})).sort((x, y) => x.startedAt.localeCompare(y.startedAt));
      const firsts = services.map(sv => all.find(r => r.entityRef === sv.entityRef));
      if (firsts.every(r => r?.finishedAt)) break;
    }
    // The first rollout of each service (later ones start after an idle pause).
    const rollouts = (await store.listRollouts({})).sort((x, y) => x.startedAt.localeCompare(y.startedAt));
    const healthy = rollouts.find(r => r.entityRef.endsWith('cart-service'))!;
    const regressing = rollouts.find(r => r.entityRef.endsWith('checkout-api'))!;
    expect(regressing.status).toBe('rolled-back');
    expect(healthy.status).toBe('promoted');

    const healthyLog = (await store.listDecisions({ rolloutId: healthy.id, limit: 100 })).items.reverse();
    const promotions = healthyLog.filter(d => d.verdict === 'promote');
    expect(promotions.map(d => d.stepIndex)).toEqual([0, 1, 2, 3].slice(0, promotions.length));
    expect(promotions.length).toBeGreaterThanOrEqual(3);
    expect(promotions.every(d => d.outcome === 'applied' && d.actor === 'scheduler')).toBe(true);

    const rollback = (await store.listDecisions({ rolloutId: regressing.id, limit: 100 })).items.find(d => d.verdict === 'rollback')!;
    expect(rollback.reasons.join(' ')).toMatch(/error/i);
    expect(rollback.evidence).toMatchObject({ verdict: 'rollback' });
    expect((await store.verifyDecisions()).ok).toBe(true);
    await knex.destroy();
  });

  it('holds, and never promotes, when telemetry fails', async () => {
    const { knex, store } = await sqliteStore();
    const services = DEMO_SERVICES.filter(s => s.target === 'checkout/cart-service');
    const clock = { t: Date.UTC(2026, 10, 21, 12, 0, 0) };
    const { loop, simulation } = setup(store, services, clock);
    const broken = simulation.telemetry.getCohortTelemetry;
    simulation.telemetry.getCohortTelemetry = async () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:9090');
    };
    for (let i = 0; i < 30; i++) {
      clock.t += 10_000;
      await loop.run();
    }
    const [rollout] = await store.listRollouts({});
    expect(rollout.status).toBe('progressing');
    expect(rollout.currentStepIndex).toBe(0);
    expect(rollout.lastEvaluation?.verdict).toBe('hold');
    expect(rollout.lastError?.message).toMatch(/ECONNREFUSED/);
    simulation.telemetry.getCohortTelemetry = broken;
    await knex.destroy();
  });
});

const runPg = assertPostgresOrSkip('two gate loops on one PostgreSQL');
describe.runIf(runPg)('two gate loops sharing one PostgreSQL', () => {
  let pg: PostgresServer;
  beforeAll(async () => {
    pg = await startPostgres();
  });
  afterAll(() => pg.stop());

  it('act once on each decision', async () => {
    const name = `loops_${randomUUID().slice(0, 8)}`;
    await pg.createDatabase(name);
    const k1 = knexFactory({ client: 'pg', connection: pg.connection(name), pool: { min: 0, max: 5 } });
    const k2 = knexFactory({ client: 'pg', connection: pg.connection(name), pool: { min: 0, max: 5 } });
    await migrateRolloutsDatabase(k1);
    const services = DEMO_SERVICES.filter(s => s.target === 'checkout/checkout-api').map(s => ({ ...s, rps: s.rps * 4 }));
    const clock = { t: Date.UTC(2026, 10, 21, 12, 0, 0) };
    // One deploy system, two replicas of Tollgate.
    const simulation = new Simulation({ seed: 7, services, historyDays: 0, now: () => new Date(clock.t) });
    let rollbackCalls = 0;
    const realRollback = simulation.deploy.rollback;
    simulation.deploy.rollback = async (t, r) => {
      rollbackCalls++;
      return realRollback(t, r);
    };
    const a = setup(DatabaseRolloutsStore.fromKnex(k1), services, clock, simulation);
    const b = setup(DatabaseRolloutsStore.fromKnex(k2), services, clock, simulation);
    const store = DatabaseRolloutsStore.fromKnex(k1);
    for (let i = 0; i < 200; i++) {
      clock.t += 10_000;
      await Promise.all([a.loop.run(), b.loop.run()]);
      const [r] = await store.listRollouts({});
      if (r?.finishedAt) break;
    }
    const [rollout] = await store.listRollouts({});
    expect(rollout.status).toBe('rolled-back');
    expect(rollbackCalls).toBe(1);
    const decisions = (await store.listDecisions({ rolloutId: rollout.id, limit: 200 })).items;
    expect(decisions.filter(d => d.verdict === 'rollback')).toHaveLength(1);
    expect(decisions.filter(d => d.verdict === 'register')).toHaveLength(1);
    expect((await store.verifyDecisions()).ok).toBe(true);
    await k1.destroy();
    await k2.destroy();
  });
});
