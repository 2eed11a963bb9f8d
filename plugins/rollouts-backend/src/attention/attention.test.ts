import knexFactory from 'knex';
import { randomUUID } from 'node:crypto';
import type { EntityLookup } from '../catalog/EntityIndex';
import {
  DatabaseRolloutsStore,
  migrateRolloutsDatabase,
} from '../database/DatabaseRolloutsStore';
import type { StoredRollout } from '../database/RolloutsStore';
import { attentionNeeds, listAttention } from './attention';

const NOW = new Date('2026-12-06T12:00:00.000Z');
const ago = (minutes: number) =>
  new Date(NOW.getTime() - minutes * 60_000).toISOString();

/** Engine-shaped evidence with an error-rate and a latency SLI. */
function evidence(options: { burning?: boolean; stale?: boolean } = {}) {
  const sli = (
    name: string,
    kind: string,
    canary: number,
    baseline: number,
  ) => ({
    name,
    kind,
    direction: 'decrease',
    guardrail: true,
    weight: 1,
    baseline,
    canary,
    difference: canary / baseline - 1,
    scale: 'relative',
    ci: [-0.1, canary / baseline - 0.8],
    alphaCi: 0.05,
    margin: 0.1,
    rule: 'inconclusive',
  });
  return {
    verdict: 'hold',
    signals: [
      sli('error_rate', 'error-rate', 0.02, 0.01),
      sli('latency_p99', 'latency', 310, 300),
      { ...sli('conversion', 'kpi-proportion', 0.03, 0.03) },
    ],
    checks: {
      freshness: { stale: Boolean(options.stale) },
      burn: { canary: { alerting: Boolean(options.burning) } },
    },
  };
}

describe('the on-call view', () => {
  it('says why a rollout needs a person, most urgent first', () => {
    const base = {
      status: 'progressing',
      provider: 'simulator',
      currentStepIndex: 1,
      currentWeight: 5,
    } as StoredRollout;
    expect(
      attentionNeeds(
        {
          ...base,
          lastEvaluation: {
            verdict: 'hold',
            rubric: 'not ready',
            score: 0,
            reasons: ['burn rate above threshold'],
            evaluatedAt: ago(1),
          },
          lastError: { message: 'HTTP 503', at: ago(2), action: 'rollback' },
          evidence: evidence({ burning: true, stale: true }),
        },
        NOW,
      ).map(n => n.kind),
    ).toEqual(['failed-rollback', 'burning', 'hold', 'stale']);
    expect(attentionNeeds({ ...base, evidence: evidence() }, NOW)).toEqual([]);
    const fired = {
      ...base,
      status: 'rolled-back',
      finishedAt: ago(60),
      watch: {
        state: 'rolled-back',
        startedAt: ago(120),
        endsAt: ago(0),
        reasons: ['error rate +80 % against the service history'],
      },
    } as StoredRollout;
    expect(attentionNeeds(fired, NOW)).toEqual([
      {
        kind: 'watch-fired',
        text: 'the post-promotion watch rolled the release back: error rate +80 % against the service history',
      },
    ]);
    // A day later it is history, not something for the on-call.
    expect(attentionNeeds({ ...fired, finishedAt: ago(25 * 60) }, NOW)).toEqual(
      [],
    );
  });

  it('lists what the caller may read, most urgent first, with owner, runbook, SLIs and who acted last', async () => {
    const knex = knexFactory({
      client: 'better-sqlite3',
      connection: ':memory:',
      useNullAsDefault: true,
    });
    await migrateRolloutsDatabase(knex);
    const store = DatabaseRolloutsStore.fromKnex(knex);
    const add = async (name: string, patch: Partial<StoredRollout>) => {
      const { rollout } = await store.upsertDiscovered({
        id: randomUUID(),
        entityRef: `component:default/${name}`,
        provider: 'simulator',
        target: `shop/${name}`,
        externalId: name,
        version: '2.0.0',
        previousVersion: '1.9.0',
        status: 'progressing',
        steps: [{ weight: 5 }, { weight: 25 }, { weight: 100 }],
        currentStepIndex: 0,
        currentWeight: 5,
        startedAt: ago(30),
        stepStartedAt: ago(10),
      });
      return (await store.updateRollout(
        rollout.id,
        rollout.rowVersion,
        patch,
      ))!;
    };
    const hold = {
      verdict: 'hold' as const,
      rubric: 'not ready' as const,
      score: 0,
      reasons: ['sample ratio mismatch'],
      evaluatedAt: ago(1),
    };
    await add('healthy', { evidence: evidence() });
    const held = await add('held', {
      lastEvaluation: hold,
      evidence: evidence(),
    });
    await add('approval', { status: 'awaiting-approval' });
    const failed = await add('failed', {
      lastError: { message: 'HTTP 503', at: ago(1), action: 'rollback' },
      evidence: evidence(),
    });
    await add('secret', { lastEvaluation: hold });
    await store.appendDecision({
      rolloutId: held.id,
      entityRef: held.entityRef,
      stepIndex: 0,
      verdict: 'pause',
      kind: 'manual',
      actor: 'user:default/priya',
      reasons: ['reason given: looking'],
      evidence: null,
      policyHash: null,
      outcome: 'applied',
      createdAt: ago(3),
    });
    const entities: EntityLookup = {
      byTarget: async () => undefined,
      byRef: async ref => ({
        entityRef: ref,
        annotations: { 'tollgate.dev/runbook': `https://runbooks/${ref}` },
        owner: 'group:default/team-shop',
      }),
      all: async () => [],
    };
    const list = await listAttention(
      { store, entities },
      async refs => new Set(refs.filter(r => !r.endsWith('/secret'))),
      NOW,
    );
    expect(list.items.map(i => [i.rollout.entityRef, i.needs[0].kind])).toEqual(
      [
        ['component:default/failed', 'failed-rollback'],
        ['component:default/held', 'hold'],
        ['component:default/approval', 'awaiting-approval'],
      ],
    );
    const first = list.items[1];
    expect(first.rollout.id).toBe(held.id);
    expect(first).toMatchObject({
      owner: 'group:default/team-shop',
      runbookUrl: 'https://runbooks/component:default/held',
      lastAction: { actor: 'user:default/priya', verdict: 'pause' },
    });
    expect(first.health.map(s => s.name)).toEqual([
      'error_rate',
      'latency_p99',
    ]);
    expect(list.items[0].rollout.id).toBe(failed.id);
    await knex.destroy();
  });
});
