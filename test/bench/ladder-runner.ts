/**
 * Replays a whole-rollout ladder file (docs/scenario-format.md, "Whole rollouts: ladder files")
 * with the whole-rollout gate, tick by tick, using nothing from later ticks.
 *
 * Steps follow the deploy system, as the gate loop follows what the provider reports: a tick
 * whose lines say `step` k+1 begins step k+1 (the engine's state carried as `advanceRolloutStep`
 * carries it). After the engine's `promote` in step k the next tick belongs to step k+1 (its lines
 * say so in a file written in closed loop; a tick with no line at all is missing telemetry of step
 * k+1). If the file goes on with step k lines after a promote, the deploy system did not move: the
 * replay stays in step k and says so once on stderr.
 */
import {
  advanceRolloutStep,
  createRolloutGate,
  decideRollout,
  observeRolloutTick,
  type GateContext,
  type GatePolicyInput,
  type TelemetryTick,
} from '@tollgate/plugin-rollouts-engine';
import type { VerdictLine } from './engine-runner';
import type { Scenario } from './scenario';

export function replayLadder(
  s: Scenario,
  policy?: GatePolicyInput,
  warn: (m: string) => void = () => {},
): VerdictLine[] {
  const ladder = s.header.ladder!;
  const rs = createRolloutGate(s.ctx, policy, ladder);
  const out: VerdictLine[] = [];
  let promotedIn: number | null = null;
  for (let i = 0; i < s.ticks.length; i++) {
    const tick = s.ticks[i];
    const fileStep = s.stepAt[i];
    if (promotedIn !== null) {
      // the tick after a promote: step k+1 unless the file's lines are still in step k
      if (fileStep === promotedIn) {
        warn(
          `${s.file}: tick ${tick.tick} is still in step ${fileStep} after the promote at tick ${tick.tick - 1}; staying in step ${fileStep}`,
        );
      } else advanceRolloutStep(rs, promotedIn);
      promotedIn = null;
    }
    if (fileStep !== undefined && fileStep - 1 > rs.stepIndex)
      advanceRolloutStep(rs, fileStep - 1);
    observeRolloutTick(rs, tick);
    const d = decideRollout(rs, { tick: tick.tick });
    out.push({
      scenario: s.header.name,
      tick: tick.tick,
      verdict: d.verdict,
      reasons: d.reasons,
    });
    if (d.verdict === 'rollback') break;
    if (d.verdict === 'promote') {
      if (rs.stepIndex + 1 >= ladder.length) break; // full
      promotedIn = rs.stepIndex + 1;
    }
  }
  return out;
}

/**
 * Writes the ladder file of a closed-loop walk: header with `ladder`, then each tick's cohort
 * lines with their `step`, up to `lastTick` (the rollback, the promotion to full, or the stall).
 * `shares[t-1]` is the share the walk had at tick t; `telemetry(tick, share)` the tick's data.
 */
export function ladderFileText(o: {
  name: string;
  ctx: GateContext;
  ladder: number[];
  shares: number[];
  lastTick: number;
  telemetry: (tick: number, share: number) => TelemetryTick;
}): string {
  const header = {
    format: 'rollout-scenario/v1',
    name: o.name,
    service: o.ctx.service,
    tickSeconds: o.ctx.tickSeconds,
    maxTicks: o.lastTick,
    expectedCanaryShare: o.ladder[0],
    ladder: o.ladder,
    slo: o.ctx.slo,
    kpis: o.ctx.kpis,
  };
  const lines = [JSON.stringify(header)];
  for (let tick = 1; tick <= o.lastTick; tick++) {
    const share = o.shares[tick - 1];
    const step = o.ladder.indexOf(share) + 1;
    const t = o.telemetry(tick, share);
    for (const cohort of ['baseline', 'canary'] as const) {
      const c = t[cohort];
      if (!c) continue;
      const latency = c.latency && {
        le: c.latency.le.map(x => (x === Infinity ? '+Inf' : x)),
        counts: c.latency.counts,
      };
      lines.push(JSON.stringify({ tick, step, cohort, ...c, latency }));
    }
  }
  return `${lines.join('\n')}\n`;
}
