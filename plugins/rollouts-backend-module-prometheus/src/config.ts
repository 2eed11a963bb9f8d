import type { RootConfigService } from '@backstage/backend-plugin-api';
import { checkTemplate, flattenQueries } from './templates';

/** Where this provider's settings live in app-config. */
export const CONFIG_ROOT = 'rollouts.providers.prometheus';

/** Cohort label matcher settings. */
export interface CohortLabels {
  /** Label name, default `track`. */
  label: string;
  /** Value of the canary cohort, default `canary`. */
  canary: string;
  /** Value of the baseline cohort, default `stable`. */
  baseline: string;
}

/** Settings of one Prometheus telemetry provider, already checked. */
export interface PrometheusSettings {
  id: string;
  baseUrl: string;
  headers: Record<string, string>;
  timeoutSeconds: number;
  cohort: CohortLabels;
  latencyUnit: 'seconds' | 'milliseconds';
  /** Flat templates (`requests`, `kpis.conversion.trials`, …). */
  queries: Record<string, string>;
  /** Per-target flat templates, overriding `queries`. */
  targets: Record<string, Record<string, string>>;
  /** Named templates a policy may pick by name (`telemetry.queries.<signal>: <name>`). */
  templates: Record<string, string>;
  /** Targets whose policies may carry raw PromQL (`targets.<target>.allowPolicyQueries`). */
  allowPolicyQueries: Set<string>;
}

/**
 * A policy's `telemetry.queries` value that is a template name rather than
 * PromQL: a letter, then letters, digits, `_` or `-` (no PromQL template
 * can look like this: every template selects a cohort with `{{…}}`).
 */
export const TEMPLATE_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/** The options of `PrometheusTelemetryProvider.create`: the app-config shape in code. */
export interface PrometheusTelemetryProviderOptions {
  /** Provider id (default `prometheus`). */
  id?: string;
  /** Base URL of the Prometheus HTTP API, e.g. `http://prometheus:9090` (the path before `/api/v1`). */
  baseUrl: string;
  /** Extra request headers (tenant ids, API keys…). */
  headers?: Record<string, string>;
  /** Bearer token, sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Per-query timeout, seconds (default 30). */
  timeoutSeconds?: number;
  /** Cohort label name and values (defaults `track`, `canary`, `stable`). */
  cohort?: Partial<CohortLabels>;
  /** Unit of the histogram's `le` label (default `seconds`); the gate engine works in milliseconds. */
  latencyUnit?: 'seconds' | 'milliseconds';
  /** Default query templates, nested like app-config or flat (`"kpis.conversion.trials"`). */
  queries?: Record<string, unknown>;
  /**
   * Per-target overrides: `{ "<target>": { queries: {...}, allowPolicyQueries } }`.
   * `allowPolicyQueries: true` lets that target's policy carry raw PromQL,
   * run with this provider's credentials (default false: policies may only
   * name `templates`).
   */
  targets?: Record<
    string,
    { queries?: Record<string, unknown>; allowPolicyQueries?: boolean }
  >;
  /** Templates by name, for policies to pick (`telemetry.queries.errors: checkout-errors`). */
  templates?: Record<string, string>;
}

const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PROVIDER_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks options and turns them into settings. `where` prefixes every key in
 * error messages (the app-config path, or `options` for direct use).
 */
export function settingsFromOptions(
  o: PrometheusTelemetryProviderOptions,
  where: string,
): PrometheusSettings {
  const id = o.id ?? 'prometheus';
  if (typeof id !== 'string' || !PROVIDER_ID.test(id)) {
    throw new Error(
      `${where}.id must be letters, digits, '.', '_' or '-' (got ${JSON.stringify(id)})`,
    );
  }

  if (typeof o.baseUrl !== 'string' || o.baseUrl === '') {
    throw new Error(
      `${where}.baseUrl is required: the Prometheus server's URL, e.g. http://prometheus:9090`,
    );
  }
  let url: URL;
  try {
    url = new URL(o.baseUrl);
  } catch {
    throw new Error(`${where}.baseUrl is not a valid URL: ${o.baseUrl}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(
      `${where}.baseUrl must be an http or https URL (got ${url.protocol})`,
    );
  }
  if (url.search || url.hash) {
    throw new Error(
      `${where}.baseUrl must not carry a query string or fragment`,
    );
  }

  const headers: Record<string, string> = {};
  if (o.headers !== undefined) {
    if (!isObject(o.headers))
      throw new Error(
        `${where}.headers must be an object of header names to values`,
      );
    for (const [name, value] of Object.entries(o.headers)) {
      if (typeof value !== 'string')
        throw new Error(`${where}.headers.${name} must be a string`);
      headers[name] = value;
    }
  }
  if (o.token !== undefined) {
    if (typeof o.token !== 'string' || o.token === '')
      throw new Error(`${where}.token must be a non-empty string`);
    if (Object.keys(headers).some(h => h.toLowerCase() === 'authorization')) {
      throw new Error(
        `${where}.token and ${where}.headers.Authorization are both set; use one`,
      );
    }
    headers.Authorization = `Bearer ${o.token}`;
  }

  const timeoutSeconds = o.timeoutSeconds ?? 30;
  if (
    typeof timeoutSeconds !== 'number' ||
    !Number.isFinite(timeoutSeconds) ||
    timeoutSeconds <= 0 ||
    timeoutSeconds > 600
  ) {
    throw new Error(
      `${where}.timeoutSeconds must be a number of seconds in (0, 600] (got ${JSON.stringify(o.timeoutSeconds)})`,
    );
  }

  if (o.cohort !== undefined && !isObject(o.cohort))
    throw new Error(`${where}.cohort must be an object`);
  const cohort: CohortLabels = {
    label: o.cohort?.label ?? 'track',
    canary: o.cohort?.canary ?? 'canary',
    baseline: o.cohort?.baseline ?? 'stable',
  };
  if (typeof cohort.label !== 'string' || !LABEL_NAME.test(cohort.label)) {
    throw new Error(
      `${where}.cohort.label must be a Prometheus label name (got ${JSON.stringify(cohort.label)})`,
    );
  }
  for (const k of ['canary', 'baseline'] as const) {
    if (typeof cohort[k] !== 'string' || cohort[k] === '') {
      throw new Error(`${where}.cohort.${k} must be a non-empty string`);
    }
  }
  if (cohort.canary === cohort.baseline) {
    throw new Error(
      `${where}.cohort.canary and ${where}.cohort.baseline must differ (both are "${cohort.canary}")`,
    );
  }

  const latencyUnit = o.latencyUnit ?? 'seconds';
  if (latencyUnit !== 'seconds' && latencyUnit !== 'milliseconds') {
    throw new Error(
      `${where}.latencyUnit must be "seconds" or "milliseconds" (got ${JSON.stringify(latencyUnit)})`,
    );
  }

  const queries = flattenQueries(o.queries, `${where}.queries`);
  const targets: Record<string, Record<string, string>> = {};
  const allowPolicyQueries = new Set<string>();
  if (o.targets !== undefined) {
    if (!isObject(o.targets))
      throw new Error(`${where}.targets must be an object keyed by target`);
    for (const [target, t] of Object.entries(o.targets)) {
      const path = `${where}.targets["${target}"]`;
      if (!isObject(t)) throw new Error(`${path} must be an object`);
      for (const key of Object.keys(t)) {
        if (key !== 'queries' && key !== 'allowPolicyQueries')
          throw new Error(
            `${path}.${key} is not a known setting (only queries, allowPolicyQueries)`,
          );
      }
      if (
        t.allowPolicyQueries !== undefined &&
        typeof t.allowPolicyQueries !== 'boolean'
      ) {
        throw new Error(`${path}.allowPolicyQueries must be true or false`);
      }
      if (t.allowPolicyQueries) allowPolicyQueries.add(target);
      targets[target] = flattenQueries(t.queries, `${path}.queries`);
    }
  }

  const templates: Record<string, string> = {};
  if (o.templates !== undefined) {
    if (!isObject(o.templates))
      throw new Error(
        `${where}.templates must be an object of template names to PromQL templates`,
      );
    for (const [name, template] of Object.entries(o.templates)) {
      const path = `${where}.templates.${name}`;
      if (!TEMPLATE_NAME.test(name)) {
        throw new Error(
          `${path}: a template name is a letter, then letters, digits, _ or - (at most 64)`,
        );
      }
      if (typeof template !== 'string')
        throw new Error(`${path} must be a string (a PromQL template)`);
      checkTemplate(template, path);
      templates[name] = template;
    }
  }

  return {
    id,
    baseUrl: o.baseUrl,
    headers,
    timeoutSeconds,
    cohort,
    latencyUnit,
    queries,
    targets,
    templates,
    allowPolicyQueries,
  };
}

/**
 * Reads `rollouts.providers.prometheus`. Errors name the config key. Targets
 * and header names are read as raw objects, since targets such as
 * `payments/checkout-api` are not valid Backstage config key paths.
 */
export function readPrometheusSettings(
  config: RootConfigService,
): PrometheusSettings {
  const c = config.getOptionalConfig(CONFIG_ROOT);
  if (!c) {
    throw new Error(
      `${CONFIG_ROOT}.baseUrl is required: the Prometheus server's URL, e.g. http://prometheus:9090`,
    );
  }
  const latencyUnit = c.getOptionalString('latencyUnit');
  return settingsFromOptions(
    {
      id: c.getOptionalString('id'),
      baseUrl: c.getOptionalString('baseUrl') as string,
      headers: c.getOptional('headers'),
      token: c.getOptionalString('token'),
      timeoutSeconds: c.getOptionalNumber('timeoutSeconds'),
      cohort: c.getOptional('cohort'),
      latencyUnit:
        latencyUnit as PrometheusTelemetryProviderOptions['latencyUnit'],
      queries: c.getOptional('queries'),
      targets: c.getOptional('targets'),
      templates: c.getOptional('templates'),
    },
    CONFIG_ROOT,
  );
}
