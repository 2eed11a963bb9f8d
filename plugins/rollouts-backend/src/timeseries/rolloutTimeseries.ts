import {
  TELEMETRY_ANNOTATION,
  type DeployTargetDescription,
  type RolloutTimeseries,
  type TelemetryTick,
} from '@tollgate/plugin-rollouts-common';
import type { EntityLookup } from '../catalog/EntityIndex';
import type { StoredRollout } from '../database/RolloutsStore';
import { gateContextFor, observedCanaryShare } from '../evaluation/gateInputs';
import {
  readCohortTelemetry,
  type RolloutEvaluatorOptions,
} from '../evaluation/RolloutEvaluator';
import { parseStoredGateState } from '../loop/storedGateState';
import type { PolicyResolver } from '../policy/PolicyResolver';
import type { RolloutPolicy } from '../policy/policy';
import type { ProviderRegistry } from '../providers/ProviderRegistry';
import { errorMessage, type RetryOptions } from '../providers/retry';
import { foldTimeseries, MAX_TIMESERIES_INTERVALS } from './foldTimeseries';

/** An answer is reused this long for the same rollout row (milliseconds). */
export const TIMESERIES_REUSE_MS = 10_000;

export interface TimeseriesOptions {
  providers: ProviderRegistry;
  policies: PolicyResolver;
  entities: EntityLookup;
  telemetryStepSeconds: number;
  defaultTelemetryProvider?: string;
  /** A debug view: one quick retry at most, so a slow provider does not hold the page. */
  retry?: RetryOptions;
  now?: () => Date;
}

const DEFAULT_RETRY: RetryOptions = {
  attempts: 2,
  initialBackoffMs: 200,
  timeoutMs: 15_000,
};

const comparing = (w: number | undefined): w is number =>
  w !== undefined && w > 0 && w < 100;

/**
 * The rollout as the gate last compared it. An active one as it is. A
 * finished one's weight is its end (0 after a rollback, 100 once
 * promoted): the gate compared at its step's weight. A release promoted to
 * full is in a step without a baseline: its last compared step is the one
 * the promotion was decided in (the gate state stored with it says which,
 * and when it began), up to the promotion.
 */
export function gatedView(rollout: StoredRollout): {
  rollout: StoredRollout;
  note?: string;
} {
  if (!rollout.finishedAt || comparing(rollout.currentWeight))
    return { rollout };
  const stepWeight = rollout.steps[rollout.currentStepIndex]?.weight;
  if (comparing(stepWeight))
    return { rollout: { ...rollout, currentWeight: stepWeight } };
  const end = parseStoredGateState(rollout.gateState)?.end;
  const weight = end ? rollout.steps[end.stepIndex]?.weight : undefined;
  if (!end || !comparing(weight)) return { rollout };
  const promotedAt = rollout.watch?.startedAt ?? rollout.finishedAt;
  return {
    rollout: {
      ...rollout,
      currentStepIndex: end.stepIndex,
      currentWeight: weight,
      stepStartedAt: end.stepStartedAt,
      finishedAt: promotedAt,
    },
    note: `the release took all traffic at step ${rollout.currentStepIndex + 1}, where there is no baseline: shown is step ${end.stepIndex + 1} (${weight}%), the last step the gate compared, up to the promotion`,
  };
}

/** The window a rollout's series is read over: its current (a finished one's last) step. */
export function timeseriesWindow(
  rollout: StoredRollout,
  now: Date,
): { start: Date; end: Date } {
  const start = new Date(rollout.stepStartedAt);
  const finished = rollout.finishedAt ? new Date(rollout.finishedAt) : now;
  const end = finished.getTime() < now.getTime() ? finished : now;
  return { start, end: end.getTime() < start.getTime() ? start : end };
}

/**
 * `GET /v1/rollouts/:id/timeseries`: reads the step's telemetry through the
 * evaluation path's reader (same provider choice, same plausibility checks)
 * and folds it through the engine; asks the deploy provider to describe
 * the target's cohort. Failures become notes: a debug view shows what it has.
 */
export class RolloutTimeseriesService {
  readonly #o: TimeseriesOptions;
  readonly #now: () => Date;
  readonly #recent = new Map<
    string,
    { at: number; answer: Promise<RolloutTimeseries> }
  >();

  constructor(options: TimeseriesOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
  }

  /**
   * The series of a rollout. Callers asking for the same rollout (as its
   * row stands) within {@link TIMESERIES_REUSE_MS} share one telemetry read
   * and fold: a tab open in many browsers costs the provider one read.
   */
  forRollout(stored: StoredRollout): Promise<RolloutTimeseries> {
    const key = `${stored.id}|${stored.rowVersion}|${stored.updatedAt}`;
    const at = this.#now().getTime();
    for (const [k, v] of this.#recent)
      if (at - v.at > TIMESERIES_REUSE_MS) this.#recent.delete(k);
    const hit = this.#recent.get(key);
    if (hit) return hit.answer;
    const answer = this.#compute(stored);
    this.#recent.set(key, { at, answer });
    answer.catch(() => this.#recent.delete(key));
    return answer;
  }

  async #compute(stored: StoredRollout): Promise<RolloutTimeseries> {
    const o = this.#o;
    const { rollout, note } = gatedView(stored);
    const now = this.#now();
    const tickSeconds = o.telemetryStepSeconds;
    const { start, end } = timeseriesWindow(rollout, now);
    const notes: string[] = note ? [note] : [];
    const answer: RolloutTimeseries = {
      rolloutId: rollout.id,
      stepIndex: rollout.currentStepIndex,
      window: {
        start: start.toISOString(),
        end: end.toISOString(),
        tickSeconds,
      },
      intervalsExpected: Math.floor(
        (end.getTime() - start.getTime()) / 1000 / tickSeconds,
      ),
      intervalsRead: 0,
      maxIntervals: MAX_TIMESERIES_INTERVALS,
      intervals: [],
      signals: [],
      notes,
      computedAt: now.toISOString(),
    };
    const [, described] = await Promise.all([
      this.#series(rollout, end, answer),
      this.#describe(rollout),
    ]);
    if (described.target) answer.target = described.target;
    if (described.error) answer.targetError = described.error;
    return answer;
  }

  async #series(
    rollout: StoredRollout,
    end: Date,
    answer: RolloutTimeseries,
  ): Promise<void> {
    const o = this.#o;
    const notes = answer.notes;
    const entity = await o.entities.byRef(rollout.entityRef);
    const annotations = entity?.annotations;
    let policy: RolloutPolicy;
    try {
      policy = await o.policies.forAnnotations(annotations);
    } catch (e) {
      notes.push(`policy cannot be used: ${errorMessage(e)}`);
      return;
    }
    try {
      answer.telemetryProvider = o.providers.telemetryFor(
        rollout.provider,
        annotations?.[TELEMETRY_ANNOTATION],
        o.defaultTelemetryProvider,
      ).id;
    } catch {
      // readCohortTelemetry says why below
    }
    const evaluatorOptions: Pick<
      RolloutEvaluatorOptions,
      'providers' | 'telemetryStepSeconds' | 'defaultTelemetryProvider'
    > = o;
    let ticks: TelemetryTick[];
    try {
      ticks = (
        await readCohortTelemetry(
          evaluatorOptions,
          rollout,
          annotations,
          policy,
          end,
          o.retry ?? DEFAULT_RETRY,
        )
      ).ticks;
    } catch (e) {
      notes.push(`telemetry unavailable: ${errorMessage(e)}`);
      return;
    }
    answer.intervalsRead = ticks.length;
    if (ticks.length < answer.intervalsExpected) {
      notes.push(
        `the telemetry provider answered ${ticks.length} of the ${answer.intervalsExpected} intervals in the window${
          rollout.finishedAt
            ? ' (it may no longer keep data this old): the series shows what it has'
            : ''
        }`,
      );
    }
    const context = gateContextFor(rollout, policy, o.telemetryStepSeconds);
    if (!(context.expectedCanaryShare > 0 && context.expectedCanaryShare < 1)) {
      const observed = observedCanaryShare(ticks);
      if (observed === undefined) {
        notes.push(
          `no canary and baseline traffic in the window (the canary share is ${rollout.currentWeight}%): nothing to compare`,
        );
        return;
      }
      context.expectedCanaryShare = observed;
      notes.push(
        `the canary share (${rollout.currentWeight}%) is not between 0 and 100 %: the sample-ratio check uses the observed ${(
          observed * 100
        ).toFixed(1)}%, as the gate does`,
      );
    }
    if (ticks.length > MAX_TIMESERIES_INTERVALS) {
      notes.push(
        `the step has ${ticks.length} intervals: all are folded, the last ${MAX_TIMESERIES_INTERVALS} are shown`,
      );
    }
    try {
      const folded = foldTimeseries(rollout, policy, context, ticks);
      const startMs = new Date(rollout.stepStartedAt).getTime();
      answer.intervals = folded.intervals.map(({ tickTime, ...i }) => ({
        ...i,
        at: new Date(
          tickTime !== undefined
            ? tickTime * 1000
            : startMs + i.tick * context.tickSeconds * 1000,
        ).toISOString(),
      }));
      answer.signals = folded.signals;
    } catch (e) {
      notes.push(
        `the gate engine could not fold the telemetry: ${errorMessage(e)}`,
      );
    }
  }

  async #describe(
    rollout: StoredRollout,
  ): Promise<{ target?: DeployTargetDescription; error?: string }> {
    let provider;
    try {
      provider = this.#o.providers.deploy(rollout.provider);
    } catch {
      return {};
    }
    if (!provider.describeTarget) return {};
    try {
      return { target: await provider.describeTarget(rollout.target) };
    } catch (e) {
      return {
        error: `${rollout.provider} could not describe ${rollout.target}: ${errorMessage(e)}`,
      };
    }
  }
}
