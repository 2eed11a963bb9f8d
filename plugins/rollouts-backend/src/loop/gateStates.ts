import type {
  GateContext,
  GateDecision,
  TelemetryTick,
} from '@tollgate/plugin-rollouts-common';
import {
  advanceRolloutStep,
  createBakeWatch,
  createGateState,
  createRolloutGate,
  decide,
  decideBake,
  decideRollout,
  observeBakeTick,
  observeRolloutTick,
  observeTickInPlace,
  type BakeDecision,
  type BakeWatchState,
  type GateState,
  type RolloutGateState,
} from '@tollgate/plugin-rollouts-engine';
import type { StoredRollout } from '../database/RolloutsStore';
import type { RolloutPolicy } from '../policy/policy';
import { Fingerprint } from './fingerprint';
import { ladderOf, sortedTicks, tickOffset } from './stepLadder';
import {
  parseStoredGateState,
  storedText,
  type StepCheckpoint,
  type StoredGateState,
} from './storedGateState';

/** A gate state kept between runs, valid while the step, weight and policy stay and the folded intervals do not change. */
interface KeptGate {
  key: string;
  /** whole rollout: its state and the step it is in; single step: `step` */
  rs?: RolloutGateState;
  step?: GateState;
  stepIndex: number;
  stepStartedAt: string;
  /** tick number of the step's first interval minus one (ticks count across steps) */
  offset: number;
  /** JSON of the state at the step's start (a refold starts there); undefined: a fresh rollout */
  start?: string;
  /** the start is not stored yet: the next write of the row carries it */
  startUnstored: boolean;
  /** Intervals folded into the state, and a fingerprint of their content. */
  folded: number;
  h1: number;
  h2: number;
  run: number;
}

/** The post-promotion watch of a rollout, kept between runs like a step's gate state. */
interface KeptWatch {
  key: string;
  watch: BakeWatchState;
  offset: number;
  folded: number;
  h1: number;
  h2: number;
  run: number;
}

/** The state's identity: a rollout under one policy, tick length and ladder. */
function gateKey(
  rollout: StoredRollout,
  policy: RolloutPolicy,
  tickSeconds: number,
  ladder: number[] | undefined,
): string {
  return `${rollout.id}|${rollout.startedAt}|${rollout.entityRef}|${policy.name}|${policy.hash}|${tickSeconds}|${ladder ? ladder.join(',') : 'step'}`;
}

/**
 * The gate state of each rollout, kept between runs of the loop, so a run
 * folds only the intervals that are new since the last one.
 *
 * A rollout whose steps make a ladder is gated as one test across its
 * steps (the engine's `createRolloutGate`): the state is carried from step
 * to step (`advanceRolloutStep` when the deploy system reports the next
 * step), and stored with the rollout ({@link StoredGateState}) at the
 * points a step begins and a promotion is decided, so it survives restarts
 * and moves between replicas. Within a step the folded intervals are
 * checked unchanged (by fingerprint); otherwise, and after a new policy or
 * a restart, the step is folded again from its start. The verdict is the
 * engine's either way.
 */
export class GateStateCache {
  readonly #gates = new Map<string, KeptGate>();
  readonly #watches = new Map<string, KeptWatch>();
  /** Stored states handed in for this run (rollouts not held in memory). */
  readonly #stored = new Map<string, StoredGateState | undefined>();
  hits = 0;
  misses = 0;

  /**
   * True when this process does not hold the rollout's state for its
   * current step (a restart, a step it did not see begin, a watch it did
   * not start): the loop reads the stored one first ({@link provide}). The
   * stored state wins over one this process kept from an earlier step:
   * another replica may have folded more since.
   */
  needsStored(rollout: StoredRollout): boolean {
    if (this.#stored.has(rollout.id)) return false;
    if (rollout.watch?.state === 'watching')
      return !this.#watches.has(rollout.id);
    if (rollout.currentStepIndex === 0) return false; // the first step starts fresh
    const kept = this.#gates.get(rollout.id);
    return (
      !kept ||
      kept.stepIndex !== rollout.currentStepIndex ||
      kept.stepStartedAt !== rollout.stepStartedAt
    );
  }

  /** The stored state of a rollout (undefined: it has none). */
  provide(id: string, text: string | undefined) {
    this.#stored.set(id, parseStoredGateState(text));
  }

  /** The engine's verdict on the telemetry, folding only intervals the kept gate state has not seen. */
  decide(
    rollout: StoredRollout,
    policy: RolloutPolicy,
    context: GateContext,
    gatePolicy: RolloutPolicy['gate'],
    ticks: TelemetryTick[],
    run: number,
  ): GateDecision {
    const sorted = sortedTicks(ticks);
    const ladder = ladderOf(rollout.steps);
    const whole =
      ladder !== undefined &&
      rollout.currentStepIndex < ladder.length &&
      Math.abs(ladder[rollout.currentStepIndex] - context.expectedCanaryShare) <
        1e-9;
    const key = whole
      ? gateKey(rollout, policy, context.tickSeconds, ladder)
      : `${gateKey(rollout, policy, context.tickSeconds, undefined)}|${rollout.currentStepIndex}|${rollout.stepStartedAt}|${context.expectedCanaryShare}`;
    let kept = this.#gates.get(rollout.id);
    if (kept && kept.key !== key) kept = undefined;
    let print = new Fingerprint();
    let i = 0;
    try {
      if (
        kept &&
        kept.stepIndex === rollout.currentStepIndex &&
        kept.stepStartedAt === rollout.stepStartedAt
      ) {
        if (sorted.length >= kept.folded)
          for (; i < kept.folded; i++) print.add(sorted[i]);
        if (sorted.length < kept.folded || !print.equals(kept)) {
          // a folded interval was revised (or is gone): fold the step again from its start
          kept = this.#stepStart(kept, rollout, context, gatePolicy, ladder);
          print = new Fingerprint();
          i = 0;
          this.misses++;
        } else this.hits++;
      } else {
        this.misses++;
        kept = whole
          ? this.#enterStep(kept, key, rollout, context, gatePolicy, ladder!)
          : {
              key,
              step: createGateState(context, gatePolicy),
              stepIndex: rollout.currentStepIndex,
              stepStartedAt: rollout.stepStartedAt,
              offset: 0,
              startUnstored: false,
              folded: 0,
              h1: 0,
              h2: 0,
              run,
            };
      }
      kept.run = run;
      for (; i < sorted.length; i++) {
        if (kept.rs) {
          const tick = sorted[i];
          observeRolloutTick(kept.rs, {
            ...tick,
            tick: tick.tick + kept.offset,
          });
        } else observeTickInPlace(kept.step!, sorted[i]);
        print.add(sorted[i]);
      }
      kept.folded = sorted.length;
      kept.h1 = print.h1;
      kept.h2 = print.h2;
      this.#gates.set(rollout.id, kept);
      return kept.rs ? decideRollout(kept.rs) : decide(kept.step!);
    } catch (e) {
      this.#gates.delete(rollout.id);
      throw e;
    }
  }

  /** The kept state at its step's start (a refold). */
  #stepStart(
    kept: KeptGate,
    rollout: StoredRollout,
    context: GateContext,
    gatePolicy: RolloutPolicy['gate'],
    ladder: number[] | undefined,
  ): KeptGate {
    if (!kept.rs) {
      return {
        ...kept,
        step: createGateState(context, gatePolicy),
        folded: 0,
      };
    }
    const rs = kept.start
      ? (JSON.parse(kept.start) as StepCheckpoint).rs
      : createRolloutGate(
          { ...context, expectedCanaryShare: ladder![0] },
          gatePolicy,
          ladder!,
        );
    if (rs.stepIndex < rollout.currentStepIndex)
      advanceRolloutStep(rs, rollout.currentStepIndex);
    return { ...kept, rs, folded: 0 };
  }

  /**
   * The state at the start of the rollout's current step: the kept one
   * carried from an earlier step, or the stored one, or a new rollout gate.
   */
  #enterStep(
    kept: KeptGate | undefined,
    key: string,
    rollout: StoredRollout,
    context: GateContext,
    gatePolicy: RolloutPolicy['gate'],
    ladder: number[],
  ): KeptGate {
    const current = rollout.currentStepIndex;
    const offset = tickOffset(
      rollout.startedAt,
      rollout.stepStartedAt,
      context.tickSeconds,
    );
    let rs: RolloutGateState | undefined;
    let start: string | undefined;
    let unstored = true;
    const stored = this.#stored.get(rollout.id);
    this.#stored.delete(rollout.id);
    const s = stored?.key === key ? stored : undefined;
    if (s?.end && s.end.stepIndex < current) {
      // a promotion was decided on this state: the next step starts from it
      rs = s.end.rs;
    } else if (
      s?.start &&
      s.start.stepIndex === current &&
      s.start.stepStartedAt === rollout.stepStartedAt
    ) {
      rs = s.start.rs;
      start = JSON.stringify(s.start);
      unstored = false;
    } else if (kept?.rs && kept.stepIndex < current) {
      // the deploy system moved on without a stored promotion: carry what this process folded
      rs = kept.rs;
    } else if (s?.start && s.start.stepIndex < current) rs = s.start.rs;
    if (!rs) {
      rs = createRolloutGate(
        { ...context, expectedCanaryShare: ladder[0] },
        gatePolicy,
        ladder,
      );
      if (current === 0) unstored = false; // a fresh rollout needs nothing stored
    }
    if (rs.stepIndex < current) advanceRolloutStep(rs, current);
    if (unstored) {
      start = JSON.stringify({
        stepIndex: current,
        stepStartedAt: rollout.stepStartedAt,
        rs,
      } satisfies StepCheckpoint);
    }
    return {
      key,
      rs,
      stepIndex: current,
      stepStartedAt: rollout.stepStartedAt,
      offset,
      start,
      startUnstored: unstored,
      folded: 0,
      h1: 0,
      h2: 0,
      run: 0,
    };
  }

  /**
   * The state to store with the row's next write when the current step's
   * start is not stored yet (undefined otherwise); `withEnd` adds the
   * state as it is now (a promotion was decided on it).
   */
  storable(id: string, withEnd = false): string | undefined {
    const kept = this.#gates.get(id);
    if (!kept?.rs || (!withEnd && !kept.startUnstored)) return undefined;
    kept.startUnstored = false;
    return storedText(kept, withEnd);
  }

  /** The whole-rollout state of a rollout held in memory (the watch after the promotion to full starts from it). */
  rolloutState(id: string): RolloutGateState | undefined {
    return this.#gates.get(id)?.rs;
  }

  /**
   * The post-promotion watch's verdict: the rollout's state at the
   * promotion to full (kept, or stored as `end`), and the released
   * version's telemetry since the promotion. Undefined when there is no
   * such state (the watch cannot run).
   */
  bake(
    rollout: StoredRollout,
    policy: RolloutPolicy,
    tickSeconds: number,
    ticks: TelemetryTick[],
    now: Date,
    run: number,
  ): BakeDecision | undefined {
    const watchStart = rollout.watch!.startedAt;
    const ladder = ladderOf(rollout.steps);
    const gk = gateKey(rollout, policy, tickSeconds, ladder);
    const key = `${gk}|${watchStart}`;
    const sorted = sortedTicks(ticks);
    let kept = this.#watches.get(rollout.id);
    if (kept && kept.key !== key) kept = undefined;
    let print = new Fingerprint();
    let i = 0;
    if (kept && sorted.length >= kept.folded) {
      for (; i < kept.folded; i++) print.add(sorted[i]);
      if (!print.equals(kept)) kept = undefined;
    } else kept = undefined;
    if (!kept) {
      this.misses++;
      print = new Fingerprint();
      i = 0;
      // the state the promotion to full was decided on: as stored with it, or as kept here
      const inMemory = this.#gates.get(rollout.id);
      const stored = this.#stored.get(rollout.id);
      const last = (ladder?.length ?? 0) - 1;
      let rs: RolloutGateState | undefined;
      if (stored?.key === gk && stored.end?.stepIndex === last)
        rs = stored.end.rs;
      else if (inMemory?.key === gk && inMemory.stepIndex === last)
        rs = inMemory.rs;
      if (!rs) return undefined;
      const offset = tickOffset(rollout.startedAt, watchStart, tickSeconds);
      kept = {
        key,
        // the watch reads the rollout's state, never changes it
        watch: createBakeWatch(
          JSON.parse(JSON.stringify(rs)) as RolloutGateState,
          offset + 1,
        ),
        offset,
        folded: 0,
        h1: 0,
        h2: 0,
        run,
      };
    } else this.hits++;
    for (; i < sorted.length; i++) {
      const tick = sorted[i];
      observeBakeTick(kept.watch, { ...tick, tick: tick.tick + kept.offset });
      print.add(tick);
    }
    kept.folded = sorted.length;
    kept.h1 = print.h1;
    kept.h2 = print.h2;
    kept.run = run;
    this.#watches.set(rollout.id, kept);
    const elapsed = Math.floor(
      (now.getTime() - new Date(watchStart).getTime()) / 1000 / tickSeconds,
    );
    return decideBake(kept.watch, { tick: kept.offset + elapsed });
  }

  /** Forgets the gate states no run since `run` used (rollouts no longer active or watched). */
  forgetBefore(run: number) {
    for (const [id, kept] of this.#gates)
      if (kept.run !== run && !this.#watches.has(id)) this.#gates.delete(id);
    for (const [id, kept] of this.#watches)
      if (kept.run !== run) {
        this.#watches.delete(id);
        this.#gates.delete(id);
      }
    this.#stored.clear();
  }
}
