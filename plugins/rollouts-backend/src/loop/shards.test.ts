import { ConfigReader } from '@backstage/config';
import { mockServices } from '@backstage/backend-test-utils';
import {
  FakeDeployProvider,
  FakeTelemetryProvider,
} from '@tollgate/plugin-rollouts-node/testUtils';
import knexFactory from 'knex';
import type { EntityLookup } from '../catalog/EntityIndex';
import {
  DatabaseRolloutsStore,
  migrateRolloutsDatabase,
} from '../database/DatabaseRolloutsStore';
import { RolloutEvents } from '../events/RolloutEvents';
import { PolicyResolver } from '../policy/PolicyResolver';
import { ProviderRegistry } from '../providers/ProviderRegistry';
import { GateLoop } from './GateLoop';
import { handOffDelayMs } from './schedule';
import { shardOf, shardTaskId } from './shards';

/**
 * Backstage's scheduler as it claims a frequency task (TaskWorker,
 * TaskStatePoller in @backstage/backend-defaults): each replica polls at
 * its own phase every period; the first poll at or after the due time
 * claims the run; on release the next due time is
 * max(previous due + period, release time). Returns each replica's runs.
 */
function replicaWins(
  hold: (elapsedMs: number) => number,
  runs: number,
): number[] {
  const period = 1000;
  const phases = [100, 600];
  const wins = [0, 0];
  let due = 0;
  const firstPollAfter = (at: number, p: number) =>
    p + Math.ceil((at - p) / period) * period;
  for (let i = 0; i < runs; i++) {
    const at = due;
    const polls = phases.map(p => firstPollAfter(at, p));
    const winner = polls[0] <= polls[1] ? 0 : 1;
    wins[winner]++;
    const elapsed = 50;
    const release = polls[winner] + elapsed + hold(elapsed);
    due = Math.max(due + period, release);
  }
  return wins;
}

describe('gate loop shards', () => {
  it('hashes a rollout id to the same shard every time, spread over all shards', () => {
    const ids = Array.from(
      { length: 400 },
      (_, i) => `0000${i}-aaaa-4bbb-8ccc-${String(i).padStart(12, '0')}`,
    );
    const counts = [0, 0, 0, 0];
    for (const id of ids) {
      expect(shardOf(id, 4)).toBe(shardOf(id, 4));
      counts[shardOf(id, 4)]++;
    }
    expect(counts.every(c => c > 60)).toBe(true);
    expect(shardOf(ids[0], 1)).toBe(0);
    expect(shardTaskId({ index: 0, count: 1 })).toBe('rollouts-gate-loop');
    expect(shardTaskId({ index: 2, count: 4 })).toBe(
      'rollouts-gate-loop-3-of-4',
    );
  });

  it('hands a shard to the other replicas now and then, where the scheduler alone keeps it on one', () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    expect(replicaWins(() => 0, 300)).toEqual([300, 0]);
    const spread = replicaWins(
      elapsedMs =>
        handOffDelayMs({
          elapsedMs,
          frequencyMs: 1000,
          timeoutMs: 15_000,
          random,
        }),
      300,
    );
    expect(Math.min(...spread)).toBeGreaterThan(60);
  });

  it('holds a claim past the next due time only within the task timeout', () => {
    const always = () => 0;
    expect(
      handOffDelayMs({
        elapsedMs: 200,
        frequencyMs: 30_000,
        timeoutMs: 60_000,
        random: always,
      }),
    ).toBe(29_800);
    expect(
      handOffDelayMs({
        elapsedMs: 200,
        frequencyMs: 30_000,
        timeoutMs: 20_000,
        random: always,
      }),
    ).toBe(15_800);
    expect(
      handOffDelayMs({
        elapsedMs: 200,
        frequencyMs: 30_000,
        timeoutMs: 60_000,
        random: () => 0.5,
      }),
    ).toBe(0);
  });

  it('evaluates each active rollout in exactly one shard, and syncs in the first', async () => {
    const knex = knexFactory({
      client: 'better-sqlite3',
      connection: ':memory:',
      useNullAsDefault: true,
    });
    await migrateRolloutsDatabase(knex);
    const store = DatabaseRolloutsStore.fromKnex(knex);
    const deploy = new FakeDeployProvider('fake');
    for (let i = 0; i < 60; i++) {
      deploy.add({ target: `shop/svc-${i}`, version: '2.0.0' });
    }
    const providers = new ProviderRegistry();
    providers.addDeploy(deploy);
    providers.addTelemetry(new FakeTelemetryProvider('fake', () => []));
    const entities: EntityLookup = {
      byTarget: async (_p, t) => ({
        entityRef: `component:default/${t.split('/')[1]}`,
        annotations: {},
      }),
      byRef: async ref => ({ entityRef: ref, annotations: {} }),
      all: async () => [],
    };
    const replica = () =>
      new GateLoop({
        store,
        providers,
        entities,
        policies: PolicyResolver.fromConfig(new ConfigReader({})),
        events: new RolloutEvents({ logger: mockServices.logger.mock() }),
        logger: mockServices.logger.mock(),
        telemetryStepSeconds: 10,
        retry: { attempts: 1, initialBackoffMs: 1 },
      });
    const [a, b] = [replica(), replica()];
    // A later shard before any sync: nothing is known yet.
    expect((await b.run({ index: 2, count: 3 })).evaluated).toBe(0);
    const results = [
      await a.run({ index: 0, count: 3 }),
      await b.run({ index: 1, count: 3 }),
      await a.run({ index: 2, count: 3 }),
    ];
    expect(results.reduce((n, r) => n + r.evaluated, 0)).toBe(60);
    expect(results.every(r => r.evaluated > 5)).toBe(true);
    const rollouts = await store.listRollouts({});
    expect(rollouts).toHaveLength(60);
    // Each rollout was evaluated once: one register and one hold each.
    for (const r of rollouts) {
      const log = (await store.listDecisions({ rolloutId: r.id })).items;
      expect(log.map(d => d.verdict)).toEqual(['hold', 'register']);
    }
    await knex.destroy();
  });
});
