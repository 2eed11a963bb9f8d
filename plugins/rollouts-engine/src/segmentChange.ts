/**
 * Change detection per segment: a regression that starts mid-rollout inside one segment
 * (dimension = value) is diluted in that segment's test from the start by the good ticks before
 * it, as the whole's is. Every cell of `segments.ts` (the same cells: the first `maxValues`
 * values of each dimension) runs, for every rate signal, the whole's e-detector
 * (`changeDetection.ts`) on the cell's own per-tick counts, at the whole's null `uDet`, σ and
 * harm side.
 *
 * Error control (docs/gate-engine.md, "Segments"): the segment family's α (`segments.alpha`) is
 * split, as each signal's α of the whole is, between the cells' tests from the start
 * (1 − `rollout.changeDetection.alphaShare`, `stepPolicy`) and these detectors (`alphaShare`);
 * the detectors' part is split by Bonferroni over dimensions × `maxValues` cells (fixed in
 * advance) and, inside a cell, over the rate signals in the whole's proportions. Each detector
 * ever alarming on a cell without a change has probability ≤ its α (Ville), so the family's
 * false alarms stay within `segments.alpha` and, with the whole's `alpha − segments.alpha`,
 * a rollout's within `alpha`.
 */
import {
  ChangeDetectorState,
  changeDetectorLogStatistic,
  createChangeDetector,
  runningCounts,
  tickCounts,
  type RunningCounts,
  updateChangeDetector,
} from './changeDetection';
import { planOf, type StatePlan } from './plan';
import { num, pct } from './reasons';
import type { RolloutGateState } from './rollout';
import { signalShares } from './segments';
import type { GateState } from './state';
import type {
  ChangeDetectionEvidence,
  GateDecision,
  SegmentCellEvidence,
} from './types';

/** one cell's detectors, aligned with the gate's signals (null: not a rate signal) */
export interface SegmentDetectorState {
  dimension: string;
  value: string;
  detectors: Array<ChangeDetectorState | null>;
}

/** per cell, per signal: [canary events, canary exposure, baseline events, baseline exposure, ticks] */
export type SegmentCountsBefore = Array<Array<RunningCounts | null>>;

/** the cells' running counts before a tick is folded (to take the tick's own counts after) */
export function segmentCountsBefore(gate: GateState): SegmentCountsBefore {
  return (gate.segments?.cells ?? []).map(c =>
    c.rates.map(r => (r ? runningCounts(r) : null)),
  );
}

const NONE = [0, 0, 0, 0, 0];

/**
 * Fold tick `t` into the cells' detectors (a cell first seen now gets its detectors now: a
 * component starting late is still an e-process). `detectors` is aligned with the cells.
 */
export function observeSegmentDetectors(
  gate: GateState,
  plan: StatePlan,
  detectors: SegmentDetectorState[],
  t: number,
  every: number,
  before: SegmentCountsBefore,
): void {
  const cells = gate.segments?.cells ?? [];
  cells.forEach((cell, j) => {
    let sd = detectors[j];
    if (!sd) {
      sd = {
        dimension: cell.dimension,
        value: cell.value,
        detectors: cell.rates.map((r, i) =>
          r
            ? createChangeDetector({
                firstTick: t,
                every,
                u0: plan.sig[i].uDet,
                side: gate.signals[i].harmSign,
                sigma: plan.sig[i].sigma,
              })
            : null,
        ),
      };
      detectors[j] = sd;
    }
    cell.rates.forEach((r, i) => {
      const d = sd!.detectors[i];
      if (!d || !r) return;
      updateChangeDetector(d, t, tickCounts(r, before[j]?.[i] ?? NONE));
    });
  });
}

export interface SegmentChangeCheck {
  evidence: ChangeDetectionEvidence[];
  /** one reason per (tested cell, signal) whose detector alarmed */
  reasons: string[];
}

/**
 * The cells' detectors at a decision: `changeAlpha` is the segment family's detector α
 * (`segments.alpha × alphaShare`); only cells the decision tests (`minShare`) can alarm.
 */
export function segmentChangeCheck(
  gate: GateState,
  plan: StatePlan,
  detectors: SegmentDetectorState[],
  changeAlpha: number,
  d: GateDecision,
): SegmentChangeCheck {
  const sp = gate.policy.segments;
  const cellAlpha = changeAlpha / (sp.dimensions.length * sp.maxValues);
  const shares = signalShares(gate, plan);
  const cellsEv = d.checks.segments?.cells ?? [];
  const evidence: ChangeDetectionEvidence[] = [];
  const reasons: string[] = [];
  for (const sd of detectors) {
    if (!sd) continue;
    const name = `${sd.dimension}=${sd.value}`;
    const cev: SegmentCellEvidence | undefined = cellsEv.find(
      c => c.dimension === sd.dimension && c.value === sd.value,
    );
    sd.detectors.forEach((det, i) => {
      if (!det || !(shares[i] > 0)) return;
      const signal = gate.signals[i].name;
      const statistic = changeDetectorLogStatistic(det);
      const threshold = Math.log(1 / (cellAlpha * shares[i]));
      const fired = !!cev?.tested && statistic >= threshold;
      evidence.push({
        name: `segment ${name}: ${signal}`,
        statistic,
        threshold,
        restarts: det.restarts,
        fired,
      });
      if (!fired) return;
      const ev = cev!.signals.find(x => x.name === signal);
      reasons.push(
        `segment ${name}: ${signal} canary worse than baseline in this segment since a change during the rollout (change detector e-value ${num(Math.exp(statistic))} ≥ ${num(Math.exp(threshold))}; over the rollout canary ${pct(ev?.canary ?? null, 3)} vs baseline ${pct(ev?.baseline ?? null, 3)})`,
      );
    });
  }
  return { evidence, reasons };
}

/** Fold tick `t` of the whole-rollout gate into its segment detectors (`before`: the cells' counts before the tick). */
export function observeRolloutSegments(
  rs: RolloutGateState,
  t: number,
  before: SegmentCountsBefore,
): void {
  if (!rs.segmentDetectors) return;
  const cd = rs.policy.rollout.changeDetection;
  observeSegmentDetectors(
    rs.gate,
    planOf(rs.gate),
    rs.segmentDetectors,
    t,
    Math.max(1, Math.round(cd.restartSeconds / rs.ctx.tickSeconds)),
    before,
  );
}

/**
 * The whole-rollout gate's segment detectors at decision `d`: their evidence, and their reasons
 * as `segments.onHarm` says (rollback, or hold). `changeAlphaShare`: the detectors' part of α.
 */
export function rolloutSegmentChange(
  rs: RolloutGateState,
  d: GateDecision,
  changeAlphaShare: number,
): { evidence: ChangeDetectionEvidence[]; rollback: string[]; hold: string[] } {
  if (!rs.segmentDetectors) return { evidence: [], rollback: [], hold: [] };
  const seg = segmentChangeCheck(
    rs.gate,
    planOf(rs.gate),
    rs.segmentDetectors,
    rs.policy.segments.alpha * changeAlphaShare,
    d,
  );
  const rollback = rs.policy.segments.onHarm === 'rollback';
  return {
    evidence: seg.evidence,
    rollback: rollback ? seg.reasons : [],
    hold: rollback ? [] : seg.reasons,
  };
}
