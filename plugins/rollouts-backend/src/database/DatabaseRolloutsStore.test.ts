import knexFactory, { type Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import { testDatabases } from '@tollgate/test-support';
import { GENESIS_HASH } from './canonical';
import { emptyDeliveryState } from './deliveryFigures';
import {
  DatabaseRolloutsStore,
  decisionHash,
  decisionRow,
  decisionRowHash,
  JsonOnce,
  migrateRolloutsDatabase,
  migrationsDir,
  timeOrderedUuid,
} from './DatabaseRolloutsStore';
import type { NewDecision, StoredRollout } from './RolloutsStore';
import type { DecisionEntry } from '@tollgate/plugin-rollouts-common';
import { discoveredRollout } from '../testUtils/rollouts';

const databases = testDatabases('rollouts store on PostgreSQL', {
  prefix: 'store',
});

function decisionFor(
  rollout: StoredRollout,
  i: number,
  overrides: Partial<NewDecision> = {},
): NewDecision {
  return {
    rolloutId: rollout.id,
    entityRef: rollout.entityRef,
    stepIndex: 0,
    verdict: i % 2 ? 'hold' : 'continue',
    kind: 'automatic',
    actor: 'scheduler',
    reasons: [`decision ${i}`],
    evidence: { i, nested: { b: 2, a: [1, { y: 1, x: 0 }] } },
    policyHash: null,
    outcome: 'none',
    ...overrides,
  };
}

/** An evidence snapshot shaped like the gate engine's (signals and burn windows). */
function engineEvidence(conversionCanary: number, longBurn: number) {
  return {
    verdict: 'continue',
    signals: [
      {
        name: 'error rate',
        kind: 'error-rate',
        baseline: 0.001,
        canary: 0.001,
      },
      {
        name: 'conversion',
        kind: 'kpi-proportion',
        baseline: 0.04,
        canary: conversionCanary,
      },
    ],
    checks: {
      burn: {
        canary: {
          availability: [{ name: 'page', longBurn, shortBurn: longBurn * 3 }],
        },
        service: {
          availability: [{ name: 'page', longBurn: 0.1, shortBurn: 0.1 }],
        },
      },
    },
  };
}

const rolloutInput = discoveredRollout;

describe('timeOrderedUuid', () => {
  it('makes version-7 UUIDs that sort by time', () => {
    const ids = [
      Date.UTC(2026, 0, 1),
      Date.UTC(2026, 0, 1) + 1,
      Date.UTC(2027, 5, 1),
    ].map(t => timeOrderedUuid(t));
    for (const id of ids)
      expect(id).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
    expect([...ids].sort()).toEqual(ids);
    expect(
      new Set(Array.from({ length: 1000 }, () => timeOrderedUuid())).size,
    ).toBe(1000);
  });
});

describe.each(databases)('DatabaseRolloutsStore on %s', (_name, makeKnex) => {
  let knex: Knex;
  let store: DatabaseRolloutsStore;

  beforeEach(async () => {
    knex = await makeKnex();
    await migrateRolloutsDatabase(knex);
    store = DatabaseRolloutsStore.fromKnex(knex);
  });
  afterEach(async () => {
    await knex.destroy();
  });

  it('migrates down and up again', async () => {
    await knex.migrate.rollback({ directory: migrationsDir }, true);
    expect(await knex.schema.hasTable('decisions')).toBe(false);
    await migrateRolloutsDatabase(knex);
    expect(await knex.schema.hasTable('decisions')).toBe(true);
  });

  it('upserts discovered rollouts once per provider id', async () => {
    const input = rolloutInput();
    const first = await store.upsertDiscovered(input);
    const second = await store.upsertDiscovered({ ...input, id: randomUUID() });
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.rollout.id).toBe(first.rollout.id);
  });

  it('applies a conditional update only at the expected row version', async () => {
    const { rollout } = await store.upsertDiscovered(rolloutInput());
    const updated = await store.updateRollout(rollout.id, rollout.rowVersion, {
      status: 'paused',
    });
    expect(updated?.status).toBe('paused');
    expect(updated?.rowVersion).toBe(rollout.rowVersion + 1);
    const stale = await store.updateRollout(rollout.id, rollout.rowVersion, {
      status: 'rolled-back',
    });
    expect(stale).toBeUndefined();
    expect((await store.getRollout(rollout.id))?.status).toBe('paused');
  });

  it('keeps one linear hash chain under concurrent appends', async () => {
    const { rollout } = await store.upsertDiscovered(rolloutInput());
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        store.appendDecision(decisionFor(rollout, i, { evidence: { i } })),
      ),
    );
    const verification = await store.verifyDecisions();
    expect(verification).toEqual({ ok: true, checked: 40 });
    const page = await store.listDecisions({
      rolloutId: rollout.id,
      limit: 15,
    });
    expect(page.items.map(d => d.seq)).toEqual(
      Array.from({ length: 15 }, (_, i) => 40 - i),
    );
    const next = await store.listDecisions({
      rolloutId: rollout.id,
      limit: 15,
      before: page.nextCursor,
    });
    expect(next.items[0].seq).toBe(25);
  });

  it('names the first tampered entry and a deleted tail', async () => {
    const { rollout } = await store.upsertDiscovered(rolloutInput());
    for (let i = 0; i < 5; i++) {
      await store.appendDecision({
        rolloutId: rollout.id,
        entityRef: rollout.entityRef,
        stepIndex: 0,
        verdict: 'continue',
        kind: 'automatic',
        actor: 'scheduler',
        reasons: [`r${i}`],
        evidence: null,
        policyHash: null,
        outcome: 'none',
      });
    }
    await knex('decisions')
      .where({ seq: 3 })
      .update({ reasons: JSON.stringify(['rewritten history']) });
    const tampered = await store.verifyDecisions();
    expect(tampered.ok).toBe(false);
    expect(tampered.firstBroken?.seq).toBe(3);
    expect(tampered.firstBroken?.problem).toMatch(/changed/);

    await knex('decisions')
      .where({ seq: 3 })
      .update({ reasons: JSON.stringify(['r2']) });
    expect((await store.verifyDecisions()).ok).toBe(true);
    await knex('decisions').where({ seq: 5 }).delete();
    const truncated = await store.verifyDecisions();
    expect(truncated.ok).toBe(false);
    expect(truncated.firstBroken?.problem).toMatch(/deleted/);
  });

  it('appends a batch of decisions as one stretch of the chain, between single appends', async () => {
    const { rollout } = await store.upsertDiscovered(rolloutInput());
    await store.appendDecision(decisionFor(rollout, 0));
    const batch = await store.appendDecisions(
      Array.from({ length: 1203 }, (_, i) => decisionFor(rollout, i + 1)),
    );
    expect(batch.map(d => d.seq)).toEqual(
      Array.from({ length: 1203 }, (_, i) => i + 2),
    );
    expect(batch[0].prevHash).not.toBe(batch[1].prevHash);
    expect(batch[1].prevHash).toBe(batch[0].hash);
    const last = await store.appendDecision(decisionFor(rollout, 1204));
    expect(last.seq).toBe(1205);
    expect(last.prevHash).toBe(batch[batch.length - 1].hash);
    expect(await store.appendDecisions([])).toEqual([]);
    expect(await store.verifyDecisions()).toEqual({ ok: true, checked: 1205 });
    const page = await store.listDecisions({ rolloutId: rollout.id, limit: 2 });
    expect(page.items[1]).toEqual(batch[batch.length - 1]);
  });

  it('keeps one chain when two stores append batches concurrently', async () => {
    // Two stores as two replicas would hold them: on PostgreSQL each with its own connection pool.
    const other = await (async () => {
      if (_name !== 'PostgreSQL')
        return {
          store: DatabaseRolloutsStore.fromKnex(knex),
          close: async () => {},
        };
      const k2 = knexFactory({
        client: 'pg',
        connection: (knex.client.config as any).connection,
        pool: { min: 0, max: 10 },
      });
      return {
        store: DatabaseRolloutsStore.fromKnex(k2),
        close: () => k2.destroy(),
      };
    })();
    try {
      const { rollout } = await store.upsertDiscovered(rolloutInput());
      const writers = [store, other.store];
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, w) =>
          w % 3 === 2
            ? writers[w % 2]
                .appendDecision(decisionFor(rollout, w * 1000))
                .then(d => [d])
            : writers[w % 2].appendDecisions(
                Array.from({ length: 40 + w }, (__, i) =>
                  decisionFor(rollout, w * 1000 + i),
                ),
              ),
        ),
      );
      const total = results.reduce((n, r) => n + r.length, 0);
      // every batch is one contiguous stretch of the log
      for (const r of results)
        expect(r.map(d => d.seq)).toEqual(r.map((_, i) => r[0].seq + i));
      const seqs = results
        .flat()
        .map(d => d.seq)
        .sort((a, b) => a - b);
      expect(seqs).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      expect(await store.verifyDecisions()).toEqual({
        ok: true,
        checked: total,
      });
      expect(await other.store.verifyDecisions()).toEqual({
        ok: true,
        checked: total,
      });
    } finally {
      await other.close();
    }
  });

  it('applies a batch of conditional updates and logs decisions only for those that applied', async () => {
    const rows = await Promise.all(
      Array.from({ length: 7 }, (_, i) =>
        store
          .upsertDiscovered(
            rolloutInput({ entityRef: `component:default/svc-${i}` }),
          )
          .then(r => r.rollout),
      ),
    );
    // someone else moves rollout 2 first
    await store.updateRollout(rows[2].id, rows[2].rowVersion, {
      status: 'paused',
    });
    const before = store.generation();
    const results = await store.updateRollouts(
      rows.map((r, i) => ({
        rollout: r,
        patch:
          i % 2
            ? {
                lastEvaluation: {
                  verdict: 'hold',
                  rubric: 'not ready',
                  score: 0.2,
                  reasons: ['r'],
                  evaluatedAt: r.startedAt,
                },
                evidence: engineEvidence(0.05, 2 + i),
                lastError: null,
              }
            : {
                status: 'promoted',
                finishedAt: '2026-11-21T13:00:00.000Z',
                currentWeight: 100,
                pendingAction: null,
              },
        decision:
          i === 5
            ? undefined
            : decisionFor(r, i, {
                verdict: i % 2 ? 'hold' : 'promote',
                outcome: i % 2 ? 'none' : 'applied',
              }),
      })),
    );
    expect(store.generation()).toBeGreaterThan(before);
    expect(results[2]).toBeUndefined();
    expect(results.filter(Boolean)).toHaveLength(6);
    expect(results[5]?.decision).toBeUndefined();
    expect(results.filter(r => r?.decision).map(r => r!.decision!.seq)).toEqual(
      [1, 2, 3, 4, 5],
    );
    for (const [i, r] of results.entries()) {
      if (!r) continue;
      // the returned row is what the database now holds
      const stored = await store.getRollout(rows[i].id);
      expect(r.rollout).toEqual(stored);
      expect(stored!.rowVersion).toBe(rows[i].rowVersion + 1);
    }
    expect((await store.getRollout(rows[2].id))?.status).toBe('paused');
    expect(await store.updateRollouts([])).toEqual([]);
    await expect(
      store.updateRollouts([
        { rollout: rows[0], patch: {} },
        { rollout: rows[0], patch: {} },
      ]),
    ).rejects.toThrow(/once/);
    expect(await store.verifyDecisions()).toEqual({ ok: true, checked: 5 });
    // the dashboard's figures come from the evidence written
    const figures = await store.listRolloutFigures({
      entityRefs: ['component:default/svc-3'],
      finishedSince: '2000-01-01T00:00:00.000Z',
    });
    expect(figures).toEqual([
      expect.objectContaining({
        entityRef: 'component:default/svc-3',
        status: 'progressing',
        burnRate: 5,
        kpiDeltas: { conversion: expect.closeTo(0.25, 6) },
      }),
    ]);
  });

  it('pages a list without repeating or skipping rows started at the same time, and counts and searches what it pages', async () => {
    const startedAt = '2026-11-21T12:00:00.000Z';
    for (let i = 0; i < 25; i++) {
      await store.upsertDiscovered(
        rolloutInput({
          entityRef: `component:default/svc-${String(i).padStart(2, '0')}`,
          version: i === 7 ? '3.0.0-RC_1' : '2.0.0',
          // five share each start time: only the tie-break keeps pages apart
          startedAt: new Date(
            Date.parse(startedAt) - Math.floor(i / 5) * 60_000,
          ).toISOString(),
        }),
      );
    }
    await store.upsertDiscovered(
      rolloutInput({
        entityRef: 'component:default/done',
        status: 'promoted',
        finishedAt: startedAt,
      }),
    );
    const active = { status: ['progressing' as const] };
    const pages = [];
    for (let offset = 0; offset < 25; offset += 10)
      pages.push(await store.listRollouts({ ...active, limit: 10, offset }));
    expect(pages.map(p => p.length)).toEqual([10, 10, 5]);
    const ids = pages.flat().map(r => r.id);
    expect(new Set(ids).size).toBe(25);
    expect(ids).toEqual((await store.listRollouts(active)).map(r => r.id));
    expect(
      await store.countRollouts({ ...active, limit: 10, offset: 20 }),
    ).toBe(25);
    expect(await store.countRollouts({})).toBe(26);

    // search: entity ref or version, case-insensitive; % and _ are literal
    expect(
      (await store.listRollouts({ search: 'SVC-1' }))
        .map(r => r.entityRef)
        .sort(),
    ).toEqual(
      Array.from({ length: 10 }, (_, i) => `component:default/svc-1${i}`),
    );
    expect(
      (await store.listRollouts({ search: 'rc_1' })).map(r => r.entityRef),
    ).toEqual(['component:default/svc-07']);
    expect(await store.countRollouts({ search: 'rc%' })).toBe(0);
    expect(
      await store.listRolloutEntityRefs({
        entityRefs: ['component:default/svc-03', 'component:default/done'],
        ...active,
      }),
    ).toEqual(['component:default/svc-03']);
    expect(await store.countRollouts({ entityRefs: [] })).toBe(0);
  });

  it("reads a rollout's decision head: its entity and newest seq in one read", async () => {
    const { rollout } = await store.upsertDiscovered(rolloutInput());
    expect(await store.getDecisionHead(rollout.id)).toEqual({
      entityRef: rollout.entityRef,
      lastSeq: 0,
    });
    const [, second] = await store.appendDecisions([
      decisionFor(rollout, 0),
      decisionFor(rollout, 1),
    ]);
    const { rollout: other } = await store.upsertDiscovered(rolloutInput());
    await store.appendDecision(decisionFor(other, 2));
    expect(await store.getDecisionHead(rollout.id)).toEqual({
      entityRef: rollout.entityRef,
      lastSeq: second.seq,
    });
    expect(await store.getDecisionHead(randomUUID())).toBeUndefined();
  });

  it('lists rollouts without their evidence unless asked, and the figures without it', async () => {
    const now = Date.parse('2026-11-21T12:00:00.000Z');
    const at = (h: number) => new Date(now - h * 3_600_000).toISOString();
    const inputs = [
      rolloutInput({
        entityRef: 'component:default/a',
        startedAt: at(5),
        evidence: engineEvidence(0.04, 1.5),
      }),
      rolloutInput({
        entityRef: 'component:default/a',
        startedAt: at(30),
        status: 'rolled-back',
        finishedAt: at(29),
        evidence: engineEvidence(0.02, 9),
      }),
      rolloutInput({
        entityRef: 'component:default/b',
        startedAt: at(900),
        status: 'promoted',
        finishedAt: at(899),
        evidence: engineEvidence(0.05, 1),
      }),
      rolloutInput({ entityRef: 'component:default/c', startedAt: at(3) }),
    ];
    for (const input of inputs) await store.upsertDiscovered(input);
    const listed = await store.listRollouts({
      entityRefs: ['component:default/a'],
    });
    expect(listed.map(r => r.startedAt)).toEqual([at(5), at(30)]);
    expect(listed.every(r => r.evidence === undefined)).toBe(true);
    const withEvidence = await store.listRollouts({
      entityRefs: ['component:default/a'],
      withEvidence: true,
    });
    expect(withEvidence[0].evidence).toEqual(engineEvidence(0.04, 1.5));
    expect((await store.getRollout(listed[1].id))?.evidence).toEqual(
      engineEvidence(0.02, 9),
    );

    const since = at(24 * 7);
    const short = await store.listRolloutFigures({
      entityRefs: ['component:default/a', 'component:default/b'],
      finishedSince: since,
    });
    expect(short.map(f => [f.entityRef, f.status, f.burnRate]).sort()).toEqual([
      ['component:default/a', 'progressing', 1.5],
      ['component:default/a', 'rolled-back', 9],
    ]);
    expect(
      short.find(f => f.status === 'rolled-back')?.kpiDeltas?.conversion,
    ).toBeCloseTo(-0.5, 6);
    // a long list of services (every one in the catalog) filters the same way
    const many = Array.from(
      { length: 600 },
      (_, i) => `component:default/x${i}`,
    ).concat('component:default/c');
    const long = await store.listRolloutFigures({
      entityRefs: many,
      finishedSince: since,
    });
    expect(long).toEqual([
      {
        entityRef: 'component:default/c',
        status: 'progressing',
        startedAt: at(3),
        stepStartedAt: inputs[3].stepStartedAt,
        finishedAt: undefined,
        burnRate: undefined,
        kpiDeltas: undefined,
        id: inputs[3].id,
        version: inputs[3].version,
        kpiIntervals: undefined,
        delivery: emptyDeliveryState(),
      },
    ]);
    expect(
      await store.listRolloutFigures({ entityRefs: [], finishedSince: since }),
    ).toEqual([]);
    expect(
      await store.listRolloutFigures({ finishedSince: since }),
    ).toHaveLength(3);
  });

  it('folds a batch of hundreds of decisions, run by run as they are stored, exactly as the same decisions appended a few at a time', async () => {
    const t0 = Date.parse('2026-11-21T10:00:00.000Z');
    const at = (min: number) => new Date(t0 + min * 60_000).toISOString();
    const [{ rollout: batched }, { rollout: few }] = [
      await store.upsertDiscovered(rolloutInput({ startedAt: at(0) })),
      await store.upsertDiscovered(rolloutInput({ startedAt: at(0) })),
    ];
    const decisionsOf = (rollout: StoredRollout) =>
      Array.from({ length: 250 }, (_, i) => {
        const evidence = engineEvidence(0.04, 1 + (i % 3));
        const hold = i % 50 === 49;
        (evidence.checks.burn.canary as any).alerting = hold;
        return decisionFor(rollout, i, {
          verdict: hold ? 'hold' : 'continue',
          evidence,
          reasons: [hold ? `burn: page window alerting at ${i}` : 'healthy'],
          createdAt: at(i + 1),
        });
      });
    // 250 decisions in one append: three runs of rows, each folded while the database stores it
    await store.appendDecisions(decisionsOf(batched));
    const mine = decisionsOf(few);
    for (let i = 0; i < mine.length; i += 7)
      await store.appendDecisions(mine.slice(i, i + 7));
    const figures = await store.listRolloutFigures({ finishedSince: at(0) });
    const deliveryOf = (id: string) => {
      const { incidents, ...rest } = figures.find(f => f.id === id)!.delivery!;
      // the seqs differ (the two rollouts' entries are at different places in the log)
      return { ...rest, incidents: incidents.map(({ seq: _s, ...i }) => i) };
    };
    expect(deliveryOf(batched.id)).toEqual(deliveryOf(few.id));
    expect(deliveryOf(batched.id).incidents).toHaveLength(5);
    expect(deliveryOf(batched.id).incidents[4].reason).toBe(
      'burn: page window alerting at 249',
    );
    // every minute's canary burn (1, 2 or 3 at 5%) counted: 249 intervals
    expect(deliveryOf(batched.id).budgetCanary).toBeGreaterThan(
      249 * 60 * 0.05,
    );
  });

  it("folds every appended decision into its rollout's delivery figures, whichever way it is appended", async () => {
    const t0 = Date.parse('2026-11-21T10:00:00.000Z');
    const at = (min: number) => new Date(t0 + min * 60_000).toISOString();
    const { rollout } = await store.upsertDiscovered(
      rolloutInput({ startedAt: at(0) }),
    );
    const alerting = engineEvidence(0.04, 2);
    (alerting.checks.burn.canary as any).alerting = true;
    // appendDecisions: the registration, then an evaluation (service burn 0.1, canary 2 at 5%)
    await store.appendDecisions([
      decisionFor(rollout, 0, {
        verdict: 'register',
        evidence: null,
        createdAt: at(0),
      }),
      decisionFor(rollout, 1, {
        verdict: 'continue',
        evidence: engineEvidence(0.04, 2),
        createdAt: at(10),
      }),
    ]);
    // updateRollouts: a hold on the canary's burn alert
    const [held] = await store.updateRollouts([
      {
        rollout,
        patch: { evidence: alerting },
        decision: decisionFor(rollout, 2, {
          verdict: 'hold',
          evidence: alerting,
          reasons: ['burn: page window alerting'],
          createdAt: at(20),
        }),
      },
    ]);
    // an active rollout's KPIs with their intervals, from the evidence written
    const [active] = await store.listRolloutFigures({ finishedSince: at(0) });
    expect(active.kpiIntervals).toEqual([
      expect.objectContaining({ name: 'conversion', scale: 'relative' }),
    ]);
    // finishAction: the rollback applied
    await store.finishAction({
      rollout: held!.rollout,
      patch: { status: 'rolled-back', finishedAt: at(30) },
      decision: decisionFor(rollout, 3, {
        verdict: 'rollback',
        outcome: 'applied',
        evidence: null,
        reasons: ['error rate: canary worse than baseline'],
        createdAt: at(30),
      }),
    });
    const [figures] = await store.listRolloutFigures({
      finishedSince: at(0),
    });
    expect(figures.delivery).toEqual({
      firstHarmAt: at(20),
      rolledBackAt: at(30),
      reachedFullAt: null,
      failedAfterFullAt: null,
      stepsAuto: 0,
      stepsAll: 1,
      // 0.1 × 600 s twice (10 → 20 → 30 min)
      budgetService: expect.closeTo(120, 6),
      // canary burn 2 × 5% share, the same
      budgetCanary: expect.closeTo(120, 6),
      burnService: null,
      burnCanary: null,
      burnAt: at(30),
      incidents: [
        {
          kind: 'hold-burn',
          at: at(20),
          seq: 3,
          reason: 'burn: page window alerting',
        },
        {
          kind: 'rollback',
          at: at(30),
          seq: 4,
          reason: 'error rate: canary worse than baseline',
        },
      ],
    });
    // finished: the dashboard shows the active rollouts' intervals only
    expect(figures.kpiIntervals).toBeUndefined();
    expect(await store.verifyDecisions()).toEqual({ ok: true, checked: 4 });

    // the migration backfills the same figures from the log (its frozen copy of the fold)
    await knex.migrate.down({
      directory: migrationsDir,
      name: '20261206200000_rollout_delivery_figures.js',
    });
    expect(await knex.schema.hasColumn('rollouts', 'burn_at')).toBe(false);
    await migrateRolloutsDatabase(knex);
    const [backfilled] = await store.listRolloutFigures({
      finishedSince: at(0),
    });
    expect(backfilled.delivery).toEqual(figures.delivery);
  });

  it('backfills the figure columns of existing rollouts when migrating', async () => {
    await knex.migrate.rollback({ directory: migrationsDir }, true);
    await knex.migrate.up({
      directory: migrationsDir,
      name: '20261121000000_init.js',
    });
    expect(await knex.schema.hasColumn('rollouts', 'burn_rate')).toBe(false);
    const input = rolloutInput({ evidence: engineEvidence(0.03, 4) });
    await knex('rollouts').insert({
      id: input.id,
      entity_ref: input.entityRef,
      provider: input.provider,
      target: input.target,
      external_id: input.externalId,
      version: input.version,
      status: input.status,
      steps: JSON.stringify(input.steps),
      current_step_index: 0,
      current_weight: 5,
      started_at: input.startedAt,
      step_started_at: input.stepStartedAt,
      updated_at: input.startedAt,
      evidence: JSON.stringify(input.evidence),
      row_version: 0,
    });
    await migrateRolloutsDatabase(knex);
    const [figures] = await store.listRolloutFigures({
      finishedSince: input.startedAt,
    });
    expect(figures.burnRate).toBe(4);
    expect(figures.kpiDeltas?.conversion).toBeCloseTo(-0.25, 6);
  });

  it('writes chain version 2: each hash covers the stored text of every column', async () => {
    const { rollout } = await store.upsertDiscovered(rolloutInput());
    const written = await store.appendDecisions([
      decisionFor(rollout, 0, { evidence: engineEvidence(0.05, 2) }),
      decisionFor(rollout, 1, { evidence: null, policyHash: 'a'.repeat(64) }),
      decisionFor(rollout, 2, {
        reasons: ['line one\nline two', 'ünïcode ✓'],
        actor: 'user:default/jane',
      }),
    ]);
    const rows = await knex('decisions').orderBy('seq');
    expect(rows.map(r => Number(r.chain_version))).toEqual([2, 2, 2]);
    for (const [i, row] of rows.entries()) {
      expect(row.hash).toBe(written[i].hash);
      expect(decisionRowHash(row)).toBe(row.hash);
      // the stored evidence is the snapshot's JSON text as written, hashed as is
      expect(row.evidence).toBe(
        written[i].evidence === null
          ? null
          : JSON.stringify(written[i].evidence),
      );
    }
    expect(await store.verifyDecisions()).toEqual({ ok: true, checked: 3 });
    // what the store hands back is what a reader gets
    expect(
      (await store.listDecisions({ rolloutId: rollout.id })).items.reverse(),
    ).toEqual(written);
  });

  it('verifies a version-1 log written before the upgrade, then version-2 rows, across the boundary', async () => {
    // the log as the code before chain version 2 wrote it, without the chain_version column
    // (that migration by name: later ones stay applied)
    await knex.migrate.down({
      directory: migrationsDir,
      name: '20261122100000_decision_chain_v2.js',
    });
    expect(await knex.schema.hasColumn('decisions', 'chain_version')).toBe(
      false,
    );
    const { rollout } = await store.upsertDiscovered(rolloutInput());
    const json = new JsonOnce();
    let prevHash = GENESIS_HASH;
    const v1: DecisionEntry[] = [];
    for (let i = 0; i < 4; i++) {
      const base: Omit<DecisionEntry, 'hash'> = {
        ...decisionFor(rollout, i, i === 2 ? { evidence: null } : {}),
        evidence:
          i === 2 ? null : { i, nested: { b: 2, a: [1, { y: 1, x: 0 }] } },
        seq: i + 1,
        id: timeOrderedUuid(),
        createdAt: new Date(Date.UTC(2026, 10, 20, 12, i)).toISOString(),
        prevHash,
      };
      const entry = { ...base, hash: decisionHash(base) };
      const { chain_version: _v, ...row } = decisionRow(entry, json, 1);
      await knex('decisions').insert(row);
      v1.push(entry);
      prevHash = entry.hash;
    }
    await knex('decision_chain')
      .where({ id: 1 })
      .update({ seq: 4, hash: prevHash });

    await migrateRolloutsDatabase(knex);
    expect(
      (await knex('decisions').select('chain_version')).map(r =>
        Number(r.chain_version),
      ),
    ).toEqual([1, 1, 1, 1]);
    expect(await store.verifyDecisions()).toEqual({ ok: true, checked: 4 });

    const v2 = await store.appendDecisions([
      decisionFor(rollout, 4),
      decisionFor(rollout, 5),
    ]);
    expect(v2[0].prevHash).toBe(v1[3].hash);
    expect(
      (await knex('decisions').orderBy('seq').select('chain_version')).map(r =>
        Number(r.chain_version),
      ),
    ).toEqual([1, 1, 1, 1, 2, 2]);
    expect(await store.verifyDecisions()).toEqual({ ok: true, checked: 6 });

    // version-1 rows keep the version-1 rule: a changed one is still found
    await knex('decisions')
      .where({ seq: 2 })
      .update({ actor: 'user:default/mallory' });
    expect((await store.verifyDecisions()).firstBroken?.seq).toBe(2);
    await knex('decisions').where({ seq: 2 }).update({ actor: 'scheduler' });
    // a version-2 row relabelled as version 1 does not verify under the version-1 rule
    await knex('decisions').where({ seq: 5 }).update({ chain_version: 1 });
    expect((await store.verifyDecisions()).firstBroken?.seq).toBe(5);
    await knex('decisions').where({ seq: 5 }).update({ chain_version: 2 });
    expect(await store.verifyDecisions()).toEqual({ ok: true, checked: 6 });
  });

  it('finds a change to any stored column of a version-2 row and names its seq', async () => {
    const { rollout } = await store.upsertDiscovered(rolloutInput());
    await store.appendDecisions([
      decisionFor(rollout, 0),
      decisionFor(rollout, 1),
      decisionFor(rollout, 2, {
        evidence: engineEvidence(0.05, 2),
        policyHash: 'b'.repeat(64),
        reasons: ['r2', 'second'],
      }),
      decisionFor(rollout, 3, { evidence: null }),
      decisionFor(rollout, 4),
    ]);
    expect(await store.verifyDecisions()).toEqual({ ok: true, checked: 5 });
    const original = async (seq: number) =>
      knex('decisions').where({ seq }).first();
    const row3 = await original(3);
    const reordered = JSON.stringify(
      Object.fromEntries(Object.entries(JSON.parse(row3.evidence)).reverse()),
    );
    expect(JSON.parse(reordered)).toEqual(JSON.parse(row3.evidence));
    // [seq of the row, column, tampered value]: content changes, and text changes with equal content
    const tampers: Array<[number, string, unknown]> = [
      [3, 'id', timeOrderedUuid()],
      [3, 'rollout_id', randomUUID()],
      [3, 'entity_ref', 'component:default/other'],
      [3, 'step_index', 1],
      [3, 'verdict', 'promote'],
      [3, 'kind', 'manual'],
      [3, 'actor', 'user:default/mallory'],
      [3, 'reasons', JSON.stringify(['r2'])],
      [3, 'reasons', JSON.stringify(['r2', 'second'], null, 1)],
      [
        3,
        'evidence',
        JSON.stringify({ ...JSON.parse(row3.evidence), verdict: 'rollback' }),
      ],
      [3, 'evidence', reordered],
      [3, 'evidence', `${row3.evidence} `],
      [3, 'evidence', null],
      [4, 'evidence', 'null'],
      [4, 'evidence', ''],
      [3, 'policy_hash', null],
      [4, 'policy_hash', ''],
      [3, 'outcome', 'applied'],
      [
        3,
        'created_at',
        new Date(Date.parse(row3.created_at) + 1).toISOString(),
      ],
      [3, 'prev_hash', 'f'.repeat(64)],
      [3, 'hash', 'e'.repeat(64)],
      [3, 'chain_version', 1],
      [3, 'chain_version', 3],
      [3, 'seq', 1003],
    ];
    // a renumbered row leaves its seq missing from the chain
    const missing = expect.stringMatching(/missing/);
    const anyProblem = expect.any(String);
    for (const [seq, column, value] of tampers) {
      const before = await original(seq);
      await knex('decisions')
        .where({ seq })
        .update({ [column]: value });
      const result = await store.verifyDecisions();
      expect({
        column,
        value,
        ok: result.ok,
        seq: result.firstBroken?.seq,
        problem: result.firstBroken?.problem,
      }).toEqual({
        column,
        value,
        ok: false,
        seq,
        problem: column === 'seq' ? missing : anyProblem,
      });
      // put the row back: a renumbered one by its new seq
      if (column === 'seq') {
        await knex('decisions').where({ seq: value }).update({ seq });
      } else {
        await knex('decisions')
          .where({ seq })
          .update({ [column]: before[column] });
      }
      expect(await store.verifyDecisions()).toEqual({ ok: true, checked: 5 });
    }
    // a change to a later row's link, and a row swapped in whole from elsewhere in the log
    const row2 = await original(2);
    const { seq: _s, ...rest2 } = row2;
    await knex('decisions')
      .where({ seq: 4 })
      .update({
        ...rest2,
        id: row2.id.replace(/.$/, (c: string) => (c === '0' ? '1' : '0')),
      });
    expect((await store.verifyDecisions()).firstBroken?.seq).toBe(4);
  });

  it('hands out an idempotency key once', async () => {
    const record = {
      idempotencyKey: 'key-12345678',
      rolloutId: 'r1',
      action: 'rollback',
      actor: 'user:default/guest',
      createdAt: new Date().toISOString(),
    };
    expect((await store.claimActionRequest(record)).claimed).toBe(true);
    const again = await store.claimActionRequest(record);
    expect(again.claimed).toBe(false);
    expect(again.existing?.state).toBe('running');
    await store.finishActionRequest(record.idempotencyKey, 'done', { ok: 1 });
    expect(
      (await store.getActionRequest(record.idempotencyKey))?.result,
    ).toEqual({ ok: 1 });
  });
});
