import { ConfigReader } from '@backstage/config';
import { mockServices } from '@backstage/backend-test-utils';
import {
  DEMO_SERVICES,
  Simulation,
} from '@tollgate/plugin-rollouts-backend-module-simulator';
import type { JsonObject } from '@backstage/types';
import { RolloutEvaluator } from '../evaluation/RolloutEvaluator';
import { RolloutEvents } from '../events/RolloutEvents';
import { GateLoop } from '../loop/GateLoop';
import {
  entityIndexFor,
  sqliteStore,
  STANDARD_POLICY,
} from '../loop/__testUtils__/simulatorLoop';
import { PolicyResolver } from '../policy/PolicyResolver';
import { ProviderRegistry } from '../providers/ProviderRegistry';
import { KeptTelemetryStore } from '../replay/KeptTelemetryStore';
import { TelemetryKeeper } from '../replay/TelemetryKeeper';
import { readShadowConfig } from './shadowConfig';
import { shadowSummary } from './shadowFigures';
import { ShadowRunner } from './ShadowRunner';
import { ShadowStore } from './ShadowStore';

/**
 * Shadow policies in the gate loop, against the simulator: `checkout-api`'s
 * first release raises its error rate ×4. The enforced policy here does not
 * test the error rate (nor burn), so it never rolls back; the shadow is the
 * standard policy, which would.
 */
const LENIENT: JsonObject = {
  ...STANDARD_POLICY,
  gate: {
    ...(STANDARD_POLICY.gate as JsonObject),
    errorRate: { enabled: false },
    burn: { enabled: false },
    promote: { minDurationSeconds: 900, minCanaryRequests: 300 },
  },
};

const SERVICES = DEMO_SERVICES.filter(
  s =>
    s.target === 'checkout/checkout-api' ||
    s.target === 'checkout/cart-service',
).map(s => ({ ...s, rps: s.rps * 4 }));

/** The standard policy with its error-rate and burn rules in shadow: enforced without them. */
const STANDARD_RULES_IN_SHADOW: JsonObject = {
  ...STANDARD_POLICY,
  gate: {
    ...(STANDARD_POLICY.gate as JsonObject),
    promote: { minDurationSeconds: 900, minCanaryRequests: 300 },
  },
  shadowRules: ['error-rate', 'burn'],
};

async function world(
  withShadow: boolean,
  restartAt?: number,
  rulesInShadow = false,
) {
  const { knex, store } = await sqliteStore();
  const config = new ConfigReader({
    rollouts: rulesInShadow
      ? {
          defaultPolicy: 'standard',
          policies: { standard: STANDARD_RULES_IN_SHADOW },
        }
      : {
          defaultPolicy: 'lenient',
          policies: { lenient: LENIENT, standard: STANDARD_POLICY },
          shadowPolicies: [
            {
              policy: 'standard',
              services: ['component:default/checkout-api'],
            },
          ],
        },
  });
  const policies = PolicyResolver.fromConfig(config);
  const clock = { t: Date.UTC(2026, 11, 7, 9, 0, 0) };
  const simulation = new Simulation({
    seed: 7,
    services: SERVICES,
    historyDays: 0,
    now: () => new Date(clock.t),
  });
  let rollbackCalls = 0;
  const rollback = simulation.deploy.rollback.bind(simulation.deploy);
  simulation.deploy.rollback = async (...args) => {
    rollbackCalls++;
    return rollback(...args);
  };
  const providers = new ProviderRegistry();
  providers.addDeploy(simulation.deploy);
  providers.addTelemetry(simulation.telemetry);
  const retry = { attempts: 2, initialBackoffMs: 1 };
  const evaluator = new RolloutEvaluator({
    providers,
    policies,
    telemetryStepSeconds: 10,
    retry,
  });
  const shadowStore = new ShadowStore(knex);
  const kept = new KeptTelemetryStore(knex);
  // a new process: nothing in memory, everything read back from the database
  const newLoop = () =>
    new GateLoop({
      store,
      providers,
      entities: entityIndexFor(SERVICES),
      policies,
      events: new RolloutEvents({ logger: mockServices.logger.mock() }),
      logger: mockServices.logger.mock(),
      telemetryStepSeconds: 10,
      retry,
      evaluator,
      now: () => new Date(clock.t),
      ...(withShadow
        ? {
            shadows: new ShadowRunner({
              evaluator,
              config: readShadowConfig(config, policies),
              shadows: shadowStore,
              store,
            }),
            keeper: new TelemetryKeeper({
              store: kept,
              now: () => new Date(clock.t),
            }),
          }
        : {}),
    });
  let loop = newLoop();
  for (let i = 0; i < 300; i++) {
    if (i === restartAt) loop = newLoop();
    clock.t += 10_000;
    await loop.run();
  }
  return { knex, store, shadowStore, kept, rollbackCalls: () => rollbackCalls };
}

describe('shadow policies in the gate loop', () => {
  it('logs would-have rollbacks, never acts on them, and leaves the figures and lists as they were', async () => {
    const plain = await world(false);
    const shadowed = await world(true);

    const rollouts = await shadowed.store.listRollouts({});
    // checkout-api's first release is the regressing one
    const checkout = rollouts
      .filter(r => r.entityRef.endsWith('checkout-api'))
      .sort((a, b) => a.startedAt.localeCompare(b.startedAt))[0];
    // the enforced (lenient) policy did not roll back, whatever the shadow said
    expect(checkout.status).not.toBe('rolled-back');
    // the shadow adds no call to the deploy system (the bake watch of the enforced policy makes its own)
    expect(shadowed.rollbackCalls()).toBe(plain.rollbackCalls());

    const wouldHave = await shadowed.store.listDecisions({
      rolloutId: checkout.id,
      shadow: 'only',
      limit: 100,
    });
    const rollbacks = wouldHave.items.filter(d => d.verdict === 'rollback');
    expect(rollbacks.length).toBeGreaterThan(0);
    expect(rollbacks[0]).toMatchObject({
      kind: 'shadow',
      actor: 'shadow:standard',
      outcome: 'none',
    });
    expect(rollbacks[0].reasons[0]).toMatch(
      /^would have: rollback under shadow policy standard \(enforced: (continue|hold|promote)\)/,
    );
    // logged on changes of the verdict pair, not once per run (120 runs)
    expect(wouldHave.items.length).toBeLessThan(20);
    // cart-service has no shadow
    const cart = rollouts.find(r => r.entityRef.endsWith('cart-service'))!;
    expect(
      (
        await shadowed.store.listDecisions({
          rolloutId: cart.id,
          shadow: 'only',
        })
      ).items,
    ).toEqual([]);

    // the enforced story is the same with and without the shadow: rows, lists and figures
    const strip = (xs: typeof rollouts) =>
      xs
        .map(r => [
          r.entityRef,
          r.status,
          r.currentStepIndex,
          r.lastEvaluation?.verdict,
        ])
        .sort();
    expect(strip(rollouts)).toEqual(strip(await plain.store.listRollouts({})));
    const verdicts = async (s: typeof plain.store) =>
      (await s.listDecisions({ limit: 1000 })).items
        .map(d => `${d.entityRef} ${d.stepIndex} ${d.verdict} ${d.kind}`)
        // per service in log order (services interleave differently within a run)
        .sort((a, b) => a.split(' ')[0].localeCompare(b.split(' ')[0]));
    expect(await verdicts(shadowed.store)).toEqual(await verdicts(plain.store));
    const figures = async (s: typeof plain.store) =>
      (await s.listRolloutFigures({ finishedSince: '2026-01-01T00:00:00Z' }))
        .map(f => JSON.stringify([f.entityRef, f.status, f.delivery]))
        .sort();
    expect(await figures(shadowed.store)).toEqual(await figures(plain.store));

    // the chain holds with the would-have entries in it
    expect(await shadowed.store.verifyDecisions()).toMatchObject({ ok: true });

    // the panel's figures: per shadow policy, the would-have rollback with its entry
    const summary = await shadowSummary(shadowed.shadowStore, {
      days: 30,
      readable: async refs => new Set(refs),
      now: new Date(Date.UTC(2026, 11, 7, 10, 0, 0)),
    });
    expect(summary.policies).toHaveLength(1);
    const checkouts = rollouts.filter(r =>
      r.entityRef.endsWith('checkout-api'),
    );
    expect(summary.policies[0]).toMatchObject({
      policy: 'standard',
      rolloutsShadowed: checkouts.length,
    });
    expect(summary.policies[0].byKind['would-rollback']).toBeGreaterThanOrEqual(
      1,
    );
    expect(
      summary.policies[0].latest.filter(
        d => d.rolloutId === checkout.id && d.kind === 'would-rollback',
      ).length,
    ).toBeGreaterThan(0);
    // nobody else's: a reader of nothing sees no policy figures
    const none = await shadowSummary(shadowed.shadowStore, {
      days: 30,
      readable: async () => new Set(),
    });
    expect(none.policies).toEqual([]);

    // the telemetry the gate judged on is kept, compactly
    const size = await shadowed.kept.size();
    expect(size.rows).toBeGreaterThan(0);
    expect(size.bytes / size.ticks).toBeLessThan(400);
    await plain.knex.destroy();
    await shadowed.knex.destroy();
  }, 120_000);

  it('carries the shadow across a restart: the same would-have entries as without one', async () => {
    const once = await world(true);
    const restarted = await world(true, 150);
    const entries = async (s: typeof once.store) =>
      (await s.listDecisions({ shadow: 'only', limit: 1000 })).items.map(
        d =>
          `${d.entityRef} ${d.stepIndex} ${d.createdAt} ${d.reasons.join(' | ')}`,
      );
    const expected = await entries(once.store);
    expect(expected.length).toBeGreaterThan(0);
    expect(await entries(restarted.store)).toEqual(expected);
    await once.knex.destroy();
    await restarted.knex.destroy();
  }, 120_000);

  it('runs single rules of a policy in shadow: the enforced gate goes without them, their shadow logs what they would have done', async () => {
    const { knex, store, rollbackCalls } = await world(true, undefined, true);
    const checkout = (await store.listRollouts({}))
      .filter(r => r.entityRef.endsWith('checkout-api'))
      .sort((a, b) => a.startedAt.localeCompare(b.startedAt))[0];
    // error-rate and burn are off in the enforced gate: the regression is not rolled back
    expect(checkout.status).not.toBe('rolled-back');
    expect(rollbackCalls()).toBe(0);
    const wouldHave = (
      await store.listDecisions({
        rolloutId: checkout.id,
        shadow: 'only',
        limit: 100,
      })
    ).items;
    const rollbacks = wouldHave.filter(d => d.verdict === 'rollback');
    expect(rollbacks.length).toBeGreaterThan(0);
    expect(rollbacks[0].actor).toBe('shadow:standard:shadow-rules');
    expect(rollbacks.map(d => d.reasons.join(' ')).join(' ')).toMatch(
      /error rate/,
    );
    await knex.destroy();
  }, 120_000);
});
