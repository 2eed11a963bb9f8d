/**
 * The dashboard's per-rollout figures, read out of an evidence snapshot when
 * the snapshot is written (columns `burn_rate` and `kpi_deltas`), so the
 * summary never has to load and parse the snapshots themselves.
 *
 * The migration `20261122000000_rollout_figures.js` holds a frozen copy of
 * these two functions to backfill existing rows; change both together only
 * with a new migration that recomputes the columns.
 */

import { kpiDeltas, worstBurnRate } from '@tollgate/plugin-rollouts-common';

export { kpiDeltas, worstBurnRate };

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
