/** Which telemetry fields a signal needs, and whether a cohort's line has them. */
import { histogramProblem } from './histogram';
import type { CohortCounts, MeanKpiCounts, ProportionKpiCounts } from './types';

export function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

/** how a telemetry field's presence is checked */
export const F_REQUESTS = 0;
export const F_ERRORS = 1;
export const F_LATENCY = 2;
export const F_KPI = 3;
export const F_COUNT = 4;
export const F_OTHER = 5;

export interface FieldPlan {
  /** e.g. "kpis.conversion" */
  field: string;
  kind: number;
  /** kpi / count name */
  name: string;
  /** "baseline.<field>", "canary.<field>" */
  bKey: string;
  cKey: string;
}

export function fieldPlan(f: string): FieldPlan {
  let kind = F_OTHER;
  let name = '';
  if (f === 'requests') kind = F_REQUESTS;
  else if (f === 'errors') kind = F_ERRORS;
  else if (f === 'latency') kind = F_LATENCY;
  else if (f.startsWith('kpis.')) {
    kind = F_KPI;
    name = f.slice(5);
  } else if (f.startsWith('counts.')) {
    kind = F_COUNT;
    name = f.slice(7);
  }
  return {
    field: f,
    kind,
    name,
    bKey: key('baseline', f),
    cKey: key('canary', f),
  };
}

export function present(c: CohortCounts | undefined, fp: FieldPlan): boolean {
  if (!c) return false;
  switch (fp.kind) {
    case F_REQUESTS:
      return isCount(c.requests);
    case F_ERRORS:
      return (
        isCount(c.errors) &&
        isCount(c.requests) &&
        (c.errors as number) <= (c.requests as number)
      );
    case F_LATENCY:
      return !!c.latency && histogramProblem(c.latency) === null;
    case F_KPI: {
      const v = c.kpis?.[fp.name] as
        Partial<ProportionKpiCounts & MeanKpiCounts> | undefined;
      if (!v) return false;
      if ('trials' in v || 'successes' in v)
        return (
          isCount(v.trials) && isCount(v.successes) && v.successes! <= v.trials!
        );
      return (
        isCount(v.n) &&
        typeof v.sum === 'number' &&
        Number.isFinite(v.sum) &&
        isCount(v.sumSq)
      );
    }
    case F_COUNT: {
      const v = c.counts?.[fp.name];
      return !!v && isCount(v.events) && isCount(v.exposures);
    }
    default:
      return false;
  }
}

export const KEY_CACHE: Record<string, Map<string, string>> = {
  baseline: new Map(),
  canary: new Map(),
};
/** interned "cohort.field" keys (avoids building the same strings every tick) */
export function key(cohort: 'baseline' | 'canary', f: string): string {
  const m = KEY_CACHE[cohort];
  let k = m.get(f);
  if (k === undefined) {
    k = `${cohort}.${f}`;
    if (m.size > 10000) m.clear();
    m.set(f, k);
  }
  return k;
}
