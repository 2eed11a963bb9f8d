import { kpiIntervals, viewBurnRate, worstBurnRate } from './evidenceReader';

describe('the dashboard readers of an evidence snapshot', () => {
  const engine = {
    signals: [
      {
        name: 'error rate',
        kind: 'error-rate',
        difference: 0.5,
        ci: [0.1, 0.9],
      },
      {
        name: 'conversion',
        kind: 'kpi-proportion',
        direction: 'increase',
        difference: -0.02,
        ci: [-0.04, 0.01],
      },
      {
        name: 'order value',
        kind: 'kpi-mean',
        scale: 'absolute',
        direction: 'increase',
        difference: null,
        ci: null,
      },
    ],
    checks: {
      burn: {
        canary: {
          availability: [{ name: 'page', longBurn: 3, shortBurn: 20 }],
          latency: [{ name: 'page', longBurn: 5 }],
        },
        service: { availability: [{ name: 'page', longBurn: 0.4 }] },
        guard: { fired: false, burn: 9 },
      },
    },
  };

  it("reads one view's worst long-window burn rate", () => {
    expect(viewBurnRate(engine, 'canary')).toBe(5);
    expect(viewBurnRate(engine, 'service')).toBe(0.4);
    // providers' history: a burn rate per view
    expect(
      viewBurnRate(
        { checks: { burn: { service: { burnRate: 1.2 } } } },
        'service',
      ),
    ).toBe(1.2);
    expect(viewBurnRate({ signals: [] }, 'canary')).toBeUndefined();
  });

  it('finds the worst burn rate at any depth, by any of its names, and nothing else', () => {
    const history = {
      checks: {
        burn: {
          service: {
            windows: [
              { window: '1h', burn_rate: 2, samples: [{ rate: 7 }, 99, null] },
              { window: '6h', BurnRate: Infinity, nested: [[{ longBurn: 4 }]] },
            ],
          },
          canary: { rate: 'high', shortBurn: 50, counts: [1000, 2000] },
        },
      },
    };
    // snake_case and any case count; a non-finite or text rate, a short window, array items that are not objects do not
    expect(worstBurnRate(history)).toBe(7);
    expect(viewBurnRate(history, 'canary')).toBeUndefined();
    expect(viewBurnRate(history, 'service')).toBe(7);
    expect(worstBurnRate({ checks: { burn: [{ rate: 3 }] } })).toBe(3);
    expect(worstBurnRate({ checks: {} })).toBeUndefined();
  });

  it('reads a key the same way in every snapshot, and only own properties', () => {
    // the names are classified once and remembered: the second snapshot meets them classified
    const first = {
      checks: { burn: { service: { shortBurn: 9, burnRate: 1 } } },
    };
    const second = {
      checks: { burn: { service: { burnRate: 3, shortBurn: 8 } } },
    };
    expect(viewBurnRate(first, 'service')).toBe(1);
    expect(viewBurnRate(second, 'service')).toBe(3);
    // an inherited property is not the snapshot's (as with Object.keys)
    const view = Object.assign(Object.create({ longBurn: 99 }), { rate: 2 });
    expect(viewBurnRate({ checks: { burn: { canary: view } } }, 'canary')).toBe(
      2,
    );
  });

  it('reads the KPIs with their differences and always-valid intervals', () => {
    expect(kpiIntervals(engine)).toEqual([
      {
        name: 'conversion',
        difference: -0.02,
        ci: [-0.04, 0.01],
        scale: 'relative',
        direction: 'increase',
      },
      {
        name: 'order value',
        difference: null,
        ci: null,
        scale: 'absolute',
        direction: 'increase',
      },
    ]);
    // a history snapshot: a relative difference, no interval
    expect(
      kpiIntervals({
        signals: [
          { name: 'conversion', kind: 'kpi', relativeDifference: 0.03 },
        ],
      }),
    ).toEqual([
      expect.objectContaining({
        name: 'conversion',
        difference: 0.03,
        ci: null,
        scale: 'relative',
      }),
    ]);
  });
});
