/**
 * The post-promotion watch per segment: a regression that appears only in one segment
 * (device = mobile) after the release reached everyone is diluted in the whole's watch. Every
 * segment cell the rollout tested at the promotion (the cells of `segments.ts`: the first
 * `maxValues` values of each dimension, at least `minShare` of the baseline's requests) is
 * watched as the whole is (`bake.ts`): each rate signal's reference is the old version's rate in
 * that segment as the baseline cohort measured it during the rollout, its limit the exact
 * Poisson bound moved by the same margin, and its e-detector the whole's one-sample mixture
 * with the same restarts, on the segment's own counts.
 *
 * Error control (docs/gate-engine.md, "Segments"): the cells get `rollout.bake.alpha ×
 * segments.alpha / alpha` (the segment family's part of α during the canary steps) and the
 * whole's watch the rest, so by the union bound `rollout.bake.alpha` still bounds the watch's
 * false rollbacks. The cells' part is split by Bonferroni over dimensions × `maxValues` (fixed
 * in advance, whatever values turn up) and, inside a cell, as the whole splits its α: α/(2k) for
 * the reference bound and α/(2k) for the e-detector of each of its k signals. Only when segment
 * harm rolls back (`segments.onHarm: rollback`): the watch can only roll back.
 */
import {
  bakeLogStatistic,
  bakeSignals,
  BakeSignalState,
  BakeWatchState,
  foldBakeSignal,
  limitText,
  sliCounts,
} from './bake';
import { segmentsAlphaOut, type GatePolicy } from './policy';
import { num, pct } from './reasons';
import type { RolloutGateState } from './rollout';
import type { BakeDecision, CohortCounts, TelemetryTick } from './types';

export interface BakeSegmentCellState {
  dimension: string;
  value: string;
  /** the number of signals the cell's α was split over */
  k: number;
  signals: BakeSignalState[];
}

export interface BakeSegmentsState {
  /** the cells' part of the bake α, and the number of cells it is split over */
  alpha: number;
  cellBudget: number;
  cells: BakeSegmentCellState[];
}

/** The segment cells' part of `rollout.bake.alpha`: 0 unless segment harm rolls back. */
export function bakeSegmentsAlpha(p: GatePolicy): number {
  const out = segmentsAlphaOut(p);
  return out > 0 ? (p.rollout.bake.alpha * out) / p.alpha : 0;
}

/** The cells' watches from the rollout's segment tests (the cells tested at the promotion). */
export function createBakeSegments(
  rs: RolloutGateState,
  alpha: number,
): BakeSegmentsState {
  const sp = rs.policy.segments;
  const cellBudget = sp.dimensions.length * sp.maxValues;
  const cells: BakeSegmentCellState[] = [];
  const all = rs.gate.segments?.cells ?? [];
  for (const dim of sp.dimensions) {
    const dimCells = all.filter(c => c.dimension === dim);
    const total = dimCells.reduce((a, c) => a + c.baselineRequests, 0);
    for (const c of dimCells) {
      if (!(total > 0) || c.baselineRequests / total < sp.minShare) continue;
      const { signals, k } = bakeSignals(rs, alpha / cellBudget, i => {
        const r = c.rates[i];
        // a segment the old version never served in has nothing to compare with
        return r && r.baselineExposure > 0 ? r : null;
      });
      if (signals.length)
        cells.push({ dimension: dim, value: c.value, k, signals });
    }
  }
  return { alpha, cellBudget, cells };
}

function cellCounts(
  c: CohortCounts | undefined,
  dim: string,
  value: string,
): CohortCounts | undefined {
  const v = c?.segments?.[dim]?.[value];
  return v && typeof v === 'object' ? v : undefined;
}

/** Fold one tick's segments (every cohort line's, as for the whole) into the cells' watches. */
export function observeBakeSegments(
  w: BakeWatchState,
  seg: BakeSegmentsState,
  tick: TelemetryTick,
  added: number,
): void {
  for (const cell of seg.cells) {
    const lines = [tick.canary, tick.baseline].map(c =>
      cellCounts(c, cell.dimension, cell.value),
    );
    for (const s of cell.signals) {
      let x = 0;
      let n = 0;
      for (const c of lines) {
        const v = sliCounts(w.ctx, c, s.kind, s.key);
        if (!v) continue;
        x += v[0];
        n += v[1];
      }
      foldBakeSignal(s, x, n, added);
    }
  }
}

/** The cells' verdicts: one reason per harmed (cell, signal), the evidence named by segment. */
export function bakeSegmentsCheck(seg: BakeSegmentsState): {
  reasons: string[];
  signals: BakeDecision['signals'];
} {
  const reasons: string[] = [];
  const signals: BakeDecision['signals'] = [];
  const cellAlpha = seg.alpha / seg.cellBudget;
  for (const cell of seg.cells) {
    const name = `${cell.dimension}=${cell.value}`;
    const threshold = Math.log((2 * cell.k) / cellAlpha);
    for (const s of cell.signals) {
      const statistic = bakeLogStatistic(s);
      const rate = s.exposure > 0 ? s.events / s.exposure : null;
      const reference = s.refExposure > 0 ? s.refEvents / s.refExposure : null;
      if (statistic >= threshold) {
        reasons.push(
          `segment ${name}: ${s.name} after full promotion ${pct(rate, 3)} vs ${pct(reference, 3)} before in this segment (limit ${pct(s.limit, 3)}: ${limitText(s)}; e-value ${num(Math.exp(statistic))} ≥ ${num(Math.exp(threshold))})`,
        );
      }
      signals.push({
        name: `segment ${name}: ${s.name}`,
        rate,
        reference,
        limit: s.limit,
        statistic,
        threshold,
      });
    }
  }
  return { reasons, signals };
}
