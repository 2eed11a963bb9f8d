import {
  storedEvidence,
  type GateDecision,
  type StoredEvidence,
} from '@tollgate/plugin-rollouts-common';
import { Actuator, type RolloutChange } from '../actuator/Actuator';
import type { StoredRollout } from '../database/RolloutsStore';
import { DecisionWriter } from '../decisions/DecisionWriter';
import { RolloutEvaluator } from '../evaluation/RolloutEvaluator';
import { errorMessage } from '../providers/retry';
import { GateStateCache } from './gateStates';
import type { GateLoopOptions } from './options';
import { bakeWindowOf, watchInLoop } from './watch';
import {
  activeRollouts,
  afterRun,
  flushPending,
  gateEngine,
  type RunContext,
} from './runPhases';
import type { Shard } from './shards';
import { RolloutSync } from './sync';
import {
  emptyTimings,
  type GateLoopRunResult,
  type GateLoopTimings,
} from './timings';
import {
  actOnVerdict,
  approvalChange,
  evaluationChange,
  holdChange,
  reconcileInterrupted,
  ruleNote,
  stepRule,
} from './verdicts';

export type { GateLoopOptions } from './options';
export type { GateLoopRunResult, GateLoopTimings } from './timings';

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
    const active = await activeRollouts(this.#o.store, shard, run);
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
        result.failures += await flushPending(
          this.#actuator,
          this.#o.logger,
          pending,
          t,
        );
        pending = [];
      }
    }
    result.failures += await flushPending(
      this.#actuator,
      this.#o.logger,
      pending,
      t,
    );
    await afterRun(this.#o, run.run, `${shard.index}/${shard.count}`);
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
    const failed = await flushPending(
      this.#actuator,
      this.#o.logger,
      pending,
      t,
    );
    await afterRun(this.#o, this.#run);
    if (failed)
      throw new Error(
        `rollouts: could not record the evaluation of ${rollout.id}`,
      );
    return acted;
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
      return watchInLoop(this.#o, {
        rollout,
        annotations: entity?.annotations,
        now,
        run,
        pending,
        actuator: this.#actuator,
        stopping: () => this.#stopping,
        timed: fn => this.#timedAction(fn, t),
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
      { retry: run.retry, engine: gateEngine(run, this.#o.keeper) },
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

    // continue / hold: record the evaluation
    pending.push(
      evaluationChange(rollout, {
        verdict,
        rule,
        summary,
        reasons,
        evidence,
        policy,
        gateState,
      }),
    );
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
