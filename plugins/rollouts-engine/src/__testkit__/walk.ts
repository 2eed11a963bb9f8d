/**
 * Walks a synthetic release up a ladder in closed loop with the whole-rollout gate: each tick's
 * telemetry is generated at the share the gate chose, from the tick it chose, until rollback,
 * stall (the harness's limit per step), or full plus the bake window.
 */
import { createBakeWatch, decideBake, observeBakeTick } from '../bake';
import type { GatePolicyInput } from '../policy';
import {
  advanceRolloutStep,
  createRolloutGate,
  decideRollout,
  observeRolloutTick,
} from '../rollout';
import type { GateVerdictValue } from '../types';
import { releaseCtx, ReleaseSpec, telemetryAt } from './releases';

export interface WalkResult {
  outcome: 'rollback' | 'full' | 'stalled';
  /** the tick of the rollback, of reaching full, or of the stall */
  tick: number;
  /** step (1-based) at the rollback or stall; steps + 1 once full */
  step: number;
  /** rolled back by the bake watch after full */
  inBake: boolean;
  /** which rule decided the last verdict */
  rule?: string;
  /** promotions made while the release's hold condition was on */
  promotionsDuringHold: number;
  /** per tick: the share the canary had (1 = full) */
  shares: number[];
  verdicts: GateVerdictValue[];
}

export interface WalkOptions {
  ladder: number[];
  policy?: GatePolicyInput;
  /** a step that lasts this many ticks without promote/rollback is a stall */
  stallTicks: number;
  /** ticks of the bake window after full (the watch runs while it lasts) */
  bakeTicks: number;
  availability?: number;
  /** is the release's hold condition on at this tick */
  holdAt?: (tick: number) => boolean;
}

export function walkRelease(spec: ReleaseSpec, o: WalkOptions): WalkResult {
  const ctx = releaseCtx(o.ladder[0], o.availability);
  const rs = createRolloutGate(ctx, o.policy, o.ladder);
  const shares: number[] = [];
  const verdicts: GateVerdictValue[] = [];
  let promotionsDuringHold = 0;
  let stepStart = 1;
  let tick = 0;
  for (;;) {
    tick++;
    const share = o.ladder[rs.stepIndex];
    shares.push(share);
    observeRolloutTick(rs, telemetryAt(spec, tick, share));
    const d = decideRollout(rs, { tick });
    verdicts.push(d.verdict);
    if (d.verdict === 'rollback') {
      return {
        outcome: 'rollback',
        tick,
        step: rs.stepIndex + 1,
        inBake: false,
        rule: d.rollout?.rule,
        promotionsDuringHold,
        shares,
        verdicts,
      };
    }
    if (d.verdict === 'promote') {
      if (o.holdAt?.(tick)) promotionsDuringHold++;
      if (advanceRolloutStep(rs)) {
        stepStart = tick + 1;
        continue;
      }
      // full: the bake window
      const fullTick = tick;
      const watch = createBakeWatch(rs, tick + 1);
      for (let b = 0; b < o.bakeTicks; b++) {
        tick++;
        shares.push(1);
        observeBakeTick(watch, telemetryAt(spec, tick, 1));
        const w = decideBake(watch, { tick });
        verdicts.push(w.verdict === 'rollback' ? 'rollback' : 'continue');
        if (w.verdict === 'rollback') {
          return {
            outcome: 'rollback',
            tick,
            step: o.ladder.length + 1,
            inBake: true,
            rule: 'bake',
            promotionsDuringHold,
            shares,
            verdicts,
          };
        }
      }
      return {
        outcome: 'full',
        tick: fullTick,
        step: o.ladder.length + 1,
        inBake: false,
        rule: d.rollout?.rule,
        promotionsDuringHold,
        shares,
        verdicts,
      };
    }
    if (tick - stepStart + 1 >= o.stallTicks) {
      return {
        outcome: 'stalled',
        tick,
        step: rs.stepIndex + 1,
        inBake: false,
        rule: d.rollout?.rule,
        promotionsDuringHold,
        shares,
        verdicts,
      };
    }
  }
}
