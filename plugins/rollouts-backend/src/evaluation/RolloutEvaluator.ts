import {
  TELEMETRY_ANNOTATION,
  telemetryProblems,
  type GateContext,
  type GateDecision,
  type GateEvaluationSummary,
  type TelemetryTick,
} from '@tollgate/plugin-rollouts-common';
import {
  applyBlastRadius,
  evaluateGate,
} from '@tollgate/plugin-rollouts-engine';
import type { TelemetryResult } from '@tollgate/plugin-rollouts-node';
import type { EntityLookup } from '../catalog/EntityIndex';
import type { StoredRollout } from '../database/RolloutsStore';
import type { PolicyResolver } from '../policy/PolicyResolver';
import type { RolloutPolicy } from '../policy/policy';
import type { ProviderRegistry } from '../providers/ProviderRegistry';
import { errorMessage, withRetry, type RetryOptions } from '../providers/retry';
import { readBlastRadius } from './blastRadius';
import {
  freshTicks,
  stalenessReason,
  type TelemetryFreshness,
} from './freshness';
import {
  gateContextFor,
  gatePolicyFor,
  observedCanaryShare,
} from './gateInputs';

/** What one evaluation of a rollout came to. */
export type RolloutEvaluation =
  | {
      ok: true;
      policy: RolloutPolicy;
      /** The engine's decision: the evidence the log keeps. */
      decision: GateDecision;
      summary: GateEvaluationSummary;
      /** Milliseconds spent waiting for telemetry and in the engine. */
      telemetryMs: number;
      engineMs: number;
    }
  | {
      ok: false;
      policy?: RolloutPolicy;
      reasons: string[];
      telemetryMs: number;
    };

/**
 * The gate engine step of an evaluation: the default folds the whole step
 * afresh; the gate loop passes one that keeps gate states between runs
 * (the verdict is the same).
 */
export type GateEngine = (
  rollout: StoredRollout,
  policy: RolloutPolicy,
  context: GateContext,
  gatePolicy: RolloutPolicy['gate'],
  ticks: TelemetryTick[],
) => GateDecision;

export interface RolloutEvaluatorOptions {
  providers: ProviderRegistry;
  policies: PolicyResolver;
  telemetryStepSeconds: number;
  defaultTelemetryProvider?: string;
  retry: RetryOptions;
  /** The catalog, for the released service's consumers (blast radius); without it none are watched. */
  entities?: EntityLookup;
}

/** Why a rollout holds when its telemetry could not be read or was wrong. */
export function telemetryHoldReason(e: unknown): string {
  return `telemetry unavailable: ${errorMessage(e)}; holding (never promote on missing or wrong data)`;
}

/**
 * The current step's cohort telemetry of a rollout, from the telemetry
 * provider its annotations (or its deploy provider, or the default) name,
 * with retries. Data that cannot be right (more errors than requests,
 * negative or non-finite counts…) is refused with the fields named: the
 * caller holds, as for data that did not arrive.
 */
export async function readCohortTelemetry(
  o: Pick<
    RolloutEvaluatorOptions,
    'providers' | 'telemetryStepSeconds' | 'defaultTelemetryProvider'
  >,
  rollout: StoredRollout,
  annotations: Record<string, string> | undefined,
  policy: RolloutPolicy,
  now: Date,
  retry: RetryOptions,
): Promise<TelemetryResult & { freshness: TelemetryFreshness }> {
  const telemetry = o.providers.telemetryFor(
    rollout.provider,
    annotations?.[TELEMETRY_ANNOTATION],
    o.defaultTelemetryProvider,
  );
  const result = await withRetry(
    () =>
      telemetry.getCohortTelemetry({
        provider: rollout.provider,
        target: rollout.target,
        entityRef: rollout.entityRef,
        start: new Date(rollout.stepStartedAt),
        end: now,
        stepSeconds: o.telemetryStepSeconds,
        kpis: policy.kpis.map(k => k.name),
        queries: policy.telemetry?.queries,
        ...(policy.gate.segments?.dimensions?.length
          ? { segments: policy.gate.segments.dimensions }
          : {}),
      }),
    retry,
  );
  const problems = telemetryProblems(result.ticks);
  if (problems.length > 0) {
    const more = problems.length > 3 ? ` and ${problems.length - 3} more` : '';
    throw new Error(
      `telemetry from ${telemetry.id} cannot be right: ${problems
        .slice(0, 3)
        .join('; ')}${more}`,
    );
  }
  const fresh = freshTicks(result.ticks, {
    now,
    stepSeconds: o.telemetryStepSeconds,
    lagSeconds: result.lagSeconds,
  });
  return { ...result, ticks: fresh.ticks, freshness: fresh.freshness };
}

/** The default engine step: the whole step folded afresh (the judge's, and the evaluator's when given none). */
export const wholeStep: GateEngine = (
  _rollout,
  _policy,
  context,
  gatePolicy,
  ticks,
) => evaluateGate(context, ticks, gatePolicy);

/**
 * The one evaluation path, for the gate loop and the judge alike: policy →
 * telemetry → gate engine → evidence. It never acts; its callers decide
 * what to do with the verdict. A policy that cannot be used, or telemetry
 * that cannot be read, comes back as `ok: false` with the reason: the
 * caller holds.
 */
export class RolloutEvaluator {
  constructor(private readonly o: RolloutEvaluatorOptions) {}

  /** The step length telemetry is read in, seconds. */
  get telemetryStepSeconds(): number {
    return this.o.telemetryStepSeconds;
  }

  async evaluate(
    rollout: StoredRollout,
    annotations: Record<string, string> | undefined,
    now: Date,
    options: {
      retry?: RetryOptions;
      engine?: GateEngine;
      /** The policy to evaluate under, instead of the one the annotations name (a policy's shadow rules). */
      policy?: RolloutPolicy;
    } = {},
  ): Promise<RolloutEvaluation> {
    let policy: RolloutPolicy;
    try {
      policy =
        options.policy ?? (await this.o.policies.forAnnotations(annotations));
    } catch (e) {
      return {
        ok: false,
        reasons: [`policy cannot be used: ${errorMessage(e)}`],
        telemetryMs: 0,
      };
    }
    const t0 = performance.now();
    let telemetryMs = 0;
    try {
      const result = await readCohortTelemetry(
        this.o,
        rollout,
        annotations,
        policy,
        now,
        options.retry ?? this.o.retry,
      );
      const t1 = performance.now();
      telemetryMs = t1 - t0;
      const context = gateContextFor(
        rollout,
        policy,
        this.o.telemetryStepSeconds,
      );
      const notes: string[] = [];
      if (!(
        context.expectedCanaryShare > 0 && context.expectedCanaryShare < 1
      )) {
        // The controller did not say how much traffic the canary gets
        // (Flagger's webhooks do not): compare against what it observed.
        const observed = observedCanaryShare(result.ticks);
        if (observed === undefined) {
          return {
            ok: false,
            policy,
            reasons: ['no canary and baseline traffic observed yet; holding'],
            telemetryMs,
          };
        }
        context.expectedCanaryShare = observed;
        notes.push(
          `the canary's traffic share is not known to Tollgate: the sample-ratio check uses the observed ${(
            observed * 100
          ).toFixed(1)}%`,
        );
      }
      const engine = options.engine ?? wholeStep;
      const decision = engine(
        rollout,
        policy,
        context,
        gatePolicyFor(policy),
        result.ticks,
      );
      // How far behind the telemetry was: in the evidence, and the reason when it held.
      const f = decision.checks.freshness;
      decision.checks.freshness = {
        ...f,
        // stale: the newest interval the engine holds on is not up to now
        stale:
          f.stale ||
          f.canaryMissingTicks > 0 ||
          f.baselineMissingTicks > 0 ||
          result.freshness.unreportedTicks > 0 ||
          result.freshness.incompleteTicks > 0,
        lagSeconds: result.freshness.lagSeconds,
        newestAgeSeconds: result.freshness.newestAgeSeconds,
        unreportedTicks: result.freshness.unreportedTicks,
        incompleteTicks: result.freshness.incompleteTicks,
      };
      const stale = stalenessReason(result.freshness);
      if (stale) notes.push(stale);
      // The consumers the catalog names: harm to one holds (or rolls back) through this same verdict.
      const tb = performance.now();
      try {
        const blast = await readBlastRadius(
          this.o,
          rollout,
          policy,
          now,
          options.retry ?? this.o.retry,
        );
        if (blast) applyBlastRadius(decision, blast);
      } catch (e) {
        notes.push(
          `blast radius: the consumers could not be read (${errorMessage(e)}); none was judged`,
        );
      }
      // the consumers' telemetry is telemetry time, not engine time
      const blastMs = performance.now() - tb;
      telemetryMs += blastMs;
      if (notes.length) decision.reasons = [...decision.reasons, ...notes];
      return {
        ok: true,
        policy,
        decision,
        summary: {
          verdict: decision.verdict,
          rubric: decision.rubric,
          score: decision.score,
          reasons: decision.reasons,
          evaluatedAt: now.toISOString(),
          ...(decision.rollout ? { rule: decision.rollout.rule } : {}),
        },
        telemetryMs,
        engineMs: performance.now() - t1 - blastMs,
      };
    } catch (e) {
      return {
        ok: false,
        policy,
        reasons: [telemetryHoldReason(e)],
        telemetryMs: telemetryMs || performance.now() - t0,
      };
    }
  }
}
