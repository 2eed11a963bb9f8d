import { telemetryProblems } from './telemetry';

describe('telemetryProblems', () => {
  it('accepts plausible data, and missing fields (missing is not wrong)', () => {
    expect(
      telemetryProblems([
        {
          tick: 1,
          baseline: {
            requests: 100,
            errors: 1,
            latency: { le: [100, Infinity], counts: [90, 100] },
          },
          canary: { requests: 10 },
        },
        { tick: 2 },
        {
          tick: 3,
          canary: {
            requests: 5,
            errors: 0,
            kpis: {
              conversion: { trials: 5, successes: 1 },
              value: { n: 1, sum: 12.5, sumSq: 156.25 },
            },
          },
        },
      ]),
    ).toEqual([]);
  });

  it('names each impossible value by its place', () => {
    expect(
      telemetryProblems([
        { tick: 1, canary: { requests: 100, errors: 150 } },
        {
          tick: 2,
          canary: { requests: -3 },
          baseline: { requests: 10, errors: Number.NaN },
        },
        {
          tick: 2,
          baseline: {
            requests: 10,
            latency: { le: [100, 50], counts: [5, 4] },
          },
        },
        {
          tick: 4,
          canary: {
            requests: 1,
            kpis: { conversion: { trials: 2, successes: 3 } },
          },
        },
      ]),
    ).toEqual([
      'ticks[0].canary.errors: 150 errors of 100 requests',
      'ticks[1].baseline.errors is NaN, not a finite number',
      'ticks[1].canary.requests is negative (-3)',
      'ticks[2].tick 2 is not after 2',
      'ticks[2].baseline.latency.le must end with Infinity',
      'ticks[2].baseline.latency.le[1] is not above le[0]',
      'ticks[2].baseline.latency.counts[1] is below counts[0] (buckets are cumulative)',
      'ticks[3].canary.kpis.conversion: 3 successes of 2 trials',
    ]);
  });

  it("checks each segment's counts like a cohort's, naming the segment", () => {
    expect(
      telemetryProblems([
        {
          tick: 1,
          canary: {
            requests: 10,
            errors: 1,
            segments: {
              device: {
                mobile: { requests: 4, errors: 5 },
                desktop: { requests: 6, errors: 0 },
              },
              region: { eu: { requests: -1 } },
            },
          },
        },
        {
          tick: 2,
          baseline: { requests: 3, segments: { device: [] as any } },
        },
      ]),
    ).toEqual([
      'ticks[0].canary.segments.device.mobile.errors: 5 errors of 4 requests',
      'ticks[0].canary.segments.region.eu.requests is negative (-1)',
      'ticks[1].baseline.segments.device must map a value to its counts',
    ]);
  });
});
