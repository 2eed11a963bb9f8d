import type {
  GateContext,
  TelemetryTick,
} from '@tollgate/plugin-rollouts-common';
import type { StoredRollout } from '../database/RolloutsStore';
import type { RolloutPolicy } from '../policy/policy';

/** Builds the engine's context from a rollout and its policy. */
export function gateContextFor(
  rollout: StoredRollout,
  policy: RolloutPolicy,
  tickSeconds: number,
): GateContext {
  return {
    service: rollout.entityRef,
    tickSeconds,
    expectedCanaryShare: Math.min(1, Math.max(0, rollout.currentWeight / 100)),
    slo: policy.slo,
    kpis: policy.kpis.map(k => ({
      name: k.name,
      type: k.type,
      direction: k.direction,
    })),
  };
}

/** The gate policy the engine gets: the policy's gate section plus KPI margins from `kpis[]`. */
export function gatePolicyFor(policy: RolloutPolicy): RolloutPolicy['gate'] {
  const gate = policy.gate as Record<string, any>;
  const listed: Array<{ name: string; [k: string]: unknown }> = Array.isArray(
    gate.kpis,
  )
    ? gate.kpis
    : [];
  const kpis = [...listed];
  for (const k of policy.kpis) {
    if (k.margin === undefined || listed.some(l => l.name === k.name)) continue;
    kpis.push({ name: k.name, margin: k.margin });
  }
  return kpis.length
    ? ({ ...gate, kpis } as RolloutPolicy['gate'])
    : policy.gate;
}

/** The share of requests the canary received over the ticks, or undefined with no traffic. */
export function observedCanaryShare(
  ticks: TelemetryTick[],
): number | undefined {
  let canary = 0;
  let total = 0;
  for (const t of ticks) {
    if (t.canary?.requests === undefined || t.baseline?.requests === undefined)
      continue;
    canary += t.canary.requests;
    total += t.canary.requests + t.baseline.requests;
  }
  return total > 0 && canary > 0 && canary < total ? canary / total : undefined;
}
