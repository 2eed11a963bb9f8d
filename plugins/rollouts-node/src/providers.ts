import type {
  DeployTargetDescription,
  RolloutStatus,
  RolloutStep,
  TelemetryTick,
} from '@tollgate/plugin-rollouts-common';

/**
 * A rollout as a deploy system reports it.
 *
 * @public
 */
export interface ProviderRollout {
  /** Stable id of this rollout at the provider (target plus revision). */
  externalId: string;
  /** Provider-specific target, the right-hand side of `tollgate.dev/rollouts`. */
  target: string;
  /** The catalog entity, when the provider knows it (otherwise the annotation maps it). */
  entityRef?: string;
  version: string;
  previousVersion?: string;
  status: RolloutStatus;
  steps: RolloutStep[];
  currentStepIndex: number;
  /** Share of traffic on the new version now, percent. */
  currentWeight: number;
  startedAt: Date;
  stepStartedAt: Date;
  finishedAt?: Date;
}

/**
 * A finished rollout with the decisions it went through, used to seed a
 * new installation's history (the simulator does; real providers need not).
 *
 * @public
 */
export interface HistoricalRollout extends ProviderRollout {
  decisions: Array<{
    at: Date;
    stepIndex: number;
    verdict: 'continue' | 'hold' | 'promote' | 'rollback';
    reasons: string[];
    actor?: string;
    evidence?: Record<string, unknown>;
  }>;
  /**
   * Optional: per step (in step order, from step 0), the intervals the step
   * was judged on, as a telemetry provider reports them (`tick` counted from
   * the step's start, `baseline`/`canary` counts each). The backend keeps
   * them as the rollout's kept telemetry, so what-if replay can re-run the
   * gate over it. An interval with no data for a cohort leaves that cohort
   * out (missing stays missing, never zero counts). Steps at 100 % have no
   * baseline and are left out.
   */
  telemetry?: Array<{
    stepIndex: number;
    stepStartedAt: Date;
    /** The step's canary weight, percent. */
    weight: number;
    tickSeconds: number;
    ticks: TelemetryTick[];
  }>;
}

/**
 * A deploy system Tollgate drives: Argo Rollouts, a feature-flag platform,
 * the simulator… Every method may throw; the gate loop retries with backoff
 * and records the failure on the rollout.
 *
 * @public
 */
export interface RolloutsDeployProvider {
  /** Unique id, used in the `tollgate.dev/rollouts` annotation (`<id>:<target>`). */
  readonly id: string;
  /** Every rollout the provider currently knows about (active and recently finished). */
  listRollouts(): Promise<ProviderRollout[]>;
  /** One target's current rollout, or undefined when it has none. */
  getRollout(target: string): Promise<ProviderRollout | undefined>;
  /** Move the target's rollout to a step (its weight comes from the step). */
  setStep(target: string, stepIndex: number): Promise<ProviderRollout>;
  /** Promote fully: the new version takes all traffic. */
  promote(target: string): Promise<ProviderRollout>;
  /** Roll back: the stable version takes all traffic again. */
  rollback(target: string, reason: string): Promise<ProviderRollout>;
  /** Stop automatic progress at the provider, when it has such a notion. */
  pause?(target: string): Promise<ProviderRollout>;
  /** Resume after `pause`. */
  resume?(target: string): Promise<ProviderRollout>;
  /**
   * Start a release on a target: a multi-stage promotion's next stage
   * (`tollgate.dev/stages`), once the stage before it completed its ladder
   * and soaked, or when a person promotes the stage early. Starts the
   * rollout of `version` at the target's first step and returns it; when the
   * target already runs `version` it returns that rollout (idempotent).
   * Optional: without it, the deploy system starts the release itself and
   * Tollgate holds it until its stage's turn.
   */
  startRelease?(
    target: string,
    version: string,
    previousVersion?: string,
  ): Promise<ProviderRollout>;
  /** Finished rollouts to seed history with (optional). */
  listHistory?(): Promise<HistoricalRollout[]>;
  /**
   * The one spelling of a target, when the provider accepts several (Argo's
   * `<namespace>/<rollout>` with one cluster, Unleash's defaulted project
   * and environment). Annotations and reported targets are compared after
   * it, so any accepted spelling finds the service. Optional: without it,
   * targets are compared as written. Returns a target it cannot parse unchanged.
   */
  normalizeTarget?(target: string): string;
  /**
   * The cohort the target exposes the new version to, as the deploy system
   * reports it (a flag's state, strategy, percentage, stickiness…), for the
   * tab's debug view. Optional; read only, never changes anything.
   */
  describeTarget?(target: string): Promise<DeployTargetDescription>;
}

/**
 * What the gate loop asks a telemetry provider for: one rollout's cohort
 * counts, interval by interval, over a time window.
 *
 * @public
 */
export interface TelemetryRequest {
  provider: string;
  target: string;
  entityRef: string;
  /** Start of the window (inclusive), usually the current step's start. */
  start: Date;
  /** End of the window (exclusive), usually now. */
  end: Date;
  /** Interval length, seconds. */
  stepSeconds: number;
  /** KPI and count-signal names the policy asks for. */
  kpis: string[];
  /**
   * Query templates from the rollout's policy (`telemetry.queries`), keyed
   * by the provider's own signal names. They override the provider's
   * configured templates for this rollout; a provider ignores keys it does
   * not know.
   */
  queries?: Record<string, string>;
  /**
   * Segment dimensions the policy tests (`gate.segments.dimensions`, e.g.
   * `device`). A provider that can break its counts down adds `segments`
   * to each cohort's counts for them (dimension → value → the same count
   * shape); one that cannot leaves them out. A segment not reported is
   * missing, never zero.
   */
  segments?: string[];
}

/**
 * The answer: one entry per interval that ended inside the window. A
 * missing interval or field means the telemetry did not arrive: it is
 * never replaced by zero.
 *
 * @public
 */
export interface TelemetryResult {
  ticks: TelemetryTick[];
  /** Age of the newest sample the backend had, seconds (telemetry lag). */
  lagSeconds?: number;
}

/**
 * A source of cohort telemetry: Prometheus, the simulator…
 *
 * @public
 */
export interface RolloutsTelemetryProvider {
  /** Unique id; a rollout uses the provider named by `tollgate.dev/telemetry`, else the one with its deploy provider's id, else the configured default. */
  readonly id: string;
  /**
   * The target's counts per cohort over the window. Also asked for a
   * service that is not rolling out (a consumer of a released service, for
   * the blast-radius check, with `kpis: []`): its traffic then comes in
   * whichever cohort carries it (usually baseline) and is summed; a service
   * it cannot answer for throws or returns no ticks (not measured).
   */
  getCohortTelemetry(request: TelemetryRequest): Promise<TelemetryResult>;
}
