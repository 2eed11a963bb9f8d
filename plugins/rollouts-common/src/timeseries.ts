import type {
  GateDirection,
  GateSignalKind,
  GateSignalRule,
  GateVerdictValue,
} from './evidence';

/**
 * What a deploy provider reports about the cohort a target exposes the new
 * version to (`describeTarget`): for a feature flag, whether it is on, the
 * strategy, the percentage and how users are assigned (stickiness, group).
 * Every field is as the provider reports it; absent when it has no such notion.
 *
 * @public
 */
export interface DeployTargetDescription {
  provider: string;
  target: string;
  /** What the target is, e.g. `feature-flag`, `simulated-cohort`. */
  kind: string;
  /** The flag (or cohort) is on in the target's environment. */
  enabled?: boolean;
  /** The strategy assigning the cohort, e.g. Unleash's `flexibleRollout`. */
  strategy?: string;
  /** The strategy's title, when it has one. */
  strategyTitle?: string;
  /** The strategy itself is switched off (Unleash's `disabled`). */
  strategyDisabled?: boolean;
  /** Share of the audience in the cohort, percent. */
  percentage?: number;
  /** What a user's cohort is hashed on, e.g. `default`, `userId`, `sessionId`, `random`. */
  stickiness?: string;
  /** The hash group: users share a bucket across flags with one group id. */
  groupId?: string;
  /** Constraints narrowing the cohort, as the provider writes them. */
  constraints?: string[];
  /** Anything else the provider reports, by name. */
  details?: Record<string, string | number | boolean>;
}

/**
 * One signal at the end of one interval: this interval's own canary and
 * baseline estimates, the running estimates the gate compared, and the
 * always-valid interval of the difference with the margin then.
 *
 * @public
 */
export interface TimeseriesSignalPoint {
  /** The interval's tick number (as the provider numbered it within the step). */
  tick: number;
  /** this interval's own estimate per cohort (null: no data in the interval) */
  canary: number | null;
  baseline: number | null;
  /** the estimates over the test so far (what the gate compared at this interval) */
  runningCanary: number | null;
  runningBaseline: number | null;
  /** canary vs baseline as the gate computed it (relative or absolute, per `scale`) */
  difference: number | null;
  /** the always-valid interval of the difference (null: none yet; a null bound: unbounded on that side) */
  ci: [number | null, number | null] | null;
  /** the non-inferiority margin (absolute for a KPI mean, where it scales with the baseline) */
  margin: number;
  rule: GateSignalRule;
}

/** @public */
export interface TimeseriesSignal {
  name: string;
  kind: GateSignalKind;
  direction: GateDirection;
  scale: 'relative' | 'absolute';
  guardrail: boolean;
  /** the two-sided interval's α (each side at the one-sided deterioration test's level) */
  alphaCi: number;
  points: TimeseriesSignalPoint[];
}

/** @public */
export interface TimeseriesInterval {
  tick: number;
  /** end of the interval, ISO time */
  at: string;
  /** the gate's verdict after this interval */
  verdict: GateVerdictValue;
}

/**
 * `GET /v1/rollouts/:id/timeseries`: the current step (a finished rollout's
 * last step) folded interval by interval through the gate engine, as the
 * gate loop folds it.
 *
 * @public
 */
export interface RolloutTimeseries {
  rolloutId: string;
  /** 0-based step the series is of */
  stepIndex: number;
  /** the telemetry window read: the step's start to now (or the rollout's end) */
  window: { start: string; end: string; tickSeconds: number };
  /** telemetry provider read */
  telemetryProvider?: string;
  /** intervals the window holds, and intervals the provider answered */
  intervalsExpected: number;
  intervalsRead: number;
  /** at most this many intervals are charted (the most recent); the earlier ones are folded but not listed */
  maxIntervals: number;
  intervals: TimeseriesInterval[];
  signals: TimeseriesSignal[];
  /** what the reader should know: missing data, a truncated series, an observed share… */
  notes: string[];
  /** the deploy provider's description of the target's cohort, when it gives one */
  target?: DeployTargetDescription;
  /** why the target could not be described (the provider failed) */
  targetError?: string;
  computedAt: string;
}
