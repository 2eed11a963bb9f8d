import type {
  CohortCounts,
  RolloutStep,
  TelemetryTick,
} from '@tollgate/plugin-rollouts-common';
import type {
  HistoricalRollout,
  ProviderRollout,
  RolloutsDeployProvider,
  RolloutsTelemetryProvider,
  TelemetryRequest,
  TelemetryResult,
} from '@tollgate/plugin-rollouts-node';
import {
  binomial,
  normal,
  normalCdf,
  poisson,
  rngFor,
  type Rng,
} from './random';
import { SimulationStateFile, type SimulatorCall } from './stateFile';
import { reportSegments, type SegmentHarm } from './segments';

/**
 * The `mobile-regression` scenario: the canary breaks search for mobile
 * users (2× their errors) while it fixes a bug behind most of desktop's
 * errors (a fifth of them left), so the whole's error rate does not move:
 * only the segments show the harm.
 */
const MOBILE_HARM = (errorRate: number): SegmentHarm => ({
  dimension: 'device',
  errorMultipliers: {
    mobile: 2,
    desktop: 0.2,
  },
  errorRate,
});

/** How a simulated release behaves. */
export type Scenario =
  | 'healthy'
  | 'error-regression'
  | 'latency-regression'
  | 'conversion-drop'
  | 'telemetry-gap'
  /** the canary's mobile users see 2× the errors, its desktop users a fifth (the whole does not move): a harm confined to one segment */
  | 'mobile-regression'
  /** healthy until the promotion to full, then 4× the errors (a regression the bake window should catch) */
  | 'regression-after-promotion'
  /** healthy on its own SLIs, but its consumers (`dependsOn`) fail more the more traffic it takes (blast radius) */
  | 'hurts-consumers';

/** One simulated service's traffic. */
export interface SimulatedService {
  target: string;
  entityRef: string;
  /** Requests per second over the whole service. */
  rps: number;
  errorRate: number;
  /** Median latency, ms; latencies are log-normal with sigma `latencySigma`. */
  latencyMedianMs: number;
  latencySigma?: number;
  conversionRate: number;
  orderValueMean: number;
  orderValueSd: number;
  /** The scenario of the first live rollout; later ones are drawn at random. */
  firstScenario?: Scenario;
  /** Seconds after start before the first live rollout begins (default 0); negative = none at start. */
  firstRolloutDelaySeconds?: number;
  /**
   * The deploy system refuses this many rollback calls for the service
   * (counted by this process), then accepts them: a failed rollback for
   * the demo's dashboard and on-call page.
   */
  rollbackRefusals?: number;
  /**
   * Targets this service calls. While one of them runs a release with the
   * `hurts-consumers` scenario, this service's error rate rises by
   * `consumerHarmErrorRate` (default 0.5) × that release's weight: its
   * consumers' burn starts with the canary's step. (Only the producer's
   * current release counts: a later release forgets an earlier one's harm.)
   */
  dependsOn?: string[];
  consumerHarmErrorRate?: number;
  /**
   * The deploy system starts no release on this target by itself: only
   * `startRelease` does (a later stage of a multi-stage promotion).
   */
  manualStart?: boolean;
}

export interface SimulationOptions {
  seed: number;
  services: SimulatedService[];
  steps?: RolloutStep[];
  /** Seconds a service stays idle between two rollouts (default 120). */
  idleSeconds?: number;
  /** Days of finished history to offer (default 30). */
  historyDays?: number;
  /**
   * Keep the deploy side's state in this file instead of in memory, so it
   * outlives a crashed backend and is shared by several backend processes
   * (a stand-in for a real deploy system in reliability tests). Every
   * mutating call is journaled in it.
   */
  stateFile?: string;
  /** Milliseconds every mutating deploy call takes to answer after it took effect (default 0). */
  deployLatencyMs?: number;
  now?: () => Date;
}

/**
 * One simulated rollout as the simulator keeps it (and as its state file
 * stores it).
 *
 * @public
 */
export interface SimRollout {
  target: string;
  seq: number;
  version: string;
  previousVersion: string;
  scenario: Scenario;
  status: ProviderRollout['status'];
  stepIndex: number;
  startedAt: number;
  stepStartedAt: number;
  finishedAt?: number;
  /** When it was promoted to full (it keeps serving, and reporting telemetry, until the next rollout). */
  promotedAt?: number;
  /** Weight changes: [time ms, weight percent]. */
  weights: Array<[number, number]>;
}

export const DEFAULT_STEPS: RolloutStep[] = [
  { weight: 1, minDurationSeconds: 60 },
  { weight: 5, minDurationSeconds: 60 },
  { weight: 25, minDurationSeconds: 60 },
  { weight: 100 },
];

const LATENCY_BUCKETS = [
  25,
  50,
  100,
  200,
  300,
  500,
  750,
  1000,
  2500,
  5000,
  Infinity,
];
const SCENARIO_WEIGHTS: Array<[Scenario, number]> = [
  ['healthy', 0.75],
  ['error-regression', 0.12],
  ['latency-regression', 0.06],
  ['conversion-drop', 0.04],
  ['telemetry-gap', 0.03],
];

/** In the seeded history: how long a regression's burn hold lasts before its rollback, and when the bake watch rolls back. */
const HISTORY_HOLD_MS = 4 * 60_000;
const HISTORY_BAKE_ROLLBACK_MS = 20 * 60_000;
/** The interval of the seeded history's telemetry, seconds (the gate loop's default tick). */
const HISTORY_TICK_SECONDS = 60;

function pick(rng: Rng): Scenario {
  let u = rng();
  for (const [s, w] of SCENARIO_WEIGHTS) {
    u -= w;
    if (u < 0) return s;
  }
  return 'healthy';
}

/** Why a regressing historical rollout was rolled back at a step of `weight`%. */
function regressionReason(scenario: Scenario, weight: number): string {
  if (scenario === 'error-regression')
    return `error rate: canary worse than baseline beyond the margin at ${weight}%`;
  if (scenario === 'latency-regression')
    return 'latency SLI: more canary requests slower than the SLO threshold than baseline';
  return 'conversion: canary below baseline beyond the non-inferiority margin';
}

function semver(seq: number, seed: number, target: string): string {
  const rng = rngFor(seed, 'version', target);
  const major = 1 + Math.floor(rng() * 3);
  const minor = 10 + Math.floor(rng() * 20);
  return `${major}.${minor + Math.floor(Math.max(0, seq) / 10)}.${Math.max(0, seq) % 10}`;
}

/**
 * A deterministic simulation of services being released step by step. The
 * deploy side keeps each service's current rollout in memory and moves it
 * only when told (like Argo Rollouts with indefinite pauses); the telemetry
 * side derives every interval's counts from the seed, the rollout and the
 * interval's start, so they never change once reported.
 */
export class Simulation {
  readonly #o: Required<
    Omit<SimulationOptions, 'now' | 'stateFile' | 'deployLatencyMs'>
  >;
  readonly #now: () => Date;
  readonly #services = new Map<string, SimulatedService>();
  readonly #refusedRollbacks = new Map<string, number>();
  #current = new Map<string, SimRollout>();
  #bootedAt: number;
  readonly #file?: SimulationStateFile;
  readonly #latencyMs: number;

  constructor(options: SimulationOptions) {
    const { stateFile, now, deployLatencyMs, ...rest } = options;
    this.#latencyMs = deployLatencyMs ?? 0;
    // An option given as undefined keeps its default.
    const given = Object.fromEntries(
      Object.entries(rest).filter(([, v]) => v !== undefined),
    ) as typeof rest;
    this.#o = {
      steps: DEFAULT_STEPS,
      idleSeconds: 120,
      historyDays: 30,
      ...given,
    };
    this.#now = now ?? (() => new Date());
    this.#bootedAt = this.#now().getTime();
    for (const s of options.services) this.#services.set(s.target, s);
    if (stateFile) {
      this.#file = new SimulationStateFile(stateFile);
      this.#file.update(state => {
        if (state.bootedAt === undefined) state.bootedAt = this.#bootedAt;
      });
      this.#read();
    }
  }

  /** Loads the shared state (when there is a state file). */
  #read() {
    if (!this.#file) return;
    const state = this.#file.read();
    this.#bootedAt = state.bootedAt ?? this.#bootedAt;
    this.#current = new Map(state.rollouts.map(r => [r.target, r]));
  }

  /**
   * Runs a deploy-side operation: under the state file's lock on fresh
   * state when there is one, then saved and journaled.
   */
  #op<T>(
    call: Omit<SimulatorCall, 'at' | 'pid' | 'version' | 'changed'> | undefined,
    fn: () => T,
  ): T {
    if (!this.#file) return fn();
    return this.#file.update(state => {
      this.#bootedAt = state.bootedAt ?? this.#bootedAt;
      this.#current = new Map(state.rollouts.map(r => [r.target, r]));
      const before = call
        ? JSON.stringify(this.#current.get(call.target) ?? null)
        : '';
      let result: T;
      let failed: unknown;
      try {
        result = fn();
      } catch (e) {
        failed = e;
      }
      state.rollouts = [...this.#current.values()];
      if (call) {
        const after = this.#current.get(call.target);
        state.journal.push({
          ...call,
          version: after?.version ?? '',
          changed: JSON.stringify(after ?? null) !== before,
          at: this.#now().getTime(),
          pid: process.pid,
        });
      }
      if (failed) throw failed;
      return result!;
    });
  }

  /** A mutating call: it takes effect at once, then the answer takes `deployLatencyMs`. */
  async #answer<T>(
    call: Omit<SimulatorCall, 'at' | 'pid' | 'version' | 'changed'>,
    fn: () => T,
  ): Promise<T> {
    const result = this.#op(call, fn);
    if (this.#latencyMs > 0)
      await new Promise(r => setTimeout(r, this.#latencyMs));
    return result;
  }

  /** Every mutating call made on the deploy side, when a state file keeps them. */
  journal(): SimulatorCall[] {
    return this.#file ? this.#file.read().journal : [];
  }

  get services(): SimulatedService[] {
    return [...this.#services.values()];
  }

  /** Starts rollouts that are due: first ones after their delay, later ones after an idle pause. */
  #advance() {
    const now = this.#now().getTime();
    for (const service of this.#services.values()) {
      if (service.manualStart) continue;
      const current = this.#current.get(service.target);
      if (!current) {
        const delay = service.firstRolloutDelaySeconds ?? 0;
        if (delay < 0 || now < this.#bootedAt + delay * 1000) continue;
        this.#start(
          service,
          1,
          service.firstScenario ?? 'healthy',
          this.#bootedAt + delay * 1000,
        );
      } else if (
        current.finishedAt !== undefined &&
        now >= current.finishedAt + this.#o.idleSeconds * 1000
      ) {
        const rng = rngFor(
          this.#o.seed,
          'scenario',
          service.target,
          current.seq + 1,
        );
        this.#start(
          service,
          current.seq + 1,
          pick(rng),
          current.finishedAt + this.#o.idleSeconds * 1000,
        );
      }
    }
  }

  #start(
    service: SimulatedService,
    seq: number,
    scenario: Scenario,
    at: number,
    release?: { version: string; previousVersion?: string },
  ) {
    const version =
      release?.version ?? semver(seq, this.#o.seed, service.target);
    const previous =
      release?.previousVersion ??
      this.#current.get(service.target)?.version ??
      semver(seq - 1, this.#o.seed, service.target);
    this.#current.set(service.target, {
      target: service.target,
      seq,
      version,
      previousVersion: previous,
      scenario,
      status: 'progressing',
      stepIndex: 0,
      startedAt: at,
      stepStartedAt: at,
      weights: [[at, this.#o.steps[0].weight]],
    });
  }

  #toProvider(r: SimRollout): ProviderRollout {
    const service = this.#services.get(r.target)!;
    return {
      // The boot time in the id keeps a restarted simulator's new rollouts
      // apart from the ones an earlier run reported.
      externalId: `${r.target}@${r.version}+${this.#bootedAt.toString(36)}`,
      target: r.target,
      entityRef: service.entityRef,
      version: r.version,
      previousVersion: r.previousVersion,
      status: r.status,
      steps: this.#o.steps,
      currentStepIndex: r.stepIndex,
      currentWeight: r.weights[r.weights.length - 1][1],
      startedAt: new Date(r.startedAt),
      stepStartedAt: new Date(r.stepStartedAt),
      finishedAt:
        r.finishedAt !== undefined ? new Date(r.finishedAt) : undefined,
    };
  }

  #get(target: string): SimRollout {
    this.#advance();
    const r = this.#current.get(target);
    if (!r) throw new Error(`simulator: no rollout on target ${target}`);
    return r;
  }

  #mutable(target: string): SimRollout {
    const r = this.#get(target);
    if (r.finishedAt !== undefined) {
      throw new Error(
        `simulator: the rollout of ${r.version} on ${target} already ended (${r.status})`,
      );
    }
    return r;
  }

  #setWeight(r: SimRollout, weight: number) {
    const now = this.#now().getTime();
    r.weights.push([now, weight]);
  }

  readonly deploy: RolloutsDeployProvider = {
    id: 'simulator',
    listRollouts: async () =>
      this.#op(undefined, () => {
        this.#advance();
        return [...this.#current.values()].map(r => this.#toProvider(r));
      }),
    getRollout: async target =>
      this.#op(undefined, () => {
        this.#advance();
        const r = this.#current.get(target);
        return r ? this.#toProvider(r) : undefined;
      }),
    setStep: async (target, stepIndex) =>
      this.#answer({ op: 'setStep', target, stepIndex }, () => {
        const r = this.#mutable(target);
        if (
          !Number.isInteger(stepIndex) ||
          stepIndex < 0 ||
          stepIndex >= this.#o.steps.length
        ) {
          throw new Error(
            `simulator: step ${stepIndex} does not exist (0–${this.#o.steps.length - 1})`,
          );
        }
        r.stepIndex = stepIndex;
        r.stepStartedAt = this.#now().getTime();
        r.status = 'progressing';
        this.#setWeight(r, this.#o.steps[stepIndex].weight);
        return this.#toProvider(r);
      }),
    promote: async target =>
      this.#answer({ op: 'promote', target }, () => {
        const r = this.#mutable(target);
        r.stepIndex = this.#o.steps.length - 1;
        r.status = 'promoted';
        r.finishedAt = this.#now().getTime();
        r.promotedAt = r.finishedAt;
        this.#setWeight(r, 100);
        return this.#toProvider(r);
      }),
    rollback: async target =>
      this.#answer({ op: 'rollback', target }, () => {
        const r = this.#get(target);
        if (r.status === 'rolled-back') return this.#toProvider(r);
        const refusals = this.#services.get(target)?.rollbackRefusals ?? 0;
        const refused = this.#refusedRollbacks.get(target) ?? 0;
        if (refused < refusals) {
          this.#refusedRollbacks.set(target, refused + 1);
          throw new Error(
            `simulator: the deploy system refused the rollback of ${r.version} (demo fault ${refused + 1} of ${refusals})`,
          );
        }
        // a released version can be rolled back (to the previous one) until the next rollout starts
        if (r.finishedAt !== undefined && r.status !== 'promoted')
          throw new Error(
            `simulator: ${r.version} already ended (${r.status})`,
          );
        r.status = 'rolled-back';
        r.finishedAt = this.#now().getTime();
        this.#setWeight(r, 0);
        return this.#toProvider(r);
      }),
    pause: async target =>
      this.#answer({ op: 'pause', target }, () => {
        const r = this.#mutable(target);
        r.status = 'paused';
        return this.#toProvider(r);
      }),
    resume: async target =>
      this.#answer({ op: 'resume', target }, () => {
        const r = this.#mutable(target);
        r.status = 'progressing';
        return this.#toProvider(r);
      }),
    startRelease: async (target, version, previousVersion) =>
      this.#answer({ op: 'startRelease', target }, () => {
        this.#advance();
        const service = this.#services.get(target);
        if (!service)
          throw new Error(`simulator: no service on target ${target}`);
        const current = this.#current.get(target);
        // idempotent: the release already runs (or ran) here
        if (current?.version === version) return this.#toProvider(current);
        if (current && current.finishedAt === undefined) {
          throw new Error(
            `simulator: ${target} is still rolling out ${current.version}; ${version} cannot start`,
          );
        }
        const seq = (current?.seq ?? 0) + 1;
        const scenario =
          seq === 1
            ? (service.firstScenario ?? 'healthy')
            : pick(rngFor(this.#o.seed, 'scenario', target, seq));
        this.#start(service, seq, scenario, this.#now().getTime(), {
          version,
          previousVersion,
        });
        return this.#toProvider(this.#current.get(target)!);
      }),
    listHistory: async () => this.history(),
    describeTarget: async target =>
      this.#op(undefined, () => {
        this.#advance();
        const r = this.#current.get(target);
        if (!r) throw new Error(`simulator: no rollout for target ${target}`);
        const weight = r.weights[r.weights.length - 1][1];
        return {
          provider: 'simulator',
          target,
          kind: 'simulated-cohort',
          enabled: weight > 0,
          strategy: 'traffic split',
          percentage: weight,
          // each request is drawn into the canary on its own, with the weight's probability
          stickiness: 'random',
          details: {
            version: r.version,
            status: r.status,
            scenario: r.scenario,
          },
        };
      }),
  };

  readonly telemetry: RolloutsTelemetryProvider = {
    id: 'simulator',
    getCohortTelemetry: async (
      request: TelemetryRequest,
    ): Promise<TelemetryResult> => this.cohortTelemetry(request),
  };

  /** Counts per interval for the target's current rollout over the window. */
  cohortTelemetry(request: TelemetryRequest): TelemetryResult {
    this.#op(undefined, () => this.#advance());
    const service = this.#services.get(request.target);
    // a service that has not released anything yet serves all its traffic on its stable version
    const r =
      this.#current.get(request.target) ??
      (service ? this.#steady(service) : undefined);
    if (!r || !service)
      throw new Error(`simulator: no telemetry for target ${request.target}`);
    const stepMs = request.stepSeconds * 1000;
    const start = Math.max(request.start.getTime(), r.startedAt);
    // a promoted release keeps serving (at 100 %): its telemetry goes on
    const end = Math.min(
      request.end.getTime(),
      r.status === 'promoted' ? Infinity : (r.finishedAt ?? Infinity),
    );
    const ticks: TelemetryTick[] = [];
    let tick = 0;
    for (let k = Math.ceil(start / stepMs); (k + 1) * stepMs <= end; k++) {
      tick++;
      const from = k * stepMs;
      const weight = this.#weightAt(r, from);
      const segmentRng = (cohort: string) =>
        rngFor(
          this.#o.seed,
          service.target,
          r.version,
          k,
          request.stepSeconds,
          cohort,
          'segments',
        );
      ticks.push({
        tick,
        time: (from + stepMs) / 1000,
        baseline: reportSegments(
          segmentRng('baseline'),
          this.#cohort(
            service,
            r,
            k,
            request.stepSeconds,
            'baseline',
            1 - weight / 100,
          ),
          request.segments,
        ),
        canary: reportSegments(
          segmentRng('canary'),
          this.#cohort(
            service,
            r,
            k,
            request.stepSeconds,
            'canary',
            weight / 100,
          ),
          request.segments,
          r.scenario === 'mobile-regression'
            ? MOBILE_HARM(service.errorRate)
            : undefined,
        ),
      });
    }
    return { ticks, lagSeconds: 0 };
  }

  /** A service's stable version before its first release: all traffic, since the epoch. */
  #steady(service: SimulatedService): SimRollout {
    const version = semver(0, this.#o.seed, service.target);
    return {
      target: service.target,
      seq: 0,
      version,
      previousVersion: version,
      scenario: 'healthy',
      status: 'promoted',
      stepIndex: 0,
      startedAt: 0,
      stepStartedAt: 0,
      weights: [[0, 0]],
    };
  }

  /** The extra error rate of a consumer at `time`: its producers' `hurts-consumers` releases, by their weight. */
  #consumerHarm(service: SimulatedService, time: number): number {
    let harm = 0;
    for (const target of service.dependsOn ?? []) {
      const p = this.#current.get(target);
      if (!p || p.scenario !== 'hurts-consumers' || time < p.startedAt)
        continue;
      harm +=
        ((service.consumerHarmErrorRate ?? 0.5) * this.#weightAt(p, time)) /
        100;
    }
    return harm;
  }

  #weightAt(r: SimRollout, time: number): number {
    let w = r.weights[0][1];
    for (const [t, weight] of r.weights) {
      if (t <= time) w = weight;
    }
    return w;
  }

  #cohort(
    service: SimulatedService,
    r: SimRollout,
    k: number,
    seconds: number,
    cohort: 'baseline' | 'canary',
    share: number,
    /** false for the seeded history: the live producers' releases did not run then */
    consumers = true,
  ): CohortCounts | undefined {
    const rng = rngFor(
      this.#o.seed,
      service.target,
      r.version,
      k,
      seconds,
      cohort,
    );
    let bad: Scenario = cohort === 'canary' ? r.scenario : 'healthy';
    if (bad === 'regression-after-promotion') {
      bad =
        r.promotedAt !== undefined && k * seconds * 1000 >= r.promotedAt
          ? 'error-regression'
          : 'healthy';
    }
    if (bad === 'telemetry-gap' && rng() < 0.35) return undefined;
    // Traffic follows a gentle daily cycle.
    const hour = ((k * seconds) / 3600) % 24;
    const daily = 0.75 + 0.25 * Math.sin(((hour - 9) / 24) * 2 * Math.PI);
    const requests = poisson(rng, service.rps * seconds * share * daily);
    const errorRate = Math.min(
      1,
      service.errorRate * (bad === 'error-regression' ? 4 : 1) +
        (service.dependsOn && consumers
          ? this.#consumerHarm(service, k * seconds * 1000)
          : 0),
    );
    const errors = binomial(rng, requests, errorRate);
    const medianMs =
      service.latencyMedianMs * (bad === 'latency-regression' ? 1.8 : 1);
    const sigma = service.latencySigma ?? 0.6;
    const counts: number[] = [];
    let remaining = requests;
    let cumulative = 0;
    let prevCdf = 0;
    for (const le of LATENCY_BUCKETS) {
      const cdf =
        le === Infinity
          ? 1
          : normalCdf((Math.log(le) - Math.log(medianMs)) / sigma);
      const p = prevCdf >= 1 ? 1 : Math.min(1, (cdf - prevCdf) / (1 - prevCdf));
      const inBucket =
        le === Infinity ? remaining : binomial(rng, remaining, p);
      remaining -= inBucket;
      cumulative += inBucket;
      counts.push(cumulative);
      prevCdf = cdf;
    }
    const trials = binomial(rng, requests, 0.1);
    const conversion =
      service.conversionRate * (bad === 'conversion-drop' ? 0.8 : 1);
    const successes = binomial(rng, trials, conversion);
    let sum = 0;
    let sumSq = 0;
    for (let i = 0; i < successes; i++) {
      const v = Math.max(
        1,
        service.orderValueMean + service.orderValueSd * normal(rng),
      );
      sum += v;
      sumSq += v * v;
    }
    return {
      requests,
      errors,
      latency: { le: LATENCY_BUCKETS, counts },
      kpis: {
        conversion: { trials, successes },
        order_value: {
          n: successes,
          sum: Math.round(sum * 100) / 100,
          sumSq: Math.round(sumSq * 100) / 100,
        },
      },
    };
  }

  /**
   * A historical step's intervals from `from` to `to` (ms), as the live
   * telemetry would have reported them for the release at `weight`%: the
   * same generator, rates and scenario (a regression's harm shows in every
   * step's canary from the first), keyed by the seed, release and interval.
   */
  #historyTicks(
    service: SimulatedService,
    release: SimRollout,
    from: number,
    to: number,
    weight: number,
  ): TelemetryTick[] {
    const seconds = HISTORY_TICK_SECONDS;
    const stepMs = seconds * 1000;
    const ticks: TelemetryTick[] = [];
    let tick = 0;
    for (let k = Math.ceil(from / stepMs); (k + 1) * stepMs <= to; k++) {
      tick++;
      const baseline = this.#cohort(
        service,
        release,
        k,
        seconds,
        'baseline',
        1 - weight / 100,
        false,
      );
      const canary = this.#cohort(
        service,
        release,
        k,
        seconds,
        'canary',
        weight / 100,
        false,
      );
      // a cohort with no data is left out, never reported as zero counts
      ticks.push({
        tick,
        time: (k + 1) * seconds,
        ...(baseline ? { baseline } : {}),
        ...(canary ? { canary } : {}),
      });
    }
    return ticks;
  }

  /**
   * ~`historyDays` of finished rollouts, the same for the same seed and day,
   * each with the telemetry its steps were judged on (`telemetry`, for
   * what-if replay).
   */
  history(): HistoricalRollout[] {
    const day = 86_400_000;
    const today = Math.floor(this.#now().getTime() / day) * day;
    const out: HistoricalRollout[] = [];
    for (const service of this.#services.values()) {
      const rng = rngFor(this.#o.seed, 'history', service.target, today);
      let t = today - this.#o.historyDays * day + rng() * day;
      let seq = 0;
      while (t < today - day / 2) {
        seq++;
        const scenario = pick(rng);
        const version = semver(seq, this.#o.seed ^ 0x5f3759df, service.target);
        const decisions: HistoricalRollout['decisions'] = [];
        const telemetry: NonNullable<HistoricalRollout['telemetry']> = [];
        // the release as the live telemetry sees one: its counts come from the same generator
        const release: SimRollout = {
          target: service.target,
          seq,
          version,
          previousVersion: version,
          scenario,
          status: 'progressing',
          stepIndex: 0,
          startedAt: t,
          stepStartedAt: t,
          weights: [[t, this.#o.steps[0].weight]],
        };
        const stepMinutes = 8 + rng() * 20;
        let at = t;
        let stepFrom = t;
        let status: HistoricalRollout['status'] = 'promoted';
        let stepIndex = 0;
        const regress =
          scenario === 'error-regression' ||
          scenario === 'latency-regression' ||
          scenario === 'conversion-drop';
        const failStep = regress ? Math.floor(rng() * 3) : -1;
        const conversionDelta =
          regress && scenario === 'conversion-drop'
            ? -0.15 - rng() * 0.1
            : (rng() - 0.45) * 0.04;
        const burn =
          regress && scenario !== 'conversion-drop'
            ? 4 + rng() * 12
            : rng() * 1.2;
        for (stepIndex = 0; stepIndex < this.#o.steps.length; stepIndex++) {
          at += stepMinutes * 60_000 * (0.7 + rng() * 0.6);
          const weight = this.#o.steps[stepIndex].weight;
          if (weight > 0 && weight < 100)
            telemetry.push({
              stepIndex,
              stepStartedAt: new Date(stepFrom),
              weight,
              tickSeconds: HISTORY_TICK_SECONDS,
              ticks: this.#historyTicks(service, release, stepFrom, at, weight),
            });
          const evidence = {
            signals: [
              {
                name: 'conversion',
                kind: 'kpi',
                relativeDifference: conversionDelta,
              },
              {
                name: 'error_rate',
                kind: 'sli',
                relativeDifference:
                  regress && scenario === 'error-regression'
                    ? 2 + rng() * 2
                    : (rng() - 0.5) * 0.2,
              },
            ],
            checks: {
              burn: {
                canary: { burnRate: burn },
                service: { burnRate: rng() * 1.5 },
              },
            },
          };
          if (stepIndex === failStep) {
            status = 'rolled-back';
            // an error or latency regression: the canary's burn alert holds the step a few minutes first
            if (scenario !== 'conversion-drop')
              decisions.push({
                at: new Date(at - HISTORY_HOLD_MS),
                stepIndex,
                verdict: 'hold',
                reasons: [
                  `burn: the canary spends its error budget ${Math.round(burn)}× too fast at ${this.#o.steps[stepIndex].weight}%`,
                ],
                evidence: {
                  ...evidence,
                  checks: {
                    burn: {
                      ...evidence.checks.burn,
                      canary: { burnRate: burn, alerting: true },
                    },
                  },
                },
              });
            decisions.push({
              at: new Date(at),
              stepIndex,
              verdict: 'rollback',
              reasons: [
                regressionReason(scenario, this.#o.steps[stepIndex].weight),
              ],
              evidence,
            });
            break;
          }
          decisions.push({
            at: new Date(at),
            stepIndex,
            verdict: 'promote',
            reasons: [
              `step ${stepIndex + 1} (${this.#o.steps[stepIndex].weight}%): every guardrail non-inferior`,
            ],
            evidence,
          });
          stepFrom = at;
          if (scenario === 'telemetry-gap' && stepIndex === 1) {
            decisions.push({
              at: new Date(at + 60_000),
              stepIndex: 2,
              verdict: 'hold',
              reasons: ['canary telemetry missing for 3 ticks'],
            });
            at += 10 * 60_000;
          }
        }
        // every 13th healthy release regresses after the promotion to full: the bake watch rolls it back
        if (status === 'promoted' && !regress && seq % 13 === 5) {
          at += HISTORY_BAKE_ROLLBACK_MS;
          status = 'rolled-back';
          decisions.push({
            at: new Date(at),
            stepIndex: this.#o.steps.length - 1,
            verdict: 'rollback',
            reasons: [
              'rule: bake (the post-promotion watch)',
              'harm within the bake window after the promotion to full: rolling back',
            ],
            evidence: {
              checks: {
                burn: {
                  canary: { burnRate: 4 + (seq % 5), alerting: true },
                  service: { burnRate: 2 + (seq % 3) },
                },
              },
            },
          });
        }
        const finishedAt = at + 60_000;
        const lastStep = Math.min(stepIndex, this.#o.steps.length - 1);
        out.push({
          externalId: `${service.target}@${version}`,
          target: service.target,
          entityRef: service.entityRef,
          version,
          status,
          steps: this.#o.steps,
          currentStepIndex: lastStep,
          currentWeight: status === 'promoted' ? 100 : 0,
          startedAt: new Date(t),
          stepStartedAt: new Date(
            decisions[decisions.length - 1].at.getTime() - stepMinutes * 60_000,
          ),
          finishedAt: new Date(finishedAt),
          decisions,
          telemetry,
        });
        t = finishedAt + (0.6 + rng() * 2.2) * day;
      }
    }
    return out;
  }
}
