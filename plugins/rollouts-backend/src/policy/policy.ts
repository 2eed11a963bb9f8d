import { InputError } from '@backstage/errors';
import {
  formatZodIssues,
  rolloutStepsSchema,
  validateGatePolicy,
  type GatePolicy,
  type RolloutStep,
} from '@tollgate/plugin-rollouts-common';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { canonicalJson, sha256 } from '../database/canonical';

/** A rollout policy: the SLO, the KPIs, the gate's statistical settings and the steps. */
export interface RolloutPolicy {
  name: string;
  slo: { availability: number; latency?: { thresholdMs: number; objective: number } };
  kpis: Array<{ name: string; type: 'proportion' | 'mean'; direction: 'increase' | 'decrease'; margin?: number }>;
  steps?: RolloutStep[];
  /** Query templates handed to the telemetry provider (for example PromQL per signal). */
  telemetry?: { queries?: Record<string, string> };
  gate: Partial<GatePolicy>;
  /** sha256 of the policy's canonical JSON; recorded on rollouts and decisions. */
  hash: string;
}

export interface PolicyProblem {
  path: string;
  message: string;
}

const policySchema = z
  .object({
    name: z.string().min(1).max(128).optional(),
    slo: z
      .object({
        availability: z.number().gt(0).lt(1),
        latency: z
          .object({ thresholdMs: z.number().positive(), objective: z.number().gt(0).lt(1) })
          .strict()
          .optional(),
      })
      .strict()
      .default({ availability: 0.999 }),
    kpis: z
      .array(
        z
          .object({
            name: z.string().min(1).max(64).regex(/^[a-zA-Z0-9_.-]+$/, 'may hold only letters, digits and _ . -'),
            type: z.enum(['proportion', 'mean']),
            direction: z.enum(['increase', 'decrease']),
            margin: z.number().min(0).max(1).optional(),
          })
          .strict(),
      )
      .max(20)
      .default([]),
    steps: rolloutStepsSchema.optional(),
    telemetry: z
      .object({
        queries: z.record(z.string().min(1).max(4096)).optional(),
      })
      .strict()
      .optional(),
    gate: z.record(z.unknown()).default({}),
  })
  .strict();

/**
 * Checks a policy object and returns every problem with its field path
 * (an empty list when it is valid).
 */
export function validatePolicyObject(input: unknown): { policy?: RolloutPolicy; problems: PolicyProblem[] } {
  const parsed = policySchema.safeParse(input);
  const problems: PolicyProblem[] = [];
  if (!parsed.success) {
    for (const line of formatZodIssues(parsed.error)) {
      const idx = line.indexOf(': ');
      problems.push({ path: line.slice(0, idx), message: line.slice(idx + 2) });
    }
  }
  const gateInput = (input as any)?.gate ?? {};
  const gate = validateGatePolicy(gateInput);
  if (!gate.ok) {
    for (const p of gate.problems) {
      problems.push({ path: p.path ? `gate.${p.path}` : 'gate', message: p.message });
    }
  }
  if (!parsed.success || problems.length > 0) {
    return { problems };
  }
  const { name, ...rest } = parsed.data;
  const content = { ...rest, gate: parsed.data.gate as Partial<GatePolicy> };
  return {
    policy: { name: name ?? 'unnamed', ...content, hash: sha256(canonicalJson(content)) },
    problems,
  };
}

/** Parses policy YAML text; problems name their field path (or the YAML line). */
export function validatePolicyYaml(text: string): { policy?: RolloutPolicy; problems: PolicyProblem[] } {
  let data: unknown;
  try {
    data = parseYaml(text, { maxAliasCount: 50 });
  } catch (e) {
    if (e instanceof YAMLParseError) {
      const pos = e.linePos?.[0];
      return { problems: [{ path: pos ? `(yaml line ${pos.line}, column ${pos.col})` : '(yaml)', message: e.message.split('\n')[0] }] };
    }
    throw e;
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return { problems: [{ path: '(root)', message: 'a policy must be a YAML mapping' }] };
  }
  return validatePolicyObject(data);
}

/** Like validatePolicyObject but throws an InputError listing every problem. */
export function parsePolicyObject(input: unknown, where: string): RolloutPolicy {
  const { policy, problems } = validatePolicyObject(input);
  if (!policy) {
    throw new InputError(`invalid policy ${where}: ${problems.map(p => `${p.path}: ${p.message}`).join('; ')}`);
  }
  return policy;
}
