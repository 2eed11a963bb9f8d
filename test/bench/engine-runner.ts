/** Runs the gate engine over a scenario tick by tick (shared by replay and the benchmarks). */
import {
  createGateState,
  decide,
  observeTickInPlace,
  type GateDecision,
  type GatePolicyInput,
} from '@tollgate/plugin-rollouts-engine';
import type { Scenario } from './scenario';

export interface VerdictLine {
  scenario: string;
  tick: number;
  verdict: GateDecision['verdict'];
  reasons: string[];
}

/**
 * Replays a scenario: after each tick (data up to that tick only) asks the engine for a verdict.
 * Stops after the first promote/rollback unless `full`.
 */
export function replayScenario(
  s: Scenario,
  policy?: GatePolicyInput,
  full = false,
): VerdictLine[] {
  const state = createGateState(s.ctx, policy);
  const out: VerdictLine[] = [];
  for (const tick of s.ticks) {
    observeTickInPlace(state, tick);
    const d = decide(state, { tick: tick.tick });
    out.push({
      scenario: s.header.name,
      tick: tick.tick,
      verdict: d.verdict,
      reasons: d.reasons,
    });
    if (!full && (d.verdict === 'promote' || d.verdict === 'rollback')) break;
  }
  return out;
}
