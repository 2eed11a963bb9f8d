import type { DecisionEntry } from '@tollgate/plugin-rollouts-common';
import knexFactory from 'knex';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  emptyDeliveryState,
  foldDecision,
  SUPERSEDED_REASON,
} from '../database/deliveryFigures';
import {
  DatabaseRolloutsStore,
  migrateRolloutsDatabase,
} from '../database/DatabaseRolloutsStore';
import type {
  NewDecision,
  RolloutFigures,
  RolloutsStore,
} from '../database/RolloutsStore';
import { worstBurnRate } from '@tollgate/plugin-rollouts-common';
import { computeSummary, SLO_WINDOW_DAYS } from './summary';

const NOW = Date.parse('2026-11-21T12:00:00.000Z');
const at = (hoursAgo: number) =>
  new Date(NOW - hoursAgo * 3_600_000).toISOString();

function fakeStore(figures: RolloutFigures[]) {
  let generation = 0;
  const calls: Array<{ entityRefs?: string[]; finishedSince: string }> = [];
  const store = {
    generation: () => generation,
    listRolloutFigures: async (filter: {
      entityRefs?: string[];
      finishedSince: string;
    }) => {
      calls.push(filter);
      await new Promise(r => setTimeout(r, 5));
      return figures.filter(
        f =>
          (!filter.entityRefs || filter.entityRefs.includes(f.entityRef)) &&
          (!f.finishedAt || f.finishedAt >= filter.finishedSince),
      );
    },
  } as unknown as RolloutsStore;
  return { store, calls, write: () => generation++ };
}

const FIGURES: RolloutFigures[] = [
  {
    entityRef: 'component:default/b',
    status: 'progressing',
    startedAt: at(3),
    stepStartedAt: at(1),
    burnRate: 2.5,
  },
  {
    entityRef: 'component:default/b',
    status: 'rolled-back',
    startedAt: at(30),
    stepStartedAt: at(29.5),
    finishedAt: at(29),
    kpiDeltas: { conversion: -0.1 },
  },
  {
    entityRef: 'component:default/a',
    status: 'promoted',
    startedAt: at(50),
    stepStartedAt: at(49),
    finishedAt: at(48),
    kpiDeltas: { conversion: 0.02 },
  },
  {
    entityRef: 'component:default/a',
    status: 'promoted',
    startedAt: at(2000),
    stepStartedAt: at(1999),
    finishedAt: at(1998),
  },
];

describe('computeSummary', () => {
  it('computes the dashboard figures from the rollouts figures', async () => {
    const { store } = fakeStore(FIGURES);
    const s = await computeSummary(store, { days: 30, now: new Date(NOW) });
    expect(s).toMatchObject({
      activeRollouts: 1,
      finishedRollouts: 2,
      promoted: 1,
      rolledBack: 1,
      successRate: 0.5,
      failedPer100: 50,
      // no decision folded into these rows: no delivery figures
      changeFailureRate: null,
      meanTimeToRollbackMinutes: null,
      meanDetectionLagMinutes: null,
      automationSuccessRate: null,
      incidents: [],
    });
    expect(s.services).toEqual([
      {
        entityRef: 'component:default/a',
        activeRollouts: 0,
        finishedRollouts: 1,
        rolledBack: 0,
        budgetBurnRate: null,
        kpiImpact: { conversion: 0.02 },
        budgetSpent: null,
        budgetSpentByRollouts: null,
      },
      {
        entityRef: 'component:default/b',
        activeRollouts: 1,
        finishedRollouts: 1,
        rolledBack: 1,
        budgetBurnRate: 2.5,
        kpiImpact: { conversion: -0.1 },
        budgetSpent: null,
        budgetSpentByRollouts: null,
      },
    ]);
    expect(s.trend).toHaveLength(30);
    expect(
      s.trend.reduce((n, d) => n + d.promoted + d.rolledBack + d.other, 0),
    ).toBe(2);
  });

  it('shares one computation between concurrent requests and serves it until the store writes', async () => {
    const { store, calls, write } = fakeStore(FIGURES);
    const refs = ['component:default/a', 'component:default/b'];
    const [x, y] = await Promise.all([
      computeSummary(store, { days: 7, entityRefs: refs }),
      computeSummary(store, { days: 7, entityRefs: refs }),
    ]);
    expect(x).toBe(y);
    expect(calls).toHaveLength(1);
    expect(await computeSummary(store, { days: 7, entityRefs: refs })).toBe(x);
    expect(calls).toHaveLength(1);
    // other services or days are other summaries
    await computeSummary(store, {
      days: 7,
      entityRefs: ['component:default/a'],
    });
    await computeSummary(store, { days: 30, entityRefs: refs });
    expect(calls).toHaveLength(3);
    // a write through this store makes the next request compute afresh
    write();
    expect(await computeSummary(store, { days: 7, entityRefs: refs })).not.toBe(
      x,
    );
    expect(calls).toHaveLength(4);
    // as do an explicit clock and a zero TTL
    await computeSummary(store, { days: 7, entityRefs: refs, cacheTtlMs: 0 });
    await computeSummary(store, {
      days: 7,
      entityRefs: refs,
      now: new Date(NOW),
    });
    expect(calls).toHaveLength(6);
  });

  it('expires a cached summary after the TTL', async () => {
    const { store, calls } = fakeStore(FIGURES);
    await computeSummary(store, { days: 7, cacheTtlMs: 20 });
    await computeSummary(store, { days: 7, cacheTtlMs: 20 });
    expect(calls).toHaveLength(1);
    await new Promise(r => setTimeout(r, 40));
    await computeSummary(store, { days: 7, cacheTtlMs: 20 });
    expect(calls).toHaveLength(2);
  });

  it('serves a summary past its TTL while the next one is computed once, and waits for a fresh one past twice the TTL', async () => {
    const { store, calls } = fakeStore(FIGURES);
    const ttl = { days: 7, cacheTtlMs: 200 };
    const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));
    const first = await computeSummary(store, ttl);
    await sleep(250);
    // past the TTL: the same answer at once, and one recomputation behind it
    const [a, b] = await Promise.all([
      computeSummary(store, ttl),
      computeSummary(store, ttl),
    ]);
    expect(a).toBe(first);
    expect(b).toBe(first);
    expect(calls).toHaveLength(2);
    await sleep(30);
    const second = await computeSummary(store, ttl);
    expect(second).not.toBe(first);
    expect(calls).toHaveLength(2);
    // nobody asked for over twice the TTL: the request waits for a fresh summary
    await sleep(450);
    const third = await computeSummary(store, ttl);
    expect(third).not.toBe(second);
    expect(calls).toHaveLength(3);
  });

  it("reads the worst burn rate from the engine's burn windows and from providers' history", () => {
    const engine = {
      checks: {
        burn: {
          canary: {
            availability: [
              { name: 'page', longBurn: 0.4, shortBurn: 9 },
              { name: 'ticket', longBurn: 1.7, shortBurn: 0.2 },
            ],
          },
          service: { latency: [{ longBurn: null }] },
        },
      },
    };
    expect(worstBurnRate(engine)).toBe(1.7);
    expect(
      worstBurnRate({
        checks: {
          burn: { canary: { burnRate: 3 }, service: { burnRate: 0.5 } },
        },
      }),
    ).toBe(3);
    expect(worstBurnRate({ signals: [] })).toBeUndefined();
  });
});

/** A constructed decision log, folded as the store folds it on append. */
type LogLine = Partial<Omit<DecisionEntry, 'createdAt'>> & {
  min: number;
  verdict: DecisionEntry['verdict'];
};

const T0 = NOW - 10 * 3_600_000;
const atMin = (min: number) => new Date(T0 + min * 60_000).toISOString();
const LADDER = [{ weight: 5 }, { weight: 25 }, { weight: 100 }];
let seq = 0;

function rolloutFrom(
  entityRef: string,
  status: RolloutFigures['status'],
  lines: LogLine[],
  extra: Partial<RolloutFigures> = {},
): RolloutFigures {
  let delivery = emptyDeliveryState();
  for (const { min, ...line } of lines)
    delivery = foldDecision(
      delivery,
      {
        seq: ++seq,
        rolloutId: entityRef,
        kind: 'automatic',
        outcome: 'none',
        reasons: [`${line.verdict} at ${min}`],
        evidence: null,
        stepIndex: 0,
        ...line,
        createdAt: atMin(min),
      },
      LADDER,
    );
  const last = lines[lines.length - 1].min;
  const active = status === 'progressing';
  return {
    entityRef,
    id: `${entityRef}#${seq}`,
    version: '1.0.0',
    status,
    startedAt: atMin(0),
    stepStartedAt: atMin(0),
    finishedAt: active ? undefined : atMin(last),
    delivery,
    ...extra,
  };
}

/** Evidence with one burn window per view; `alerting` marks the canary's alert. */
function burnEvidence(service: number, canary: number, alerting = false) {
  return {
    checks: {
      burn: {
        service: {
          availability: [{ name: 'page', longBurn: service }],
          alerting: false,
        },
        canary: {
          availability: [{ name: 'page', longBurn: canary, alerting }],
          alerting,
        },
      },
    },
  };
}

const harmHold = (min: number): LogLine => ({
  min,
  verdict: 'hold',
  evidence: burnEvidence(0.5, 8, true),
  reasons: ['burn: the canary spends its budget 8× too fast'],
});
const promote = (min: number, stepIndex: number): LogLine => ({
  min,
  verdict: 'promote',
  outcome: 'applied',
  stepIndex,
});

describe('computeSummary on a constructed decision log', () => {
  const summaryOf = async (figures: RolloutFigures[]) =>
    computeSummary(fakeStore(figures).store, {
      days: 7,
      now: new Date(NOW),
    });

  it('mean time to rollback: first harmful verdict → applied rollback; detection lag: deploy → first harmful verdict', async () => {
    const s = await summaryOf([
      // harm at 20 (a hold on the canary's burn alert), rolled back at 30
      rolloutFrom('component:default/a', 'rolled-back', [
        { min: 0, verdict: 'register' },
        { min: 10, verdict: 'continue', evidence: burnEvidence(0.1, 0.2) },
        harmHold(20),
        { min: 30, verdict: 'rollback', outcome: 'applied' },
      ]),
      // a failed rollback at 45 is the first harmful verdict; applied at 50
      rolloutFrom('component:default/b', 'rolled-back', [
        { min: 0, verdict: 'register' },
        { min: 40, verdict: 'hold', reasons: ['canary telemetry stale'] },
        { min: 45, verdict: 'rollback', outcome: 'failed' },
        { min: 50, verdict: 'rollback', outcome: 'applied' },
      ]),
      // a clean release: neither figure
      rolloutFrom('component:default/c', 'promoted', [
        { min: 0, verdict: 'register' },
        promote(30, 0),
        promote(60, 1),
      ]),
    ]);
    expect(s.meanTimeToRollbackMinutes).toBeCloseTo((10 + 5) / 2, 9);
    expect(s.timedRollbacks).toBe(2);
    expect(s.meanDetectionLagMinutes).toBeCloseTo((20 + 45) / 2, 9);
    expect(s.detections).toBe(2);
  });

  it('failed rollouts per 100 finished, and the change-failure rate of releases that reached full', async () => {
    const s = await summaryOf([
      // rolled back before full: a failed rollout, not a change failure
      rolloutFrom('component:default/a', 'rolled-back', [
        { min: 0, verdict: 'register' },
        { min: 5, verdict: 'rollback', outcome: 'applied' },
      ]),
      // reached full at 60 (the promotion into the 100% step), rolled back by the bake watch at 90
      rolloutFrom('component:default/b', 'rolled-back', [
        promote(30, 0),
        promote(60, 1),
        { min: 90, verdict: 'rollback', outcome: 'applied' },
      ]),
      // reached full, then a newer release ended its bake window: a roll-forward
      rolloutFrom('component:default/c', 'promoted', [
        promote(30, 0),
        promote(60, 1),
        {
          min: 70,
          verdict: 'observe',
          reasons: [`watch ended: ${SUPERSEDED_REASON}`],
        },
      ]),
      // reached full and stayed
      rolloutFrom('component:default/d', 'promoted', [
        promote(30, 0),
        promote(60, 1),
      ]),
    ]);
    expect(s.finishedRollouts).toBe(4);
    expect(s.failedPer100).toBeCloseTo(50, 9);
    expect(s.reachedFull).toBe(3);
    expect(s.changeFailures).toBe(2);
    expect(s.changeFailureRate).toBeCloseTo(2 / 3, 9);
    // no longer 1 − success rate
    expect(s.changeFailureRate).not.toBeCloseTo(1 - s.successRate!, 3);
  });

  it("reads a roll-forward from the bake watch's own reason", () => {
    // the change-failure rate counts it: the text must stay the watch's
    const watch = readFileSync(join(__dirname, '../loop/watch.ts'), 'utf8');
    expect(watch).toContain(SUPERSEDED_REASON);
  });

  it('automation success: steps the automation completed / every promote or rollback action', async () => {
    const s = await summaryOf([
      rolloutFrom('component:default/a', 'promoted', [
        promote(10, 0),
        // a person promoted this step
        {
          min: 20,
          verdict: 'promote',
          outcome: 'applied',
          kind: 'manual',
          stepIndex: 1,
        },
      ]),
      rolloutFrom('component:default/b', 'rolled-back', [
        promote(10, 0),
        // the deploy system refused, then took, the rollback
        { min: 20, verdict: 'rollback', outcome: 'failed', stepIndex: 1 },
        { min: 25, verdict: 'rollback', outcome: 'applied', stepIndex: 1 },
        // evaluations are no steps
        { min: 30, verdict: 'continue' },
      ]),
    ]);
    expect(s.automatedSteps).toBe(2);
    expect(s.allSteps).toBe(5);
    expect(s.automationSuccessRate).toBeCloseTo(2 / 5, 9);
  });

  it("error budget: burn rate × time / SLO window, each decision's rates held until the next, an active rollout's until now", async () => {
    const s = await summaryOf([
      // service burn 2 from 0 to 60 min; the canary's 4 at 5% then 10 at 25%
      rolloutFrom('component:default/a', 'promoted', [
        { min: 0, verdict: 'continue', evidence: burnEvidence(2, 4) },
        { ...promote(30, 0), evidence: burnEvidence(2, 10) },
        // the promotion to full ends the exposure: nothing after it counts
        { ...promote(60, 1), evidence: burnEvidence(2, 10) },
        { min: 600, verdict: 'observe' },
      ]),
      // active: service burn 1 since 540 min (now is 600)
      rolloutFrom('component:default/a', 'progressing', [
        { min: 540, verdict: 'continue', evidence: burnEvidence(1, 2) },
      ]),
    ]);
    const window = SLO_WINDOW_DAYS * 86_400;
    const [a] = s.services;
    expect(s.sloWindowDays).toBe(SLO_WINDOW_DAYS);
    // to 4 significant digits
    expect(a.budgetSpent).toBeCloseTo((2 * 3600 + 1 * 3600) / window, 6);
    expect(a.budgetSpentByRollouts).toBeCloseTo(
      (4 * 0.05 * 1800 + 10 * 0.25 * 1800 + 2 * 0.05 * 3600) / window,
      6,
    );
  });

  it('takes the error-budget shares over the configured SLO window (rollouts.slo.windowDays)', async () => {
    const figures = [
      rolloutFrom('component:default/a', 'progressing', [
        { min: 540, verdict: 'continue', evidence: burnEvidence(1, 2) },
      ]),
    ];
    const thirty = await summaryOf(figures);
    const seven = await computeSummary(fakeStore(figures).store, {
      days: 7,
      now: new Date(NOW),
      sloWindowDays: 7,
    });
    expect(seven.sloWindowDays).toBe(7);
    // one hour at burn 1: 1/168 of a 7-day budget, 1/720 of a 30-day one
    expect(seven.services[0].budgetSpent).toBeCloseTo(3600 / (7 * 86_400), 6);
    expect(thirty.services[0].budgetSpent).toBeCloseTo(3600 / (30 * 86_400), 6);
  });

  it('lists the incidents newest first, with the service, version, reason and decision', async () => {
    const s = await summaryOf([
      rolloutFrom('component:default/a', 'rolled-back', [
        harmHold(10),
        {
          min: 20,
          verdict: 'rollback',
          outcome: 'applied',
          reasons: [
            'rule: bake (the post-promotion watch)',
            'harm within the bake window',
          ],
        },
      ]),
      rolloutFrom(
        'component:default/b',
        'progressing',
        [
          {
            min: 30,
            verdict: 'hold',
            evidence: { checks: { freshness: { stale: true } } },
            reasons: ['canary telemetry stale for 3 ticks'],
          },
          { min: 40, verdict: 'rollback', outcome: 'failed' },
          // a hold for another reason is no incident
          { min: 50, verdict: 'hold', reasons: ['waiting for approval'] },
        ],
        { version: '2.1.0' },
      ),
    ]);
    expect(
      s.incidents!.map(i => [i.kind, i.entityRef, i.at.slice(11, 16)]),
    ).toEqual([
      ['rollback-failed', 'component:default/b', '02:40'],
      ['hold-stale', 'component:default/b', '02:30'],
      ['rollback', 'component:default/a', '02:20'],
      ['hold-burn', 'component:default/a', '02:10'],
    ]);
    // the bake watch's rollback: its reason past the rule note
    expect(s.incidents![2].reason).toBe('harm within the bake window');
    expect(s.incidents![0]).toMatchObject({
      version: '2.1.0',
      reason: 'rollback at 40',
      rolloutId: expect.stringContaining('component:default/b'),
      seq: expect.any(Number),
    });
  });

  it("shows the active cohorts' KPI differences with their always-valid intervals", async () => {
    const kpis = [
      {
        name: 'conversion',
        difference: -0.02,
        ci: [-0.05, 0.01] as [number, number],
        scale: 'relative' as const,
        direction: 'increase' as const,
      },
    ];
    const s = await summaryOf([
      {
        entityRef: 'component:default/a',
        id: 'r1',
        version: '3.0.0',
        status: 'progressing',
        startedAt: atMin(0),
        stepStartedAt: atMin(0),
        kpiIntervals: kpis,
      },
      // finished: its KPIs are in kpiImpact, not among the active cohorts
      {
        entityRef: 'component:default/a',
        id: 'r0',
        version: '2.9.0',
        status: 'promoted',
        startedAt: atMin(0),
        stepStartedAt: atMin(0),
        finishedAt: atMin(10),
        kpiIntervals: kpis,
      },
    ]);
    expect(s.services[0].activeCohorts).toEqual([
      { rolloutId: 'r1', version: '3.0.0', kpis },
    ]);
  });
});

describe('computeSummary on a store that folds the log as it is appended', () => {
  it('gives the same definitions from decisions written through the store', async () => {
    const knex = knexFactory({
      client: 'better-sqlite3',
      connection: ':memory:',
      useNullAsDefault: true,
    });
    try {
      await migrateRolloutsDatabase(knex);
      const store = DatabaseRolloutsStore.fromKnex(knex);
      const { rollout } = await store.upsertDiscovered({
        id: 'r1',
        entityRef: 'component:default/a',
        provider: 'fake',
        target: 'a/a',
        externalId: 'a/a@1.0.0',
        version: '1.0.0',
        status: 'progressing',
        steps: LADDER,
        currentStepIndex: 0,
        currentWeight: 5,
        startedAt: atMin(0),
        stepStartedAt: atMin(0),
      });
      const decision = (line: LogLine): NewDecision => {
        const { min, ...rest } = line;
        return {
          rolloutId: rollout.id,
          entityRef: rollout.entityRef,
          stepIndex: 0,
          kind: 'automatic',
          actor: 'scheduler',
          reasons: [`${rest.verdict} at ${min}`],
          evidence: null,
          policyHash: null,
          outcome: 'none',
          ...rest,
          createdAt: atMin(min),
        } as NewDecision;
      };
      const log: LogLine[] = [
        { min: 0, verdict: 'register' },
        promote(20, 0),
        promote(40, 1),
        harmHold(50),
        { min: 60, verdict: 'rollback', outcome: 'applied', stepIndex: 2 },
      ];
      await store.appendDecisions(log.map(decision));
      const [row] = await store.listRollouts();
      await store.updateRollout(row.id, row.rowVersion, {
        status: 'rolled-back',
        finishedAt: atMin(60),
      });
      const s = await computeSummary(store, { days: 7, now: new Date(NOW) });
      expect(s).toMatchObject({
        reachedFull: 1,
        changeFailures: 1,
        changeFailureRate: 1,
        timedRollbacks: 1,
        meanTimeToRollbackMinutes: 10,
        detections: 1,
        meanDetectionLagMinutes: 50,
        automatedSteps: 2,
        allSteps: 3,
        failedPer100: 100,
      });
      expect(s.incidents!.map(i => i.kind)).toEqual(['rollback', 'hold-burn']);
    } finally {
      await knex.destroy();
    }
  });
});
