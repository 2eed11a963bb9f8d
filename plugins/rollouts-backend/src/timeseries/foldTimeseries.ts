import type {
  GateContext,
  GateDecision,
  TelemetryTick,
  TimeseriesInterval,
  TimeseriesSignal,
} from '@tollgate/plugin-rollouts-common';
import {
  createGateState,
  decide,
  decideRollout,
  observeRolloutTick,
  observeTickInPlace,
  type GateSignalState,
  type GateState,
  type RolloutGateState,
} from '@tollgate/plugin-rollouts-engine';
import type { StoredRollout } from '../database/RolloutsStore';
import { gatePolicyFor } from '../evaluation/gateInputs';
import { GateStateCache } from '../loop/gateStates';
import { tickOffset } from '../loop/stepLadder';
import type { RolloutPolicy } from '../policy/policy';

/** At most this many intervals are listed (the most recent): 6 hours of 1-minute intervals. */
export const MAX_TIMESERIES_INTERVALS = 360;

/** Cumulative sums of a signal's test: events and exposure per cohort (a mean's sum and count). */
function sumsOf(s: GateSignalState): [number, number, number, number] {
  if (s.rate)
    return [
      s.rate.canaryEvents,
      s.rate.canaryExposure,
      s.rate.baselineEvents,
      s.rate.baselineExposure,
    ];
  if (s.mean) return [s.mean.csum, s.mean.cn, s.mean.bsum, s.mean.bn];
  return [0, 0, 0, 0];
}

const finite = (v: number) => (Number.isFinite(v) ? v : null);

const ratio = (num: number, den: number) => (den > 0 ? num / den : null);

/**
 * The gate engine over a step's telemetry, interval by interval. The state
 * starts where the gate loop's does (loop/gateStates.ts: the whole-rollout
 * gate's stored step start, or a fresh step gate; a rollout another
 * controller drives, judged when it asks, has one 100 % step and so a fresh
 * step gate, as the judge's evaluation), each interval is folded
 * as the loop folds it, and the engine decides after each: the chart is
 * what the gate saw. The last `maxIntervals` intervals are recorded; earlier
 * ones are folded only.
 */
export function foldTimeseries(
  rollout: StoredRollout,
  policy: RolloutPolicy,
  context: GateContext,
  ticks: TelemetryTick[],
  maxIntervals = MAX_TIMESERIES_INTERVALS,
): {
  intervals: Array<TimeseriesInterval & { tickTime?: number }>;
  signals: TimeseriesSignal[];
} {
  const gatePolicy = gatePolicyFor(policy);
  const sorted = [...ticks].sort((a, b) => a.tick - b.tick);
  // The loop's own cache picks the starting state (stored step start or fresh).
  const cache = new GateStateCache();
  if (cache.needsStored(rollout)) cache.provide(rollout.id, rollout.gateState);
  cache.decide(rollout, policy, context, gatePolicy, [], 0);
  const rs: RolloutGateState | undefined = cache.rolloutState(rollout.id);
  const step: GateState | undefined = rs
    ? undefined
    : createGateState(context, gatePolicy);
  const offset = rs
    ? tickOffset(rollout.startedAt, rollout.stepStartedAt, context.tickSeconds)
    : 0;
  const gate = () => (rs ? rs.gate : step!);
  const observe = (t: TelemetryTick) => {
    if (rs) observeRolloutTick(rs, { ...t, tick: t.tick + offset });
    else observeTickInPlace(step!, t);
  };
  const decision = (): GateDecision => (rs ? decideRollout(rs) : decide(step!));

  const first = Math.max(0, sorted.length - maxIntervals);
  for (let i = 0; i < first; i++) observe(sorted[i]);
  const intervals: Array<TimeseriesInterval & { tickTime?: number }> = [];
  const series = new Map<string, TimeseriesSignal>();
  for (let i = first; i < sorted.length; i++) {
    const before = gate().signals.map(sumsOf);
    observe(sorted[i]);
    const d = decision();
    const own = gate().signals.map((s, k) => {
      const a = sumsOf(s);
      const b = before[k] ?? [0, 0, 0, 0];
      return {
        canary: ratio(a[0] - b[0], a[1] - b[1]),
        baseline: ratio(a[2] - b[2], a[3] - b[3]),
      };
    });
    intervals.push({
      tick: sorted[i].tick,
      at: '',
      tickTime: sorted[i].time,
      verdict: d.verdict,
    });
    d.signals.forEach((ev, k) => {
      let s = series.get(ev.name);
      if (!s) {
        s = {
          name: ev.name,
          kind: ev.kind,
          direction: ev.direction,
          scale: ev.scale,
          guardrail: ev.guardrail,
          alphaCi: ev.alphaCi,
          points: [],
        };
        series.set(ev.name, s);
      }
      s.guardrail = ev.guardrail;
      s.points.push({
        tick: sorted[i].tick,
        canary: own[k]?.canary ?? null,
        baseline: own[k]?.baseline ?? null,
        runningCanary: ev.canary,
        runningBaseline: ev.baseline,
        difference: ev.difference,
        // JSON has no infinity: an unbounded side is null
        ci: ev.ci ? [finite(ev.ci[0]), finite(ev.ci[1])] : null,
        margin: ev.margin,
        rule: ev.rule,
      });
    });
  }
  return { intervals, signals: [...series.values()] };
}
