import type { LoggerService } from '@backstage/backend-plugin-api';
import {
  ACTIVE_ROLLOUT_STATUSES,
  FINAL_ROLLOUT_STATUSES,
  type GateContext,
  type GateDecision,
  type GateEvaluationSummary,
  type RolloutStep,
  type TelemetryTick,
} from '@tollgate/plugin-rollouts-common';
import {
  createGateState,
  decide,
  observeTickInPlace,
  type GateState,
} from '@tollgate/plugin-rollouts-engine';
import type { ProviderRollout } from '@tollgate/plugin-rollouts-node';
import { randomUUID } from 'node:crypto';
import type {
  NewDecision,
  RolloutPatch,
  RolloutsStore,
  StoredRollout,
} from '../database/RolloutsStore';
import type { PolicyResolver } from '../policy/PolicyResolver';
import type { RolloutPolicy } from '../policy/policy';
import type { EntityIndex } from '../catalog/EntityIndex';
import type { ProviderRegistry } from '../providers/ProviderRegistry';
import {
  readCohortTelemetry,
  telemetryHoldReason,
} from '../evaluation/RolloutEvaluator';
import {
  errorMessage,
  promotesFully,
  withRetry,
  type RetryOptions,
} from '../providers/retry';
import type { NotifyKind, RolloutEvents } from '../events/RolloutEvents';

export interface GateLoopOptions {
  store: RolloutsStore;
  providers: ProviderRegistry;
  entities: EntityIndex;
  policies: PolicyResolver;
  events: RolloutEvents;
  logger: LoggerService;
  telemetryStepSeconds: number;
  defaultTelemetryProvider?: string;
  retry: RetryOptions;
  /** Retries one run may spend across all rollouts (default 100): a broken provider cannot stall the run. */
  retryBudgetPerRun?: number;
  /** Clock, injectable for tests. */
  now?: () => Date;
  /** Evaluations written per transaction (rollout rows and their decisions); default 500. */
  batchSize?: number;
}

/** Where a run's time went, milliseconds of wall clock, and what it wrote. */
export interface GateLoopTimings {
  /** Listing the deploy providers' rollouts and recording what changed. */
  syncMs: number;
  /** Per rollout: catalog and policy lookup, telemetry, the gate engine and the verdict's rules. */
  evaluateMs: number;
  /** Of `evaluateMs`: waiting for telemetry providers. */
  telemetryMs: number;
  /** Of `evaluateMs`: the gate engine (folding telemetry into the gate state and deciding). */
  engineMs: number;
  /** Batched writes of evaluations: rollout rows and their decisions. */
  writeMs: number;
  /** Promotions, rollbacks and reconciliations: claim, deploy provider call, record. */
  actionMs: number;
  totalMs: number;
  /** Rollout rows and decisions the batched writes stored. */
  rowsWritten: number;
  decisionsWritten: number;
  /** Evaluations that folded only new intervals into a kept gate state, and those that started afresh. */
  engineStateHits: number;
  engineStateMisses: number;
}

export interface GateLoopRunResult {
  evaluated: number;
  actions: number;
  failures: number;
  timings: GateLoopTimings;
}

/** What the loop says about a decision; the rollout supplies the rest. */
interface DecisionInput {
  verdict: NewDecision['verdict'];
  kind: 'automatic' | 'manual' | 'override';
  actor: string;
  reasons: string[];
  evidence?: Record<string, unknown>;
  outcome: 'applied' | 'failed' | 'none';
}

/** A rollout row update (and maybe its decision) waiting for the next batch write. */
interface PendingWrite {
  rollout: StoredRollout;
  patch: RolloutPatch;
  decision?: NewDecision;
  /** The change event to send once written; `false` for none. */
  event: false | { notify?: NotifyKind };
}

/** A gate state kept between runs, valid while the step, weight and policy stay and the folded intervals do not change. */
interface KeptGate {
  key: string;
  state: GateState;
  /** Intervals folded into `state`, and a fingerprint of their content. */
  folded: number;
  h1: number;
  h2: number;
  run: number;
}

/** 32-bit FNV-1a of short strings (field names, KPI names), remembered. */
const textHashes = new Map<string, number>();
function textHash(s: string): number {
  let h = textHashes.get(s);
  if (h === undefined) {
    h = 0x811c9dc5;
    for (let i = 0; i < s.length; i++)
      h = Math.imul(h ^ s.charCodeAt(i), 16777619);
    h >>>= 0;
    if (textHashes.size < 10_000) textHashes.set(s, h);
  }
  return h;
}

/**
 * A 64-bit fingerprint of telemetry intervals (two 32-bit multiplicative
 * hashes over every number, field name, string and array length), much
 * cheaper than serialising them; used to check that intervals already
 * folded into a kept gate state are still what the provider reports.
 */
class Fingerprint {
  static readonly #f64 = new Float64Array(1);
  static readonly #u32 = new Uint32Array(Fingerprint.#f64.buffer);
  h1 = 0x9e3779b9;
  h2 = 0x85ebca6b;

  #mix(x: number) {
    this.h1 = Math.imul(this.h1 ^ x, 2654435761);
    this.h2 = Math.imul(this.h2 ^ x, 1597334677);
  }

  add(v: unknown) {
    if (typeof v === 'number') {
      Fingerprint.#f64[0] = v;
      this.#mix(Fingerprint.#u32[0]);
      this.#mix(Fingerprint.#u32[1]);
    } else if (typeof v === 'string') {
      this.#mix(1);
      this.#mix(textHash(v));
    } else if (Array.isArray(v)) {
      this.#mix(2);
      this.#mix(v.length);
      for (let i = 0; i < v.length; i++) this.add(v[i]);
    } else if (v && typeof v === 'object') {
      this.#mix(3);
      for (const k in v) {
        if (!Object.prototype.hasOwnProperty.call(v, k)) continue;
        this.#mix(textHash(k));
        this.add((v as Record<string, unknown>)[k]);
      }
      this.#mix(4);
    } else if (v === undefined) {
      this.#mix(5);
    } else if (v === null) {
      this.#mix(6);
    } else if (typeof v === 'boolean') {
      this.#mix(v ? 7 : 8);
    } else {
      this.#mix(9);
    }
  }

  equals(other: { h1: number; h2: number }) {
    return this.h1 === other.h1 && this.h2 === other.h2;
  }
}

function emptyTimings(): GateLoopTimings {
  return {
    syncMs: 0,
    evaluateMs: 0,
    telemetryMs: 0,
    engineMs: 0,
    writeMs: 0,
    actionMs: 0,
    totalMs: 0,
    rowsWritten: 0,
    decisionsWritten: 0,
    engineStateHits: 0,
    engineStateMisses: 0,
  };
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
    kpis: policy.kpis.map(k => ({
      name: k.name,
      type: k.type,
      direction: k.direction,
    })),
  };
}

/**
 * The steps of a rollout a deploy provider reports: the provider's ladder
 * (its `setStep` moves along it), with the policy's minimum durations and
 * approvals when the policy's ladder has the same weights.
 */
export function ladderFor(
  provider: RolloutStep[],
  policy: RolloutStep[] | undefined,
): RolloutStep[] {
  if (
    !policy ||
    policy.length !== provider.length ||
    policy.some((s, i) => s.weight !== provider[i].weight)
  )
    return provider;
  return policy;
}

/** Why a rollout a provider reported cannot be right, or undefined. */
export function providerRolloutProblem(
  pr: ProviderRollout,
): string | undefined {
  if (!Array.isArray(pr.steps) || pr.steps.length === 0)
    return 'it has no steps';
  if (
    !Number.isInteger(pr.currentStepIndex) ||
    pr.currentStepIndex < 0 ||
    pr.currentStepIndex >= pr.steps.length
  ) {
    return `currentStepIndex ${pr.currentStepIndex} is not one of its ${pr.steps.length} steps`;
  }
  if (
    !Number.isFinite(pr.currentWeight) ||
    pr.currentWeight < 0 ||
    pr.currentWeight > 100
  ) {
    return `currentWeight ${pr.currentWeight} is not a percentage`;
  }
  if (!(pr.startedAt instanceof Date) || Number.isNaN(pr.startedAt.getTime()))
    return 'startedAt is not a date';
  return undefined;
}

/** The id a rollout registered from CI carries until its provider reports it. */
export function registeredExternalId(r: {
  target: string;
  version: string;
}): string {
  return `${r.target}@${r.version}`;
}

/** The gate policy the engine gets: the policy's gate section plus KPI margins from `kpis[]`. */
export function gatePolicyFor(policy: RolloutPolicy): RolloutPolicy['gate'] {
  const gate = policy.gate as Record<string, any>;
  const listed: Array<{ name: string; [k: string]: unknown }> = Array.isArray(
    gate.kpis,
  )
    ? gate.kpis
    : [];
  const kpis = [...listed];
  for (const k of policy.kpis) {
    if (k.margin === undefined || listed.some(l => l.name === k.name)) continue;
    kpis.push({ name: k.name, margin: k.margin });
  }
  return kpis.length
    ? ({ ...gate, kpis } as RolloutPolicy['gate'])
    : policy.gate;
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
 *
 * At scale: promotions and rollbacks act at once, one by one; the rest of
 * the evaluations (continue, hold, waiting for approval) are collected and
 * written in batches, each rollout row with its decision in one transaction.
 * The gate state of each rollout is kept between runs, so a run folds only
 * the intervals that are new since the last one (the folded ones are
 * checked unchanged; otherwise, and after a step change or a restart, the
 * whole step is folded again — the verdict is the same either way).
 */
export class GateLoop {
  readonly #o: GateLoopOptions;
  readonly #now: () => Date;
  readonly #batchSize: number;
  readonly #gates = new Map<string, KeptGate>();
  #run = 0;
  /** Set by stop(): no new run starts and no new action is taken. */
  #stopping = false;
  /** The run in progress, for stop() to wait on. */
  #current: Promise<unknown> | undefined;

  /** This run's retry settings, with its budget. */
  #retry: RetryOptions;

  constructor(options: GateLoopOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
    this.#batchSize = Math.max(1, options.batchSize ?? 500);
    this.#retry = options.retry;
  }

  /** Imports what the providers report; returns the number of rollouts seen. */
  async sync(): Promise<number> {
    let seen = 0;
    // One read of the active rollouts serves every provider: a reported rollout found here needs no lookup.
    const active = await this.#o.store.listRollouts({
      status: [...ACTIVE_ROLLOUT_STATUSES],
    });
    const known = new Map(
      active.map(r => [`${r.provider}\n${r.externalId}`, r]),
    );
    // Rollouts CI registered (POST /v1/rollouts) before the provider reported
    // them carry `target@version` as their id: the provider's report of that
    // target and version is the same rollout, not a second one.
    const registeredKey = (
      provider: string,
      r: { target: string; version: string },
    ) =>
      `${provider}\n${this.#o.providers.normalizeTarget(provider, r.target)}@${r.version}`;
    const registered = new Map(
      active
        .filter(r => r.externalId === registeredExternalId(r))
        .map(r => [registeredKey(r.provider, r), r]),
    );
    for (const provider of this.#o.providers.deployProviders()) {
      let reported: ProviderRollout[];
      try {
        reported = await withRetry(() => provider.listRollouts(), this.#retry);
      } catch (e) {
        this.#o.logger.error(
          `rollouts: deploy provider ${provider.id} could not list rollouts: ${errorMessage(e)}`,
        );
        continue;
      }
      const reportedIds = new Set<string>();
      for (const pr of reported) {
        reportedIds.add(pr.externalId);
        const entity = await this.#o.entities.byTarget(provider.id, pr.target);
        const entityRef = entity?.entityRef ?? pr.entityRef;
        if (!entityRef) continue; // nobody in the catalog claims this target
        const problem = providerRolloutProblem(pr);
        if (problem) {
          // Wrong data is not news: keep what is known and say so.
          this.#o.logger.error(
            `rollouts: ${provider.id} reported ${pr.target}@${pr.version} in a state that cannot be right (${problem}); ignored`,
          );
          continue;
        }
        seen++;
        const row =
          known.get(`${provider.id}\n${pr.externalId}`) ??
          registered.get(registeredKey(provider.id, pr));
        if (row) reportedIds.add(row.externalId);
        await this.#upsert(
          provider.id,
          pr,
          entityRef,
          entity?.annotations,
          row,
        );
      }
      // Active rollouts the provider no longer reports ended outside Tollgate.
      for (const r of active) {
        if (
          r.provider !== provider.id ||
          reportedIds.has(r.externalId) ||
          r.pendingAction
        )
          continue;
        const updated = await this.#o.store.updateRollout(r.id, r.rowVersion, {
          status: 'aborted',
          finishedAt: this.#now().toISOString(),
        });
        if (updated) {
          await this.#log(updated, {
            verdict: 'observe',
            kind: 'automatic',
            actor: 'scheduler',
            reasons: [
              `${provider.id} no longer reports this rollout; it ended outside Tollgate`,
            ],
            outcome: 'none',
          });
        }
      }
    }
    return seen;
  }

  async #upsert(
    providerId: string,
    pr: ProviderRollout,
    entityRef: string,
    annotations: Record<string, string> | undefined,
    known: StoredRollout | undefined,
  ) {
    let rollout = known;
    if (!rollout) {
      let policy: RolloutPolicy | undefined;
      try {
        policy = await this.#o.policies.forAnnotations(annotations);
      } catch {
        policy = undefined; // recorded when the gate evaluates it
      }
      const result = await this.#o.store.upsertDiscovered({
        id: randomUUID(),
        entityRef,
        provider: providerId,
        target: pr.target,
        externalId: pr.externalId,
        version: pr.version,
        previousVersion: pr.previousVersion,
        status: pr.status,
        steps: ladderFor(pr.steps, policy?.steps),
        currentStepIndex: pr.currentStepIndex,
        currentWeight: pr.currentWeight,
        startedAt: pr.startedAt.toISOString(),
        stepStartedAt: pr.stepStartedAt.toISOString(),
        finishedAt: pr.finishedAt?.toISOString(),
        policyName: policy?.name,
        policyHash: policy?.hash,
      });
      if (result.created) {
        await this.#log(result.rollout, {
          verdict: 'register',
          kind: 'automatic',
          actor: 'scheduler',
          reasons: [`${providerId} reported ${pr.version} on ${pr.target}`],
          outcome: 'none',
        });
        this.#o.events.changed(result.rollout);
        return;
      }
      rollout = result.rollout;
    }
    // The provider is the truth for deploy state changed outside Tollgate.
    if (rollout.pendingAction) return;
    // Waiting for approval is Tollgate's own state on top of the provider's
    // "progressing" at the same step: a sync must not undo it.
    const status =
      rollout.status === 'awaiting-approval' &&
      pr.status === 'progressing' &&
      pr.currentStepIndex === rollout.currentStepIndex
        ? rollout.status
        : pr.status;
    // A registration's ladder gives way to the provider's (its durations and approvals kept where the weights agree).
    const steps =
      rollout.externalId === pr.externalId
        ? rollout.steps
        : ladderFor(pr.steps, rollout.steps);
    const changed =
      rollout.status !== status ||
      rollout.currentStepIndex !== pr.currentStepIndex ||
      rollout.currentWeight !== pr.currentWeight ||
      steps !== rollout.steps;
    if (!changed) return;
    const finished = FINAL_ROLLOUT_STATUSES.includes(pr.status);
    const updated = await this.#o.store.updateRollout(
      rollout.id,
      rollout.rowVersion,
      {
        ...(steps !== rollout.steps ? { steps } : {}),
        status,
        currentStepIndex: pr.currentStepIndex,
        currentWeight: pr.currentWeight,
        stepStartedAt: pr.stepStartedAt.toISOString(),
        finishedAt: finished
          ? (pr.finishedAt ?? this.#now()).toISOString()
          : undefined,
      },
    );
    if (updated) this.#o.events.changed(updated);
  }

  /**
   * Stops the loop for a shutdown: no new run and no new action starts, and
   * the run in progress finishes the action it is taking and writes what it
   * evaluated. Resolves when it has, or after `timeoutMs` (an action that
   * outlives it is reconciled by the next process).
   */
  async stop(timeoutMs = 30_000): Promise<void> {
    this.#stopping = true;
    const current = this.#current;
    if (!current) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      current.catch(() => undefined),
      new Promise(resolve => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  /** Sync, then evaluate every active rollout. One rollout's failure never stops the others. */
  async run(): Promise<GateLoopRunResult> {
    if (this.#stopping)
      return { evaluated: 0, actions: 0, failures: 0, timings: emptyTimings() };
    const running = this.#runOnce();
    this.#current = running;
    try {
      return await running;
    } finally {
      if (this.#current === running) this.#current = undefined;
    }
  }

  async #runOnce(): Promise<GateLoopRunResult> {
    const started = performance.now();
    const t = emptyTimings();
    const run = ++this.#run;
    const result: GateLoopRunResult = {
      evaluated: 0,
      actions: 0,
      failures: 0,
      timings: t,
    };
    this.#retry = {
      ...this.#o.retry,
      budget: { remaining: this.#o.retryBudgetPerRun ?? 100 },
    };
    await this.sync();
    const active = await this.#o.store.listRollouts({
      status: ['progressing', 'paused', 'awaiting-approval'],
    });
    t.syncMs = performance.now() - started;
    let pending: PendingWrite[] = [];
    for (const rollout of active) {
      if (this.#stopping) break; // shutting down: write what was evaluated, start nothing new
      // Rollouts another controller drives (Flagger, Argo with Tollgate as
      // its judge) are evaluated when that controller asks, never moved here.
      if (!this.#o.providers.hasDeploy(rollout.provider)) continue;
      const t0 = performance.now();
      const actionsBefore = t.actionMs;
      try {
        const acted = await this.#evaluate(rollout, pending, run, t);
        result.evaluated++;
        if (acted) result.actions++;
      } catch (e) {
        result.failures++;
        this.#o.logger.error(
          `rollouts: gate failed for ${rollout.entityRef} (${rollout.id}): ${errorMessage(e)}`,
        );
      }
      t.evaluateMs += performance.now() - t0 - (t.actionMs - actionsBefore);
      if (pending.length >= this.#batchSize) {
        result.failures += await this.#flush(pending, t);
        pending = [];
      }
    }
    result.failures += await this.#flush(pending, t);
    // Gate states of rollouts that are no longer active are not needed again.
    for (const [id, kept] of this.#gates)
      if (kept.run !== run) this.#gates.delete(id);
    t.totalMs = performance.now() - started;
    return result;
  }

  /** Evaluates one rollout and acts on the verdict; returns true when it acted. */
  async evaluate(rollout: StoredRollout): Promise<boolean> {
    const pending: PendingWrite[] = [];
    const t = emptyTimings();
    const acted = await this.#evaluate(rollout, pending, this.#run, t);
    const failed = await this.#flush(pending, t);
    if (failed)
      throw new Error(
        `rollouts: could not record the evaluation of ${rollout.id}`,
      );
    return acted;
  }

  /**
   * Writes pending evaluations in one batch; a batch that fails is retried
   * one rollout at a time, so one bad row costs only itself. Returns the
   * number of evaluations that could not be written.
   */
  async #flush(pending: PendingWrite[], t: GateLoopTimings): Promise<number> {
    if (!pending.length) return 0;
    const t0 = performance.now();
    let failures = 0;
    let results: Awaited<ReturnType<RolloutsStore['updateRollouts']>>;
    try {
      results = await this.#o.store.updateRollouts(
        pending.map(p => ({
          rollout: p.rollout,
          patch: p.patch,
          decision: p.decision,
        })),
      );
    } catch (e) {
      this.#o.logger.warn(
        `rollouts: batch write of ${pending.length} evaluations failed, writing them one by one: ${errorMessage(e)}`,
      );
      results = [];
      for (const p of pending) {
        try {
          results.push(
            (
              await this.#o.store.updateRollouts([
                { rollout: p.rollout, patch: p.patch, decision: p.decision },
              ])
            )[0],
          );
        } catch (e2) {
          failures++;
          results.push(undefined);
          this.#o.logger.error(
            `rollouts: could not record the evaluation of ${p.rollout.entityRef} (${p.rollout.id}): ${errorMessage(e2)}`,
          );
        }
      }
    }
    pending.forEach((p, i) => {
      const written = results[i];
      if (!written) return; // another writer changed the row first; the next run sees its state
      t.rowsWritten++;
      if (written.decision) t.decisionsWritten++;
      if (p.event)
        this.#o.events.changed(
          written.rollout,
          p.event.notify ? { notify: p.event.notify } : undefined,
        );
    });
    t.writeMs += performance.now() - t0;
    return failures;
  }

  /** The engine's verdict on the telemetry, folding only intervals the kept gate state has not seen. */
  #decide(
    rollout: StoredRollout,
    policy: RolloutPolicy,
    ticks: TelemetryTick[],
    run: number,
    t: GateLoopTimings,
  ): GateDecision {
    const sorted = ticks.every(
      (tick, i) => i === 0 || ticks[i - 1].tick <= tick.tick,
    )
      ? ticks
      : [...ticks].sort((a, b) => a.tick - b.tick);
    const key = `${rollout.currentStepIndex}|${rollout.stepStartedAt}|${rollout.currentWeight}|${rollout.entityRef}|${policy.name}|${policy.hash}|${this.#o.telemetryStepSeconds}`;
    let kept = this.#gates.get(rollout.id);
    let print = new Fingerprint();
    let i = 0;
    if (kept && kept.key === key && sorted.length >= kept.folded) {
      for (; i < kept.folded; i++) print.add(sorted[i]);
      if (!print.equals(kept)) kept = undefined;
    } else kept = undefined;
    try {
      if (!kept) {
        t.engineStateMisses++;
        print = new Fingerprint();
        i = 0;
        kept = {
          key,
          state: createGateState(
            gateContextFor(rollout, policy, this.#o.telemetryStepSeconds),
            gatePolicyFor(policy),
          ),
          folded: 0,
          h1: 0,
          h2: 0,
          run,
        };
      } else t.engineStateHits++;
      for (; i < sorted.length; i++) {
        observeTickInPlace(kept.state, sorted[i]);
        print.add(sorted[i]);
      }
      kept.folded = sorted.length;
      kept.h1 = print.h1;
      kept.h2 = print.h2;
      kept.run = run;
      this.#gates.set(rollout.id, kept);
      return decide(kept.state);
    } catch (e) {
      this.#gates.delete(rollout.id);
      throw e;
    }
  }

  async #evaluate(
    rollout: StoredRollout,
    pending: PendingWrite[],
    run: number,
    t: GateLoopTimings,
  ): Promise<boolean> {
    const now = this.#now();
    if (rollout.pendingAction) {
      await this.#timedAction(() => this.#reconcile(rollout), t);
      return false;
    }
    const entity = await this.#o.entities.byRef(rollout.entityRef);
    let policy: RolloutPolicy;
    try {
      policy = await this.#o.policies.forAnnotations(entity?.annotations);
    } catch (e) {
      this.#recordHold(
        rollout,
        [`policy cannot be used: ${errorMessage(e)}`],
        now,
        pending,
      );
      return false;
    }

    let decision: GateDecision;
    try {
      const t0 = performance.now();
      const result = await readCohortTelemetry(
        this.#o,
        rollout,
        entity?.annotations,
        policy,
        now,
        this.#retry,
      );
      const t1 = performance.now();
      t.telemetryMs += t1 - t0;
      decision = this.#decide(rollout, policy, result.ticks, run, t);
      t.engineMs += performance.now() - t1;
    } catch (e) {
      this.#recordHold(rollout, [telemetryHoldReason(e)], now, pending);
      return false;
    }

    const summary = summarize(decision, now);
    const evidence = decision as unknown as Record<string, unknown>;
    let verdict = decision.verdict;
    const reasons = [...decision.reasons];

    if (verdict === 'promote') {
      const step = rollout.steps[rollout.currentStepIndex];
      const inStep =
        (now.getTime() - new Date(rollout.stepStartedAt).getTime()) / 1000;
      if (rollout.status === 'paused') {
        verdict = 'hold';
        reasons.unshift('ready to promote, but the rollout is paused');
      } else if (rollout.status === 'awaiting-approval') {
        verdict = 'hold';
        reasons.unshift('ready to promote; waiting for approval');
      } else if (step?.minDurationSeconds && inStep < step.minDurationSeconds) {
        verdict = 'continue';
        reasons.unshift(
          `step minimum duration not reached (${Math.round(inStep)} of ${step.minDurationSeconds} s)`,
        );
      } else if (step?.requiresApproval) {
        pending.push({
          rollout,
          patch: {
            status: 'awaiting-approval',
            lastEvaluation: {
              ...summary,
              verdict: 'hold',
              reasons: ['ready to promote; waiting for approval', ...reasons],
            },
            evidence,
            lastError: null,
          },
          decision: this.#decision(rollout, {
            verdict: 'hold',
            kind: 'automatic',
            actor: 'scheduler',
            reasons: ['step requires approval: ready to promote', ...reasons],
            evidence,
            outcome: 'none',
          }),
          event: { notify: 'approval' },
        });
        return false;
      }
    }

    if (verdict === 'promote' || verdict === 'rollback') {
      // Shutting down: take no new action; the next run (here or on another replica) decides again.
      if (this.#stopping) return false;
      const v = verdict;
      return this.#timedAction(
        () =>
          this.#act(
            rollout,
            v,
            reasons,
            evidence,
            { ...summary, verdict: v, reasons },
            policy,
          ),
        t,
      );
    }

    // continue / hold: record the evaluation; log only when the verdict changes.
    const previous = rollout.lastEvaluation?.verdict;
    const patch: RolloutPatch = {
      lastEvaluation: { ...summary, verdict, reasons },
      evidence,
      policyName: policy.name,
      policyHash: policy.hash,
      lastError: null,
    };
    const changed = previous !== verdict;
    pending.push({
      rollout,
      patch,
      decision: changed
        ? this.#decision(
            { ...rollout, policyHash: policy.hash },
            {
              verdict,
              kind: 'automatic',
              actor: 'scheduler',
              reasons,
              evidence,
              outcome: 'none',
            },
          )
        : undefined,
      event: { notify: changed && verdict === 'hold' ? 'hold' : undefined },
    });
    return false;
  }

  async #timedAction<T>(fn: () => Promise<T>, t: GateLoopTimings): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      t.actionMs += performance.now() - t0;
    }
  }

  #recordHold(
    rollout: StoredRollout,
    reasons: string[],
    now: Date,
    pending: PendingWrite[],
  ) {
    const previous = rollout.lastEvaluation;
    const logIt =
      previous?.verdict !== 'hold' || previous.reasons[0] !== reasons[0];
    pending.push({
      rollout,
      patch: {
        lastEvaluation: {
          verdict: 'hold',
          rubric: 'not ready',
          score: 0,
          reasons,
          evaluatedAt: now.toISOString(),
        },
        lastError: { message: reasons[0], at: now.toISOString() },
      },
      decision: logIt
        ? this.#decision(rollout, {
            verdict: 'hold',
            kind: 'automatic',
            actor: 'scheduler',
            reasons,
            outcome: 'none',
          })
        : undefined,
      event: logIt ? { notify: 'hold' } : false,
    });
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
    const claimed = await this.#o.store.updateRollout(
      rollout.id,
      rollout.rowVersion,
      {
        pendingAction: verdict,
        lastEvaluation: summary,
        evidence,
        policyName: policy.name,
        policyHash: policy.hash,
      },
    );
    if (!claimed) return false; // another replica acted on this rollout first
    const provider = this.#o.providers.deploy(rollout.provider);
    const isLast = promotesFully(rollout);
    let after: ProviderRollout;
    try {
      after = await withRetry(() => {
        if (verdict === 'rollback')
          return provider.rollback(
            rollout.target,
            reasons[0] ?? 'gate verdict: rollback',
          );
        if (isLast) return provider.promote(rollout.target);
        return provider.setStep(rollout.target, rollout.currentStepIndex + 1);
      }, this.#retry);
    } catch (e) {
      const message = `${provider.id} did not accept the ${verdict}: ${errorMessage(e)}`;
      // The decision first: a crash before the row is released leaves it to reconciliation, never unlogged.
      await this.#log(claimed, {
        verdict,
        kind: 'automatic',
        actor: 'scheduler',
        reasons: [message, ...reasons],
        evidence,
        outcome: 'failed',
      });
      const failed = await this.#o.store.updateRollout(
        claimed.id,
        claimed.rowVersion,
        {
          pendingAction: null,
          lastError: {
            message,
            at: this.#now().toISOString(),
            action: verdict,
          },
        },
      );
      this.#o.events.changed(failed ?? claimed, {
        notify: verdict === 'rollback' ? 'rollback-failed' : undefined,
      });
      return false;
    }
    // The decision first: a crash before the row is released leaves it to reconciliation, never unlogged.
    await this.#log(claimed, {
      verdict,
      kind: 'automatic',
      actor: 'scheduler',
      reasons:
        verdict === 'promote' && !isLast
          ? [
              `step ${rollout.currentStepIndex + 1} passed: moving to ${rollout.steps[rollout.currentStepIndex + 1]?.weight}%`,
              ...reasons,
            ]
          : reasons,
      evidence,
      outcome: 'applied',
    });
    const done = await this.#o.store.updateRollout(
      claimed.id,
      claimed.rowVersion,
      {
        pendingAction: null,
        status: after.status,
        currentStepIndex: after.currentStepIndex,
        currentWeight: after.currentWeight,
        stepStartedAt: after.stepStartedAt.toISOString(),
        finishedAt: after.finishedAt?.toISOString(),
        lastError: null,
      },
    );
    if (done)
      this.#o.events.changed(
        done,
        verdict === 'rollback' ? { notify: 'rollback' } : undefined,
      );
    return true;
  }

  /** An action was in flight when a process died: align with the provider. */
  async #reconcile(rollout: StoredRollout) {
    const provider = this.#o.providers.deploy(rollout.provider);
    const pr = await withRetry(
      () => provider.getRollout(rollout.target),
      this.#retry,
    );
    const finished = pr && FINAL_ROLLOUT_STATUSES.includes(pr.status);
    // The observation first, then the row: a crash in between repeats the
    // reconciliation, it never loses it.
    await this.#log(rollout, {
      verdict: 'observe',
      kind: 'automatic',
      actor: 'scheduler',
      reasons: [
        `an interrupted ${rollout.pendingAction} was reconciled with ${provider.id}: it reports ${pr ? `${pr.status} at ${pr.currentWeight}%` : 'no rollout'}`,
      ],
      outcome: 'none',
    });
    const updated = await this.#o.store.updateRollout(
      rollout.id,
      rollout.rowVersion,
      {
        pendingAction: null,
        ...(pr
          ? {
              status: pr.status,
              currentStepIndex: pr.currentStepIndex,
              currentWeight: pr.currentWeight,
              stepStartedAt: pr.stepStartedAt.toISOString(),
              finishedAt: finished
                ? (pr.finishedAt ?? this.#now()).toISOString()
                : undefined,
            }
          : {}),
      },
    );
    if (updated) this.#o.events.changed(updated);
  }

  #decision(
    rollout: Pick<
      StoredRollout,
      'id' | 'entityRef' | 'currentStepIndex' | 'policyHash'
    >,
    d: DecisionInput,
  ): NewDecision {
    return {
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
    };
  }

  async #log(
    rollout: Pick<
      StoredRollout,
      'id' | 'entityRef' | 'currentStepIndex' | 'policyHash'
    >,
    d: DecisionInput,
  ) {
    return this.#o.store.appendDecision(this.#decision(rollout, d));
  }
}
