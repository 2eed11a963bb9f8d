import type { TelemetryRequest } from '@tollgate/plugin-rollouts-node';
import {
  assertPrometheusOrSkip,
  openMetrics,
  startPrometheus,
  type OpenMetricsSeries,
  type PrometheusServer,
} from '@tollgate/test-support';
import { PrometheusTelemetryProvider } from './PrometheusTelemetryProvider';

// The provider against a real Prometheus (Debian's `prometheus`): series are
// backfilled with promtool from generated OpenMetrics text, so every query
// below runs through real PromQL.
//
// Data design: one sample per second at T0 + j + 0.5 (never on an interval
// boundary), intervals of STEP = 10 s starting at T0. Within interval k a
// counter grows by a constant rate r_k per second. `increase(x[10s])`
// evaluated at T0 + 10(k+1) sees the 10 samples of interval k only: their
// delta is 9·r_k over 9 s, and Prometheus extrapolates by 0.5 s at each end
// (both gaps are below 1.1 × the sample spacing), giving 9·r_k × 10/9 =
// 10·r_k, the interval's generated increase, exactly up to float rounding
// (hence toBeCloseTo). Counters start at 1000 so the extrapolation is never
// capped at zero.

const STEP = 10;
const N = 12; // intervals in the request window
const T0 = Math.floor(Date.now() / 1000 / STEP) * STEP - 3600; // an hour ago: in the TSDB, out of the head
const FIRST = -3; // generate a few intervals before the window…
const LAST = N + 1; // …and one after it

type Rate = (k: number) => number | undefined; // per second in interval k; undefined = no samples

function counter(
  name: string,
  labels: Record<string, string>,
  rate: Rate,
  nan: (k: number) => boolean = () => false,
): OpenMetricsSeries {
  const samples: Array<[number, number]> = [];
  let v = 1000;
  for (let j = FIRST * STEP; j < LAST * STEP; j++) {
    const k = Math.floor(j / STEP);
    const r = rate(k);
    if (r === undefined) continue;
    v += r;
    samples.push([T0 + j + 0.5, nan(k) ? NaN : v]);
  }
  return { name, labels, samples };
}

/** Expected increase over interval k. */
const inc = (rate: Rate, k: number) => STEP * rate(k)!;

// shop/checkout: everything, both cohorts
const canaryReq: Rate = k => 2 + (((k % 3) + 3) % 3);
const stableReq: Rate = k => 20 + k;
const canaryErr: Rate = k => (k % 4 === 0 ? 1 : 0);
const stableErr: Rate = () => 1;
const LE = ['0.05', '0.1', '0.3', '1', '+Inf'];
const canaryBuckets = (k: number) => [0, 1, 1, 2, canaryReq(k)!];
const stableBuckets = (k: number) => [5, 10, 15, 18, stableReq(k)!];
const kpiRates = {
  canary: { trials: 2, successes: 1, n: 1, sum: 25.5, sumSq: 700.25 },
  stable: { trials: 4, successes: 3, n: 3, sum: 60, sumSq: 1250 },
};
const GAP = new Set([4, 5, 6]); // shop/gap has no samples in these intervals
const NAN_INTERVAL = 3; // shop/nan's canary requests are NaN in this interval
const STALE_AFTER = 6; // shop/stale stops after interval 5 (newest sample T0 + 59.5)

function dataset(): string {
  const svc = (service: string, track: string) => ({ service, track });
  const requests: OpenMetricsSeries[] = [
    counter('app_requests_total', svc('shop/checkout', 'canary'), canaryReq),
    counter('app_requests_total', svc('shop/checkout', 'stable'), stableReq),
    counter('app_requests_total', svc('shop/cart', 'stable'), () => 30), // no canary series at all
    counter('app_requests_total', svc('shop/gap', 'canary'), k =>
      GAP.has(k) ? undefined : 3,
    ),
    counter('app_requests_total', svc('shop/gap', 'stable'), k =>
      GAP.has(k) ? undefined : 30,
    ),
    counter(
      'app_requests_total',
      svc('shop/nan', 'canary'),
      () => 3,
      k => k === NAN_INTERVAL,
    ),
    counter('app_requests_total', svc('shop/nan', 'stable'), () => 30),
    counter('app_requests_total', svc('shop/stale', 'canary'), k =>
      k < STALE_AFTER ? 3 : undefined,
    ),
    counter('app_requests_total', svc('shop/stale', 'stable'), k =>
      k < STALE_AFTER ? 30 : undefined,
    ),
  ];
  const errors: OpenMetricsSeries[] = [
    counter('app_errors_total', svc('shop/checkout', 'canary'), canaryErr),
    counter('app_errors_total', svc('shop/checkout', 'stable'), stableErr),
    counter('app_errors_total', svc('shop/gap', 'canary'), k =>
      GAP.has(k) ? undefined : 0,
    ),
    counter('app_errors_total', svc('shop/gap', 'stable'), k =>
      GAP.has(k) ? undefined : 1,
    ),
    counter('app_errors_total', svc('shop/nan', 'canary'), () => 0),
    counter('app_errors_total', svc('shop/nan', 'stable'), () => 1),
    counter('app_errors_total', svc('shop/stale', 'canary'), k =>
      k < STALE_AFTER ? 0 : undefined,
    ),
    counter('app_errors_total', svc('shop/stale', 'stable'), k =>
      k < STALE_AFTER ? 1 : undefined,
    ),
  ];
  const buckets: OpenMetricsSeries[] = [];
  for (const [track, per] of [
    ['canary', canaryBuckets],
    ['stable', stableBuckets],
  ] as const) {
    LE.forEach((le, i) =>
      buckets.push(
        counter(
          'app_request_duration_seconds_bucket',
          { ...svc('shop/checkout', track), le },
          k => per(k)[i],
        ),
      ),
    );
  }
  const kpi = (family: string, field: keyof typeof kpiRates.canary) => ({
    family,
    type: 'counter' as const,
    series: (['canary', 'stable'] as const).map(track =>
      counter(
        `${family}_total`,
        svc('shop/checkout', track),
        () => kpiRates[track][field],
      ),
    ),
  });
  // shop/legacy: other metric names, served through per-target and policy templates
  const legacy = (['canary', 'stable'] as const).map(track =>
    counter('legacy_hits_total', { job: 'legacy', track }, () =>
      track === 'canary' ? 4 : 40,
    ),
  );
  const legacyErrors = (['canary', 'stable'] as const).map(track =>
    counter('legacy_failures_total', { job: 'legacy', track }, () => 1),
  );
  return openMetrics([
    { family: 'app_requests', type: 'counter', series: requests },
    { family: 'app_errors', type: 'counter', series: errors },
    {
      family: 'app_request_duration_seconds',
      type: 'histogram',
      series: buckets,
    },
    kpi('app_checkout_trials', 'trials'),
    kpi('app_checkout_successes', 'successes'),
    kpi('app_order_value_n', 'n'),
    kpi('app_order_value_sum', 'sum'),
    kpi('app_order_value_sumsq', 'sumSq'),
    { family: 'legacy_hits', type: 'counter', series: legacy },
    { family: 'legacy_failures', type: 'counter', series: legacyErrors },
  ]);
}

const sel = '{service="{{target}}",{{cohort}}}';
const QUERIES = {
  requests: `sum(increase(app_requests_total${sel}[{{step}}]))`,
  errors: `sum(increase(app_errors_total${sel}[{{step}}]))`,
  latency: `sum by (le)(increase(app_request_duration_seconds_bucket${sel}[{{step}}]))`,
  kpis: {
    conversion: {
      trials: `sum(increase(app_checkout_trials_total${sel}[{{step}}]))`,
      successes: `sum(increase(app_checkout_successes_total${sel}[{{step}}]))`,
    },
    order_value: {
      n: `sum(increase(app_order_value_n_total${sel}[{{step}}]))`,
      sum: `sum(increase(app_order_value_sum_total${sel}[{{step}}]))`,
      sumSq: `sum(increase(app_order_value_sumsq_total${sel}[{{step}}]))`,
    },
  },
};

/** The window: 12 whole intervals, and 5 s of a 13th that has not ended yet. */
function req(
  target: string,
  extra: Partial<TelemetryRequest> = {},
): TelemetryRequest {
  return {
    provider: 'argo-rollouts',
    target,
    entityRef: `component:default/${target.split('/')[1]}`,
    start: new Date(T0 * 1000),
    end: new Date((T0 + N * STEP + 5) * 1000),
    stepSeconds: STEP,
    kpis: [],
    ...extra,
  };
}

const LEGACY_QUERIES = {
  requests:
    'sum(increase(legacy_hits_total{job="legacy",{{cohort}}}[{{step}}]))',
  errors:
    'sum(increase(legacy_failures_total{job="legacy",{{cohort}}}[{{step}}]))',
};

const enabled = assertPrometheusOrSkip(
  'Prometheus telemetry provider (real Prometheus)',
);

describe.runIf(enabled)(
  'PrometheusTelemetryProvider against a real Prometheus',
  () => {
    let prometheus: PrometheusServer;
    let provider: PrometheusTelemetryProvider;

    beforeAll(async () => {
      prometheus = await startPrometheus({ openMetrics: dataset() });
      provider = PrometheusTelemetryProvider.create({
        baseUrl: prometheus.url,
        timeoutSeconds: 10,
        queries: QUERIES,
        targets: {
          'shop/legacy': {
            queries: LEGACY_QUERIES,
            allowPolicyQueries: true,
          },
          // tests below send raw PromQL in the policy for these targets
          'shop/checkout': { allowPolicyQueries: true },
          'shop/cart': { allowPolicyQueries: true },
          'shop/stale': { allowPolicyQueries: true },
        },
      });
    });

    afterAll(async () => {
      await prometheus?.stop();
    });

    it('returns one tick per whole interval with the generated increases per cohort', async () => {
      const { ticks, lagSeconds } = await provider.getCohortTelemetry(
        req('shop/checkout', { kpis: ['conversion', 'order_value'] }),
      );
      expect(ticks.map(t => t.tick)).toEqual(
        Array.from({ length: N }, (_, i) => i + 1),
      );
      for (const t of ticks) {
        const k = t.tick - 1; // tick t covers [T0 + 10(t-1), T0 + 10t)
        expect(t.time).toBe(T0 + t.tick * STEP);
        expect(t.canary!.requests).toBeCloseTo(inc(canaryReq, k), 9);
        expect(t.baseline!.requests).toBeCloseTo(inc(stableReq, k), 9);
        expect(t.canary!.errors).toBeCloseTo(inc(canaryErr, k), 9);
        expect(t.baseline!.errors).toBeCloseTo(inc(stableErr, k), 9);
        for (const [cohort, track] of [
          ['canary', 'canary'],
          ['baseline', 'stable'],
        ] as const) {
          const r = kpiRates[track];
          const kpis = t[cohort]!.kpis as any;
          expect(kpis.conversion.trials).toBeCloseTo(STEP * r.trials, 9);
          expect(kpis.conversion.successes).toBeCloseTo(STEP * r.successes, 9);
          expect(kpis.order_value.n).toBeCloseTo(STEP * r.n, 9);
          expect(kpis.order_value.sum).toBeCloseTo(STEP * r.sum, 9);
          expect(kpis.order_value.sumSq).toBeCloseTo(STEP * r.sumSq, 9);
        }
      }
      // no freshness template: the newest interval with data ended 5 s before `end`
      expect(lagSeconds).toBeCloseTo(5, 6);
    });

    it('returns latency buckets cumulative, in milliseconds, ending with +Inf', async () => {
      const { ticks } = await provider.getCohortTelemetry(req('shop/checkout'));
      for (const t of ticks) {
        const k = t.tick - 1;
        for (const [cohort, per] of [
          ['canary', canaryBuckets],
          ['baseline', stableBuckets],
        ] as const) {
          const h = t[cohort]!.latency!;
          expect(h.le).toEqual([50, 100, 300, 1000, Infinity]);
          per(k).forEach((r, i) =>
            expect(h.counts[i]).toBeCloseTo(STEP * r, 9),
          );
          for (let i = 1; i < h.counts.length; i++)
            expect(h.counts[i]).toBeGreaterThanOrEqual(h.counts[i - 1]);
          expect(h.counts[h.counts.length - 1]).toBeCloseTo(
            t[cohort]!.requests!,
            9,
          );
        }
      }
    });

    it('leaves a field out, never zero, when the canary series does not exist', async () => {
      const { ticks } = await provider.getCohortTelemetry(req('shop/cart'));
      expect(ticks).toHaveLength(N);
      for (const t of ticks) {
        expect(t.canary).toBeUndefined(); // no canary field at all: the whole cohort line is missing
        expect(t.baseline).toEqual({ requests: expect.closeTo(300, 9) }); // no errors series either: missing, not 0
      }
      // the documented idiom turns "no error series while requests exist" into an explicit 0
      const idiom = await provider.getCohortTelemetry(
        req('shop/cart', {
          queries: {
            errors: `sum(increase(app_errors_total${sel}[{{step}}])) or 0 * sum(increase(app_requests_total${sel}[{{step}}]))`,
          },
        }),
      );
      for (const t of idiom.ticks) {
        expect(t.baseline).toEqual({
          requests: expect.closeTo(300, 9),
          errors: 0,
        });
        expect(t.canary).toBeUndefined();
      }
    });

    it('leaves out the intervals of a gap in the data', async () => {
      const { ticks } = await provider.getCohortTelemetry(req('shop/gap'));
      expect(ticks).toHaveLength(N);
      // an interval of the gap is its tick and time alone
      const withData = expect.objectContaining({
        canary: { requests: expect.closeTo(30, 9), errors: 0 },
        baseline: {
          requests: expect.closeTo(300, 9),
          errors: expect.closeTo(10, 9),
        },
      });
      expect(ticks).toEqual(
        ticks.map(t =>
          GAP.has(t.tick - 1)
            ? { tick: t.tick, time: T0 + t.tick * STEP }
            : withData,
        ),
      );
    });

    it('treats NaN as missing', async () => {
      const { ticks } = await provider.getCohortTelemetry(req('shop/nan'));
      // the NaN interval's canary keeps its errors and has no requests
      const canary = { requests: expect.closeTo(30, 9), errors: 0 };
      for (const t of ticks) {
        expect(t.canary).toEqual(
          t.tick - 1 === NAN_INTERVAL ? { errors: 0 } : canary,
        );
        expect(t.baseline!.requests).toBeCloseTo(300, 9);
      }
    });

    it('reports the age of the newest sample as lagSeconds', async () => {
      const end = T0 + N * STEP + 5;
      const newestSample = T0 + STALE_AFTER * STEP - 0.5;
      const withFreshness = await provider.getCohortTelemetry(
        req('shop/stale', {
          queries: {
            freshness:
              'max(timestamp(app_requests_total{service="{{target}}",{{cohort}}}))',
          },
        }),
      );
      expect(withFreshness.lagSeconds).toBeCloseTo(end - newestSample, 3); // 65.5 s
      expect(
        withFreshness.ticks.filter(t => t.canary).map(t => t.tick),
      ).toEqual([1, 2, 3, 4, 5, 6]);
      // without a freshness template: the end of the newest interval with data, one step's resolution
      const fallback = await provider.getCohortTelemetry(req('shop/stale'));
      expect(fallback.lagSeconds).toBeCloseTo(
        end - (T0 + STALE_AFTER * STEP),
        6,
      ); // 65 s
    });

    it("lets the policy's templates override the target's, which override the defaults", async () => {
      // the default templates find nothing for this target: every field is missing
      const defaults = await PrometheusTelemetryProvider.create({
        baseUrl: prometheus.url,
        queries: QUERIES,
      }).getCohortTelemetry(req('shop/legacy'));
      expect(defaults.ticks.every(t => !t.canary && !t.baseline)).toBe(true);
      expect(defaults.lagSeconds).toBeCloseTo(N * STEP + 5, 6); // no data: at least the window

      const target = await provider.getCohortTelemetry(req('shop/legacy'));
      expect(target.ticks[0].canary).toEqual({
        requests: expect.closeTo(40, 9),
        errors: expect.closeTo(10, 9),
      });
      expect(target.ticks[0].baseline).toEqual({
        requests: expect.closeTo(400, 9),
        errors: expect.closeTo(10, 9),
      });

      const policy = await provider.getCohortTelemetry(
        req('shop/legacy', {
          queries: {
            requests:
              '2 * sum(increase(legacy_hits_total{job="legacy",{{cohort}}}[{{step}}]))',
            'argo.analysisTemplate': 'ignored: another provider key',
          },
        }),
      );
      expect(policy.ticks[0].canary).toEqual({
        requests: expect.closeTo(80, 9),
        errors: expect.closeTo(10, 9),
      });
    });

    it('runs only the templates a policy names, unless the target allows raw PromQL', async () => {
      // The platform's config: named templates, no target allows raw queries.
      const strict = PrometheusTelemetryProvider.create({
        baseUrl: prometheus.url,
        token: 'tollgate-read-token',
        headers: { 'X-Scope-OrgID': 'shop' },
        queries: QUERIES,
        templates: {
          'legacy-requests-doubled':
            '2 * sum(increase(legacy_hits_total{job="legacy",{{cohort}}}[{{step}}]))',
        },
        targets: { 'shop/legacy': { queries: LEGACY_QUERIES } },
      });
      const fetchSpy = vi.spyOn(globalThis, 'fetch');
      try {
        // Raw PromQL from a service's policy: refused before any query runs
        // with the provider's token and tenant header.
        const raw = strict.getCohortTelemetry(
          req('shop/legacy', {
            queries: {
              requests:
                'sum(increase(other_tenant_secrets_total{{{cohort}}}[{{step}}]))',
            },
          }),
        );
        await expect(raw).rejects.toThrow(
          /policy telemetry\.queries\["requests"\]: raw PromQL in a policy is refused \(target shop\/legacy\); a policy may only name a template from rollouts\.providers\.prometheus\.templates, unless rollouts\.providers\.prometheus\.targets\["shop\/legacy"\]\.allowPolicyQueries is true/,
        );
        expect(fetchSpy).not.toHaveBeenCalled();

        await expect(
          strict.getCohortTelemetry(
            req('shop/legacy', { queries: { requests: 'nope' } }),
          ),
        ).rejects.toThrow(
          /policy telemetry\.queries\["requests"\]: no query template named "nope".*\(defined: legacy-requests-doubled\)/,
        );
        expect(fetchSpy).not.toHaveBeenCalled();
      } finally {
        fetchSpy.mockRestore();
      }

      // A name from the platform's templates runs.
      const named = await strict.getCohortTelemetry(
        req('shop/legacy', {
          queries: { requests: 'legacy-requests-doubled' },
        }),
      );
      expect(named.ticks[0].canary).toEqual({
        requests: expect.closeTo(80, 9),
        errors: expect.closeTo(10, 9),
      });
    });

    it('throws a clear error for a PromQL syntax error in a template', async () => {
      const error = await provider
        .getCohortTelemetry(
          req('shop/checkout', {
            queries: {
              requests: `sum(increase(app_requests_total${sel}[{{step}}])`,
            },
          }),
        )
        .catch(e => e);
      expect(error).toBeInstanceOf(Error);
      expect(error.message).toMatch(
        /^prometheus \(prometheus\): query for (canary|baseline) requests of shop\/checkout \(template from the policy\)/,
      );
      expect(error.message).toMatch(/failed: bad_data: .*parse error/);
      expect(error.message).toContain(
        'query: sum(increase(app_requests_total{service="shop/checkout",track=',
      );
      expect(error.errorType).toBe('bad_data');
    });

    it('throws when a template returns several series per cohort', async () => {
      await expect(
        provider.getCohortTelemetry(
          req('shop/checkout', {
            queries: {
              requests: 'increase(app_requests_total{{{cohort}}}[{{step}}])',
            },
          }),
        ),
      ).rejects.toThrow(
        /returned \d+ series; a template must return one series per cohort \(aggregate it, e\.g\. sum\(\.\.\.\)\)/,
      );
    });

    it('rejects an invalid policy template before querying', async () => {
      await expect(
        provider.getCohortTelemetry(
          req('shop/checkout', {
            queries: { errors: 'sum(x{{{cohort}}}[{{window}}])' },
          }),
        ),
      ).rejects.toThrow(
        /policy telemetry\.queries\["errors"\]: unknown placeholder \{\{window\}\}/,
      );
      await expect(
        provider.getCohortTelemetry(
          req('shop/checkout', {
            kpis: ['aov'],
            queries: {
              'kpis.aov.n': `sum(x${sel})`,
              'kpis.aov.sum': `sum(y${sel})`,
            },
          }),
        ),
      ).rejects.toThrow(/mean KPI "aov" lacks kpis\.aov\.sumSq/);
    });

    it('returns no ticks when no interval has ended yet', async () => {
      const r = await provider.getCohortTelemetry(
        req('shop/checkout', { end: new Date((T0 + STEP - 1) * 1000) }),
      );
      expect(r.ticks).toEqual([]);
    });
  },
);
