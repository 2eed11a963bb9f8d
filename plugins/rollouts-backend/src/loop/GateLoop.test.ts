import { mockServices } from '@backstage/backend-test-utils';
import {
  Simulation,
  DEMO_SERVICES,
} from '@tollgate/plugin-rollouts-backend-module-simulator';
import knexFactory from 'knex';
import { randomUUID } from 'node:crypto';
import {
  assertPostgresOrSkip,
  startPostgres,
  type PostgresServer,
} from '@tollgate/test-support';
import {
  storedEvidence,
  type CohortCounts,
  type TelemetryTick,
} from '@tollgate/plugin-rollouts-common';
import {
  createRolloutGate,
  decideRollout,
  observeRolloutTick,
} from '@tollgate/plugin-rollouts-engine';
import {
  FakeDeployProvider,
  FakeTelemetryProvider,
} from '@tollgate/plugin-rollouts-node/testUtils';
import {
  DatabaseRolloutsStore,
  migrateRolloutsDatabase,
} from '../database/DatabaseRolloutsStore';
import type { RolloutsStore } from '../database/RolloutsStore';
import type { EntityLookup } from '../catalog/EntityIndex';
import { gateContextFor, gatePolicyFor } from '../evaluation/gateInputs';
import { GateLoop } from './GateLoop';
import { policies, setup, sqliteStore } from './__testUtils__/simulatorLoop';
import { ProviderRegistry } from '../providers/ProviderRegistry';
import { RolloutEvents } from '../events/RolloutEvents';

describe('GateLoop with the simulator', () => {
  it('promotes a healthy rollout step by step and rolls back a regressing one', async () => {
    const { knex, store } = await sqliteStore();
    const services = DEMO_SERVICES.filter(
      s =>
        s.target === 'checkout/cart-service' ||
        s.target === 'checkout/checkout-api',
    ).map(s => ({ ...s, rps: s.rps * 4 }));
    const clock = { t: Date.UTC(2026, 10, 21, 12, 0, 0) };
    const { loop } = setup(store, services, clock);
    for (let i = 0; i < 400; i++) {
      clock.t += 10_000;
      await loop.run();
      const all = (await store.listRollouts({})).sort((x, y) =>
        x.startedAt.localeCompare(y.startedAt),
      );
      const firsts = services.map(sv =>
        all.find(r => r.entityRef === sv.entityRef),
      );
      if (firsts.every(r => r?.finishedAt)) break;
    }
    // The first rollout of each service (later ones start after an idle pause).
    const rollouts = (await store.listRollouts({})).sort((x, y) =>
      x.startedAt.localeCompare(y.startedAt),
    );
    const healthy = rollouts.find(r => r.entityRef.endsWith('cart-service'))!;
    const regressing = rollouts.find(r =>
      r.entityRef.endsWith('checkout-api'),
    )!;
    expect(regressing.status).toBe('rolled-back');
    expect(healthy.status).toBe('promoted');

    const healthyLog = (
      await store.listDecisions({ rolloutId: healthy.id, limit: 100 })
    ).items.reverse();
    const promotions = healthyLog.filter(d => d.verdict === 'promote');
    expect(promotions.map(d => d.stepIndex)).toEqual(
      [0, 1, 2, 3].slice(0, promotions.length),
    );
    expect(promotions.length).toBeGreaterThanOrEqual(3);
    expect(
      promotions.every(d => d.outcome === 'applied' && d.actor === 'scheduler'),
    ).toBe(true);

    const rollback = (
      await store.listDecisions({ rolloutId: regressing.id, limit: 100 })
    ).items.find(d => d.verdict === 'rollback')!;
    expect(rollback.reasons.join(' ')).toMatch(/error/i);
    expect(rollback.evidence).toMatchObject({ verdict: 'rollback' });
    expect((await store.verifyDecisions()).ok).toBe(true);
    await knex.destroy();
  });

  it('holds, and never promotes, when telemetry fails', async () => {
    const { knex, store } = await sqliteStore();
    const services = DEMO_SERVICES.filter(
      s => s.target === 'checkout/cart-service',
    );
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

  it('stops gracefully: the action in flight finishes and is logged, and nothing new starts', async () => {
    const { knex, store } = await sqliteStore();
    const services = DEMO_SERVICES.filter(
      s =>
        s.target === 'checkout/cart-service' ||
        s.target === 'search/search-api',
    ).map(s => ({ ...s, rps: s.rps * 4 }));
    const clock = { t: Date.UTC(2026, 10, 21, 12, 0, 0) };
    const { loop, simulation } = setup(store, services, clock);
    const setStep = simulation.deploy.setStep.bind(simulation.deploy);
    let entered!: () => void;
    let release!: () => void;
    const inFlight = new Promise<void>(r => (entered = r));
    const held = new Promise<void>(r => (release = r));
    let calls = 0;
    simulation.deploy.setStep = async (target, index) => {
      calls++;
      entered();
      await held;
      return setStep(target, index);
    };

    let running: Promise<unknown> | undefined;
    for (let i = 0; i < 400 && !running; i++) {
      clock.t += 10_000;
      const run = loop.run();
      if (
        (await Promise.race([
          run.then(() => 'done'),
          inFlight.then(() => 'acting'),
        ])) === 'acting'
      )
        running = run;
    }
    expect(running, 'the loop reached a promotion').toBeDefined();
    const [claimed] = (await store.listRollouts({})).filter(
      r => r.pendingAction,
    );
    expect(claimed.pendingAction).toBe('promote');

    let stopped = false;
    const stopping = loop.stop(5_000).then(() => (stopped = true));
    await new Promise(r => setTimeout(r, 50));
    expect(stopped, 'stop waits for the action in flight').toBe(false);
    release();
    await stopping;
    await running;

    const after = await store.getRollout(claimed.id);
    expect(after?.pendingAction ?? null).toBeNull();
    expect(after?.currentStepIndex).toBe(claimed.currentStepIndex + 1);
    const log = (
      await store.listDecisions({ rolloutId: claimed.id, limit: 10 })
    ).items;
    expect(log[0]).toMatchObject({ verdict: 'promote', outcome: 'applied' });

    // Stopped: no run and no action starts any more.
    clock.t += 3_600_000;
    expect((await loop.run()).evaluated).toBe(0);
    expect(calls).toBe(1);
    expect((await store.listRollouts({})).filter(r => r.pendingAction)).toEqual(
      [],
    );
    await knex.destroy();
  });
});

/** Interval counts that are a pure function of the interval (and of `revision`, to revise one). */
function intervalCounts(tick: number, revision = 0): TelemetryTick {
  const cohort = (n: number, errors: number): CohortCounts => {
    const slow = Math.round(n * 0.004) + (tick % 3);
    const trials = Math.round(n * 0.1);
    const conv = Math.round(trials * 0.03) + (tick % 2);
    return {
      requests: n,
      errors,
      latency: {
        le: [100, 300, 1000, Infinity],
        counts: [Math.round(n * 0.8), n - slow, n - Math.round(slow / 4), n],
      },
      kpis: {
        conversion: { trials, successes: conv },
        order_value: {
          n: conv,
          sum: conv * 40 + tick,
          sumSq: conv * 1700 + tick * 50,
        },
      },
    };
  };
  return {
    tick,
    baseline: cohort(99_000, 50 + (tick % 5)),
    canary: cohort(1_000, (tick % 2) + revision),
  };
}

/** Fake providers with `count` rollouts of one step each at 1%, and an entity index for them. */
function fakes(count: number, clock: { t: number }, stepMinSeconds = 3600) {
  const deploy = new FakeDeployProvider('fake');
  const started = new Date(clock.t);
  for (let i = 0; i < count; i++) {
    deploy.add({
      target: `shop/svc-${i}`,
      externalId: `shop/svc-${i}@2.0.0`,
      version: '2.0.0',
      startedAt: started,
      stepStartedAt: started,
      steps: [
        { weight: 1, minDurationSeconds: stepMinSeconds },
        { weight: 100 },
      ],
    });
  }
  const revisions = new Map<number, number>();
  const telemetry = new FakeTelemetryProvider('fake', req => {
    const whole = Math.floor(
      (req.end.getTime() - req.start.getTime()) / (req.stepSeconds * 1000),
    );
    return Array.from({ length: whole }, (_, k) =>
      intervalCounts(k + 1, revisions.get(k + 1)),
    );
  });
  const entities: EntityLookup = {
    byTarget: async (_p: string, t: string) => ({
      entityRef: `component:default/${t.split('/')[1]}`,
      annotations: {},
    }),
    byRef: async (ref: string) => ({ entityRef: ref, annotations: {} }),
    all: async () => [],
  };
  return { deploy, telemetry, entities, revisions };
}

function fakeLoop(
  store: RolloutsStore,
  f: ReturnType<typeof fakes>,
  clock: { t: number },
  batchSize?: number,
) {
  const providers = new ProviderRegistry();
  providers.addDeploy(f.deploy);
  providers.addTelemetry(f.telemetry);
  return new GateLoop({
    store,
    providers,
    entities: f.entities,
    policies,
    events: new RolloutEvents({ logger: mockServices.logger.mock() }),
    logger: mockServices.logger.mock(),
    telemetryStepSeconds: 60,
    retry: { attempts: 1, initialBackoffMs: 1 },
    now: () => new Date(clock.t),
    batchSize,
  });
}

describe('GateLoop at scale', () => {
  it('writes evaluations in batches, each row with its decision, and keeps the chain valid', async () => {
    const { knex, store } = await sqliteStore();
    const clock = { t: Date.UTC(2026, 10, 21, 12, 0, 0) };
    const f = fakes(1203, clock);
    const loop = fakeLoop(store, f, clock, 500);
    clock.t += 5 * 60_000 + 1000;
    const first = await loop.run();
    expect(first).toMatchObject({ evaluated: 1203, actions: 0, failures: 0 });
    expect(first.timings).toMatchObject({
      rowsWritten: 1203,
      decisionsWritten: 1203,
      engineStateMisses: 1203,
      engineStateHits: 0,
    });
    expect(first.timings.totalMs).toBeGreaterThanOrEqual(
      first.timings.engineMs + first.timings.writeMs,
    );
    const rollouts = await store.listRollouts({});
    expect(
      rollouts.every(
        r => r.lastEvaluation?.verdict === 'continue' && r.rowVersion === 1,
      ),
    ).toBe(true);
    const log = await store.listDecisions({ rolloutId: rollouts[0].id });
    expect(log.items.map(d => d.verdict)).toEqual(['continue', 'register']);
    expect(log.items[0].evidence).toMatchObject({ verdict: 'continue' });

    // A minute later: one new interval each, folded into the kept gate states; same verdicts, so no new decisions.
    clock.t += 60_000;
    const second = await loop.run();
    expect(second.timings).toMatchObject({
      rowsWritten: 1203,
      decisionsWritten: 0,
      engineStateHits: 1203,
      engineStateMisses: 0,
    });
    expect(await store.verifyDecisions()).toEqual({ ok: true, checked: 2406 });
    await knex.destroy();
  });

  it('decides on kept gate states exactly as the whole-rollout engine does on the whole step, and refolds when an interval is revised', async () => {
    const { knex, store } = await sqliteStore();
    const clock = { t: Date.UTC(2026, 10, 21, 12, 0, 0) };
    const f = fakes(1, clock);
    const loop = fakeLoop(store, f, clock);
    const policy = await policies.forAnnotations({});
    const fresh = async () => {
      const [r] = await store.listRollouts({});
      const ticks = (
        await f.telemetry.getCohortTelemetry({
          provider: 'fake',
          target: r.target,
          entityRef: r.entityRef,
          start: new Date(r.stepStartedAt),
          end: new Date(clock.t),
          stepSeconds: 60,
          kpis: [],
        })
      ).ticks;
      // one step of a [1 %, 100 %] ladder: the whole-rollout gate at its first step
      const rs = createRolloutGate(
        gateContextFor(r, policy, 60),
        gatePolicyFor(policy),
        [0.01],
      );
      for (const tick of ticks) observeRolloutTick(rs, tick);
      const expected = JSON.parse(
        JSON.stringify(storedEvidence(decideRollout(rs))),
      );
      // what the backend adds to the engine's freshness: how far behind the telemetry was
      expected.checks.freshness = {
        ...expected.checks.freshness,
        lagSeconds: 0,
        newestAgeSeconds: null,
        unreportedTicks: 0,
        incompleteTicks: 0,
      };
      return { stored: (await store.getRollout(r.id))!.evidence, expected };
    };
    const hits: number[] = [];
    for (let minute = 1; minute <= 4; minute++) {
      clock.t += 60_000 + (minute === 1 ? 1000 : 0);
      hits.push((await loop.run()).timings.engineStateHits);
      const { stored, expected } = await fresh();
      expect(stored).toEqual(expected);
      expect((stored as any).tick).toBe(minute);
    }
    expect(hits).toEqual([0, 1, 1, 1]);
    // The provider revises an interval it reported before: the whole step is folded again.
    f.revisions.set(2, 7);
    clock.t += 60_000;
    const revised = await loop.run();
    expect(revised.timings).toMatchObject({
      engineStateHits: 0,
      engineStateMisses: 1,
    });
    const { stored, expected } = await fresh();
    expect(stored).toEqual(expected);
    expect((stored as any).signals[0].samples.canaryEvents).toBe(
      expected.signals[0].samples.canaryEvents,
    );
    await knex.destroy();
  });

  it('writes one by one when a batch fails, so one bad row costs only itself', async () => {
    const { knex, store } = await sqliteStore();
    const clock = { t: Date.UTC(2026, 10, 21, 12, 0, 0) };
    const f = fakes(12, clock);
    let batchCalls = 0;
    const flaky = new Proxy(store, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target);
        if (prop !== 'updateRollouts')
          return typeof value === 'function' ? value.bind(target) : value;
        return async (
          updates: Parameters<RolloutsStore['updateRollouts']>[0],
        ) => {
          if (updates.length > 1) {
            batchCalls++;
            throw new Error('statement too large');
          }
          if (updates[0].rollout.target === 'shop/svc-3')
            throw new Error('value too long for type character varying(512)');
          return target.updateRollouts(updates);
        };
      },
    }) as RolloutsStore;
    const loop = fakeLoop(flaky, f, clock, 5);
    clock.t += 5 * 60_000 + 1000;
    const result = await loop.run();
    expect(batchCalls).toBe(3);
    expect(result).toMatchObject({ evaluated: 12, failures: 1 });
    expect(result.timings.decisionsWritten).toBe(11);
    expect(await store.verifyDecisions()).toEqual({ ok: true, checked: 23 });
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
    const k1 = knexFactory({
      client: 'pg',
      connection: pg.connection(name),
      pool: { min: 0, max: 5 },
    });
    const k2 = knexFactory({
      client: 'pg',
      connection: pg.connection(name),
      pool: { min: 0, max: 5 },
    });
    await migrateRolloutsDatabase(k1);
    const services = DEMO_SERVICES.filter(
      s => s.target === 'checkout/checkout-api',
    ).map(s => ({ ...s, rps: s.rps * 4 }));
    const clock = { t: Date.UTC(2026, 10, 21, 12, 0, 0) };
    // One deploy system, two replicas of Tollgate.
    const simulation = new Simulation({
      seed: 7,
      services,
      historyDays: 0,
      now: () => new Date(clock.t),
    });
    let rollbackCalls = 0;
    const realRollback = simulation.deploy.rollback;
    simulation.deploy.rollback = async (t, r) => {
      rollbackCalls++;
      return realRollback(t, r);
    };
    const a = setup(
      DatabaseRolloutsStore.fromKnex(k1),
      services,
      clock,
      simulation,
    );
    const b = setup(
      DatabaseRolloutsStore.fromKnex(k2),
      services,
      clock,
      simulation,
    );
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
    const decisions = (
      await store.listDecisions({ rolloutId: rollout.id, limit: 200 })
    ).items;
    expect(decisions.filter(d => d.verdict === 'rollback')).toHaveLength(1);
    expect(decisions.filter(d => d.verdict === 'register')).toHaveLength(1);
    expect((await store.verifyDecisions()).ok).toBe(true);
    await k1.destroy();
    await k2.destroy();
  });
});
