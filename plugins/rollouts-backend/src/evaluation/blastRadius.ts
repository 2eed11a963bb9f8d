/**
 * The backend half of the blast-radius check: the released service's
 * consumers from the catalog (`EntityLookup.consumersOf`), each consumer's
 * SLO from its own policy and its error rate (all its traffic, canary and
 * baseline summed) from its telemetry provider, in the window before the
 * rollout's current step and in the step so far. The engine judges them
 * (`assessBlastRadius`); the evaluator folds the verdict in.
 */
import {
  parseRolloutsAnnotation,
  ROLLOUTS_ANNOTATION,
  TELEMETRY_ANNOTATION,
  type BlastRadiusEvidence,
  type ConsumerWindowCounts,
  type TelemetryTick,
} from '@tollgate/plugin-rollouts-common';
import {
  assessBlastRadius,
  blastRadiusPolicySchema,
  type BlastRadiusConsumerInput,
} from '@tollgate/plugin-rollouts-engine';
import type { ConsumerRelation, EntityLookup } from '../catalog/EntityIndex';
import type { StoredRollout } from '../database/RolloutsStore';
import type { PolicyResolver } from '../policy/PolicyResolver';
import type { RolloutPolicy } from '../policy/policy';
import type { ProviderRegistry } from '../providers/ProviderRegistry';
import { errorMessage, withRetry, type RetryOptions } from '../providers/retry';

export interface BlastRadiusDeps {
  entities?: EntityLookup;
  providers: ProviderRegistry;
  policies: PolicyResolver;
  telemetryStepSeconds: number;
  defaultTelemetryProvider?: string;
}

/** A window's counts from a consumer's telemetry: every cohort summed, ticks without usable data counted missing. */
export function consumerCounts(
  ticks: TelemetryTick[],
  expectedTicks: number,
): ConsumerWindowCounts {
  let errors = 0;
  let requests = 0;
  let withData = 0;
  for (const t of ticks) {
    let any = false;
    for (const c of [t.baseline, t.canary]) {
      const n = c?.requests;
      const x = c?.errors;
      if (
        typeof n !== 'number' ||
        typeof x !== 'number' ||
        !Number.isFinite(n) ||
        !Number.isFinite(x) ||
        n < 0 ||
        x < 0 ||
        x > n
      )
        continue;
      requests += n;
      errors += x;
      any = true;
    }
    if (any) withData++;
  }
  return {
    errors,
    requests,
    ticks: withData,
    missingTicks: Math.max(0, expectedTicks - withData),
  };
}

/** Windows before a step are read once per step and consumer (they do not change). */
const BEFORE_CACHE = new Map<string, ConsumerWindowCounts>();
const BEFORE_CACHE_MAX = 2000;

async function measure(
  deps: BlastRadiusDeps,
  c: ConsumerRelation,
  stepStart: Date,
  beforeSeconds: number,
  now: Date,
  retry: RetryOptions,
): Promise<BlastRadiusConsumerInput> {
  const base = { entityRef: c.entityRef, relation: c.relation, via: c.via };
  const annotations = c.entity?.annotations;
  if (!annotations)
    return {
      ...base,
      notMeasured: `no ${ROLLOUTS_ANNOTATION} annotation: no telemetry target`,
    };
  let target;
  let availability;
  try {
    target = parseRolloutsAnnotation(annotations[ROLLOUTS_ANNOTATION])[0];
    availability = (await deps.policies.forAnnotations(annotations)).slo
      .availability;
  } catch (e) {
    return { ...base, notMeasured: `cannot be read: ${errorMessage(e)}` };
  }
  if (!target)
    return { ...base, notMeasured: 'its annotation names no target' };
  const step = deps.telemetryStepSeconds;
  const read = async (start: Date, end: Date) => {
    const telemetry = deps.providers.telemetryFor(
      target.provider,
      annotations[TELEMETRY_ANNOTATION],
      deps.defaultTelemetryProvider,
    );
    const result = await withRetry(
      () =>
        telemetry.getCohortTelemetry({
          provider: target.provider,
          target: target.target,
          entityRef: c.entityRef,
          start,
          end,
          stepSeconds: step,
          kpis: [],
        }),
      retry,
    );
    const expected = Math.floor(
      (end.getTime() - start.getTime()) / 1000 / step,
    );
    return consumerCounts(result.ticks, expected);
  };
  try {
    const key = `${c.entityRef}|${target.provider}:${target.target}|${stepStart.toISOString()}|${beforeSeconds}|${step}`;
    let before = BEFORE_CACHE.get(key);
    if (!before) {
      before = await read(
        new Date(stepStart.getTime() - beforeSeconds * 1000),
        stepStart,
      );
      // right after the step starts its last intervals may still be filling: cache later reads only
      if (now.getTime() - stepStart.getTime() >= 4 * step * 1000) {
        if (BEFORE_CACHE.size >= BEFORE_CACHE_MAX) BEFORE_CACHE.clear();
        BEFORE_CACHE.set(key, before);
      }
    }
    const during = await read(stepStart, now);
    return { ...base, availability, before, during };
  } catch (e) {
    return {
      ...base,
      availability,
      notMeasured: `telemetry unavailable: ${errorMessage(e)}`,
    };
  }
}

/**
 * The blast-radius evidence of a rollout's current step, or undefined when
 * the policy turns the check off or the catalog names no consumers.
 */
export async function readBlastRadius(
  deps: BlastRadiusDeps,
  rollout: StoredRollout,
  policy: RolloutPolicy,
  now: Date,
  retry: RetryOptions,
): Promise<BlastRadiusEvidence | undefined> {
  if (!deps.entities?.consumersOf) return undefined;
  const parsed = blastRadiusPolicySchema.safeParse(
    (policy.gate as Record<string, unknown>).blastRadius ?? {},
  );
  if (!parsed.success || !parsed.data.enabled) return undefined;
  const consumers = await deps.entities.consumersOf(rollout.entityRef);
  if (!consumers.length) return undefined;
  const stepStart = new Date(rollout.stepStartedAt);
  const measured = await Promise.all(
    consumers.map(c =>
      measure(deps, c, stepStart, parsed.data.beforeSeconds, now, retry),
    ),
  );
  const canarySteps = rollout.steps.filter(s => s.weight < 100).length;
  return assessBlastRadius({
    policy: parsed.data,
    consumers: measured,
    step: rollout.currentStepIndex + 1,
    share: Math.min(1, Math.max(0, rollout.currentWeight / 100)),
    canarySteps,
  });
}
