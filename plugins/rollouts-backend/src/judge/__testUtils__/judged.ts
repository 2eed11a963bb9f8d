import type { TelemetryTick } from '@tollgate/plugin-rollouts-common';
import { catalogComponent } from '@tollgate/plugin-rollouts-node/testUtils';

/** `count` ten-second ticks of 1000 requests, the canary taking `share` of them, at the given canary error rate (baseline 0.1 %). */
export function ticks(
  canaryErrorRate: number,
  share = 0.1,
  count = 60,
): TelemetryTick[] {
  const canary = Math.round(1000 * share);
  const baseline = 1000 - canary;
  return Array.from({ length: count }, (_, tick) => ({
    tick,
    baseline: {
      requests: baseline,
      errors: Math.round(baseline * 0.001 * (tick % 2 ? 1.5 : 0.5)),
    },
    canary: {
      requests: canary,
      errors: Math.round(canary * canaryErrorRate * (tick % 2 ? 1.5 : 0.5)),
    },
  }));
}

/** A team-checkout service whose rollouts the annotation names. */
export const component = (name: string, annotation: string) =>
  catalogComponent(name, {
    rollouts: annotation,
    owner: 'group:default/team-checkout',
  });
