import {
  storedEvidence,
  type RolloutWatch,
  type StoredEvidence,
  type TelemetryTick,
} from '@tollgate/plugin-rollouts-common';
import type {
  BakeDecision,
  RolloutGateState,
} from '@tollgate/plugin-rollouts-engine';
import type { TelemetryResult } from '@tollgate/plugin-rollouts-node';
import type { Actuator, RolloutChange } from '../actuator/Actuator';
import type { StoredRollout } from '../database/RolloutsStore';
import {
  readCohortTelemetry,
  telemetryHoldReason,
} from '../evaluation/RolloutEvaluator';
import type { PolicyResolver } from '../policy/PolicyResolver';
import type { RolloutPolicy } from '../policy/policy';
import { errorMessage, withRetry, type RetryOptions } from '../providers/retry';
import type { GateStateCache } from './gateStates';
import type { GateLoopOptions } from './options';
import type { RunContext } from './runPhases';
import { ruleNote } from './verdicts';

/**
 * The post-promotion watch (bake window): after the gate promoted a rollout
 * to full, the released version is watched against the service's own
 * history for the policy's `gate.rollout.bake.durationSeconds`. Harm within
 * the window rolls it back through the deploy provider's rollback (the one
 * actuator, the decision log with the engine's `BakeDecision` as evidence);
 * a clean window ends the watch with a decision saying so.
 *
 * Segments: the watch reads the cohorts with `readCohortTelemetry`, which
 * asks the provider for the policy's `gate.segments.dimensions` as the
 * canary steps do, so the engine's bake watch gets each segment's counts and
 * watches every segment tested at the promotion (a rollback names it:
 * "segment device=mobile: …"; `GateLoop.segmentsWatch.test.ts`).
 */

/** The bake window a promotion to full opens, from the rollout's gate state (its policy, defaults applied). */
export function bakeWindowOf(
  rs: RolloutGateState,
  now: Date,
): { seconds: number; now: Date } | undefined {
  if (rs.stepIndex !== rs.ladder.length - 1) return undefined;
  return { seconds: rs.policy.rollout.bake.durationSeconds, now };
}

/** The evidence a watch decision is logged with. */
function bakeEvidence(d: BakeDecision, w: RolloutWatch): StoredEvidence {
  return storedEvidence({
    verdict: d.verdict,
    reasons: d.reasons,
    rollout: { rule: 'bake' },
    bake: { ...d, window: { startedAt: w.startedAt, endsAt: w.endsAt } },
  });
}

export interface WatchRun {
  rollout: StoredRollout;
  annotations: Record<string, string> | undefined;
  now: Date;
  run: { run: number; gates: GateStateCache; retry: RetryOptions };
  pending: RolloutChange[];
  actuator: Actuator;
  policies: PolicyResolver;
  stopping: () => boolean;
  timed: <T>(fn: () => Promise<T>) => Promise<T>;
  read: (
    rollout: StoredRollout,
    policy: RolloutPolicy,
  ) => Promise<TelemetryResult>;
  /** the telemetry's interval length, seconds */
  tickSeconds: number;
  /** a newer rollout of the same target is active */
  superseded: boolean;
  /** the external id of the rollout the deploy provider reports on the target now */
  currentExternalId: () => Promise<string | undefined>;
}

/** One run of the watch of a rollout promoted to full; true when it rolled it back. */
export async function watchRun(o: WatchRun): Promise<boolean> {
  const { rollout, now, pending } = o;
  const w = rollout.watch!;
  const end = (state: RolloutWatch['state'], reasons: string[]) =>
    pending.push({
      rollout,
      patch: {
        watch: { ...w, state, reasons, evaluatedAt: now.toISOString() },
      },
      decision: {
        verdict: 'observe',
        kind: 'automatic',
        actor: 'scheduler',
        reasons,
        outcome: 'none',
      },
    });
  if (o.superseded) {
    end('ended', [
      'watch ended: a newer rollout of this target started before the bake window closed',
    ]);
    return false;
  }
  let policy: RolloutPolicy;
  let ticks: TelemetryTick[];
  try {
    policy = await o.policies.forAnnotations(o.annotations);
    ticks = (await o.read({ ...rollout, stepStartedAt: w.startedAt }, policy))
      .ticks;
  } catch (e) {
    const reason = telemetryHoldReason(e);
    pending.push({
      rollout,
      patch: {
        watch: {
          ...w,
          reasons: [reason],
          evaluatedAt: now.toISOString(),
        },
        lastError: { message: errorMessage(e), at: now.toISOString() },
      },
      event: false,
    });
    return false;
  }
  const decision = o.run.gates.bake(
    rollout,
    policy,
    o.tickSeconds,
    ticks,
    now,
    o.run.run,
  );
  if (!decision) {
    end('ended', [
      'watch ended: the gate state of the promotion is not available (the policy changed since); not watched',
    ]);
    return false;
  }
  const evidence = bakeEvidence(decision, w);
  if (decision.verdict === 'complete') {
    pending.push({
      rollout,
      patch: {
        watch: {
          ...w,
          // a window without telemetry saw no harm because it saw nothing
          state: decision.verified === false ? 'ended' : 'passed',
          verdict: 'complete',
          reasons: decision.reasons,
          evaluatedAt: now.toISOString(),
        },
      },
      decision: {
        verdict: 'observe',
        kind: 'automatic',
        actor: 'scheduler',
        reasons: [`watch ended: ${decision.reasons[0]}`, ruleNote('bake')!],
        evidence,
        outcome: 'none',
      },
    });
    return false;
  }
  if (decision.verdict === 'continue') {
    pending.push({
      rollout,
      patch: {
        watch: {
          ...w,
          verdict: 'continue',
          reasons: decision.reasons,
          evaluatedAt: now.toISOString(),
        },
      },
      event: w.verdict === 'continue' ? false : {},
    });
    return false;
  }
  if (o.stopping()) return false;
  // A rollback acts on the target: if the deploy system has moved on to a newer release (not
  // synced yet), rolling back would hit that one. The watch ends instead.
  const current = await o.currentExternalId();
  if (current !== undefined && current !== rollout.externalId) {
    end('ended', [
      `watch ended: harm found, but ${rollout.target} already runs a newer rollout (${current}); not rolled back`,
      ...decision.reasons,
    ]);
    return false;
  }
  // Harm within the bake window: roll the release back through the deploy provider.
  const reasons = [
    'harm within the bake window after the promotion to full: rolling back',
    ...decision.reasons,
  ];
  const watch: RolloutWatch = {
    ...w,
    state: 'rolled-back',
    verdict: 'rollback',
    reasons: decision.reasons,
    evaluatedAt: now.toISOString(),
  };
  const result = await o.timed(() =>
    o.actuator.act({
      rollout,
      action: 'rollback',
      claim: { watch: { ...w, verdict: 'rollback', reasons } },
      retry: o.run.retry,
      call: provider => provider.rollback(rollout.target, reasons[0]),
      applied: after => ({
        patch: {
          status: after?.status ?? 'rolled-back',
          currentWeight: after?.currentWeight ?? 0,
          finishedAt: (after?.finishedAt ?? now).toISOString(),
          lastError: null,
          watch,
        },
        decision: {
          verdict: 'rollback',
          kind: 'automatic',
          actor: 'scheduler',
          reasons: [ruleNote('bake')!, ...reasons],
          evidence,
          outcome: 'applied',
        },
        notify: 'rollback',
      }),
      failed: message => ({
        decision: {
          verdict: 'rollback',
          kind: 'automatic',
          actor: 'scheduler',
          reasons: [message, ...reasons],
          evidence,
          outcome: 'failed',
        },
        notify: 'rollback-failed',
      }),
    }),
  );
  return result.outcome === 'applied';
}

/**
 * The watch of one rollout as the gate loop runs it: the cohorts' telemetry
 * and the target's current rollout read with the run's retries.
 */
export function watchInLoop(
  o: Pick<
    GateLoopOptions,
    | 'providers'
    | 'policies'
    | 'telemetryStepSeconds'
    | 'defaultTelemetryProvider'
  >,
  w: Pick<
    WatchRun,
    | 'rollout'
    | 'annotations'
    | 'now'
    | 'pending'
    | 'actuator'
    | 'stopping'
    | 'timed'
  > & { run: RunContext },
): Promise<boolean> {
  const { rollout, run } = w;
  return watchRun({
    ...w,
    policies: o.policies,
    read: (r, policy) =>
      readCohortTelemetry(o, r, w.annotations, policy, w.now, run.retry),
    tickSeconds: o.telemetryStepSeconds,
    currentExternalId: async () =>
      (
        await withRetry(
          () => o.providers.deploy(rollout.provider).getRollout(rollout.target),
          run.retry,
        )
      )?.externalId,
    superseded:
      run.activeTargets?.has(`${rollout.provider}:${rollout.target}`) ?? false,
  });
}
