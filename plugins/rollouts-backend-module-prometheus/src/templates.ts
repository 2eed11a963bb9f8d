/**
 * Query templates: the signal keys a template is stored under, the
 * `{{placeholder}}` syntax and its expansion into PromQL.
 */

/** Fields of a proportion KPI (`trials`, `successes`) and of a mean KPI (`n`, `sum`, `sumSq`). */
export const PROPORTION_FIELDS = ['trials', 'successes'] as const;
export const MEAN_FIELDS = ['n', 'sum', 'sumSq'] as const;
export const COUNT_FIELDS = ['events', 'exposures'] as const;

type KpiField =
  (typeof PROPORTION_FIELDS)[number] | (typeof MEAN_FIELDS)[number];
type CountField = (typeof COUNT_FIELDS)[number];

/** What a flat signal key (`requests`, `kpis.conversion.trials`, …) names. */
export type SignalKey =
  | { kind: 'requests' | 'errors' | 'latency' | 'freshness' }
  | { kind: 'kpi'; name: string; field: KpiField }
  | { kind: 'count'; name: string; field: CountField };

const KPI_KEY = /^kpis\.(.+)\.(trials|successes|n|sum|sumSq)$/;
const COUNT_KEY = /^counts\.(.+)\.(events|exposures)$/;

/** Parses a flat signal key; undefined when the key is not one this provider knows. */
export function parseSignalKey(key: string): SignalKey | undefined {
  if (
    key === 'requests' ||
    key === 'errors' ||
    key === 'latency' ||
    key === 'freshness'
  ) {
    return { kind: key };
  }
  const kpi = KPI_KEY.exec(key);
  if (kpi) return { kind: 'kpi', name: kpi[1], field: kpi[2] as KpiField };
  const count = COUNT_KEY.exec(key);
  if (count)
    return { kind: 'count', name: count[1], field: count[2] as CountField };
  return undefined;
}

/** Every placeholder a template may use. */
export const PLACEHOLDERS = [
  'cohort',
  'cohortLabel',
  'cohortValue',
  'target',
  'targetNamespace',
  'targetName',
  'entityRef',
  'entityName',
  'step',
  'segmentBy',
] as const;

export type Placeholder = (typeof PLACEHOLDERS)[number];

const PLACEHOLDER = /\{\{\s*([A-Za-z][A-Za-z0-9]*)\s*\}\}/g;
/** A `{{` that opens something that is not a well-formed placeholder. */
const MALFORMED = /\{\{\s*[A-Za-z]/;

/** Escapes a value for use inside a double-quoted PromQL string. */
export function promqlString(value: string): string {
  return value
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/\n/g, '\\n');
}

/**
 * Checks a template's placeholders and returns the ones it uses. Throws an
 * error that starts with `where` (the config key or policy field).
 */
export function checkTemplate(
  template: string,
  where: string,
): Set<Placeholder> {
  if (typeof template !== 'string' || template.trim() === '') {
    throw new Error(`${where}: a query template must be a non-empty string`);
  }
  const used = new Set<Placeholder>();
  for (const m of template.matchAll(PLACEHOLDER)) {
    const name = m[1];
    if (!(PLACEHOLDERS as readonly string[]).includes(name)) {
      throw new Error(
        `${where}: unknown placeholder {{${name}}}; known: ${PLACEHOLDERS.map(p => `{{${p}}}`).join(', ')}`,
      );
    }
    used.add(name as Placeholder);
  }
  if (MALFORMED.test(template.replace(PLACEHOLDER, ''))) {
    throw new Error(
      `${where}: malformed placeholder (write {{name}}) in: ${template}`,
    );
  }
  return used;
}

/**
 * Checks a template for a per-cohort signal: besides the placeholders, it
 * must select a cohort, otherwise both cohorts would get the same numbers.
 */
export function checkCohortTemplate(template: string, where: string): void {
  const used = checkTemplate(template, where);
  if (!used.has('cohort') && !used.has('cohortValue')) {
    throw new Error(
      `${where}: the template must select the cohort with {{cohort}} (or {{cohortValue}}), otherwise canary and baseline would read the same series`,
    );
  }
}

/** Values the placeholders expand to. */
export interface TemplateVariables {
  target: string;
  entityRef: string;
  stepSeconds: number;
  cohort: { label: string; value: string };
  /**
   * The segment label a segment query groups by (`sum by ({{segmentBy}})`);
   * empty for the whole, so one template serves both.
   */
  segmentBy?: string;
}

/** Does the template group by `{{segmentBy}}` (so it can break its counts down by segment)? */
export function usesSegmentBy(template: string | undefined): boolean {
  return !!template && /\{\{\s*segmentBy\s*\}\}/.test(template);
}

/** A Prometheus label name (what a segment dimension must be to be a `{{segmentBy}}`). */
export const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function splitTarget(target: string): { namespace: string; name: string } {
  const i = target.indexOf('/');
  return i < 0
    ? { namespace: '', name: target }
    : { namespace: target.slice(0, i), name: target.slice(i + 1) };
}

function entityName(entityRef: string): string {
  const afterKind = entityRef.includes(':')
    ? entityRef.slice(entityRef.indexOf(':') + 1)
    : entityRef;
  return afterKind.includes('/')
    ? afterKind.slice(afterKind.lastIndexOf('/') + 1)
    : afterKind;
}

/** Formats a number of seconds as a PromQL duration (`60s`, `1500ms`). */
export function promqlDuration(seconds: number): string {
  if (Number.isInteger(seconds)) return `${seconds}s`;
  return `${Math.round(seconds * 1000)}ms`;
}

/** Expands a checked template. String values are escaped for double-quoted PromQL strings. */
export function renderTemplate(
  template: string,
  vars: TemplateVariables,
): string {
  const { namespace, name } = splitTarget(vars.target);
  const values: Record<Placeholder, string> = {
    cohort: `${vars.cohort.label}="${promqlString(vars.cohort.value)}"`,
    cohortLabel: vars.cohort.label,
    cohortValue: promqlString(vars.cohort.value),
    target: promqlString(vars.target),
    targetNamespace: promqlString(namespace),
    targetName: promqlString(name),
    entityRef: promqlString(vars.entityRef),
    entityName: promqlString(entityName(vars.entityRef)),
    step: promqlDuration(vars.stepSeconds),
    segmentBy: vars.segmentBy ?? '',
  };
  return template.replace(PLACEHOLDER, (_, p: Placeholder) => values[p]);
}

/**
 * Flattens query templates given as config (`{ requests, kpis: { conversion: { trials } } }`)
 * or already flat (`{ "kpis.conversion.trials": … }`) into flat signal keys, checking each
 * template. `where` is the config path used in error messages.
 */
export function flattenQueries(
  raw: unknown,
  where: string,
): Record<string, string> {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new Error(`${where} must be an object of query templates`);
  }
  const out: Record<string, string> = {};
  const put = (key: string, value: unknown, path: string) => {
    const parsed = parseSignalKey(key);
    if (!parsed) {
      throw new Error(
        `${path}: unknown signal "${key}"; known: requests, errors, latency, freshness, kpis.<name>.{trials,successes,n,sum,sumSq}, counts.<name>.{events,exposures}`,
      );
    }
    if (typeof value !== 'string')
      throw new Error(`${path} must be a string (a PromQL template)`);
    if (parsed.kind === 'freshness') checkTemplate(value, path);
    else checkCohortTemplate(value, path);
    out[key] = value;
  };
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    const path = `${where}.${key}`;
    if (
      (key === 'kpis' || key === 'counts') &&
      value &&
      typeof value === 'object' &&
      !Array.isArray(value)
    ) {
      for (const [name, fields] of Object.entries(
        value as Record<string, unknown>,
      )) {
        if (!fields || typeof fields !== 'object' || Array.isArray(fields)) {
          throw new Error(
            `${path}.${name} must be an object of query templates`,
          );
        }
        for (const [field, template] of Object.entries(
          fields as Record<string, unknown>,
        )) {
          put(`${key}.${name}.${field}`, template, `${path}.${name}.${field}`);
        }
      }
    } else {
      put(key, value, path);
    }
  }
  return out;
}
