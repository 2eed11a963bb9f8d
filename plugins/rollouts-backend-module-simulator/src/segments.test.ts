import type { CohortCounts } from '@tollgate/plugin-rollouts-common';
import { Simulation } from './Simulation';
import { DEMO_SERVICES } from './demoServices';

const T0 = Date.UTC(2026, 10, 21, 9, 0, 0);

const request = (target: string, end: number, segments?: string[]) => ({
  provider: 'simulator',
  target,
  entityRef: 'component:default/x',
  start: new Date(T0),
  end: new Date(end),
  stepSeconds: 10,
  kpis: ['conversion', 'order_value'],
  ...(segments ? { segments } : {}),
});

/** a simulation started at T0, asked `ms` later */
function sim(clock: { t: number }, ms: number) {
  clock.t = T0;
  const s = new Simulation({
    seed: 42,
    services: DEMO_SERVICES,
    now: () => new Date(clock.t),
  });
  clock.t = T0 + ms;
  return s;
}

type Sums = { requests: number; errors: number };
function sumOf(
  cs: Array<CohortCounts | undefined>,
  pick: (c: CohortCounts) => CohortCounts | undefined,
): Sums {
  let requests = 0;
  let errors = 0;
  for (const c of cs) {
    const v = c && pick(c);
    requests += v?.requests ?? 0;
    errors += v?.errors ?? 0;
  }
  return { requests, errors };
}

describe('simulator segments', () => {
  it('reports the dimensions asked for, each value the same count shape, summing to the whole', () => {
    const clock = { t: 0 };
    const after = 600_000;
    const res = sim(clock, after).cohortTelemetry(
      request('checkout/cart-service', clock.t, [
        'device',
        'user_type',
        'plan',
      ]),
    );
    for (const t of res.ticks) {
      for (const c of [t.baseline!, t.canary!]) {
        // an unknown dimension is left out (missing), never zeros
        expect(Object.keys(c.segments!).sort()).toEqual([
          'device',
          'user_type',
        ]);
        for (const values of Object.values(c.segments!)) {
          const vs = Object.values(values);
          expect(vs.reduce((a, v) => a + v.requests!, 0)).toBe(c.requests);
          expect(vs.reduce((a, v) => a + v.errors!, 0)).toBe(c.errors);
          for (const v of vs) {
            expect(v.latency!.counts.at(-1)).toBe(v.requests);
            expect(v.errors!).toBeLessThanOrEqual(v.requests!);
          }
        }
      }
    }
    const device = res.ticks[0].baseline!.segments!.device;
    expect(Object.keys(device)).toEqual(['desktop', 'mobile', 'tablet']);
  });

  it('a service asked for no segments reports exactly what it reported before', () => {
    const clock = { t: 0 };
    const after = 300_000;
    const plain = sim(clock, after).cohortTelemetry(
      request('checkout/cart-service', clock.t),
    );
    const asked = sim(clock, after).cohortTelemetry(
      request('checkout/cart-service', clock.t, ['device']),
    );
    expect(plain.ticks[0].canary).not.toHaveProperty('segments');
    // segments are drawn from their own random stream: the whole is the same
    expect(
      asked.ticks.map(t => ({ ...t.canary, segments: undefined })),
    ).toEqual(plain.ticks.map(t => ({ ...t.canary, segments: undefined })));
  });

  it("search-web's first release harms only its canary's mobile users; the whole does not move", () => {
    const clock = { t: 0 };
    const after = 3 * 3_600_000;
    const res = sim(clock, after).cohortTelemetry(
      request('search/search-web', clock.t, ['device', 'region']),
    );
    const rate = (s: Sums) => s.errors / s.requests;
    const base = res.ticks.map(t => t.baseline);
    const can = res.ticks.map(t => t.canary);
    const seg = (dim: string, v: string) => (c: CohortCounts) =>
      c.segments?.[dim]?.[v];
    const mobile =
      rate(sumOf(can, seg('device', 'mobile'))) /
      rate(sumOf(base, seg('device', 'mobile')));
    const desktop =
      rate(sumOf(can, seg('device', 'desktop'))) /
      rate(sumOf(base, seg('device', 'desktop')));
    const whole = rate(sumOf(can, c => c)) / rate(sumOf(base, c => c));
    expect(mobile).toBeGreaterThan(1.6);
    expect(desktop).toBeLessThan(0.5);
    expect(whole).toBeGreaterThan(0.8);
    expect(whole).toBeLessThan(1.2);
    // the canary's mix is the baseline's (a representative canary)
    const share = (cs: typeof can) =>
      sumOf(cs, seg('device', 'mobile')).requests / sumOf(cs, c => c).requests;
    expect(share(can)).toBeCloseTo(share(base), 2);
  });
});
