/**
 * The dashboard's per-rollout figures, read out of an evidence snapshot when
 * the snapshot is written (columns `burn_rate` and `kpi_deltas`), so the
 * summary never has to load and parse the snapshots themselves.
 *
 * The migration `20261122000000_rollout_figures.js` holds a frozen copy of
 * these two functions to backfill existing rows; change both together only
 * with a new migration that recomputes the columns.
 */

import {
  kpiDeltas,
  kpiIntervals,
  worstBurnRate,
} from '@tollgate/plugin-rollouts-common';

/**
 * The figure columns for an evidence snapshot (or its absence); since
 * migration `20261206200000_rollout_delivery_figures.js` also
 * `kpi_intervals` (the KPIs with their always-valid intervals, for the
 * active cohorts' panel).
 */
export function figureColumns(evidence: unknown): {
  burn_rate: number | null;
  kpi_deltas: string | null;
  kpi_intervals: string | null;
} {
  if (!evidence)
    return { burn_rate: null, kpi_deltas: null, kpi_intervals: null };
  const deltas = kpiDeltas(evidence);
  const intervals = kpiIntervals(evidence);
  return {
    burn_rate: worstBurnRate(evidence) ?? null,
    kpi_deltas: Object.keys(deltas).length ? JSON.stringify(deltas) : null,
    kpi_intervals: intervals.length ? JSON.stringify(intervals) : null,
  };
}
