import ref from '../../../test/fixtures/stats/kpi_lean.json';
import type { GateSignalState } from './gate';
import { kpiLean } from './kpiLean';
import { createRateTest } from './sequential';

function proportionSignal(c: {
  xc: number;
  nc: number;
  xb: number;
  nb: number;
  direction: string;
}): GateSignalState {
  const rate = createRateTest();
  Object.assign(rate, {
    canaryEvents: c.xc,
    canaryExposure: c.nc,
    baselineEvents: c.xb,
    baselineExposure: c.nb,
  });
  const harmSign = c.direction === 'increase' ? -1 : 1;
  return {
    name: 'conversion',
    kind: 'kpi-proportion',
    direction: c.direction as any,
    harmSign,
    fields: [],
    rate,
  };
}

describe('kpiLean (the KPI promotion brake) against scipy', () => {
  it.each(ref.proportion)(
    'two proportions %#: the pooled z-test (chi-square without correction)',
    c => {
      const lean = kpiLean(proportionSignal(c))!;
      expect(lean.z).toBeCloseTo(c.zWorse, 9);
      expect(lean.pValue).toBeCloseTo(c.pValue, 9);
      expect(lean.canary).toBeCloseTo(c.xc / c.nc, 12);
    },
  );

  it.each(ref.mean)("means %#: Welch's statistic", c => {
    const harmSign = c.direction === 'increase' ? -1 : 1;
    const s: GateSignalState = {
      name: 'order_value',
      kind: 'kpi-mean',
      direction: c.direction as any,
      harmSign,
      fields: [],
      mean: {
        cn: c.cn,
        csum: c.csum,
        csumSq: c.csumSq,
        bn: c.bn,
        bsum: c.bsum,
        bsumSq: c.bsumSq,
        ticks: 10,
      },
    };
    const lean = kpiLean(s)!;
    expect(lean.z).toBeCloseTo(c.zWorse, 6);
    expect(lean.pValue).toBeCloseTo(c.pValue, 6);
  });

  it('says nothing with too little data or for a signal that is not a KPI', () => {
    expect(
      kpiLean(
        proportionSignal({
          xc: 1,
          nc: 20,
          xb: 5,
          nb: 60,
          direction: 'increase',
        }),
      ),
    ).toBeUndefined();
    expect(
      kpiLean({
        ...proportionSignal({
          xc: 10,
          nc: 2000,
          xb: 5,
          nb: 6000,
          direction: 'decrease',
        }),
        kind: 'error-rate',
      }),
    ).toBeUndefined();
    expect(
      kpiLean(
        proportionSignal({
          xc: 0,
          nc: 2000,
          xb: 0,
          nb: 6000,
          direction: 'increase',
        }),
      ),
    ).toBeUndefined();
  });
});
