import { kpiIntervals, viewBurnRate } from './evidenceReader';

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
