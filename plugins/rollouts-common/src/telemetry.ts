import type { CohortCounts, TelemetryTick } from './evidence';

function count(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value))
    return `is ${String(value)}, not a finite number`;
  if (value < 0) return `is negative (${value})`;
  return undefined;
}

function cohortProblems(c: CohortCounts, path: string, out: string[]) {
  for (const field of ['requests', 'errors'] as const) {
    const p = count(c[field]);
    if (p) out.push(`${path}.${field} ${p}`);
  }
  if (
    typeof c.requests === 'number' &&
    typeof c.errors === 'number' &&
    c.errors > c.requests
  ) {
    out.push(`${path}.errors: ${c.errors} errors of ${c.requests} requests`);
  }
  if (c.latency) {
    const { le, counts } = c.latency;
    if (
      !Array.isArray(le) ||
      !Array.isArray(counts) ||
      le.length !== counts.length ||
      le.length === 0
    ) {
      out.push(`${path}.latency: le and counts must be arrays of one length`);
    } else {
      if (le[le.length - 1] !== Infinity)
        out.push(`${path}.latency.le must end with Infinity`);
      for (let i = 0; i < counts.length; i++) {
        const p = count(counts[i]);
        if (p) out.push(`${path}.latency.counts[${i}] ${p}`);
        if (i > 0 && !(le[i] > le[i - 1]))
          out.push(`${path}.latency.le[${i}] is not above le[${i - 1}]`);
        if (i > 0 && counts[i] < counts[i - 1])
          out.push(
            `${path}.latency.counts[${i}] is below counts[${i - 1}] (buckets are cumulative)`,
          );
      }
    }
  }
  for (const [name, k] of Object.entries(c.kpis ?? {})) {
    if ('trials' in k) {
      for (const f of ['trials', 'successes'] as const) {
        const p = count(k[f]);
        if (p) out.push(`${path}.kpis.${name}.${f} ${p}`);
      }
      if (k.successes > k.trials)
        out.push(
          `${path}.kpis.${name}: ${k.successes} successes of ${k.trials} trials`,
        );
    } else {
      const p = count(k.n) ?? count(k.sumSq);
      if (p) out.push(`${path}.kpis.${name} ${p}`);
      if (!Number.isFinite(k.sum))
        out.push(
          `${path}.kpis.${name}.sum is ${String(k.sum)}, not a finite number`,
        );
    }
  }
  for (const [name, e] of Object.entries(c.counts ?? {})) {
    const p = count(e.events) ?? count(e.exposures);
    if (p) out.push(`${path}.counts.${name} ${p}`);
  }
  if (c.segments !== undefined) segmentProblems(c.segments, path, out);
}

/** each segment's counts are checked like a cohort's (one level: segments of a segment are ignored) */
function segmentProblems(segments: unknown, path: string, out: string[]): void {
  if (!segments || typeof segments !== 'object' || Array.isArray(segments)) {
    out.push(`${path}.segments must map a dimension to its values`);
    return;
  }
  for (const [dim, values] of Object.entries(segments)) {
    if (!values || typeof values !== 'object' || Array.isArray(values)) {
      out.push(`${path}.segments.${dim} must map a value to its counts`);
      continue;
    }
    for (const [value, counts] of Object.entries(values)) {
      if (!counts || typeof counts !== 'object') {
        out.push(`${path}.segments.${dim}.${value} must be cohort counts`);
        continue;
      }
      const { segments: _nested, ...own } = counts as CohortCounts;
      cohortProblems(own, `${path}.segments.${dim}.${value}`, out);
    }
  }
}

/**
 * Problems in telemetry that cannot be right (negative or non-finite
 * counts, more errors than requests, non-cumulative histograms, ticks out
 * of order), each naming its place, e.g. `ticks[3].canary.errors: 150
 * errors of 100 requests`. Empty when the data is plausible. Missing
 * fields are not problems: they are missing data.
 *
 * @public
 */
export function telemetryProblems(ticks: TelemetryTick[]): string[] {
  const out: string[] = [];
  let last = -Infinity;
  ticks.forEach((t, i) => {
    if (typeof t.tick !== 'number' || !Number.isFinite(t.tick))
      out.push(`ticks[${i}].tick is not a number`);
    else if (t.tick <= last)
      out.push(`ticks[${i}].tick ${t.tick} is not after ${last}`);
    else last = t.tick;
    if (t.baseline) cohortProblems(t.baseline, `ticks[${i}].baseline`, out);
    if (t.canary) cohortProblems(t.canary, `ticks[${i}].canary`, out);
  });
  return out;
}
