import type { LoggerService } from '@backstage/backend-plugin-api';
import {
  storedEvidence,
  type GateDecision,
  type StoredEvidence,
} from '@tollgate/plugin-rollouts-common';
import { Actuator, type RolloutChange } from '../actuator/Actuator';
import type { EntityLookup } from '../catalog/EntityIndex';
import type { RolloutsStore, StoredRollout } from '../database/RolloutsStore';
import { DecisionWriter } from '../decisions/DecisionWriter';
import {
  RolloutEvaluator,
  type GateEngine,
} from '../evaluation/RolloutEvaluator';
import type { RolloutEvents } from '../events/RolloutEvents';
import type { PolicyResolver } from '../policy/PolicyResolver';
import type { ProviderRegistry } from '../providers/ProviderRegistry';
import { errorMessage, withRetry, type RetryOptions } from '../providers/retry';
import { GateStateCache } from './gateStates';
import type { ShadowRunner } from '../shadow/ShadowRunner';
import type { TelemetryKeeper } from '../replay/TelemetryKeeper';
import { readCohortTelemetry } from '../evaluation/RolloutEvaluator';
import { bakeWindowOf, watchRun } from './watch';
import { shardOf, type Shard } from './shards';
import { RolloutSync } from './sync';
import {
  emptyTimings,
  type GateLoopRunResult,
  type GateLoopTimings,
} from './timings';
import {
  actOnVerdict,
  approvalChange,
  holdChange,
  reconcileInterrupted,
  ruleNote,
  stepRule,
} from './verdicts';

export type { GateLoopRunResult, GateLoopTimings } from './timings';

export interface GateLoopOptions {
  /**
   * Why a rollout may not move now (a multi-stage promotion's later stage
   * before its turn, a broken stages declaration): it is held with the reason.
   */
  holdReason?: (
    rollout: StoredRollout,
    annotations: Record<string, string> | undefined,
  ) => Promise<string | undefined>;
  store: RolloutsStore;
  providers: ProviderRegistry;
  entities: EntityLookup;
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
  /** The plugin's actuator and evaluator; built from the options above when left out. */
  actuator?: Actuator;
  evaluator?: RolloutEvaluator;
  /** Shadow policies evaluated beside the enforced one, never acted on (`shadow/`). */
  shadows?: ShadowRunner;
  /** Keeps the telemetry each step was judged on, for what-if replay (`replay/`). */
  keeper?: TelemetryKeeper;
}

/**
 * One run of the gate loop: sync rollouts from the deploy providers, then
 * for each active rollout evaluate it (the one evaluation path) and act
 * through the actuator. Safe to run on several replicas: every action
 * first claims the rollout row with a conditional update, so a decision is
 * acted on once.
 *
 * At scale: promotions and rollbacks act at once, one by one; the rest of
 * the evaluations (continue, hold, waiting for approval) are collected and
 * written in batches, each rollout row with its decision in one transaction.
 * The gate state of each rollout is kept between runs ({@link GateStateCache}).
 */
/** What one run carries: its number, timings, the shard's gate states and its retry budget. */
interface RunContext {
  run: number;
  t: GateLoopTimings;
  gates: GateStateCache;
  retry: RetryOptions;
  /** `provider:target` of the active rollouts (a newer rollout ends an older one's watch). */
  activeTargets?: Set<string>;
  /** The shard's key (`index/count`): the shadows keep gate states per shard. */
  shardKey?: string;
}

export class GateLoop {
  readonly #o: GateLoopOptions;
  readonly #now: () => Date;
  readonly #batchSize: number;
  readonly #actuator: Actuator;
  readonly #evaluator: RolloutEvaluator;
  readonly #sync: RolloutSync;
  /** Kept gate states, per shard (a shard's run forgets only its own). */
  readonly #gates = new Map<string, GateStateCache>();
  #run = 0;
  /** Set by stop(): no new run starts and no new action is taken. */
  #stopping = false;
  /** The runs in progress (one per shard at most), for stop() to wait on. */
  readonly #current = new Set<Promise<unknown>>();

  constructor(options: GateLoopOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
    this.#batchSize = Math.max(1, options.batchSize ?? 500);
    this.#actuator =
      options.actuator ??
      new Actuator({
        store: options.store,
        providers: options.providers,
        events: options.events,
        decisions: new DecisionWriter({ now: this.#now }),
        now: this.#now,
      });
    this.#evaluator =
      options.evaluator ??
      new RolloutEvaluator({
        providers: options.providers,
        policies: options.policies,
        telemetryStepSeconds: options.telemetryStepSeconds,
        defaultTelemetryProvider: options.defaultTelemetryProvider,
        retry: options.retry,
        entities: options.entities,
      });
    this.#sync = new RolloutSync({
      ...options,
      actuator: this.#actuator,
      now: this.#now,
    });
  }

  /** Imports what the providers report; returns the number of rollouts seen. */
  sync(): Promise<number> {
    return this.#sync.sync(this.#o.retry);
  }

  /**
   * Stops the loop for a shutdown: no new run and no new action starts, and
   * the run in progress finishes the action it is taking and writes what it
   * evaluated. Resolves when it has, or after `timeoutMs` (an action that
   * outlives it is reconciled by the next process).
   */
  async stop(timeoutMs = 30_000): Promise<void> {
    this.#stopping = true;
    if (!this.#current.size) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#current]),
      new Promise(resolve => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  /**
   * Sync, then evaluate every active rollout. One rollout's failure never
   * stops the others. With a shard, only the rollouts of that shard are
   * evaluated (and only the first shard syncs): each shard is its own
   * global task on the scheduler, so replicas share a tick.
   */
  async run(shard?: Shard): Promise<GateLoopRunResult> {
    if (this.#stopping)
      return { evaluated: 0, actions: 0, failures: 0, timings: emptyTimings() };
    const running = this.#runOnce(shard ?? { index: 0, count: 1 });
    this.#current.add(running);
    try {
      return await running;
    } finally {
      this.#current.delete(running);
    }
  }

  #gatesOf(shard: Shard): GateStateCache {
    const key = `${shard.index}/${shard.count}`;
    let gates = this.#gates.get(key);
    if (!gates) {
      gates = new GateStateCache();
      this.#gates.set(key, gates);
    }
    return gates;
  }

  async #runOnce(shard: Shard): Promise<GateLoopRunResult> {
    const started = performance.now();
    const t = emptyTimings();
    const result: GateLoopRunResult = {
      evaluated: 0,
      actions: 0,
      failures: 0,
      timings: t,
    };
    const run: RunContext = {
      run: ++this.#run,
      t,
      gates: this.#gatesOf(shard),
      shardKey: `${shard.index}/${shard.count}`,
      // This run's retries, with its own budget.
      retry: {
        ...this.#o.retry,
        budget: { remaining: this.#o.retryBudgetPerRun ?? 100 },
      },
    };
    if (shard.index === 0) await this.#sync.sync(run.retry);
    const listed = await this.#o.store.listRollouts({
      status: ['progressing', 'paused', 'awaiting-approval'],
    });
    // Rollouts promoted to full whose bake window is still open: watched.
    const watched = await this.#o.store.listRollouts({
      watchState: 'watching',
    });
    run.activeTargets = new Set(listed.map(r => `${r.provider}:${r.target}`));
    const active = [...listed, ...watched].filter(
      r => shardOf(r.id, shard.count) === shard.index,
    );
    // Whole-rollout gate states this process does not hold: read in one query per chunk.
    const unknown = active.filter(r => run.gates.needsStored(r)).map(r => r.id);
    if (unknown.length) {
      const stored = await this.#o.store.getGateStates(unknown);
      for (const id of unknown) run.gates.provide(id, stored.get(id));
    }
    t.syncMs = performance.now() - started;
    let pending: RolloutChange[] = [];
    for (const rollout of active) {
      if (this.#stopping) break; // shutting down: write what was evaluated, start nothing new
      // Rollouts another controller drives (Flagger, Argo with Tollgate as
      // its judge) are evaluated when that controller asks, never moved here.
      if (!this.#o.providers.hasDeploy(rollout.provider)) continue;
      const t0 = performance.now();
      const actionsBefore = t.actionMs;
      try {
        const acted = await this.#evaluate(rollout, pending, run);
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
    await this.#afterRun(run.run, `${shard.index}/${shard.count}`);
    // Gate states of rollouts that are no longer active are not needed again.
    run.gates.forgetBefore(run.run);
    t.totalMs = performance.now() - started;
    return result;
  }

  /** Evaluates one rollout and acts on the verdict; returns true when it acted. */
  async evaluate(rollout: StoredRollout): Promise<boolean> {
    const pending: RolloutChange[] = [];
    const t = emptyTimings();
    const acted = await this.#evaluate(rollout, pending, {
      run: this.#run,
      t,
      gates: this.#gatesOf({ index: 0, count: 1 }),
      retry: this.#o.retry,
    });
    const failed = await this.#flush(pending, t);
    await this.#afterRun(this.#run);
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
  async #flush(pending: RolloutChange[], t: GateLoopTimings): Promise<number> {
    if (!pending.length) return 0;
    const t0 = performance.now();
    let failures = 0;
    let results: Awaited<ReturnType<Actuator['recordAll']>>;
    try {
      results = await this.#actuator.recordAll(pending);
    } catch (e) {
      this.#o.logger.warn(
        `rollouts: batch write of ${pending.length} evaluations failed, writing them one by one: ${errorMessage(e)}`,
      );
      results = [];
      for (const p of pending) {
        try {
          results.push((await this.#actuator.recordAll([p]))[0]);
        } catch (e2) {
          failures++;
          results.push(undefined);
          this.#o.logger.error(
            `rollouts: could not record the evaluation of ${p.rollout.entityRef} (${p.rollout.id}): ${errorMessage(e2)}`,
          );
        }
      }
    }
    for (const written of results) {
      if (!written) continue; // another writer changed the row first; the next run sees its state
      t.rowsWritten++;
      if (written.decision) t.decisionsWritten++;
    }
    t.writeMs += performance.now() - t0;
    return failures;
  }

  /** Writes what the shadows and the telemetry keeper collected; never fails the run. */
  async #afterRun(run: number, shard?: string) {
    try {
      await this.#o.shadows?.flush(run, shard);
      await this.#o.keeper?.flush();
    } catch (e) {
      this.#o.logger.warn(
        `rollouts: could not write shadow verdicts or kept telemetry: ${errorMessage(e)}`,
      );
    }
  }

  /** The evaluator's engine step for this run: the kept gate states (and the telemetry keeper sees the intervals). */
  #engine(run: RunContext): GateEngine {
    return (rollout, policy, context, gatePolicy, ticks) => {
      const d = run.gates.decide(
        rollout,
        policy,
        context,
        gatePolicy,
        ticks,
        run.run,
      );
      this.#o.keeper?.seen(
        rollout,
        context.tickSeconds,
        context.expectedCanaryShare * 100,
        ticks,
        d.verdict,
      );
      return d;
    };
  }

  async #evaluate(
    rollout: StoredRollout,
    pending: RolloutChange[],
    run: RunContext,
  ): Promise<boolean> {
    const { t } = run;
    const now = this.#now();
    if (rollout.pendingAction) {
      await this.#timedAction(
        () =>
          reconcileInterrupted(
            this.#actuator,
            this.#o.providers,
            rollout,
            run.retry,
            this.#now,
          ),
        t,
      );
      return false;
    }
    if (run.gates.needsStored(rollout)) {
      const stored = await this.#o.store.getGateStates([rollout.id]);
      run.gates.provide(rollout.id, stored.get(rollout.id));
    }
    const entity = await this.#o.entities.byRef(rollout.entityRef);
    if (rollout.watch?.state === 'watching') {
      if (this.#stopping) return false;
      return watchRun({
        rollout,
        annotations: entity?.annotations,
        now,
        run,
        pending,
        actuator: this.#actuator,
        policies: this.#o.policies,
        stopping: () => this.#stopping,
        timed: fn => this.#timedAction(fn, t),
        read: (r, policy) =>
          readCohortTelemetry(
            this.#o,
            r,
            entity?.annotations,
            policy,
            now,
            run.retry,
          ),
        tickSeconds: this.#o.telemetryStepSeconds,
        currentExternalId: async () =>
          (
            await withRetry(
              () =>
                this.#o.providers
                  .deploy(rollout.provider)
                  .getRollout(rollout.target),
              run.retry,
            )
          )?.externalId,
        superseded:
          run.activeTargets?.has(`${rollout.provider}:${rollout.target}`) ??
          false,
      });
    }
    const held = await this.#o.holdReason?.(rollout, entity?.annotations);
    if (held) {
      pending.push(holdChange(rollout, [held], now));
      return false;
    }
    const hits = run.gates.hits;
    const misses = run.gates.misses;
    const evaluation = await this.#evaluator.evaluate(
      rollout,
      entity?.annotations,
      now,
      { retry: run.retry, engine: this.#engine(run) },
    );
    t.engineStateHits += run.gates.hits - hits;
    t.engineStateMisses += run.gates.misses - misses;
    t.telemetryMs += evaluation.telemetryMs;
    if (this.#o.shadows && !this.#stopping) {
      // beside the enforced verdict, never acted on; a failing shadow never stops the gate
      await this.#o.shadows
        .observe({
          rollout,
          annotations: entity?.annotations,
          now,
          enforced: evaluation.ok ? evaluation.decision.verdict : 'hold',
          enforcedPolicy: evaluation.policy,
          retry: run.retry,
          run: run.run,
          shard: run.shardKey ?? '0/1',
        })
        .catch(e =>
          this.#o.logger.warn(
            `rollouts: shadow policy of ${rollout.entityRef} (${rollout.id}) failed: ${errorMessage(e)}`,
          ),
        );
    }
    if (!evaluation.ok) {
      pending.push(holdChange(rollout, evaluation.reasons, now));
      return false;
    }
    t.engineMs += evaluation.engineMs;
    const { decision, summary, policy } = evaluation;
    const evidence = evidenceOf(decision);
    // The whole-rollout state's step start, when it is not stored yet: written with the row.
    const gateState = run.gates.storable(rollout.id);
    const rule = decision.rollout?.rule;
    let verdict = decision.verdict;
    const reasons = [...decision.reasons];

    if (verdict === 'promote') {
      const sr = stepRule(rollout, now);
      if (sr?.kind === 'approval') {
        const change = approvalChange(rollout, summary, reasons, evidence);
        if (gateState) change.patch.gateState = gateState;
        pending.push(change);
        return false;
      }
      if (sr) {
        verdict = sr.verdict;
        reasons.unshift(sr.reason);
      }
    }

    if (verdict === 'promote' || verdict === 'rollback') {
      // Shutting down: take no new action; the next run (here or on another replica) decides again.
      if (this.#stopping) return false;
      const v = verdict;
      // A promotion is decided on the state as it is now: stored with the claim, so whoever
      // evaluates the next step (this process or another) carries it.
      const rs = run.gates.rolloutState(rollout.id);
      return this.#timedAction(
        () =>
          actOnVerdict(this.#actuator, {
            rollout,
            verdict: v,
            reasons,
            evidence,
            summary: { ...summary, verdict: v, reasons },
            policy,
            retry: run.retry,
            ruleNote: ruleNote(rule),
            gateState:
              v === 'promote'
                ? run.gates.storable(rollout.id, true)
                : gateState,
            bake: v === 'promote' && rs ? bakeWindowOf(rs, now) : undefined,
          }),
        t,
      );
    }

    // continue / hold: record the evaluation; log only when the verdict or the rule deciding it changes.
    const previous = rollout.lastEvaluation;
    const changed =
      previous?.verdict !== verdict ||
      (previous?.rule ?? 'gate') !== (rule ?? 'gate');
    // A hold at the step maximum: the owners decide, so they hear about it (once).
    const timedOut = verdict === 'hold' && rule === 'step-timeout';
    const note = ruleNote(rule);
    let notify: 'hold' | 'step-timeout' | undefined;
    if (changed && timedOut) notify = 'step-timeout';
    else if (previous?.verdict !== verdict && verdict === 'hold')
      notify = 'hold';
    pending.push({
      rollout,
      patch: {
        lastEvaluation: { ...summary, verdict, reasons },
        evidence,
        policyName: policy.name,
        policyHash: policy.hash,
        lastError: null,
        ...(gateState ? { gateState } : {}),
      },
      decision: changed
        ? {
            verdict,
            kind: 'automatic',
            actor: 'scheduler',
            reasons: [...(note ? [note] : []), ...reasons],
            evidence,
            policyHash: policy.hash,
            outcome: 'none',
          }
        : undefined,
      event: { notify },
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
}

/** The engine's decision as the evidence the rollout row and the log keep. */
function evidenceOf(decision: GateDecision): StoredEvidence {
  return storedEvidence(decision);
}
