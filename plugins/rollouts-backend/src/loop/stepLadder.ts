import type {
  RolloutStep,
  TelemetryTick,
} from '@tollgate/plugin-rollouts-common';

/**
 * The ladder of canary shares the whole-rollout gate walks: each step's
 * weight / 100, the last step left out when it is 100 %. Undefined when
 * the steps do not make one (no steps, shares not increasing in (0, 1)):
 * such a rollout is gated one step at a time.
 */
export function ladderOf(steps: RolloutStep[]): number[] | undefined {
  const shares = steps.map(s => s.weight / 100);
  if (shares.length && shares[shares.length - 1] >= 1) shares.pop();
  if (!shares.length) return undefined;
  for (let i = 0; i < shares.length; i++) {
    if (!(shares[i] > 0 && shares[i] < 1)) return undefined;
    if (i > 0 && !(shares[i] > shares[i - 1])) return undefined;
  }
  return shares;
}

/** The tick number of the interval that ends `seconds` after `from`, counted from the rollout's start. */
export function tickOffset(
  startedAt: string,
  at: string,
  tickSeconds: number,
): number {
  const s = (new Date(at).getTime() - new Date(startedAt).getTime()) / 1000;
  return Math.max(0, Math.floor(s / tickSeconds));
}

/** The ticks in tick order (as they are, when they already are). */
export function sortedTicks(ticks: TelemetryTick[]): TelemetryTick[] {
  return ticks.every((tick, i) => i === 0 || ticks[i - 1].tick <= tick.tick)
    ? ticks
    : [...ticks].sort((a, b) => a.tick - b.tick);
}
