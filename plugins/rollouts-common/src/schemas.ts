import { z } from 'zod';

/**
 * Request schemas of Tollgate's REST API. The backend validates every body
 * and query against these; a failed parse becomes a 400 naming the field.
 */

const entityRef = z
  .string()
  .max(512)
  .regex(/^[a-z0-9_-]+:([a-z0-9_.-]+\/)?[a-z0-9_.-]+$/i, 'must be an entity ref like component:default/checkout');

const providerId = z.string().min(1).max(64).regex(/^[a-z0-9-]+$/, 'must be a provider id like argo-rollouts');

/** One exposure step, as CI and policy files give it. @public */
export const rolloutStepSchema = z
  .object({
    weight: z.number().min(0).max(100),
    minDurationSeconds: z.number().int().min(0).max(7 * 86400).optional(),
    requiresApproval: z.boolean().optional(),
  })
  .strict();

/** A rollout's steps: 1 to 50 of them. @public */
export const rolloutStepsSchema = z.array(rolloutStepSchema).min(1).max(50);

/** `POST /v1/rollouts/:id/actions/:action` body. @public */
export const actionRequestSchema = z
  .object({
    reason: z.string().trim().min(1, 'is required').max(2000),
    idempotencyKey: z
      .string()
      .min(8, 'must be at least 8 characters')
      .max(128)
      .regex(/^[A-Za-z0-9_.:-]+$/, 'may hold only letters, digits and _ . : -'),
  })
  .strict();
/** @public */
export type ActionRequest = z.infer<typeof actionRequestSchema>;

/** `POST /v1/rollouts` body (CI registers a rollout). @public */
export const registerRolloutRequestSchema = z
  .object({
    entityRef,
    provider: providerId,
    target: z.string().min(1).max(256),
    version: z.string().min(1).max(128),
    previousVersion: z.string().min(1).max(128).optional(),
    steps: rolloutStepsSchema.optional(),
    policy: z.string().min(1).max(128).optional(),
  })
  .strict();
/** @public */
export type RegisterRolloutRequest = z.infer<typeof registerRolloutRequestSchema>;

/** `GET /v1/rollouts` query. @public */
export const listRolloutsQuerySchema = z
  .object({
    entityRef: entityRef.optional(),
    status: z
      .enum(['active', 'finished', 'pending', 'progressing', 'paused', 'awaiting-approval', 'promoted', 'rolled-back', 'aborted', 'failed'])
      .optional(),
    limit: z.coerce.number().int().min(1).max(1000).optional(),
  })
  .strict();

/** `GET /v1/rollouts/:id/decisions` query. @public */
export const listDecisionsQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(500).optional(),
    before: z.coerce.number().int().min(1).optional(),
  })
  .strict();

/** `GET /v1/summary` query. @public */
export const summaryQuerySchema = z
  .object({
    owner: entityRef.optional(),
    system: entityRef.optional(),
    days: z.coerce.number().int().min(1).max(365).optional(),
  })
  .strict();

/**
 * `GET /v1/judge` query: an external controller (Argo Rollouts' `web`
 * metric provider) asks for the gate verdict of one revision.
 *
 * @public
 */
export const judgeQuerySchema = z
  .object({
    provider: providerId.default('argo-rollouts'),
    target: z.string().min(1).max(256),
    version: z.string().min(1).max(128),
    /** Percent of traffic on the canary now, when the caller knows it (the SRM check uses it). */
    weight: z.coerce.number().gt(0).lt(100).optional(),
  })
  .strict();
/** @public */
export type JudgeQuery = z.infer<typeof judgeQuerySchema>;

/** Flagger's webhook types Tollgate answers. @public */
export const FLAGGER_HOOKS = [
  'confirm-rollout',
  'pre-rollout',
  'rollout',
  'confirm-traffic-increase',
  'confirm-promotion',
  'rollback',
  'post-rollout',
] as const;
/** @public */
export type FlaggerHook = (typeof FLAGGER_HOOKS)[number];

/**
 * The body Flagger POSTs to every webhook (its `CanaryWebhookPayload`).
 * Unknown fields are kept out of the way, not rejected: Flagger adds
 * fields across versions.
 *
 * @public
 */
export const flaggerWebhookPayloadSchema = z.object({
  name: z.string().min(1).max(253),
  namespace: z.string().min(1).max(63),
  phase: z.string().max(64).optional(),
  checksum: z.string().max(128).optional(),
  metadata: z.record(z.string().max(4096)).optional(),
});
/** @public */
export type FlaggerWebhookPayload = z.infer<typeof flaggerWebhookPayloadSchema>;

/**
 * Turns a zod error into one line per problem, each naming its field path,
 * e.g. `steps[1].weight: Number must be less than or equal to 100`.
 *
 * @public
 */
export function formatZodIssues(error: z.ZodError, root?: string): string[] {
  return error.issues.map(issue => {
    const path = issue.path.reduce<string>((acc, part) => {
      if (typeof part === 'number') return `${acc}[${part}]`;
      return acc ? `${acc}.${part}` : String(part);
    }, root ?? '');
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') {
      message = `unknown field(s) ${issue.keys.map(k => `"${k}"`).join(', ')}`;
    }
    return `${path || '(root)'}: ${message}`;
  });
}
