import type {
  GateVerdict,
  TelemetryTick,
} from '@tollgate/plugin-rollouts-common';
import type { StoredRollout } from '../database/RolloutsStore';
import type { GateEngine } from '../evaluation/RolloutEvaluator';
import type { KeptStep, KeptTelemetryStore } from './KeptTelemetryStore';

/**
 * Keeps the telemetry the gate loop (and the judge) judged each rollout
 * step on, for what-if replay. The loop hands it every step's intervals as
 * the engine folded them ({@link seen}, through {@link keptEngine}); after
 * the run (the judge: after it answered) it writes the steps whose
 * intervals grew by `every` or more since this process last wrote them, and
 * at once a step the gate promotes or rolls back on (its last intervals
 * before the step changes). A step a person ends, or that ends between two
 * writes, may miss its last few intervals: a replay says how many
 * intervals each step had.
 */
export class TelemetryKeeper {
  readonly #written = new Map<string, number>();
  #pending = new Map<string, KeptStep>();

  constructor(
    private readonly o: {
      store: KeptTelemetryStore;
      now: () => Date;
      /** Intervals a step grows by before it is written again (default 5). */
      every?: number;
    },
  ) {}

  seen(
    rollout: StoredRollout,
    tickSeconds: number,
    weight: number,
    ticks: TelemetryTick[],
    verdict: GateVerdict,
  ) {
    if (!ticks.length) return;
    // a step started again (the judge's new weight keeps the index) counts its intervals afresh
    const key = `${rollout.id}|${rollout.currentStepIndex}|${rollout.stepStartedAt}`;
    const written = this.#written.get(key) ?? 0;
    const force = verdict === 'promote' || verdict === 'rollback';
    if (ticks.length <= written) return;
    if (!force && ticks.length - written < (this.o.every ?? 5)) return;
    this.#pending.set(key, {
      rolloutId: rollout.id,
      entityRef: rollout.entityRef,
      stepIndex: rollout.currentStepIndex,
      stepStartedAt: rollout.stepStartedAt,
      weight,
      tickSeconds,
      ticks,
      keptAt: this.o.now().toISOString(),
    });
  }

  /** Writes what the run saw; a failure is the caller's to log (the gate does not depend on it). */
  async flush(): Promise<number> {
    const pending = this.#pending;
    this.#pending = new Map();
    if (!pending.size) return 0;
    await this.o.store.keep([...pending.values()]);
    for (const [key, step] of pending)
      this.#written.set(key, step.ticks.length);
    if (this.#written.size > 100_000) this.#written.clear();
    return pending.size;
  }
}

/**
 * An engine step that hands the keeper the intervals it folded and its
 * verdict (the weight is the share the engine compared against): the gate
 * loop wraps its kept gate states in it, the judge the whole-step fold.
 */
export function keptEngine(
  keeper: TelemetryKeeper | undefined,
  engine: GateEngine,
): GateEngine {
  if (!keeper) return engine;
  return (rollout, policy, context, gatePolicy, ticks) => {
    const d = engine(rollout, policy, context, gatePolicy, ticks);
    keeper.seen(
      rollout,
      context.tickSeconds,
      context.expectedCanaryShare * 100,
      ticks,
      d.verdict,
    );
    return d;
  };
}
