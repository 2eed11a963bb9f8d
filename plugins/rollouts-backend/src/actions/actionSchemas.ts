import {
  ACTIVE_ROLLOUT_STATUSES,
  FINAL_ROLLOUT_STATUSES,
  type DecisionEntry,
  type Rollout,
} from '@tollgate/plugin-rollouts-common';
import type { z as zod } from 'zod/v3';

/** What the registry's actions take and return: their zod schemas, and the views of a rollout and a decision they answer with. */

const STATUSES = [...ACTIVE_ROLLOUT_STATUSES, ...FINAL_ROLLOUT_STATUSES] as [
  string,
  ...string[],
];

export const rolloutInput = (z: typeof zod) => ({
  rolloutId: z
    .string()
    .optional()
    .describe('The rollout id (a UUID). Give this or entityRef.'),
  entityRef: z
    .string()
    .optional()
    .describe(
      "The service's catalog entity ref, e.g. component:default/checkout: picks its active rollout. Give this or rolloutId.",
    ),
});

export const rolloutOutput = (z: typeof zod) =>
  z.object({
    id: z.string(),
    entityRef: z.string(),
    provider: z.string(),
    target: z.string(),
    version: z.string(),
    previousVersion: z.string().optional(),
    status: z.enum(STATUSES),
    step: z
      .object({
        index: z.number().int().describe('0-based index of the current step'),
        count: z.number().int(),
        weight: z.number().describe('percent of traffic on the new version'),
        requiresApproval: z.boolean(),
      })
      .describe('Where the rollout is in its steps'),
    startedAt: z.string(),
    stepStartedAt: z.string(),
    finishedAt: z.string().optional(),
    policyName: z.string().optional(),
    lastEvaluation: z
      .object({
        verdict: z.string().describe('continue, hold, promote or rollback'),
        rubric: z.string(),
        score: z.number(),
        reasons: z.array(z.string()),
        evaluatedAt: z.string(),
      })
      .optional()
      .describe("The gate's latest verdict and its reasons"),
    lastError: z
      .object({
        message: z.string(),
        at: z.string(),
        action: z.string().optional(),
      })
      .optional(),
    watch: z
      .object({
        state: z.string().describe('watching, passed, rolled-back or ended'),
        startedAt: z.string(),
        endsAt: z.string(),
        verdict: z.string().optional(),
        reasons: z.array(z.string()),
      })
      .optional()
      .describe('The watch after the promotion to full (bake window)'),
  });

export const decisionOutput = (z: typeof zod) =>
  z.object({
    seq: z.number().int(),
    id: z.string(),
    verdict: z.string(),
    kind: z.string().describe('automatic, manual or override'),
    actor: z.string(),
    outcome: z.string().describe('applied, failed or none'),
    reasons: z.array(z.string()),
    createdAt: z.string(),
  });

export function rolloutView(r: Rollout) {
  const step = r.steps[r.currentStepIndex];
  const e = r.lastEvaluation ?? undefined;
  return {
    id: r.id,
    entityRef: r.entityRef,
    provider: r.provider,
    target: r.target,
    version: r.version,
    previousVersion: r.previousVersion ?? undefined,
    status: r.status,
    step: {
      index: r.currentStepIndex,
      count: r.steps.length,
      weight: r.currentWeight,
      requiresApproval: Boolean(step?.requiresApproval),
    },
    startedAt: r.startedAt,
    stepStartedAt: r.stepStartedAt,
    finishedAt: r.finishedAt ?? undefined,
    policyName: r.policyName ?? undefined,
    lastEvaluation: e && {
      verdict: e.verdict,
      rubric: e.rubric,
      score: e.score,
      reasons: e.reasons,
      evaluatedAt: e.evaluatedAt,
    },
    lastError: r.lastError
      ? {
          message: r.lastError.message,
          at: r.lastError.at,
          ...(r.lastError.action ? { action: r.lastError.action } : {}),
        }
      : undefined,
    watch: r.watch && {
      state: r.watch.state,
      startedAt: r.watch.startedAt,
      endsAt: r.watch.endsAt,
      ...(r.watch.verdict ? { verdict: r.watch.verdict } : {}),
      reasons: r.watch.reasons,
    },
  };
}

export function decisionView(d: DecisionEntry | undefined) {
  if (!d) return undefined;
  const { seq, id, verdict, kind, actor, outcome, reasons, createdAt } = d;
  return { seq, id, verdict, kind, actor, outcome, reasons, createdAt };
}
