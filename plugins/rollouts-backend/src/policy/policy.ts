import { InputError } from '@backstage/errors';
import {
  checkStageList,
  parseDurationSeconds,
  rolloutStepsSchema,
  unknownTargetPlaceholders,
  type RolloutStep,
  type StageDeclaration,
} from '@tollgate/plugin-rollouts-common';
import {
  formatGatePolicyPath,
  validateGatePolicy,
  type GatePolicy,
} from '@tollgate/plugin-rollouts-engine';
import { Lexer, Parser, parseDocument, YAMLError } from 'yaml';
import { z } from 'zod/v3';
import { canonicalJson, sha256 } from '../database/canonical';
import { SHADOW_RULES, withRulesOff, type ShadowRule } from './shadowRules';

/** A rollout policy: the SLO, the KPIs, the gate's statistical settings and the steps. */
export interface RolloutPolicy {
  name: string;
  slo: {
    availability: number;
    latency?: { thresholdMs: number; objective: number };
  };
  kpis: Array<{
    name: string;
    type: 'proportion' | 'mean';
    direction: 'increase' | 'decrease';
    margin?: number;
  }>;
  steps?: RolloutStep[];
  /** Query templates handed to the telemetry provider (for example PromQL per signal). */
  telemetry?: { queries?: Record<string, string> };
  gate: Partial<GatePolicy>;
  /**
   * Gate rules run in shadow: off in `gate` (what is enforced), on in
   * `shadowGate` (the gate as written), which a shadow evaluates beside it
   * (`shadowRules.ts`).
   */
  shadowRules?: ShadowRule[];
  shadowGate?: Partial<GatePolicy>;
  /**
   * Multi-stage promotion for every service on the policy (an entity's
   * `tollgate.dev/stages` annotation wins): targets are templates with
   * `{{name}}` and `{{namespace}}` of the entity.
   */
  stages?: StageDeclaration[];
  /** How long a completed stage soaks before the next starts, e.g. `10m`. */
  stageSoak?: string;
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
          .object({
            thresholdMs: z.number().positive(),
            objective: z.number().gt(0).lt(1),
          })
          .strict()
          .optional(),
      })
      .strict()
      .default({ availability: 0.999 }),
    kpis: z
      .array(
        z
          .object({
            name: z
              .string()
              .min(1)
              .max(64)
              .regex(
                /^[a-zA-Z0-9_.-]+$/,
                'may hold only letters, digits and _ . -',
              ),
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
    shadowRules: z
      .array(z.enum(SHADOW_RULES))
      .max(SHADOW_RULES.length)
      .optional(),
    stages: z
      .array(
        z
          .object({
            name: z.string().min(1).max(64),
            provider: z.string().min(1).max(64),
            target: z.string().min(1).max(255),
          })
          .strict(),
      )
      .max(10)
      .optional(),
    stageSoak: z.string().min(1).max(16).optional(),
  })
  .strict();

/** The stages' problems: placeholders, the rules every declaration keeps, the soak. */
function stageProblems(
  stages: StageDeclaration[] | undefined,
  soak: string | undefined,
  add: (path: string, message: string) => void,
) {
  stages?.forEach((s, i) => {
    for (const p of unknownTargetPlaceholders(s.target))
      add(
        `stages[${i}].target`,
        `unknown placeholder {{${p}}} (a target may use {{name}} and {{namespace}})`,
      );
  });
  if (stages) {
    try {
      checkStageList(stages, 'stages');
    } catch (e) {
      add('stages', (e as Error).message.replace(/^stages: /, ''));
    }
  }
  if (soak !== undefined) {
    if (!stages) add('stageSoak', 'a soak needs stages');
    try {
      parseDurationSeconds(soak, 'stageSoak');
    } catch (e) {
      add('stageSoak', (e as Error).message.replace(/^stageSoak: /, ''));
    }
  }
}

/**
 * A `telemetry.queries` value that names a query template the platform
 * defined in app-config (e.g. `rollouts.providers.prometheus.templates`)
 * rather than carrying a raw query: a letter, then letters, digits, `_` or
 * `-`. (The Prometheus module reads names the same way.)
 */
export const QUERY_TEMPLATE_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

export interface PolicyValidationOptions {
  /**
   * Report raw queries in `telemetry.queries` as problems. A policy comes
   * from a service's repository, and a telemetry provider runs its queries
   * with the platform's credentials: policies may only name templates. The
   * provider refuses raw queries too, unless the platform allows them for
   * the target; `POST /v1/policies/validate` (which knows no target) refuses them.
   */
  refuseRawQueries?: boolean;
}

/**
 * Checks a policy object and returns every problem with its field path
 * (an empty list when it is valid).
 */
export function validatePolicyObject(
  input: unknown,
  options: PolicyValidationOptions = {},
): {
  policy?: RolloutPolicy;
  problems: PolicyProblem[];
} {
  const parsed = policySchema.safeParse(input);
  const problems: PolicyProblem[] = [];
  const seen = new Set<string>();
  const add = (path: string, message: string) => {
    if (seen.has(`${path}\u0000${message}`)) return; // the gate section is checked twice
    seen.add(`${path}\u0000${message}`);
    problems.push({ path, message });
  };
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        // one problem per unknown field, at its own path (`slo.availabilty`)
        for (const key of issue.keys)
          add(formatGatePolicyPath([...issue.path, key]), 'unknown field');
      } else {
        add(formatGatePolicyPath(issue.path), issue.message);
      }
    }
  }
  const gateInput = (input as any)?.gate ?? {};
  const gate = validateGatePolicy(gateInput);
  if (!gate.ok) {
    for (const p of gate.problems) {
      add(
        !p.path || p.path === '(root)' ? 'gate' : `gate.${p.path}`,
        p.message,
      );
    }
  }
  if (parsed.success)
    stageProblems(parsed.data.stages, parsed.data.stageSoak, add);
  if (options.refuseRawQueries && parsed.success) {
    for (const [key, query] of Object.entries(
      parsed.data.telemetry?.queries ?? {},
    )) {
      if (QUERY_TEMPLATE_NAME.test(query)) continue;
      add(
        formatGatePolicyPath(['telemetry', 'queries', key]),
        "a raw query is refused: a policy runs queries with the platform's credentials, so it may only name a query template " +
          'the platform defined in app-config (rollouts.providers.prometheus.templates); raw queries run only for targets ' +
          'the platform allows them for (rollouts.providers.prometheus.targets["<target>"].allowPolicyQueries)',
      );
    }
  }
  if (!parsed.success || problems.length > 0) {
    return { problems };
  }
  const { name, ...rest } = parsed.data;
  const content = { ...rest, gate: parsed.data.gate as Partial<GatePolicy> };
  const shadowRules = rest.shadowRules?.length ? rest.shadowRules : undefined;
  return {
    policy: {
      name: name ?? 'unnamed',
      ...content,
      ...(shadowRules
        ? {
            shadowRules,
            shadowGate: content.gate,
            gate: withRulesOff(content.gate, shadowRules),
          }
        : {}),
      hash: sha256(canonicalJson(content)),
    },
    problems,
  };
}

/** A policy is a handful of levels deep; YAML nested deeper is refused before it is composed. */
export const MAX_POLICY_YAML_DEPTH = 64;
/** Policy files are small; a larger text is refused before it is parsed. */
export const MAX_POLICY_YAML_BYTES = 256 * 1024;

/**
 * The first place where the YAML nests deeper than `max` levels, found with
 * yaml's own CST parser, which keeps its stack on the heap. (Composing such
 * a document recurses once per level: thousands of `[` exhaust the call
 * stack, and under source-map support that kills the process.)
 */
function tooDeep(
  text: string,
  max: number,
): { line: number; col: number } | undefined {
  const parser = new Parser();
  let offset = 0;
  for (const lexeme of new Lexer().lex(text, false)) {
    for (const _ of parser.next(lexeme)) {
      // documents are composed later, by parseYaml
    }
    if (parser.stack.length > max) {
      const before = text.slice(0, offset);
      const lineStart = before.lastIndexOf('\n') + 1;
      return { line: before.split('\n').length, col: offset - lineStart + 1 };
    }
    offset += lexeme.length;
  }
  return undefined;
}

function yamlProblem(e: YAMLError): PolicyProblem {
  const pos = e.linePos?.[0];
  // The position is in the path; the library repeats it at the end of its message.
  const message = e.message
    .split('\n')[0]
    .replace(/ at line \d+, column \d+:?$/, '');
  return {
    path: pos ? `(yaml line ${pos.line}, column ${pos.col})` : '(yaml)',
    message,
  };
}

/** Parses policy YAML text; problems name their field path (or the YAML line). */
export function validatePolicyYaml(
  text: string,
  options: PolicyValidationOptions = {},
): {
  policy?: RolloutPolicy;
  problems: PolicyProblem[];
} {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_POLICY_YAML_BYTES) {
    return {
      problems: [
        {
          path: '(yaml)',
          message: `the policy is ${bytes} bytes; the limit is ${MAX_POLICY_YAML_BYTES / 1024} KiB`,
        },
      ],
    };
  }
  let data: unknown;
  try {
    const deep = tooDeep(text, MAX_POLICY_YAML_DEPTH);
    if (deep) {
      return {
        problems: [
          {
            path: `(yaml line ${deep.line}, column ${deep.col})`,
            message: `nested more than ${MAX_POLICY_YAML_DEPTH} levels deep`,
          },
        ],
      };
    }
    const doc = parseDocument(text, { prettyErrors: true });
    // Errors, and warnings too (an unresolved `!!python/object` tag, an
    // ambiguous alias): a policy is small and should read one way only.
    const issues = [...doc.errors, ...doc.warnings];
    if (issues.length > 0) return { problems: issues.map(yamlProblem) };
    data = doc.toJS({ maxAliasCount: 50 });
  } catch (e) {
    if (e instanceof YAMLError) return { problems: [yamlProblem(e)] };
    // Whatever else the YAML library throws (too many aliases) is still a problem with the text, not a crash.
    return {
      problems: [
        {
          path: '(yaml)',
          message: `cannot be read: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`,
        },
      ],
    };
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return {
      problems: [
        { path: '(root)', message: 'a policy must be a YAML mapping' },
      ],
    };
  }
  return validatePolicyObject(data, options);
}

/** Like validatePolicyObject but throws an InputError listing every problem. */
export function parsePolicyObject(
  input: unknown,
  where: string,
): RolloutPolicy {
  const { policy, problems } = validatePolicyObject(input);
  if (!policy) {
    throw new InputError(
      `invalid policy ${where}: ${problems.map(p => `${p.path}: ${p.message}`).join('; ')}`,
    );
  }
  return policy;
}
