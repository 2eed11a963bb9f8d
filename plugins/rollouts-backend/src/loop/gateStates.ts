import type {
  GateContext,
  GateDecision,
  TelemetryTick,
} from '@tollgate/plugin-rollouts-common';
import {
  createGateState,
  decide,
  observeTickInPlace,
  type GateState,
} from '@tollgate/plugin-rollouts-engine';
import type { StoredRollout } from '../database/RolloutsStore';
import type { RolloutPolicy } from '../policy/policy';

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

/**
 * The gate state of each rollout, kept between runs of the loop, so a run
 * folds only the intervals that are new since the last one. The folded
 * ones are checked unchanged (by fingerprint); otherwise, and after a step
 * change, a new policy or a restart, the whole step is folded again. The
 * verdict is the engine's on the whole step either way.
 */
export class GateStateCache {
  readonly #gates = new Map<string, KeptGate>();
  hits = 0;
  misses = 0;

  /** The engine's verdict on the telemetry, folding only intervals the kept gate state has not seen. */
  decide(
    rollout: StoredRollout,
    policy: RolloutPolicy,
    context: GateContext,
    gatePolicy: RolloutPolicy['gate'],
    ticks: TelemetryTick[],
    run: number,
  ): GateDecision {
    const sorted = ticks.every(
      (tick, i) => i === 0 || ticks[i - 1].tick <= tick.tick,
    )
      ? ticks
      : [...ticks].sort((a, b) => a.tick - b.tick);
    const key = `${rollout.currentStepIndex}|${rollout.stepStartedAt}|${context.expectedCanaryShare}|${rollout.entityRef}|${policy.name}|${policy.hash}|${context.tickSeconds}`;
    let kept = this.#gates.get(rollout.id);
    let print = new Fingerprint();
    let i = 0;
    if (kept && kept.key === key && sorted.length >= kept.folded) {
      for (; i < kept.folded; i++) print.add(sorted[i]);
      if (!print.equals(kept)) kept = undefined;
    } else kept = undefined;
    try {
      if (!kept) {
        this.misses++;
        print = new Fingerprint();
        i = 0;
        kept = {
          key,
          state: createGateState(context, gatePolicy),
          folded: 0,
          h1: 0,
          h2: 0,
          run,
        };
      } else this.hits++;
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

  /** Forgets the gate states no run since `run` used (rollouts no longer active). */
  forgetBefore(run: number) {
    for (const [id, kept] of this.#gates)
      if (kept.run !== run) this.#gates.delete(id);
  }
}
