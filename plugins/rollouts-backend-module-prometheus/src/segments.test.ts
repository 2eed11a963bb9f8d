import type { TelemetryRequest } from '@tollgate/plugin-rollouts-node';
import {
  assertPrometheusOrSkip,
  openMetrics,
  startPrometheus,
  type OpenMetricsSeries,
  type PrometheusServer,
} from '@tollgate/test-support';
import { PrometheusTelemetryProvider } from './PrometheusTelemetryProvider';

// Segments against a real Prometheus: templates group by {{segmentBy}}; the
// provider runs them once for the whole ({{segmentBy}} empty: `sum by ()`)
// and once per asked dimension (the dimension as the label). Same data
// design as PrometheusTelemetryProvider.test.ts: one sample per second at
// T0 + j + 0.5, so increase(x[10s]) at the end of interval k is 10 × the
// interval's per-second rate.

const STEP = 10;
const N = 6;
const T0 = Math.floor(Date.now() / 1000 / STEP) * STEP - 3600;

function counter(
  name: string,
  labels: Record<string, string>,
  rate: number,
): OpenMetricsSeries {
  const samples: Array<[number, number]> = [];
  let v = 1000;
  for (let j = -3 * STEP; j < (N + 1) * STEP; j++) {
    v += rate;
    samples.push([T0 + j + 0.5, v]);
  }
  return { name, labels, samples };
}

/** per-second rates: [track, device, region] → requests, errors, requests under 100 ms */
const CELLS: Array<[string, string, string, number, number, number]> = [
  ['canary', 'desktop', 'eu', 3, 0, 2],
  ['canary', 'mobile', 'eu', 2, 1, 1],
  ['canary', 'mobile', 'na', 1, 0, 1],
  ['stable', 'desktop', 'eu', 30, 1, 25],
  ['stable', 'mobile', 'eu', 20, 1, 15],
  ['stable', 'mobile', 'na', 10, 0, 8],
];

function dataset(): string {
  const requests: OpenMetricsSeries[] = [];
  const errors: OpenMetricsSeries[] = [];
  const buckets: OpenMetricsSeries[] = [];
  for (const [track, device, region, r, e, fast] of CELLS) {
    const labels = { service: 'shop/seg', track, device, region };
    requests.push(counter('seg_requests_total', labels, r));
    errors.push(counter('seg_errors_total', labels, e));
    buckets.push(
      counter('seg_duration_seconds_bucket', { ...labels, le: '0.1' }, fast),
      counter('seg_duration_seconds_bucket', { ...labels, le: '+Inf' }, r),
    );
  }
  return openMetrics([
    { family: 'seg_requests', type: 'counter', series: requests },
    { family: 'seg_errors', type: 'counter', series: errors },
    { family: 'seg_duration_seconds', type: 'histogram', series: buckets },
  ]);
}

const sel = '{service="{{target}}",{{cohort}}}';
const SEGMENTED = {
  requests: `sum by ({{segmentBy}})(increase(seg_requests_total${sel}[{{step}}]))`,
  errors: `sum by ({{segmentBy}})(increase(seg_errors_total${sel}[{{step}}]))`,
  latency: `sum by (le, {{segmentBy}})(increase(seg_duration_seconds_bucket${sel}[{{step}}]))`,
};
const PLAIN = {
  requests: `sum(increase(seg_requests_total${sel}[{{step}}]))`,
  errors: `sum(increase(seg_errors_total${sel}[{{step}}]))`,
  latency: `sum by (le)(increase(seg_duration_seconds_bucket${sel}[{{step}}]))`,
};

const req = (segments?: string[]): TelemetryRequest => ({
  provider: 'argo-rollouts',
  target: 'shop/seg',
  entityRef: 'component:default/seg',
  start: new Date(T0 * 1000),
  end: new Date((T0 + N * STEP) * 1000),
  stepSeconds: STEP,
  kpis: [],
  ...(segments ? { segments } : {}),
});

/** the generated increase of one interval, summed over the matching cells */
const sum = (
  track: string,
  col: 3 | 4 | 5,
  match: (c: (typeof CELLS)[number]) => boolean = () => true,
) =>
  STEP *
  CELLS.filter(c => c[0] === track && match(c)).reduce((a, c) => a + c[col], 0);

const enabled = assertPrometheusOrSkip('Prometheus segments (real Prometheus)');

describe.runIf(enabled)('Prometheus segments: {{segmentBy}}', () => {
  let prometheus: PrometheusServer;
  const provider = (queries: Record<string, string>) =>
    PrometheusTelemetryProvider.create({
      baseUrl: prometheus.url,
      timeoutSeconds: 10,
      queries,
    });

  beforeAll(async () => {
    prometheus = await startPrometheus({ openMetrics: dataset() });
  });
  afterAll(async () => {
    await prometheus?.stop();
  });

  it('breaks each cohort down by the asked dimensions, each value summed by its label', async () => {
    const { ticks } = await provider(SEGMENTED).getCohortTelemetry(
      req(['device', 'region']),
    );
    expect(ticks).toHaveLength(N);
    for (const t of ticks) {
      for (const [cohort, track] of [
        ['canary', 'canary'],
        ['baseline', 'stable'],
      ] as const) {
        const c = t[cohort]!;
        expect(c.requests).toBeCloseTo(sum(track, 3), 6);
        const mobile = c.segments!.device.mobile;
        const isMobile = (x: (typeof CELLS)[number]) => x[1] === 'mobile';
        expect(mobile.requests).toBeCloseTo(sum(track, 3, isMobile), 6);
        expect(mobile.errors).toBeCloseTo(sum(track, 4, isMobile), 6);
        expect(mobile.latency!.le).toEqual([100, Infinity]);
        expect(mobile.latency!.counts[0]).toBeCloseTo(
          sum(track, 5, isMobile),
          6,
        );
        const na = c.segments!.region.na;
        expect(na.requests).toBeCloseTo(
          sum(track, 3, x => x[2] === 'na'),
          6,
        );
        expect(Object.keys(c.segments!.device).sort()).toEqual([
          'desktop',
          'mobile',
        ]);
      }
    }
  });

  it('the whole from {{segmentBy}} templates equals the plain templates', async () => {
    const a = await provider(SEGMENTED).getCohortTelemetry(req());
    const b = await provider(PLAIN).getCohortTelemetry(req());
    expect(a.ticks).toEqual(b.ticks);
    expect(a.ticks[0].canary).not.toHaveProperty('segments');
  });

  it('a dimension with no such label, or a template without {{segmentBy}}, stays missing (never zero)', async () => {
    const { ticks } = await provider({
      ...SEGMENTED,
      errors: PLAIN.errors,
    }).getCohortTelemetry(req(['device', 'plan', 'not a label']));
    const c = ticks[0].canary!;
    expect(Object.keys(c.segments!)).toEqual(['device']);
    expect(c.segments!.device.mobile.requests).toBeGreaterThan(0);
    expect(c.segments!.device.mobile).not.toHaveProperty('errors');
  });
});
