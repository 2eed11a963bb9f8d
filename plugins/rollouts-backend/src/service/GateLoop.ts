import type { LoggerService } from '@backstage/backend-plugin-api';
import {
  ACTIVE_ROLLOUT_STATUSES,
  evaluateGate,
  FINAL_ROLLOUT_STATUSES,
  TELEMETRY_ANNOTATION,
  type GateContext,
  type GateDecision,
  type GateEvaluationSummary,
} from '@tollgate/plugin-rollouts-common';
import type { ProviderRollout } from '@tollgate/plugin-rollouts-node';
import { randomUUID } from 'node:crypto';
import type { RolloutsStore, StoredRollout } from '../database/RolloutsStore';
import type { PolicyResolver } from '../policy/PolicyResolver';
import type { RolloutPolicy } from '../policy/policy';
import type { EntityIndex } from './EntityIndex';
import type { ProviderRegistry } from './ProviderRegistry';
import { errorMessage, promotesFully, withRetry } from './retry';
import type { RolloutEvents } from './RolloutEvents';

export interface GateLoopOptions {
  store: RolloutsStore;
  providers: ProviderRegistry;
  entities: EntityIndex;
  policies: PolicyResolver;
  events: RolloutEvents;
  logger: LoggerService;
  telemetryStepSeconds: number;
  defaultTelemetryProvider?: string;
  retry: { attempts: number; initialBackoffMs: number };
  /** Clock, injectable for tests. */
  now?: () => Date;
}

export interface GateLoopRunResult {
  evaluated: number;
  actions: number;
  failures: number;
}

/** Builds the engine's context from a rollout and its policy. */
export function gateContextFor(
  rollout: StoredRollout,
  policy: RolloutPolicy,
  tickSeconds: number,
): GateContext {
  return {
    service: rollout.entityRef,
    tickSeconds,
    expectedCanaryShare: Math.min(1, Math.max(0, rollout.currentWeight / 100)),
    slo: policy.slo,
    kpis: policy.kpis.map(k => ({ name: k.name, type: k.type, direction: k.direction })),
  };
}

/** The gate policy the engine gets: the policy's gate section plus KPI margins from `kpis[]`. */
export function gatePolicyFor(policy: RolloutPolicy): RolloutPolicy['gate'] {
  const gate = policy.gate as Record<string, any>;
  const listed: Array<{ name: string; [k: string]: unknown }> = Array.isArray(gate.kpis) ? gate.kpis : [];
  const kpis = [...listed];
  for (const k of policy.kpis) {
    if (k.margin === undefined || listed.some(l => l.name === k.name)) continue;
    kpis.push({ name: k.name, margin: k.margin });
  }
  return kpis.length ? ({ ...gate, kpis } as RolloutPolicy['gate']) : policy.gate;
}

function summarize(decision: GateDecision, at: Date): GateEvaluationSummary {
  return {
    verdict: decision.verdict,
    rubric: decision.rubric,
    score: decision.score,
    reasons: decision.reasons,
    evaluatedAt: at.toISOString(),
  };
}

/**
 * One run of the gate loop: sync rollouts from the deploy providers, then
 * for each active rollout read telemetry, ask the gate engine, and act.
 * Safe to run on several replicas: every action first claims the rollout
 * row with a conditional update, so a decision is acted on once.
 */
export class GateLoop {
  readonly #o: GateLoopOptions;
  readonly #now: () => Date;

  constructor(options: GateLoopOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
  }

  /** Imports what the providers report; returns the number of rollouts seen. */
  async sync(): Promise<number> {
    let seen = 0;
    for (const provider of this.#o.providers.deployProviders()) {
      let reported: ProviderRollout[];
      try {
        reported = await withRetry(() => provider.listRollouts(), this.#o.retry);
      } catch (e) {
        this.#o.logger.error(`rollouts: deploy provider ${provider.id} could not list rollouts: ${errorMessage(e)}`);
        continue;
      }
      const reportedIds = new Set<string>();
      for (const pr of reported) {
        reportedIds.add(pr.externalId);
        const entity = await this.#o.entities.byTarget(provider.id, pr.target);
        const entityRef = entity?.entityRef ?? pr.entityRef;
        if (!entityRef) continue; // nobody in the catalog claims this target
        seen++;
        await this.#upsert(provider.id, pr, entityRef, entity?.annotations);
      }
      // Active rollouts the provider no longer reports ended outside Tollgate.
      const active = await this.#o.store.listRollouts({ status: [...ACTIVE_ROLLOUT_STATUSES] });
      for (const r of active) {
        if (r.provider !== provider.id || reportedIds.has(r.externalId) || r.pendingAction) continue;
        const updated = await this.#o.store.updateRollout(r.id, r.rowVersion, {
          status: 'aborted',
          finishedAt: this.#now().toISOString(),
        });
        if (updated) {
          await this.#log(updated, {
            verdict: 'observe',
            kind: 'automatic',
            actor: 'scheduler',
            reasons: [`${provider.id} no longer reports this rollout; it ended outside Tollgate`],
            outcome: 'none',
          });
        }
      }
    }
    return seen;
  }

  async #upsert(providerId: string, pr: ProviderRollout, entityRef: string, annotations?: Record<string, string>) {
    let policy: RolloutPolicy | undefined;
    try {
      policy = await this.#o.policies.forAnnotations(annotations);
    } catch {
      policy = undefined; // recorded when the gate evaluates it
    }
    const { rollout, created } = await this.#o.store.upsertDiscovered({
      id: randomUUID(),
      entityRef,
      provider: providerId,
      target: pr.target,
      externalId: pr.externalId,
      version: pr.version,
      previousVersion: pr.previousVersion,
      status: pr.status,
      steps: policy?.steps ?? pr.steps,
      currentStepIndex: pr.currentStepIndex,
      currentWeight: pr.currentWeight,
      startedAt: pr.startedAt.toISOString(),
      stepStartedAt: pr.stepStartedAt.toISOString(),
      finishedAt: pr.finishedAt?.toISOString(),
      policyName: policy?.name,
      policyHash: policy?.hash,
    });
    if (created) {
      await this.#log(rollout, {
        verdict: 'register',
        kind: 'automatic',
        actor: 'scheduler',
        reasons: [`${providerId} reported ${pr.version} on ${pr.target}`],
        outcome: 'none',
      });
      this.#o.events.changed(rollout);
      return;
    }
    // The provider is the truth for deploy state changed outside Tollgate.
    if (rollout.pendingAction) return;
    const changed =
      rollout.status !== pr.status ||
      rollout.currentStepIndex !== pr.currentStepIndex ||
      rollout.currentWeight !== pr.currentWeight;
    if (!changed) return;
    const finished = FINAL_ROLLOUT_STATUSES.includes(pr.status);
    const updated = await this.#o.store.updateRollout(rollout.id, rollout.rowVersion, {
      status: pr.status,
      currentStepIndex: pr.currentStepIndex,
      currentWeight: pr.currentWeight,
      stepStartedAt: pr.stepStartedAt.toISOString(),
      finishedAt: finished ? (pr.finishedAt ?? this.#now()).toISOString() : undefined,
    });
    if (updated) this.#o.events.changed(updated);
  }

  /** Sync, then evaluate every active rollout. One rollout's failure never stops the others. */
  async run(): Promise<GateLoopRunResult> {
    const result: GateLoopRunResult = { evaluated: 0, actions: 0, failures: 0 };
    await this.sync();
    const active = await this.#o.store.listRollouts({ status: ['progressing', 'paused', 'awaiting-approval'] });
    for (const rollout of active) {
      try {
        const acted = await this.evaluate(rollout);
        result.evaluated++;
        if (acted) result.actions++;
      } catch (e) {
        result.failures++;
        this.#o.logger.error(`rollouts: gate failed for ${rollout.entityRef} (${rollout.id}): ${errorMessage(e)}`);
      }
    }
    return result;
  }

  /** Evaluates one rollout and acts on the verdict; returns true when it acted. */
  async evaluate(rollout: StoredRollout): Promise<boolean> {
    const now = this.#now();
    if (rollout.pendingAction) {
      await this.#reconcile(rollout);
      return false;
    }
    const entity = await this.#o.entities.byRef(rollout.entityRef);
    let policy: RolloutPolicy;
    try {
      policy = await this.#o.policies.forAnnotations(entity?.annotations);
    } catch (e) {
      await this.#recordHold(rollout, [`policy cannot be used: ${errorMessage(e)}`], now);
      return false;
    }

    let decision: GateDecision;
    try {
      const telemetry = this.#o.providers.telemetryFor(
        rollout.provider,
        entity?.annotations?.[TELEMETRY_ANNOTATION],
        this.#o.defaultTelemetryProvider,
      );
      const result = await withRetry(
        () =>
          telemetry.getCohortTelemetry({
            provider: rollout.provider,
            target: rollout.target,
            entityRef: rollout.entityRef,
            start: new Date(rollout.stepStartedAt),
            end: now,
            stepSeconds: this.#o.telemetryStepSeconds,
            kpis: policy.kpis.map(k => k.name),
            queries: policy.telemetry?.queries,
          }),
        this.#o.retry,
      );
      decision = evaluateGate(
        gateContextFor(rollout, policy, this.#o.telemetryStepSeconds),
        result.ticks,
        gatePolicyFor(policy),
      );
    } catch (e) {
      await this.#recordHold(rollout, [`telemetry unavailable: ${errorMessage(e)}; holding (never promote on missing data)`], now);
      return false;
    }

    const summary = summarize(decision, now);
    const evidence = decision as unknown as Record<string, unknown>;
    let verdict = decision.verdict;
    const reasons = [...decision.reasons];

    if (verdict === 'promote') {
      const step = rollout.steps[rollout.currentStepIndex];
      const inStep = (now.getTime() - new Date(rollout.stepStartedAt).getTime()) / 1000;
      if (rollout.status === 'paused') {
        verdict = 'hold';
        reasons.unshift('ready to promote, but the rollout is paused');
      } else if (rollout.status === 'awaiting-approval') {
        verdict = 'hold';
        reasons.unshift('ready to promote; waiting for approval');
      } else if (step?.minDurationSeconds && inStep < step.minDurationSeconds) {
        verdict = 'continue';
        reasons.unshift(`step minimum duration not reached (${Math.round(inStep)} of ${step.minDurationSeconds} s)`);
      } else if (step?.requiresApproval) {
        const updated = await this.#o.store.updateRollout(rollout.id, rollout.rowVersion, {
          status: 'awaiting-approval',
          lastEvaluation: { ...summary, verdict: 'hold', reasons: ['ready to promote; waiting for approval', ...reasons] },
          evidence,
          lastError: null,
        });
        if (updated) {
          await this.#log(updated, { verdict: 'hold', kind: 'automatic', actor: 'scheduler', reasons: ['step requires approval: ready to promote', ...reasons], evidence, outcome: 'none' });
          this.#o.events.changed(updated, { notify: 'approval' });
        }
        return false;
      }
    }

    if (verdict === 'promote' || verdict === 'rollback') {
      return this.#act(rollout, verdict, reasons, evidence, { ...summary, verdict, reasons }, policy);
    }

    // continue / hold: record the evaluation; log only when the verdict changes.
    const previous = rollout.lastEvaluation?.verdict;
    const updated = await this.#o.store.updateRollout(rollout.id, rollout.rowVersion, {
      lastEvaluation: { ...summary, verdict, reasons },
      evidence,
      policyName: policy.name,
      policyHash: policy.hash,
      lastError: null,
    });
    if (updated && previous !== verdict) {
      await this.#log(updated, { verdict, kind: 'automatic', actor: 'scheduler', reasons, evidence, outcome: 'none' });
      this.#o.events.changed(updated, verdict === 'hold' ? { notify: 'hold' } : undefined);
    } else if (updated) {
      this.#o.events.changed(updated);
    }
    return false;
  }

  async #recordHold(rollout: StoredRollout, reasons: string[], now: Date) {
    const previous = rollout.lastEvaluation;
    const updated = await this.#o.store.updateRollout(rollout.id, rollout.rowVersion, {
      lastEvaluation: { verdict: 'hold', rubric: 'not ready', score: 0, reasons, evaluatedAt: now.toISOString() },
      lastError: { message: reasons[0], at: now.toISOString() },
    });
    if (updated && (previous?.verdict !== 'hold' || previous.reasons[0] !== reasons[0])) {
      await this.#log(updated, { verdict: 'hold', kind: 'automatic', actor: 'scheduler', reasons, outcome: 'none' });
      this.#o.events.changed(updated, { notify: 'hold' });
    }
  }

  /** Claims the row, calls the deploy provider, records the result and the decision. */
  async #act(
    rollout: StoredRollout,
    verdict: 'promote' | 'rollback',
    reasons: string[],
    evidence: Record<string, unknown>,
    summary: GateEvaluationSummary,
    policy: RolloutPolicy,
  ): Promise<boolean> {
    const claimed = await this.#o.store.updateRollout(rollout.id, rollout.rowVersion, {
      pendingAction: verdict,
      lastEvaluation: summary,
      evidence,
      policyName: policy.name,
      policyHash: policy.hash,
    });
    if (!claimed) return false; // another replica acted on this rollout first
    const provider = this.#o.providers.deploy(rollout.provider);
    const isLast = promotesFully(rollout);
    let after: ProviderRollout;
    try {
      after = await withRetry(() => {
        if (verdict === 'rollback') return provider.rollback(rollout.target, reasons[0] ?? 'gate verdict: rollback');
        if (isLast) return provider.promote(rollout.target);
        return provider.setStep(rollout.target, rollout.currentStepIndex + 1);
      }, this.#o.retry);
    } catch (e) {
      const message = `${provider.id} did not accept the ${verdict}: ${errorMessage(e)}`;
      const failed = await this.#o.store.updateRollout(claimed.id, claimed.rowVersion, {
        pendingAction: null,
        lastError: { message, at: this.#now().toISOString(), action: verdict },
      });
      await this.#log(failed ?? claimed, { verdict, kind: 'automatic', actor: 'scheduler', reasons: [message, ...reasons], evidence, outcome: 'failed' });
      this.#o.events.changed(failed ?? claimed, { notify: verdict === 'rollback' ? 'rollback-failed' : undefined });
      return false;
    }
    const done = await this.#o.store.updateRollout(claimed.id, claimed.rowVersion, {
      pendingAction: null,
      status: after.status,
      currentStepIndex: after.currentStepIndex,
      currentWeight: after.currentWeight,
      stepStartedAt: after.stepStartedAt.toISOString(),
      finishedAt: after.finishedAt?.toISOString(),
      lastError: null,
    });
    await this.#log(claimed, {
      verdict,
      kind: 'automatic',
      actor: 'scheduler',
      reasons:
        verdict === 'promote' && !isLast
          ? [`step ${rollout.currentStepIndex + 1} passed: moving to ${rollout.steps[rollout.currentStepIndex + 1]?.weight}%`, ...reasons]
          : reasons,
      evidence,
      outcome: 'applied',
    });
    if (done) this.#o.events.changed(done, verdict === 'rollback' ? { notify: 'rollback' } : undefined);
    return true;
  }

  /** An action was in flight when a process died: align with the provider. */
  async #reconcile(rollout: StoredRollout) {
    const provider = this.#o.providers.deploy(rollout.provider);
    const pr = await withRetry(() => provider.getRollout(rollout.target), this.#o.retry);
    const finished = pr && FINAL_ROLLOUT_STATUSES.includes(pr.status);
    const updated = await this.#o.store.updateRollout(rollout.id, rollout.rowVersion, {
      pendingAction: null,
      ...(pr
        ? {
            status: pr.status,
            currentStepIndex: pr.currentStepIndex,
            currentWeight: pr.currentWeight,
            stepStartedAt: pr.stepStartedAt.toISOString(),
            finishedAt: finished ? (pr.finishedAt ?? this.#now()).toISOString() : undefined,
          }
        : {}),
    });
    if (updated) {
      await this.#log(updated, {
        verdict: 'observe',
        kind: 'automatic',
        actor: 'scheduler',
        reasons: [
          `an interrupted ${rollout.pendingAction} was reconciled with ${provider.id}: it reports ${pr ? `${pr.status} at ${pr.currentWeight}%` : 'no rollout'}`,
        ],
        outcome: 'none',
      });
      this.#o.events.changed(updated);
    }
  }

  async #log(
    rollout: Pick<StoredRollout, 'id' | 'entityRef' | 'currentStepIndex' | 'policyHash'>,
    d: {
      verdict: Parameters<RolloutsStore['appendDecision']>[0]['verdict'];
      kind: 'automatic' | 'manual' | 'override';
      actor: string;
      reasons: string[];
      evidence?: Record<string, unknown>;
      outcome: 'applied' | 'failed' | 'none';
    },
  ) {
    return this.#o.store.appendDecision({
      rolloutId: rollout.id,
      entityRef: rollout.entityRef,
      stepIndex: rollout.currentStepIndex,
      verdict: d.verdict,
      kind: d.kind,
      actor: d.actor,
      reasons: d.reasons,
      evidence: d.evidence ?? null,
      policyHash: rollout.policyHash ?? null,
      outcome: d.outcome,
      createdAt: this.#now().toISOString(),
    });
  }
}
