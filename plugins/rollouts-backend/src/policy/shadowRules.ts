import type { GatePolicy } from '@tollgate/plugin-rollouts-engine';
import { canonicalJson, sha256 } from '../database/canonical';
import type { RolloutPolicy } from './policy';

/**
 * The gate rules a policy may run in shadow (`shadowRules: [segments]`):
 * the rule is off in the enforced gate and on in a shadow of the same
 * policy, which runs beside it, logs what it would have done and never acts.
 */
export const SHADOW_RULES = [
  'error-rate',
  'latency',
  'srm',
  'burn',
  'change-detection',
  'blast-radius',
  'segments',
] as const;

export type ShadowRule = (typeof SHADOW_RULES)[number];

type Gate = Record<string, any>;

/** The gate with these rules turned off (each by its own switch). */
export function withRulesOff(
  gate: Partial<GatePolicy>,
  rules: ShadowRule[],
): Partial<GatePolicy> {
  const g: Gate = { ...(gate as Gate) };
  const off = (key: string) => {
    g[key] = { ...(g[key] ?? {}), enabled: false };
  };
  for (const rule of rules) {
    if (rule === 'error-rate') off('errorRate');
    else if (rule === 'latency') off('latency');
    else if (rule === 'srm') off('srm');
    else if (rule === 'burn') off('burn');
    else if (rule === 'blast-radius') off('blastRadius');
    else if (rule === 'change-detection')
      g.rollout = {
        ...(g.rollout ?? {}),
        changeDetection: {
          ...(g.rollout?.changeDetection ?? {}),
          enabled: false,
        },
      };
    // segments are off while no dimension is listed
    else if (rule === 'segments')
      g.segments = { ...(g.segments ?? {}), dimensions: [] };
  }
  return g as Partial<GatePolicy>;
}

/**
 * The shadow of a policy with shadow rules: the same policy with those
 * rules enforced, named `<policy>:shadow-rules`. Undefined when it has none.
 */
export function shadowRulesPolicy(
  policy: RolloutPolicy,
): RolloutPolicy | undefined {
  if (!policy.shadowRules?.length || !policy.shadowGate) return undefined;
  const { shadowRules: _rules, shadowGate, hash: _hash, ...rest } = policy;
  const content = { ...rest, gate: shadowGate, name: undefined };
  return {
    ...rest,
    name: `${policy.name}:shadow-rules`,
    gate: shadowGate,
    hash: sha256(canonicalJson(content)),
  };
}
