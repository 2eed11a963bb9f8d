import type { GateVerdict } from '@tollgate/plugin-rollouts-common';
import { randomUUID } from 'node:crypto';
import type { RolloutEvaluator } from '../evaluation/RolloutEvaluator';
import { sqliteStore } from '../loop/__testUtils__/simulatorLoop';
import { JUDGE_SHARD, ShadowRunner } from './ShadowRunner';
import { ShadowStore } from './ShadowStore';

/**
 * The judge answers on whichever replica the controller's call reached:
 * its shadows (shard {@link JUDGE_SHARD}) read the pair last logged from
 * the database every time, so two replicas taking turns log what one
 * would. The shadow here cannot evaluate (it holds), so its verdict is
 * fixed and the enforced verdicts decide what is logged.
 */
async function judged(replicas: number, enforced: GateVerdict[]) {
  const { knex, store } = await sqliteStore();
  const now = new Date('2026-12-07T09:00:00.000Z');
  const { rollout } = await store.upsertDiscovered({
    id: randomUUID(),
    entityRef: 'component:default/checkout',
    provider: 'argo-rollouts',
    target: 'shop/checkout',
    externalId: 'shop/checkout@6f9c7d',
    version: '6f9c7d',
    status: 'progressing',
    steps: [{ weight: 100 }],
    currentStepIndex: 0,
    currentWeight: 10,
    startedAt: now.toISOString(),
    stepStartedAt: now.toISOString(),
  });
  const evaluator = {
    evaluate: async () => ({
      ok: false,
      reasons: ['telemetry unavailable'],
      telemetryMs: 0,
    }),
  } as unknown as RolloutEvaluator;
  const runners = Array.from(
    { length: replicas },
    () =>
      new ShadowRunner({
        evaluator,
        config: { shadows: [{ policy: 'strict' }], retentionDays: 30 },
        shadows: new ShadowStore(knex),
        store,
      }),
  );
  for (let i = 0; i < enforced.length; i++) {
    const runner = runners[i % replicas];
    await runner.observe({
      rollout,
      now: new Date(now.getTime() + i * 60_000),
      enforced: enforced[i],
      run: i + 1,
      shard: JUDGE_SHARD,
    });
    await runner.flush(i + 1, JUDGE_SHARD);
  }
  const page = await store.listDecisions({
    rolloutId: rollout.id,
    shadow: 'only',
    limit: 50,
    withEvidence: false,
  });
  await knex.destroy();
  return page.items.map(d => d.reasons[0]).reverse();
}

describe('shadow policies of judged rollouts across replicas', () => {
  it('log the same would-have entries whichever replica judged', async () => {
    const enforced: GateVerdict[] = ['promote', 'rollback', 'promote', 'hold'];
    const one = await judged(1, enforced);
    expect(one).toEqual([
      'would have: hold under shadow policy strict (enforced: promote)',
      'would have: hold under shadow policy strict (enforced: rollback)',
      'would have: hold under shadow policy strict (enforced: promote)',
      'would have: hold under shadow policy strict (enforced: hold) — agrees again',
    ]);
    // replica A, B, A, B: A's own memory of the pair is stale after B logged
    expect(await judged(2, enforced)).toEqual(one);
  });
});
