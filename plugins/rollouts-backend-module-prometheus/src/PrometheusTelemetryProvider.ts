import type {
  LoggerService,
  RootConfigService,
} from '@backstage/backend-plugin-api';
import type {
  CohortCounts,
  LatencyHistogram,
  TelemetryTick,
} from '@tollgate/plugin-rollouts-common';
import type {
  RolloutsTelemetryProvider,
  TelemetryRequest,
  TelemetryResult,
} from '@tollgate/plugin-rollouts-node';
import {
  readPrometheusSettings,
  settingsFromOptions,
  type PrometheusSettings,
  type PrometheusTelemetryProviderOptions,
  TEMPLATE_NAME,
} from './config';
import {
  PrometheusClient,
  PrometheusQueryError,
  type MatrixSeries,
} from './PrometheusClient';
import {
  checkCohortTemplate,
  checkTemplate,
  COUNT_FIELDS,
  MEAN_FIELDS,
  parseSignalKey,
  LABEL_NAME,
  PROPORTION_FIELDS,
  renderTemplate,
  usesSegmentBy,
} from './templates';

type Cohort = 'baseline' | 'canary';
const COHORTS: Cohort[] = ['baseline', 'canary'];

/** Prometheus answers at most 11,000 points per series; stay below it. */
const MAX_POINTS_PER_QUERY = 10_000;
/** Queries in flight at once for one request. */
const CONCURRENCY = 4;
/** Cumulative bucket counts may dip by float noise from extrapolation; more than this is broken data. */
const CUMULATIVE_TOLERANCE = 1e-9;

/** Where a template came from, for error messages. */
type TemplateSource = 'config' | 'target config' | 'policy';

interface Resolved {
  templates: Record<string, string>;
  sources: Record<string, TemplateSource>;
}

interface PlannedQuery {
  key: string;
  cohort: Cohort;
  promql: string;
}

/** One cohort's histogram buckets per tick: le (ms) → [sum over series, series seen]. */
interface BucketData {
  seriesPerLe: Map<number, number>;
  ticks: Map<number, Map<number, { sum: number; n: number }>>;
}

/** Fields whose value is a count: present only when finite and ≥ 0. */
function isCountKey(key: string): boolean {
  return !key.endsWith('.sum');
}

function parseValue(raw: string): number {
  // Prometheus sends "NaN", "+Inf", "-Inf" as strings; Number() maps "+Inf" to NaN, which is what we want here.
  const v = Number(raw);
  return Number.isFinite(v) ? v : NaN;
}

function parseLe(raw: string, unit: 'seconds' | 'milliseconds'): number {
  if (raw === '+Inf' || raw === 'Inf' || raw === 'inf' || raw === '+inf')
    return Infinity;
  const v = Number(raw);
  if (!Number.isFinite(v)) return NaN;
  return unit === 'seconds' ? Number((v * 1000).toPrecision(12)) : v;
}

/**
 * Cohort telemetry from Prometheus: per-interval request, error, latency
 * histogram and KPI counts for the canary and baseline cohorts, read with
 * `query_range` from PromQL templates.
 *
 * An empty answer, a missing interval or a NaN/Inf value leaves the field
 * out of that tick (never zero); a failed query throws.
 *
 * @public
 */
export class PrometheusTelemetryProvider implements RolloutsTelemetryProvider {
  readonly id: string;
  readonly #s: PrometheusSettings;
  readonly #client: PrometheusClient;
  readonly #logger?: LoggerService;
  readonly #warned = new Set<string>();

  /** Reads `rollouts.providers.prometheus` from config; errors name the key. */
  static fromConfig(
    config: RootConfigService,
    options?: { logger?: LoggerService },
  ): PrometheusTelemetryProvider {
    return new PrometheusTelemetryProvider(
      readPrometheusSettings(config),
      options?.logger,
    );
  }

  /** For direct use: the same settings as app-config, in code. */
  static create(
    options: PrometheusTelemetryProviderOptions & { logger?: LoggerService },
  ): PrometheusTelemetryProvider {
    return new PrometheusTelemetryProvider(
      settingsFromOptions(options, 'options'),
      options.logger,
    );
  }

  private constructor(settings: PrometheusSettings, logger?: LoggerService) {
    this.id = settings.id;
    this.#s = settings;
    this.#logger = logger;
    this.#client = PrometheusClient.create({
      baseUrl: settings.baseUrl,
      headers: settings.headers,
      timeoutSeconds: settings.timeoutSeconds,
    });
  }

  async getCohortTelemetry(
    request: TelemetryRequest,
  ): Promise<TelemetryResult> {
    const step = request.stepSeconds;
    if (!(typeof step === 'number' && Number.isFinite(step) && step > 0)) {
      throw new Error(
        `prometheus (${this.id}): stepSeconds must be a positive number (got ${step})`,
      );
    }
    const resolved = this.#resolve(request);
    const plan = this.#plan(request, resolved);

    const startSec = request.start.getTime() / 1000;
    const endSec = request.end.getTime() / 1000;
    // Interval n covers [start + (n-1)·step, start + n·step); only intervals that ended by `end` count.
    const intervals = Math.max(
      0,
      Math.floor((endSec - startSec) / step + 1e-9),
    );
    if (intervals === 0) return { ticks: [] };

    const scalars = new Map<string, Map<number, number>>();
    const buckets = new Map<Cohort, BucketData>();
    let newestTick = 0;

    await runPool(plan, CONCURRENCY, async q => {
      const series = await this.#queryRange(
        request,
        resolved,
        q,
        startSec,
        intervals,
        step,
      );
      if (q.key === 'latency') {
        buckets.set(
          q.cohort,
          this.#collectBuckets(request, q, series, startSec, step, intervals),
        );
        for (const t of buckets.get(q.cohort)!.ticks.keys())
          newestTick = Math.max(newestTick, t);
        return;
      }
      if (series.length > 1) {
        throw new PrometheusQueryError(
          `prometheus (${this.id}): ${this.#describe(request, resolved, q)} returned ${series.length} series; ` +
            `a template must return one series per cohort (aggregate it, e.g. sum(...)); query: ${q.promql}`,
        );
      }
      const values = new Map<number, number>();
      for (const [ts, raw] of series[0]?.values ?? []) {
        const tick = tickOf(ts, startSec, step, intervals);
        const v = parseValue(raw);
        if (tick === undefined || Number.isNaN(v)) continue;
        if (isCountKey(q.key) && v < 0) continue;
        values.set(tick, v);
        newestTick = Math.max(newestTick, tick);
      }
      scalars.set(`${q.key}|${q.cohort}`, values);
    });

    const ticks: TelemetryTick[] = [];
    for (let t = 1; t <= intervals; t++) {
      const tick: TelemetryTick = { tick: t, time: startSec + t * step };
      for (const cohort of COHORTS) {
        const counts = this.#cohortCounts(
          request,
          resolved,
          cohort,
          t,
          scalars,
          buckets.get(cohort),
        );
        if (counts) tick[cohort] = counts;
      }
      ticks.push(tick);
    }
    if (request.segments?.length)
      await this.#segments(request, resolved, plan, ticks, startSec, step);

    const lagSeconds = await this.#lag(
      request,
      resolved,
      endSec,
      startSec,
      step,
      newestTick,
    );
    return { ticks, lagSeconds };
  }

  /** Config templates, then the target's, then the policy's (which win; see #policyTemplate). */
  #resolve(request: TelemetryRequest): Resolved {
    const templates: Record<string, string> = {};
    const sources: Record<string, TemplateSource> = {};
    const put = (
      from: Record<string, string> | undefined,
      source: TemplateSource,
    ) => {
      for (const [k, v] of Object.entries(from ?? {})) {
        templates[k] = v;
        sources[k] = source;
      }
    };
    put(this.#s.queries, 'config');
    put(this.#s.targets[request.target], 'target config');
    const policy: Record<string, string> = {};
    for (const [key, value] of Object.entries(request.queries ?? {})) {
      const parsed = parseSignalKey(key);
      if (!parsed) continue; // another provider's key
      const where = `prometheus (${this.id}): policy telemetry.queries["${key}"]`;
      const template = this.#policyTemplate(request, value, where);
      if (parsed.kind === 'freshness') checkTemplate(template, where);
      else checkCohortTemplate(template, where);
      policy[key] = template;
    }
    put(policy, 'policy');
    return { templates, sources };
  }

  /**
   * What a policy's `telemetry.queries` entry runs: the named template from
   * `templates`, or raw PromQL only where the platform allows it for the
   * target. A policy comes from the service's repository, and its queries
   * run with this provider's token and tenant headers: raw PromQL from it
   * could read any tenant's data the token can.
   */
  #policyTemplate(
    request: TelemetryRequest,
    value: string,
    where: string,
  ): string {
    if (typeof value === 'string' && TEMPLATE_NAME.test(value)) {
      const named = this.#s.templates[value];
      if (named === undefined) {
        throw new Error(
          `${where}: no query template named "${value}"; the platform defines them under rollouts.providers.prometheus.templates` +
            ` (defined: ${Object.keys(this.#s.templates).join(', ') || 'none'})`,
        );
      }
      return named;
    }
    if (!this.#s.allowPolicyQueries.has(request.target)) {
      throw new Error(
        `${where}: raw PromQL in a policy is refused (target ${request.target}); a policy may only name a template from ` +
          `rollouts.providers.prometheus.templates, unless rollouts.providers.prometheus.targets["${request.target}"].allowPolicyQueries is true`,
      );
    }
    return value;
  }

  #plan(request: TelemetryRequest, { templates }: Resolved): PlannedQuery[] {
    for (const required of ['requests', 'errors']) {
      if (!templates[required]) {
        throw new Error(
          `prometheus (${this.id}): no query template for "${required}" (target ${request.target}); set ` +
            `rollouts.providers.prometheus.queries.${required}, rollouts.providers.prometheus.targets["${request.target}"].queries.${required} ` +
            `or the policy's telemetry.queries.${required}`,
        );
      }
    }
    const keys = ['requests', 'errors'];
    if (templates.latency) keys.push('latency');
    for (const name of new Set(request.kpis)) {
      const has = (prefix: string, fields: readonly string[]) =>
        fields.filter(f => templates[`${prefix}.${name}.${f}`]);
      const proportion = has('kpis', PROPORTION_FIELDS);
      const mean = has('kpis', MEAN_FIELDS);
      const counts = has('counts', COUNT_FIELDS);
      if (proportion.length && mean.length) {
        throw new Error(
          `prometheus (${this.id}): KPI "${name}" has both proportion (${proportion.join(', ')}) and mean (${mean.join(', ')}) templates; ` +
            'a proportion KPI needs trials and successes, a mean KPI n, sum and sumSq',
        );
      }
      const requireAll = (
        what: string,
        prefix: string,
        got: string[],
        all: readonly string[],
      ) => {
        const missing = all.filter(f => !got.includes(f));
        if (got.length && missing.length) {
          throw new Error(
            `prometheus (${this.id}): ${what} "${name}" lacks ${missing.map(f => `${prefix}.${name}.${f}`).join(', ')} ` +
              `(a ${what} needs ${all.join(', ')}; it has ${got.join(', ')})`,
          );
        }
      };
      if (mean.length) requireAll('mean KPI', 'kpis', mean, MEAN_FIELDS);
      else requireAll('proportion KPI', 'kpis', proportion, PROPORTION_FIELDS);
      requireAll('count signal', 'counts', counts, COUNT_FIELDS);
      for (const f of [...proportion, ...mean]) keys.push(`kpis.${name}.${f}`);
      for (const f of counts) keys.push(`counts.${name}.${f}`);
      if (!proportion.length && !mean.length && !counts.length) {
        const warnKey = `${request.target}|${name}`;
        if (!this.#warned.has(warnKey)) {
          this.#warned.add(warnKey);
          this.#logger?.warn(
            `prometheus (${this.id}): no query templates for KPI "${name}" (target ${request.target}); it stays missing. ` +
              `Set rollouts.providers.prometheus.queries.kpis.${name} or the policy's telemetry.queries["kpis.${name}.…"]`,
          );
        }
      }
    }
    const plan: PlannedQuery[] = [];
    for (const key of keys) {
      for (const cohort of COHORTS) {
        plan.push({
          key,
          cohort,
          promql: this.#render(templates[key], request, cohort),
        });
      }
    }
    return plan;
  }

  #render(
    template: string,
    request: TelemetryRequest,
    cohort: Cohort,
    segmentBy?: string,
  ): string {
    return renderTemplate(template, {
      target: request.target,
      entityRef: request.entityRef,
      stepSeconds: request.stepSeconds,
      cohort: { label: this.#s.cohort.label, value: this.#s.cohort[cohort] },
      segmentBy,
    });
  }

  /**
   * Segments (`request.segments`): each template that groups by
   * `{{segmentBy}}` runs once more per dimension with the dimension as the
   * label, and each value's series become that value's counts, in the same
   * shape as the whole's. A template without `{{segmentBy}}`, a value with no
   * series and a dimension that is not a label name stay missing.
   */
  async #segments(
    request: TelemetryRequest,
    resolved: Resolved,
    plan: PlannedQuery[],
    ticks: TelemetryTick[],
    startSec: number,
    step: number,
  ): Promise<void> {
    const dims = [...new Set(request.segments)].filter(d => LABEL_NAME.test(d));
    const keys = [...new Set(plan.map(q => q.key))].filter(k =>
      usesSegmentBy(resolved.templates[k]),
    );
    const intervals = ticks.length;
    type Slot = {
      scalars: Map<string, Map<number, number>>;
      buckets: Map<Cohort, BucketData>;
    };
    const data = new Map<string, Map<string, Slot>>();
    const queries = dims.flatMap(dim =>
      keys.flatMap(key =>
        COHORTS.map(cohort => ({
          dim,
          key,
          cohort,
          promql: this.#render(resolved.templates[key], request, cohort, dim),
        })),
      ),
    );
    await runPool(queries, CONCURRENCY, async q => {
      const series = await this.#queryRange(
        request,
        resolved,
        q,
        startSec,
        intervals,
        step,
      );
      const byValue = new Map<string, MatrixSeries[]>();
      for (const s of series) {
        const value = s.metric[q.dim];
        if (value) byValue.set(value, [...(byValue.get(value) ?? []), s]);
      }
      const values = data.get(q.dim) ?? new Map<string, Slot>();
      data.set(q.dim, values);
      for (const [value, group] of byValue) {
        let slot = values.get(value);
        if (!slot) {
          slot = { scalars: new Map(), buckets: new Map() };
          values.set(value, slot);
        }
        if (q.key === 'latency') {
          slot.buckets.set(
            q.cohort,
            this.#collectBuckets(request, q, group, startSec, step, intervals),
          );
          continue;
        }
        if (group.length > 1) {
          throw new PrometheusQueryError(
            `prometheus (${this.id}): ${this.#describe(request, resolved, q)} returned ${group.length} series for ${q.dim}="${value}"; ` +
              `a segment query must return one series per value (sum by ({{segmentBy}})(...)); query: ${q.promql}`,
          );
        }
        slot.scalars.set(
          `${q.key}|${q.cohort}`,
          seriesValues(group[0], q.key, startSec, step, intervals),
        );
      }
    });
    for (const tick of ticks) {
      for (const cohort of COHORTS) {
        const whole = tick[cohort];
        if (!whole) continue;
        for (const [dim, values] of data) {
          for (const [value, slot] of values) {
            const counts = this.#cohortCounts(
              request,
              resolved,
              cohort,
              tick.tick,
              slot.scalars,
              slot.buckets.get(cohort),
            );
            if (counts) ((whole.segments ??= {})[dim] ??= {})[value] = counts;
          }
        }
      }
    }
  }

  #describe(
    request: TelemetryRequest,
    { sources }: Resolved,
    q: { key: string; cohort?: Cohort },
  ): string {
    const who = q.cohort ? `${q.cohort} ${q.key}` : q.key;
    const from = {
      config: 'the default config',
      'target config': "the target's config",
      policy: 'the policy',
    }[sources[q.key] ?? 'config'];
    return `query for ${who} of ${request.target} (template from ${from})`;
  }

  async #queryRange(
    request: TelemetryRequest,
    resolved: Resolved,
    q: PlannedQuery,
    startSec: number,
    intervals: number,
    step: number,
  ): Promise<MatrixSeries[]> {
    const out: MatrixSeries[] = [];
    for (let first = 1; first <= intervals; first += MAX_POINTS_PER_QUERY) {
      const last = Math.min(intervals, first + MAX_POINTS_PER_QUERY - 1);
      let chunk: MatrixSeries[];
      try {
        chunk = await this.#client.queryRange(
          q.promql,
          startSec + first * step,
          startSec + last * step,
          step,
        );
      } catch (e) {
        throw this.#wrap(e, request, resolved, q);
      }
      if (first === 1) {
        out.push(...chunk);
        continue;
      }
      // Join the chunks series by series (same labels).
      for (const s of chunk) {
        const key = JSON.stringify(s.metric);
        const same = out.find(o => JSON.stringify(o.metric) === key);
        if (same) same.values.push(...s.values);
        else out.push(s);
      }
    }
    return out;
  }

  #wrap(
    e: unknown,
    request: TelemetryRequest,
    resolved: Resolved,
    q: { key: string; cohort?: Cohort; promql: string },
  ) {
    const inner = e as PrometheusQueryError;
    return new PrometheusQueryError(
      `prometheus (${this.id}): ${this.#describe(request, resolved, q)} failed: ${inner?.message ?? String(e)}; query: ${q.promql}`,
      { errorType: inner?.errorType, httpStatus: inner?.httpStatus, cause: e },
    );
  }

  #collectBuckets(
    request: TelemetryRequest,
    q: PlannedQuery,
    series: MatrixSeries[],
    startSec: number,
    step: number,
    intervals: number,
  ): BucketData {
    const data: BucketData = { seriesPerLe: new Map(), ticks: new Map() };
    for (const s of series) {
      const rawLe = s.metric.le;
      const le =
        rawLe === undefined ? NaN : parseLe(rawLe, this.#s.latencyUnit);
      if (Number.isNaN(le)) {
        throw new PrometheusQueryError(
          `prometheus (${this.id}): query for ${q.cohort} latency of ${request.target} returned a series ` +
            `${rawLe === undefined ? 'without an le label' : `with le="${rawLe}"`}; the latency template must return ` +
            `histogram buckets grouped by le, e.g. sum by (le)(increase(<metric>_bucket{…}[{{step}}])); query: ${q.promql}`,
        );
      }
      data.seriesPerLe.set(le, (data.seriesPerLe.get(le) ?? 0) + 1);
      for (const [ts, raw] of s.values) {
        const tick = tickOf(ts, startSec, step, intervals);
        const v = parseValue(raw);
        if (tick === undefined || Number.isNaN(v) || v < 0) continue;
        let byLe = data.ticks.get(tick);
        if (!byLe) data.ticks.set(tick, (byLe = new Map()));
        const cell = byLe.get(le) ?? { sum: 0, n: 0 };
        cell.sum += v;
        cell.n += 1;
        byLe.set(le, cell);
      }
    }
    return data;
  }

  /** The tick's histogram, only when every bucket (with +Inf) has a value and counts are cumulative. */
  #histogram(
    data: BucketData | undefined,
    tick: number,
  ): LatencyHistogram | undefined {
    const byLe = data?.ticks.get(tick);
    if (!data || !byLe) return undefined;
    const le = [...data.seriesPerLe.keys()].sort((a, b) => a - b);
    if (le.length === 0 || le[le.length - 1] !== Infinity) return undefined;
    const counts: number[] = [];
    for (const b of le) {
      const cell = byLe.get(b);
      if (!cell || cell.n !== data.seriesPerLe.get(b)) return undefined;
      let v = cell.sum;
      const prev = counts.length ? counts[counts.length - 1] : 0;
      if (v < prev) {
        if (prev - v > CUMULATIVE_TOLERANCE * Math.max(1, prev))
          return undefined;
        v = prev;
      }
      counts.push(v);
    }
    return { le, counts };
  }

  #cohortCounts(
    request: TelemetryRequest,
    { templates }: Resolved,
    cohort: Cohort,
    tick: number,
    scalars: Map<string, Map<number, number>>,
    buckets: BucketData | undefined,
  ): CohortCounts | undefined {
    const get = (key: string) => scalars.get(`${key}|${cohort}`)?.get(tick);
    const out: CohortCounts = {};
    const requests = get('requests');
    if (requests !== undefined) out.requests = requests;
    const errors = get('errors');
    if (errors !== undefined) out.errors = errors;
    const latency = this.#histogram(buckets, tick);
    if (latency) out.latency = latency;
    for (const name of new Set(request.kpis)) {
      if (templates[`kpis.${name}.trials`]) {
        const trials = get(`kpis.${name}.trials`);
        const successes = get(`kpis.${name}.successes`);
        if (trials !== undefined && successes !== undefined)
          (out.kpis ??= {})[name] = { trials, successes };
      } else if (templates[`kpis.${name}.n`]) {
        const n = get(`kpis.${name}.n`);
        const sum = get(`kpis.${name}.sum`);
        const sumSq = get(`kpis.${name}.sumSq`);
        if (n !== undefined && sum !== undefined && sumSq !== undefined)
          (out.kpis ??= {})[name] = { n, sum, sumSq };
      }
      if (templates[`counts.${name}.events`]) {
        const events = get(`counts.${name}.events`);
        const exposures = get(`counts.${name}.exposures`);
        if (events !== undefined && exposures !== undefined)
          (out.counts ??= {})[name] = { events, exposures };
      }
    }
    return Object.keys(out).length ? out : undefined;
  }

  /**
   * Age of the newest sample at `end`: from the `freshness` template when there is one (an
   * instant query at `end` returning the newest sample's timestamp), else the end of the newest
   * interval with any data (one step's resolution), else at least the window's length.
   */
  async #lag(
    request: TelemetryRequest,
    resolved: Resolved,
    endSec: number,
    startSec: number,
    step: number,
    newestTick: number,
  ): Promise<number> {
    const template = resolved.templates.freshness;
    if (template) {
      const promql = this.#render(template, request, 'canary');
      let samples;
      try {
        samples = await this.#client.query(promql, endSec);
      } catch (e) {
        throw this.#wrap(e, request, resolved, { key: 'freshness', promql });
      }
      const newest = Math.max(
        ...samples
          .map(s => parseValue(s.value[1]))
          .filter(v => !Number.isNaN(v)),
      );
      if (Number.isFinite(newest)) return Math.max(0, endSec - newest);
    }
    if (newestTick > 0)
      return Math.max(0, endSec - (startSec + newestTick * step));
    return endSec - startSec;
  }
}

/** One series' values by tick (NaN, and negative counts, left out: missing). */
function seriesValues(
  series: MatrixSeries,
  key: string,
  startSec: number,
  step: number,
  intervals: number,
): Map<number, number> {
  const values = new Map<number, number>();
  for (const [ts, raw] of series.values) {
    const tick = tickOf(ts, startSec, step, intervals);
    const v = parseValue(raw);
    if (tick === undefined || Number.isNaN(v)) continue;
    if (isCountKey(key) && v < 0) continue;
    values.set(tick, v);
  }
  return values;
}

/** Tick number of an evaluation timestamp (the end of its interval), or undefined outside the window. */
function tickOf(
  ts: number,
  startSec: number,
  step: number,
  intervals: number,
): number | undefined {
  const t = Math.round((Number(ts) - startSec) / step);
  return t >= 1 && t <= intervals ? t : undefined;
}

async function runPool<T>(
  items: T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++];
      try {
        await work(item);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, worker),
  );
}
