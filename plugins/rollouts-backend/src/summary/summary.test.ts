import type { RolloutFigures, RolloutsStore } from '../database/RolloutsStore';
import { computeSummary, worstBurnRate } from './summary';

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
      changeFailureRate: 0.5,
    });
    expect(s.meanTimeToRollbackMinutes).toBeCloseTo(60, 6);
    expect(s.meanDetectionLagMinutes).toBeCloseTo(30, 6);
    expect(s.services).toEqual([
      {
        entityRef: 'component:default/a',
        activeRollouts: 0,
        finishedRollouts: 1,
        rolledBack: 0,
        budgetBurnRate: null,
        kpiImpact: { conversion: 0.02 },
      },
      {
        entityRef: 'component:default/b',
        activeRollouts: 1,
        finishedRollouts: 1,
        rolledBack: 1,
        budgetBurnRate: 2.5,
        kpiImpact: { conversion: -0.1 },
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
