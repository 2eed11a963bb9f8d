/**
 * The telemetry the gate engine (`@tollgate/plugin-rollouts-engine`) reads and the evidence it
 * produces: the contract between the engine, the backend and the frontend. All plain,
 * JSON-serialisable data.
 */

export type CohortName = 'baseline' | 'canary';

/** Prometheus-style histogram: `le` ends with Infinity, `counts` are cumulative. */
export interface LatencyHistogram {
  le: number[];
  counts: number[];
}

export interface ProportionKpiCounts {
  trials: number;
  successes: number;
}

export interface MeanKpiCounts {
  n: number;
  sum: number;
  sumSq: number;
}

/** One cohort, one interval. Any absent field is missing data (never zero). */
export interface CohortCounts {
  requests?: number;
  errors?: number;
  latency?: LatencyHistogram;
  kpis?: Record<string, ProportionKpiCounts | MeanKpiCounts>;
  /** provider-defined count signals */
  counts?: Record<string, { events: number; exposures: number }>;
  /**
   * Optional per-segment counts: segment dimension (e.g. `device`, `region`, `user_type`) →
   * segment value (e.g. `mobile`) → the same count shape as the whole (their own `segments`
   * are ignored). A dimension or value a provider does not report is missing, never zero.
   */
  segments?: SegmentCounts;
}

/** Per-segment cohort counts: dimension → value → counts. */
export type SegmentCounts = Record<string, Record<string, CohortCounts>>;

export interface TelemetryTick {
  tick: number;
  /** epoch seconds (informational; the engine counts time in ticks) */
  time?: number;
  baseline?: CohortCounts;
  canary?: CohortCounts;
}

/** Which way is good. */
export type GateDirection = 'increase' | 'decrease';

export interface GateKpiDefinition {
  name: string;
  type: 'proportion' | 'mean';
  direction: GateDirection;
}

export interface GateContext {
  service?: string;
  tickSeconds: number;
  expectedCanaryShare: number;
  slo: {
    availability: number;
    latency?: { thresholdMs: number; objective: number };
  };
  kpis: GateKpiDefinition[];
  countSignals?: Array<{ name: string; direction: GateDirection }>;
}

export type GateVerdictValue = 'continue' | 'hold' | 'promote' | 'rollback';
export type GateRubric = 'ready' | 'provisionally ready' | 'not ready';
export type GateSignalKind =
  'error-rate' | 'latency' | 'kpi-proportion' | 'kpi-mean' | 'count';
export type GateSignalRule =
  | 'deterioration'
  | 'non-inferiority'
  | 'inconclusive'
  | 'insufficient-data'
  | 'missing'
  | 'disabled';

/** Per-signal evidence. */
export interface SignalEvidence {
  name: string;
  kind: GateSignalKind;
  /** which way is good */
  direction: GateDirection;
  /** a guardrail must be shown non-inferior before promotion */
  guardrail: boolean;
  weight: number;
  /** baseline and canary estimates (rate, proportion or mean) */
  baseline: number | null;
  canary: number | null;
  /**
   * canary − baseline on the signal's comparison scale: relative difference (ratio − 1) for
   * rates and proportions, absolute difference for means.
   */
  difference: number | null;
  scale: 'relative' | 'absolute';
  /**
   * always-valid confidence interval for `difference`, level 1 − alphaCi; for rates the upper
   * bound is `Infinity` (JSON: null) when it lies beyond the grid (a ratio above e³ ≈ 20)
   */
  ci: [number, number] | null;
  alphaCi: number;
  /** log e-value of the deterioration test (mixture likelihood ratio) and its threshold log(1/α) */
  statistic: number;
  threshold: number;
  /** log e-value of the non-inferiority test and its threshold */
  niStatistic: number;
  niThreshold: number;
  /** non-inferiority margin on the `scale` of `difference` (harm allowed, positive number) */
  margin: number;
  /** deterioration margin on the same scale */
  deteriorationMargin: number;
  rule: GateSignalRule;
  /** 0..1 contribution to the weighted score */
  score: number;
  samples: {
    baseline: number;
    canary: number;
    canaryEvents?: number;
    baselineEvents?: number;
    ticks: number;
  };
  /** PromQL-style quantiles for display (latency only), milliseconds */
  quantiles?: {
    baseline: Record<string, number | null>;
    canary: Record<string, number | null>;
  };
  note?: string;
}

export interface SrmEvidence {
  enabled: boolean;
  expectedShare: number;
  observedShare: number | null;
  /** log e-value (max of the two one-sided tests) and threshold log(2/α) */
  statistic: number;
  threshold: number;
  ci: [number, number] | null;
  mismatch: boolean;
  requests: { baseline: number; canary: number };
}

export interface FreshnessEvidence {
  lastTick: number;
  /** consecutive most recent ticks without any canary / baseline data */
  canaryMissingTicks: number;
  baselineMissingTicks: number;
  /** fields missing from the latest tick, e.g. "canary.latency" */
  missingFields: string[];
  /** total ticks (so far) where the canary line was absent */
  canaryGapTicks: number;
  stale: boolean;
  /** the telemetry provider's own lag at the evaluation, seconds (set by the backend) */
  lagSeconds?: number | null;
  /** age of the newest interval with data at the evaluation, seconds (set by the backend) */
  newestAgeSeconds?: number | null;
  /** complete intervals up to the evaluation the provider did not report (counted as missing) */
  unreportedTicks?: number;
  /** reported intervals the provider's lag said were still filling (their counts left out) */
  incompleteTicks?: number;
}

export interface BurnWindowEvidence {
  name: string;
  factor: number;
  longSeconds: number;
  shortSeconds: number;
  longBurn: number | null;
  shortBurn: number | null;
  /** ticks of data actually used (a young rollout uses what it has) */
  longTicksUsed: number;
  shortTicksUsed: number;
  partial: boolean;
  alerting: boolean;
}

export interface BurnWindows {
  availability: BurnWindowEvidence[];
  latency: BurnWindowEvidence[];
  alerting: boolean;
  /** the burn over the most recent tick and the shortest window, availability SLI */
  recentBurn: number | null;
}

export interface BurnEvidence {
  canary: BurnWindows;
  service: BurnWindows;
  /** the service outside the canary (baseline cohort); decides whether a burn is tied to the canary */
  baseline: BurnWindows;
  /** promotion guard: service (baseline) burning significantly above the allowed rate */
  guard: {
    fired: boolean;
    burn: number | null;
    pValue: number | null;
    window: string | null;
  };
}

/** A change detector's state at a decision (whole-rollout gate). */
export interface ChangeDetectionEvidence {
  /** the signal's name */
  name: string;
  /** log e-value of the e-detector (−Infinity before its first restart: null in JSON) */
  statistic: number;
  /** log(1/α) of the detector's share of the signal's α */
  threshold: number;
  /** components started so far */
  restarts: number;
  fired: boolean;
}

/** An upper bound on a signal's harm that the data support (always-valid interval). */
export interface HarmBound {
  name: string;
  /** upper end of the interval for the difference (relative or absolute, as the signal's `scale`) */
  upper: number | null;
  scale: 'relative' | 'absolute';
  /** the interval's level */
  level: number;
}

/** What the whole-rollout gate adds to a step's decision. */
export interface RolloutEvidence {
  /** 1-based step, the ladder's length, the step's share and the share a promotion opens (1: full) */
  step: number;
  steps: number;
  share: number;
  nextShare: number;
  /** which rule decided the verdict */
  rule: 'gate' | 'change-detection' | 'step-timeout' | 'bake' | 'blast-radius';
  /** α per rollout and the part of each signal's α spent on the test from the start */
  alpha: number;
  startAlphaShare: number;
  changeDetection: ChangeDetectionEvidence[];
  /** ticks in this step, and the step's minimum and maximum */
  stepTicks: number;
  minTicks: number;
  maxTicks: number;
  minCanaryRequests: number;
  /** the step maximum was reached: what it did and the harm bounds it stated */
  timeout?: { action: 'promote' | 'hold'; harmBounds: HarmBound[] };
}

export interface GateDecision {
  verdict: GateVerdictValue;
  reasons: string[];
  rubric: GateRubric;
  score: number;
  signals: SignalEvidence[];
  checks: {
    srm: SrmEvidence;
    freshness: FreshnessEvidence;
    burn: BurnEvidence;
    promotion: {
      elapsedTicks: number;
      minTicks: number;
      canaryRequests: number;
      minCanaryRequests: number;
      guardrailsNonInferior: boolean;
      eligible: boolean;
    };
    /** per-segment tests (only when the policy names segment dimensions) */
    segments?: SegmentEvidence;
    /** the segment mix of the canary against the baseline's, per dimension (M9) */
    representativeness?: RepresentativenessEvidence[];
  };
  tick: number;
  /** whole-rollout gate only (absent from a single step's decision) */
  rollout?: RolloutEvidence;
  /** the released service's consumers (catalog relations) and their error-budget burn in the step */
  blastRadius?: BlastRadiusEvidence;
}

/** The post-promotion watch's verdict (the engine's `decideBake`). */
export interface BakeDecision {
  /** rollback: harm within the window; complete: the window passed; continue: watching */
  verdict: 'continue' | 'rollback' | 'complete';
  /**
   * With `complete`: false when the released version reported no telemetry
   * for more than half the window, so no harm was seen because nothing was
   * (missing data is never evidence of health).
   */
  verified?: boolean;
  reasons: string[];
  tick: number;
  signals: Array<{
    name: string;
    rate: number | null;
    reference: number | null;
    limit: number;
    statistic: number;
    threshold: number;
  }>;
}

/** The post-promotion watch's verdict as evidence (`rollout.rule: bake`). */
export interface BakeEvidence {
  verdict: BakeDecision['verdict'];
  reasons: string[];
  rollout: { rule: 'bake' };
  bake: BakeDecision & { window: { startedAt: string; endsAt: string } };
}

/** One signal's deterioration test inside one segment. */
export interface SegmentSignalEvidence {
  name: string;
  kind: GateSignalKind;
  /** baseline and canary rates in the segment (null: no data) */
  baseline: number | null;
  canary: number | null;
  /** canary / baseline − 1 */
  difference: number | null;
  /** always-valid interval for `difference` at level 1 − alphaCi */
  ci: [number, number] | null;
  alphaCi: number;
  /** log e-value of the deterioration test and its threshold log(1/α_cell) */
  statistic: number;
  threshold: number;
  rule: 'deterioration' | 'inconclusive' | 'insufficient-data' | 'missing';
  samples: { baseline: number; canary: number; ticks: number };
}

/** One segment (dimension = value): its share of each cohort and its tests. */
export interface SegmentCellEvidence {
  dimension: string;
  value: string;
  /** the segment's share of the baseline's and the canary's requests (null: no data) */
  baselineShare: number | null;
  canaryShare: number | null;
  /** false: below `segments.minShare`, or beyond `segments.maxValues` values */
  tested: boolean;
  /** the segment was absent from the latest tick (either cohort) */
  missing: boolean;
  harmed: boolean;
  signals: SegmentSignalEvidence[];
  note?: string;
}

/** The per-segment tests of a decision (policy `segments`). */
export interface SegmentEvidence {
  dimensions: string[];
  /** family-wise α of every segment test together, and the number of cells it is split over */
  alpha: number;
  cellBudget: number;
  onHarm: 'hold' | 'rollback';
  minShare: number;
  cells: SegmentCellEvidence[];
  /** "dimension=value" of every harmed segment */
  harmed: string[];
  /** configured dimensions absent from the latest tick */
  missingDimensions: string[];
}

/** The segment mix of the canary against the baseline for one dimension (M9). */
export interface RepresentativenessEvidence {
  dimension: string;
  /** sum over the values of the two-sided log e-values, and its threshold log(1/α_dimension) */
  statistic: number;
  threshold: number;
  alpha: number;
  mismatch: boolean;
  values: Array<{
    value: string;
    baseline: number;
    canary: number;
    baselineShare: number | null;
    canaryShare: number | null;
    /** the value's own log e-value */
    statistic: number;
  }>;
}

/** An error-rate window of a consumer: all its traffic (it has no canary). */
export interface ConsumerWindowCounts {
  errors: number;
  requests: number;
  /** intervals with data, and intervals the telemetry did not report */
  ticks: number;
  missingTicks: number;
}

/** One consumer of the released service, as the blast-radius check saw it. */
export interface BlastRadiusConsumerEvidence {
  entityRef: string;
  /** how the catalog links it: it `dependsOn` the service, or consumes an API the service provides (`via`) */
  relation: 'dependsOn' | 'consumesApi';
  via?: string;
  /** harm: its burn rose with the step; no-rise: none seen so far; not-measured: no usable telemetry; not-judged: left out by the policy */
  status: 'harm' | 'no-rise' | 'not-measured' | 'not-judged';
  /** what the status means for this consumer, in words */
  reason: string;
  /** error-budget burn (error rate ÷ (1 − availability objective)) before the step and during it */
  burnBefore: number | null;
  burnDuring: number | null;
  /** the burn above which the step counts as harming it (the before-burn's upper bound plus `minBurnRise`) */
  limitBurn: number | null;
  availability: number | null;
  before: ConsumerWindowCounts | null;
  during: ConsumerWindowCounts | null;
  /** log e-value of the one-sample test that the step's rate is above the limit, and its threshold log(2/α') */
  statistic: number | null;
  threshold: number | null;
}

/** The blast-radius check of a step: the consumers of the released service and what their burn did. */
export interface BlastRadiusEvidence {
  /** what harm to a consumer does */
  onConsumerHarm: 'hold' | 'rollback';
  /** α per rollout, and the share of it each consumer's test gets per step (α ÷ consumers ÷ canary steps) */
  alpha: number;
  alphaPerTest: number;
  minBurnRise: number;
  /** the reference window: this long before the step started */
  beforeSeconds: number;
  /** 1-based step and its share of traffic (0..1) */
  step: number;
  share: number;
  consumers: BlastRadiusConsumerEvidence[];
  /** the consumers whose burn rose with the step */
  harmed: string[];
  /** what the check did to the verdict */
  action: 'none' | 'hold' | 'rollback';
}
