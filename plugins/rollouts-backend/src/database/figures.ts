/**
 * The dashboard's per-rollout figures, read out of an evidence snapshot when
 * the snapshot is written (columns `burn_rate` and `kpi_deltas`), so the
 * summary never has to load and parse the snapshots themselves.
 *
 * The migration `20261122000000_rollout_figures.js` holds a frozen copy of
 * these two functions to backfill existing rows; change both together only
 * with a new migration that recomputes the columns.
 */

/** Reads a number at a path of unknown evidence, or undefined. */
function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/**
 * Worst burn rate in an evidence snapshot (service-wide or canary, any SLI,
 * any window). The gate engine reports each window's sustained burn as
 * `longBurn` (the short window's `shortBurn` only confirms an alert);
 * snapshots from providers' history may carry `burnRate` or `rate`.
 */
export function worstBurnRate(
  evidence: Record<string, unknown> | undefined,
): number | undefined {
  const burn = (evidence as any)?.checks?.burn;
  if (!burn || typeof burn !== 'object') return undefined;
  let worst: number | undefined;
  const visit = (v: unknown) => {
    if (!v || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (/burn.?rate/i.test(k) || k === 'rate' || k === 'longBurn') {
        const n = num(x);
        if (n !== undefined)
          worst = worst === undefined ? n : Math.max(worst, n);
      } else if (typeof x === 'object') visit(x);
    }
  };
  visit(burn);
  return worst;
}

/** Relative canary–baseline deltas of the KPIs in an evidence snapshot. */
export function kpiDeltas(
  evidence: Record<string, unknown> | undefined,
): Record<string, number> {
  const out: Record<string, number> = {};
  const signals = (evidence as any)?.signals;
  if (!Array.isArray(signals)) return out;
  for (const s of signals) {
    if (
      !s ||
      (s.kind !== 'kpi' &&
        s.kind !== 'proportion' &&
        s.kind !== 'mean' &&
        !String(s.kind ?? '').startsWith('kpi'))
    )
      continue;
    const base = num(s.baseline?.estimate ?? s.baseline);
    const canary = num(s.canary?.estimate ?? s.canary);
    const rel = num(s.relativeDifference);
    if (rel !== undefined) out[s.name] = rel;
    else if (base !== undefined && canary !== undefined && base !== 0)
      out[s.name] = (canary - base) / base;
  }
  return out;
}

/** The two figure columns for an evidence snapshot (or its absence). */
export function figureColumns(
  evidence: Record<string, unknown> | null | undefined,
): { burn_rate: number | null; kpi_deltas: string | null } {
  if (!evidence) return { burn_rate: null, kpi_deltas: null };
  const deltas = kpiDeltas(evidence);
  return {
    burn_rate: worstBurnRate(evidence) ?? null,
    kpi_deltas: Object.keys(deltas).length ? JSON.stringify(deltas) : null,
  };
}
