import { ConfigReader } from '@backstage/config';
import { mockServices } from '@backstage/backend-test-utils';
import {
  Simulation,
  DEMO_SERVICES,
  type Scenario,
} from '@tollgate/plugin-rollouts-backend-module-simulator';
import knexFactory, { type Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import {
  assertPostgresOrSkip,
  startPostgres,
  type PostgresServer,
} from '@tollgate/test-support';
import type { DecisionEntry } from '@tollgate/plugin-rollouts-common';
import {
  DatabaseRolloutsStore,
  migrateRolloutsDatabase,
} from '../database/DatabaseRolloutsStore';
import { PolicyResolver } from '../policy/PolicyResolver';
import type { EntityLookup } from '../catalog/EntityIndex';
import { GateLoop } from './GateLoop';
import { ProviderRegistry } from '../providers/ProviderRegistry';
import { RolloutEvents } from '../events/RolloutEvents';

/**
 * The gate loop with the whole-rollout gate, against the simulator: one
 * gate state per rollout carried across steps (and across restarts), step
 * maximums, exposure-scaled promotion criteria and the post-promotion watch.
 */

const SLO = {
  availability: 0.995,
  latency: { thresholdMs: 500, objective: 0.99 },
};

function policiesWith(gate: Record<string, unknown>): PolicyResolver {
  return PolicyResolver.fromConfig(
    new ConfigReader({
      rollouts: { policies: { standard: { slo: SLO, gate: gate as any } } },
    }),
  );
}

/** Fast steps, a short bake window: what most tests here run with. */
const FAST = {
  promote: { minDurationSeconds: 300, minCanaryRequests: 300 },
  rollout: {
    minStepSeconds: 60,
    minStepCanaryRequests: 100,
    bake: { durationSeconds: 600 },
  },
};

const CART = DEMO_SERVICES.find(s => s.target === 'checkout/cart-service')!;

async function sqliteStore(): Promise<{
  knex: Knex;
  store: DatabaseRolloutsStore;
}> {
  const knex = knexFactory({
    client: 'better-sqlite3',
    connection: ':memory:',
    useNullAsDefault: true,
  });
  await migrateRolloutsDatabase(knex);
  return { knex, store: DatabaseRolloutsStore.fromKnex(knex) };
}

interface World {
  knex: Knex;
  store: DatabaseRolloutsStore;
  simulation: Simulation;
  clock: { t: number };
  sent: Array<{ scope: string; title: string }>;
  rollbackCalls: number;
  newLoop(): GateLoop;
}

async function world(
  gate: Record<string, unknown>,
  scenario: Scenario = 'healthy',
  db?: Knex,
): Promise<World> {
  const { knex, store } = db
    ? { knex: db, store: DatabaseRolloutsStore.fromKnex(db) }
    : await sqliteStore();
  const clock = { t: Date.UTC(2026, 10, 21, 12, 0, 0) };
  const services = [{ ...CART, rps: CART.rps * 4, firstScenario: scenario }];
  const simulation = new Simulation({
    seed: 7,
    services,
    historyDays: 0,
    // no next rollout during a test: the watch is not superseded
    idleSeconds: 86_400,
    now: () => new Date(clock.t),
  });
  const w: World = {
    knex,
    store,
    simulation,
    clock,
    sent: [],
    rollbackCalls: 0,
    newLoop: () => {
      const providers = new ProviderRegistry();
      providers.addDeploy(simulation.deploy);
      providers.addTelemetry(simulation.telemetry);
      const entities: EntityLookup = {
        byTarget: async () => ({
          entityRef: CART.entityRef,
          annotations: {},
        }),
        byRef: async (ref: string) => ({ entityRef: ref, annotations: {} }),
        all: async () => [],
      };
      return new GateLoop({
        store,
        providers,
        entities,
        policies: policiesWith(gate),
        events: new RolloutEvents({
          logger: mockServices.logger.mock(),
          notifications: {
            send: async (n: any) => {
              w.sent.push({ scope: n.payload.scope, title: n.payload.title });
            },
          } as any,
        }),
        logger: mockServices.logger.mock(),
        telemetryStepSeconds: 10,
        retry: { attempts: 2, initialBackoffMs: 1 },
        now: () => new Date(clock.t),
      });
    },
  };
  const rollback = simulation.deploy.rollback;
  simulation.deploy.rollback = async (t, r) => {
    w.rollbackCalls++;
    return rollback(t, r);
  };
  return w;
}

/** Runs the loop every 10 s until `done` or `runs` runs. */
async function runUntil(
  w: World,
  loop: GateLoop,
  runs: number,
  done: () => Promise<boolean>,
): Promise<void> {
  for (let i = 0; i < runs; i++) {
    w.clock.t += 10_000;
    await loop.run();
    if (await done()) return;
  }
}

async function only(w: World) {
  const [r] = await w.store.listRollouts({});
  return (await w.store.getRollout(r.id))!;
}

async function log(w: World, rolloutId: string): Promise<DecisionEntry[]> {
  return (
    await w.store.listDecisions({ rolloutId, limit: 500 })
  ).items.reverse();
}

const ruleOf = (d: DecisionEntry) => (d.evidence as any)?.rollout?.rule;

describe('GateLoop: the whole-rollout gate', () => {
  it('walks the ladder with one gate: the engine gets the ladder shares, and promotion to a larger share needs more time', async () => {
    const w = await world({
      ...FAST,
      promote: { minDurationSeconds: 600, minCanaryRequests: 300 },
      rollout: { ...FAST.rollout, minStepSeconds: 120 },
    });
    const loop = w.newLoop();
    await runUntil(w, loop, 400, async () =>
      Boolean((await w.store.listRollouts({}))[0]?.finishedAt),
    );
    const r = await only(w);
    expect(r.status).toBe('promoted');
    const promotions = (await log(w, r.id)).filter(
      d => d.verdict === 'promote',
    );
    const ev = promotions.map(d => (d.evidence as any).rollout);
    // the simulator's steps 1/5/25/100 % reach the engine as the ladder 0.01/0.05/0.25
    expect(ev.map(e => [e.step, e.steps, e.share, e.nextShare])).toEqual([
      [1, 3, 0.01, 0.05],
      [2, 3, 0.05, 0.25],
      [3, 3, 0.25, 1],
    ]);
    // the step minimum scales with the exposure the promotion opens: 120 s + (600 − 120 s) × next share
    expect(ev.map(e => e.minTicks)).toEqual([
      Math.ceil((120 + 480 * 0.05) / 10),
      Math.ceil((120 + 480 * 0.25) / 10),
      60,
    ]);
    expect(ev.every(e => e.stepTicks >= e.minTicks)).toBe(true);
    // one test over the rollout: the carried e-process counts every step's ticks
    const lastSignals = (promotions[2].evidence as any).signals;
    expect(lastSignals[0].samples.ticks).toBeGreaterThan(ev[2].stepTicks);
    await w.knex.destroy();
  });

  it('carries the gate state across a restart: a new GateLoop rebuilds the same state from the stored one', async () => {
    const w = await world(FAST);
    const a = w.newLoop();
    await runUntil(
      w,
      a,
      400,
      async () => (await w.store.listRollouts({}))[0]?.currentStepIndex >= 2,
    );
    // a few runs into the step
    for (let i = 0; i < 3; i++) {
      w.clock.t += 10_000;
      await a.run();
    }
    const before = await only(w);
    expect(before.currentStepIndex).toBe(2);
    expect(before.gateState).toBeDefined();
    // the same instant, evaluated again by a process that never saw the rollout
    const b = w.newLoop();
    const result = await b.run();
    expect(result.timings.engineStateMisses).toBe(1);
    const after = await only(w);
    expect(after.evidence).toEqual(before.evidence);
    expect((after.evidence as any).rollout.step).toBe(3);
    // the evidence is the whole rollout's, not a fresh step's
    expect((after.evidence as any).signals[0].samples.ticks).toBeGreaterThan(
      (after.evidence as any).rollout.stepTicks,
    );
    await w.knex.destroy();
  });

  it('decides the same whichever replica runs each tick (the shard moving between two processes every run)', async () => {
    const walk = async (replicas: number) => {
      const w = await world(FAST);
      const loops = Array.from({ length: replicas }, () => w.newLoop());
      for (let i = 0; i < 300; i++) {
        w.clock.t += 10_000;
        await loops[i % replicas].run();
        const [r] = await w.store.listRollouts({});
        if (r?.watch && r.watch.state !== 'watching') break;
      }
      const r = await only(w);
      const entries = (await log(w, r.id)).map(d => ({
        verdict: d.verdict,
        stepIndex: d.stepIndex,
        createdAt: d.createdAt,
        reasons: d.reasons,
        evidence: d.evidence,
      }));
      await w.knex.destroy();
      return { status: r.status, watch: r.watch?.state, entries };
    };
    const one = await walk(1);
    const two = await walk(2);
    expect(one.status).toBe('promoted');
    expect(one.watch).toBe('passed');
    expect(one.entries.filter(e => e.verdict === 'promote')).toHaveLength(3);
    expect(two).toEqual(one);
  });

  it('a step at its maximum holds as the policy says, names step-timeout in the evidence and the timeline, and tells the owners once', async () => {
    const w = await world({
      ...FAST,
      // never enough canary requests for a verdict: the step runs into its maximum
      promote: { minDurationSeconds: 300, minCanaryRequests: 1e9 },
      rollout: {
        ...FAST.rollout,
        minStepCanaryRequests: 1e9,
        maxStepSeconds: 300,
        onStepTimeout: 'hold',
      },
    });
    const loop = w.newLoop();
    await runUntil(w, loop, 60, async () => false);
    const r = await only(w);
    expect(r.status).toBe('progressing');
    expect(r.currentStepIndex).toBe(0);
    expect(r.lastEvaluation).toMatchObject({
      verdict: 'hold',
      rule: 'step-timeout',
    });
    expect(r.lastEvaluation!.reasons[0]).toMatch(/^step maximum reached/);
    const holds = (await log(w, r.id)).filter(d => d.verdict === 'hold');
    expect(holds.map(ruleOf)).toEqual(['step-timeout']);
    // the timeline (the decision log's reasons) names the rule too
    expect(holds[0].reasons[0]).toMatch(/^rule: step-timeout/);
    expect((holds[0].evidence as any).rollout.timeout.action).toBe('hold');
    expect(w.sent.map(s => s.scope)).toEqual([`rollout:${r.id}:step-timeout`]);
    await w.knex.destroy();
  });

  it('a step at its maximum promotes when the policy allows it, with the harm bound it states', async () => {
    const w = await world({
      ...FAST,
      // a non-inferiority margin no canary can prove: no promotion on the gate's own rule
      errorRate: { margin: 0.0001 },
      latency: { margin: 0.0001 },
      rollout: {
        ...FAST.rollout,
        maxStepSeconds: 600,
        onStepTimeout: 'promote-if-small',
      },
    });
    const loop = w.newLoop();
    await runUntil(
      w,
      loop,
      120,
      async () => (await w.store.listRollouts({}))[0]?.currentStepIndex >= 1,
    );
    const r = await only(w);
    expect(r.currentStepIndex).toBe(1);
    const promotion = (await log(w, r.id)).find(d => d.verdict === 'promote')!;
    expect(ruleOf(promotion)).toBe('step-timeout');
    expect(promotion.reasons[1]).toMatch(/^rule: step-timeout/);
    expect(promotion.outcome).toBe('applied');
    expect(promotion.reasons.join(' ')).toMatch(
      /step maximum reached .* promoting to 5%: the next exposure is small and no harm is evident/,
    );
    expect(
      (promotion.evidence as any).rollout.timeout.harmBounds.length,
    ).toBeGreaterThan(0);
    await w.knex.destroy();
  });

  it('watches after the promotion to full: a regression inside the bake window is rolled back through the provider with bake evidence', async () => {
    const w = await world(FAST, 'regression-after-promotion');
    const loop = w.newLoop();
    await runUntil(
      w,
      loop,
      400,
      async () => (await w.store.listRollouts({}))[0]?.status === 'rolled-back',
    );
    const r = await only(w);
    expect(r.status).toBe('rolled-back');
    expect(w.rollbackCalls).toBe(1);
    expect(r.watch).toMatchObject({
      state: 'rolled-back',
      verdict: 'rollback',
    });
    const entries = await log(w, r.id);
    const verdicts = entries.map(d => d.verdict);
    // promoted to full first, then rolled back by the watch
    expect(verdicts.lastIndexOf('promote')).toBeLessThan(
      verdicts.indexOf('rollback'),
    );
    const rollback = entries.find(d => d.verdict === 'rollback')!;
    expect(rollback.outcome).toBe('applied');
    expect(ruleOf(rollback)).toBe('bake');
    expect(rollback.reasons[0]).toMatch(/^rule: bake/);
    expect((rollback.evidence as any).bake.verdict).toBe('rollback');
    expect(rollback.reasons.join(' ')).toMatch(/after full promotion/);
    expect(new Date(rollback.createdAt).getTime()).toBeLessThan(
      new Date(r.watch!.endsAt).getTime(),
    );
    expect((await w.store.verifyDecisions()).ok).toBe(true);
    await w.knex.destroy();
  });

  it('never rolls back a newer release: harm found after the deploy system moved on ends the watch instead', async () => {
    const w = await world(FAST, 'regression-after-promotion');
    const loop = w.newLoop();
    await runUntil(
      w,
      loop,
      400,
      async () => (await w.store.listRollouts({}))[0]?.status === 'promoted',
    );
    // the deploy system moved on to a newer release the sync has not imported yet
    const getRollout = w.simulation.deploy.getRollout;
    w.simulation.deploy.getRollout = async target => {
      const pr = await getRollout(target);
      return pr && { ...pr, externalId: `${target}@9.9.9` };
    };
    await runUntil(
      w,
      loop,
      200,
      async () => (await only(w)).watch?.state !== 'watching',
    );
    const r = await only(w);
    expect(w.rollbackCalls).toBe(0);
    expect(r.status).toBe('promoted');
    expect(r.watch?.state).toBe('ended');
    expect(r.watch?.reasons[0]).toMatch(
      /^watch ended: harm found, but checkout\/cart-service already runs a newer rollout/,
    );
    await w.knex.destroy();
  });

  it('ends the watch when the bake window passes clean (and survives a restart during it)', async () => {
    const w = await world(FAST);
    let loop = w.newLoop();
    await runUntil(
      w,
      loop,
      400,
      async () => (await w.store.listRollouts({}))[0]?.status === 'promoted',
    );
    const promoted = await only(w);
    expect(promoted.watch?.state).toBe('watching');
    // a restart inside the window: the watch resumes from the stored gate state
    for (let i = 0; i < 5; i++) {
      w.clock.t += 10_000;
      await loop.run();
    }
    loop = w.newLoop();
    await runUntil(
      w,
      loop,
      100,
      async () => (await only(w)).watch?.state !== 'watching',
    );
    const r = await only(w);
    expect(r.status).toBe('promoted');
    expect(r.watch).toMatchObject({ state: 'passed', verdict: 'complete' });
    expect(w.rollbackCalls).toBe(0);
    const ended = (await log(w, r.id)).filter(d => d.verdict === 'observe');
    expect(ended.map(d => d.reasons[0])).toEqual([
      expect.stringMatching(/^watch ended: bake window passed/),
    ]);
    expect(ruleOf(ended[0])).toBe('bake');
    await w.knex.destroy();
  });
});

const runPg = assertPostgresOrSkip('the whole-rollout gate on PostgreSQL');
describe.runIf(runPg)('GateLoop: the whole-rollout gate on PostgreSQL', () => {
  let pg: PostgresServer;
  beforeAll(async () => {
    pg = await startPostgres();
  });
  afterAll(() => pg.stop());

  it('stores and reads the gate state and the watch: two replicas alternating decide as one process does on SQLite', async () => {
    const walk = async (w: World, loops: GateLoop[]) => {
      for (let i = 0; i < 300; i++) {
        w.clock.t += 10_000;
        await loops[i % loops.length].run();
        const [r] = await w.store.listRollouts({});
        if (r?.watch && r.watch.state !== 'watching') break;
      }
      const r = await only(w);
      return {
        status: r.status,
        watch: r.watch?.state,
        entries: (await log(w, r.id)).map(d => ({
          verdict: d.verdict,
          stepIndex: d.stepIndex,
          createdAt: d.createdAt,
          reasons: d.reasons,
          evidence: d.evidence,
        })),
      };
    };
    const lite = await world(FAST);
    const expected = await walk(lite, [lite.newLoop()]);
    await lite.knex.destroy();

    const name = `whole_${randomUUID().slice(0, 8)}`;
    await pg.createDatabase(name);
    const knex = knexFactory({
      client: 'pg',
      connection: pg.connection(name),
      pool: { min: 0, max: 5 },
    });
    await migrateRolloutsDatabase(knex);
    const w = await world(FAST, 'healthy', knex);
    const got = await walk(w, [w.newLoop(), w.newLoop()]);
    expect(got.status).toBe('promoted');
    expect(got.watch).toBe('passed');
    expect(got).toEqual(expected);
    await knex.destroy();
  });
});
