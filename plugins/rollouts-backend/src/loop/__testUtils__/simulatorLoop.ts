import { ConfigReader } from '@backstage/config';
import type { JsonObject } from '@backstage/types';
import { mockServices } from '@backstage/backend-test-utils';
import {
  Simulation,
  DEMO_SERVICES,
} from '@tollgate/plugin-rollouts-backend-module-simulator';
import knexFactory, { type Knex } from 'knex';
import type { EntityLookup } from '../../catalog/EntityIndex';
import type { RolloutsTelemetryProvider } from '@tollgate/plugin-rollouts-node';
import {
  DatabaseRolloutsStore,
  migrateRolloutsDatabase,
} from '../../database/DatabaseRolloutsStore';
import { RolloutEvents } from '../../events/RolloutEvents';
import { PolicyResolver } from '../../policy/PolicyResolver';
import { ProviderRegistry } from '../../providers/ProviderRegistry';
import { GateLoop } from '../GateLoop';

/**
 * The gate loop against the simulator on an in-memory SQLite store, on a
 * clock the test moves: what the loop tests share.
 */

/** The demo's standard policy, as a policy file would give it. */
export const STANDARD_POLICY: JsonObject = {
  slo: {
    availability: 0.995,
    latency: { thresholdMs: 500, objective: 0.99 },
  },
  kpis: [
    {
      name: 'conversion',
      type: 'proportion',
      direction: 'increase',
      margin: 0.05,
    },
    {
      name: 'order_value',
      type: 'mean',
      direction: 'increase',
      margin: 0.05,
    },
  ],
  gate: { promote: { minDurationSeconds: 60, minCanaryRequests: 300 } },
};

/** Policies with `standard` (or the one given) as the default. */
export function policiesWith(
  standard: JsonObject = STANDARD_POLICY,
): PolicyResolver {
  return PolicyResolver.fromConfig(
    new ConfigReader({ rollouts: { policies: { standard } } }),
  );
}

export const policies = policiesWith();

/** The catalog part the loop needs: every simulated service, annotated. */
export function entityIndexFor(services = DEMO_SERVICES): EntityLookup {
  const byTarget = new Map(
    services.map(s => [
      `simulator:${s.target}`,
      { entityRef: s.entityRef, annotations: {} },
    ]),
  );
  return {
    byTarget: async (p: string, t: string) => byTarget.get(`${p}:${t}`),
    byRef: async (ref: string) => ({ entityRef: ref, annotations: {} }),
    all: async () => [...byTarget.values()],
  };
}

export function setup(
  store: DatabaseRolloutsStore,
  services: typeof DEMO_SERVICES,
  clock: { t: number },
  sim?: Simulation,
  extra: {
    events?: RolloutEvents;
    policies?: PolicyResolver;
    /** the catalog the loop reads (default: every simulated service, annotated) */
    entities?: EntityLookup;
    /** telemetry in place of the simulation's (e.g. a harm it does not simulate) */
    telemetry?: (
      simulated: RolloutsTelemetryProvider,
    ) => RolloutsTelemetryProvider;
  } = {},
) {
  const simulation =
    sim ??
    new Simulation({
      seed: 7,
      services,
      historyDays: 0,
      now: () => new Date(clock.t),
    });
  const providers = new ProviderRegistry();
  providers.addDeploy(simulation.deploy);
  providers.addTelemetry(
    extra.telemetry?.(simulation.telemetry) ?? simulation.telemetry,
  );
  const loop = new GateLoop({
    store,
    providers,
    entities: extra.entities ?? entityIndexFor(services),
    policies: extra.policies ?? policies,
    events:
      extra.events ?? new RolloutEvents({ logger: mockServices.logger.mock() }),
    logger: mockServices.logger.mock(),
    telemetryStepSeconds: 10,
    retry: { attempts: 2, initialBackoffMs: 1 },
    now: () => new Date(clock.t),
  });
  return { loop, simulation };
}

export async function sqliteStore(): Promise<{
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

/** The store's only rollout, read whole, and its decision log oldest first. */
export async function theRollout(store: DatabaseRolloutsStore, limit = 1000) {
  const [r] = await store.listRollouts({});
  const rollout = (await store.getRollout(r.id))!;
  const log = (
    await store.listDecisions({ rolloutId: r.id, limit })
  ).items.reverse();
  return { rollout, log };
}
