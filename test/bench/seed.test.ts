import { DatabaseRolloutsStore } from '@tollgate/plugin-rollouts-backend/testUtils';
import {
  openBenchDatabase,
  seedBenchDatabase,
  API_SEED,
  LOOP_SEED,
} from './seed';

describe('bench seeding', () => {
  it.each([
    ['API', API_SEED],
    ['loop', LOOP_SEED],
  ])(
    'writes a valid hash chain and the requested shape (%s)',
    async (_name, shape) => {
      const db = await openBenchDatabase('sqlite');
      try {
        const seeded = await seedBenchDatabase(db.knex, {
          ...shape,
          services: 20,
          rollouts: shape.activeRollouts === shape.rollouts ? 200 : 200,
          activeRollouts: shape.activeRollouts === shape.rollouts ? 200 : 20,
          decisions: 3000,
          now: new Date(),
        });
        const store = DatabaseRolloutsStore.fromKnex(db.knex);
        expect(await store.verifyDecisions()).toEqual({
          ok: true,
          checked: 3000,
        });
        const all = await store.listRollouts({});
        expect(all).toHaveLength(200);
        expect(all.filter(r => !r.finishedAt)).toHaveLength(
          shape.activeRollouts === shape.rollouts ? 200 : 20,
        );
        const one = seeded.rollouts[7];
        const page = await store.listDecisions({
          rolloutId: one.id,
          limit: 500,
        });
        expect(page.items.map(d => d.seq).reverse()).toEqual(one.decisionSeqs);
        expect(page.items[page.items.length - 1].verdict).toBe('register');
        // decisions are chronological in seq order
        const rows = await db
          .knex('decisions')
          .orderBy('seq')
          .select('created_at');
        const times = rows.map((r: any) => r.created_at);
        expect([...times].sort()).toEqual(times);
        // the store writes chain version 2, and so does the seed
        const versions = await db.knex('decisions').distinct('chain_version');
        expect(versions.map((r: any) => Number(r.chain_version))).toEqual([2]);
      } finally {
        await db.close();
      }
    },
  );

  it('can seed a log written before chain version 2, continued in version 2, that verifies', async () => {
    const db = await openBenchDatabase('sqlite');
    try {
      await seedBenchDatabase(db.knex, {
        ...LOOP_SEED,
        services: 10,
        rollouts: 50,
        activeRollouts: 10,
        decisions: 1000,
        legacyDecisions: 400,
        now: new Date(),
      });
      const counts = await db
        .knex('decisions')
        .select('chain_version')
        .count({ n: '*' })
        .groupBy('chain_version')
        .orderBy('chain_version');
      expect(
        counts.map((r: any) => [Number(r.chain_version), Number(r.n)]),
      ).toEqual([
        [1, 400],
        [2, 600],
      ]);
      const store = DatabaseRolloutsStore.fromKnex(db.knex);
      expect(await store.verifyDecisions()).toEqual({
        ok: true,
        checked: 1000,
      });
      const [first] = await store.appendDecisions([
        {
          rolloutId: 'r',
          entityRef: 'component:default/svc-0000',
          stepIndex: 0,
          verdict: 'hold',
          kind: 'automatic',
          actor: 'scheduler',
          reasons: ['x'],
          evidence: { a: 1 },
          policyHash: null,
          outcome: 'none',
        },
      ]);
      expect(first.seq).toBe(1001);
      expect(await store.verifyDecisions()).toEqual({
        ok: true,
        checked: 1001,
      });
    } finally {
      await db.close();
    }
  });
});
