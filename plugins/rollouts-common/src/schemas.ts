import { z } from 'zod/v3';

/**
 * Request schemas of Tollgate's REST API. The backend validates every body
 * and query against these; a failed parse becomes a 400 naming the field.
 */

/** C0 and C1 control characters (NUL included) except tab, line feed and carriage return. */
const CONTROL_CHARACTERS =
  // eslint-disable-next-line no-control-regex -- matching control characters is this pattern's purpose
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;
/** Any control character, line breaks and tabs included. */
// eslint-disable-next-line no-control-regex -- matching control characters is this pattern's purpose
const ANY_CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
/** A UTF-16 surrogate without its other half: not Unicode text, and no database stores it as sent. */
const LONE_SURROGATE =
  /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * A name-like value that ends up in a database column and in decision log
 * reasons (a target, a version): printable, well-formed Unicode.
 */
const label = (max: number, min = 1) =>
  z
    .string()
    .min(min)
    .max(max)
    .refine(
      s => !ANY_CONTROL_CHARACTER.test(s),
      'must not contain control characters',
    )
    .refine(
      s => !LONE_SURROGATE.test(s),
      'must be well-formed Unicode (no lone surrogates)',
    );

/** Free text a person writes (a reason): line breaks and tabs allowed, other control characters not. */
const freeText = (max: number) =>
  z
    .string()
    .trim()
    .min(1, 'is required')
    .max(max)
    .refine(
      s => !CONTROL_CHARACTERS.test(s),
      'must not contain control characters other than tab and line breaks',
    )
    .refine(
      s => !LONE_SURROGATE.test(s),
      'must be well-formed Unicode (no lone surrogates)',
    );

/**
 * A number in a query string. Only a single string value is read as a
 * number: a repeated parameter (an array) or a nested one (an object) is
 * refused, where `z.coerce.number()` would read `["5"]` as 5.
 */
const queryNumber = (schema: z.ZodNumber) =>
  z.preprocess(
    v => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v),
    schema,
  );

const entityRef = z
  .string()
  .max(512)
  .regex(
    /^[a-z0-9_-]+:([a-z0-9_.-]+\/)?[a-z0-9_.-]+$/i,
    'must be an entity ref like component:default/checkout',
  );

const providerId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9-]+$/, 'must be a provider id like argo-rollouts');

/** One exposure step, as CI and policy files give it. @public */
export const rolloutStepSchema = z
  .object({
    weight: z.number().min(0).max(100),
    minDurationSeconds: z
      .number()
      .int()
      .min(0)
      .max(7 * 86400)
      .optional(),
    requiresApproval: z.boolean().optional(),
  })
  .strict();

/** A rollout's steps: 1 to 50 of them. @public */
export const rolloutStepsSchema = z.array(rolloutStepSchema).min(1).max(50);

/** `POST /v1/rollouts/:id/actions/:action` body. @public */
export const actionRequestSchema = z
  .object({
    reason: freeText(2000),
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
    target: label(256),
    version: label(128),
    previousVersion: label(128).optional(),
    steps: rolloutStepsSchema.optional(),
    policy: label(128).optional(),
  })
  .strict();
/** @public */
export type RegisterRolloutRequest = z.infer<
  typeof registerRolloutRequestSchema
>;

/** `GET /v1/rollouts` query. @public */
export const listRolloutsQuerySchema = z
  .object({
    entityRef: entityRef.optional(),
    status: z
      .enum([
        'active',
        'finished',
        'pending',
        'progressing',
        'paused',
        'awaiting-approval',
        'promoted',
        'rolled-back',
        'aborted',
        'failed',
      ])
      .optional(),
    limit: queryNumber(z.number().int().min(1).max(1000)).optional(),
    /** Rows to skip (the next page starts at offset + limit). */
    offset: queryNumber(z.number().int().min(0).max(1_000_000)).optional(),
    /** Only services owned by this group / part of this system (catalog refs). */
    owner: entityRef.optional(),
    system: entityRef.optional(),
    /** Only rollouts whose entity ref or version contains this text (case-insensitive). */
    q: z.string().trim().min(1).max(200).optional(),
  })
  .strict();

/** @public */
export type ListRolloutsQuery = z.infer<typeof listRolloutsQuerySchema>;

/** `GET /v1/rollouts/:id/decisions` query. @public */
export const listDecisionsQuerySchema = z
  .object({
    limit: queryNumber(z.number().int().min(1).max(500)).optional(),
    before: queryNumber(z.number().int().min(1)).optional(),
  })
  .strict();

/** `GET /v1/decisions/export` query: entries after seq `after`, at most `limit` of them. @public */
export const exportDecisionsQuerySchema = z
  .object({
    after: queryNumber(z.number().int().min(0)).optional(),
    limit: queryNumber(z.number().int().min(1).max(1_000_000)).optional(),
  })
  .strict();

/** `GET /v1/summary` query. @public */
export const summaryQuerySchema = z
  .object({
    owner: entityRef.optional(),
    system: entityRef.optional(),
    days: queryNumber(z.number().int().min(1).max(365)).optional(),
  })
  .strict();

/** What `GET /v1/summary/services` sorts by. @public */
export const SERVICE_SORTS = [
  'budgetSpent',
  'budgetBurnRate',
  'rolledBack',
  'activeRollouts',
  'entityRef',
] as const;
/** @public */
export type ServiceSort = (typeof SERVICE_SORTS)[number];

/** A yes/no flag in a query string: only `true` or `false`. */
const queryFlag = z.enum(['true', 'false']).transform(v => v === 'true');

/**
 * `GET /v1/summary/services` query: one page of the summary's service rows,
 * filtered, searched and sorted by the backend. @public
 */
export const summaryServicesQuerySchema = summaryQuerySchema
  .extend({
    /** Only services whose entity ref contains this text (case-insensitive). */
    q: z.string().trim().min(1).max(200).optional(),
    sort: z.enum(SERVICE_SORTS).optional(),
    /** Default: descending for the figures, ascending for `entityRef`. */
    order: z.enum(['asc', 'desc']).optional(),
    offset: queryNumber(z.number().int().min(0).max(1_000_000)).optional(),
    limit: queryNumber(z.number().int().min(1).max(100)).optional(),
    /** Only services with an active rollout carrying KPI evidence (`activeCohorts`). */
    active: queryFlag.optional(),
    /** Only services with a known error-budget share (`budgetSpent` not null). */
    budgeted: queryFlag.optional(),
  })
  .strict();
/** @public */
export type SummaryServicesQuery = z.infer<typeof summaryServicesQuerySchema>;

/**
 * `POST /v1/judge` body (and `GET /v1/judge` query, which only reads): an
 * external controller (Argo Rollouts' `web` metric provider) asks for the
 * gate verdict of one revision. `weight` may come as a string (Argo's
 * `jsonBody` values are templated strings).
 *
 * @public
 */
export const judgeQuerySchema = z
  .object({
    provider: providerId.default('argo-rollouts'),
    target: label(256),
    version: label(128),
    /** Percent of traffic on the canary now, when the caller knows it (the SRM check uses it). */
    weight: queryNumber(z.number().gt(0).lt(100)).optional(),
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
export const flaggerWebhookPayloadSchema = z
  .object({
    name: label(253),
    namespace: label(63),
    phase: label(64, 0).optional(),
    checksum: label(128, 0).optional(),
    metadata: z.record(z.string().max(4096)).optional(),
  })
  .superRefine((p, ctx) => {
    // `namespace/name` is the rollout's target, stored in a 256-character column.
    if (p.namespace.length + 1 + p.name.length > 256) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['name'],
        message:
          'with the namespace, must be at most 256 characters (namespace/name is the rollout target)',
      });
    }
  });
/** @public */
export type FlaggerWebhookPayload = z.infer<typeof flaggerWebhookPayloadSchema>;

/**
 * `POST /v1/policies/validate` body: the policy as YAML text, or as an
 * object, not both.
 *
 * @public
 */
export const validatePolicyRequestSchema = z
  .object({
    yaml: z
      .string({
        invalid_type_error: 'must be a string holding the policy YAML',
      })
      .optional(),
    policy: z.unknown().optional(),
  })
  .strict()
  .superRefine((body, ctx) => {
    const hasYaml = body.yaml !== undefined;
    const hasPolicy = body.policy !== undefined;
    if (hasYaml && hasPolicy) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['policy'],
        message: 'send either yaml or policy, not both',
      });
    } else if (!hasYaml && !hasPolicy) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: [],
        message: 'send { "yaml": "<policy YAML>" } or { "policy": { … } }',
      });
    }
  });

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
      const shown = issue.keys
        .slice(0, 10)
        .map(k => JSON.stringify(k.length > 64 ? `${k.slice(0, 64)}…` : k));
      const more =
        issue.keys.length > shown.length
          ? ` and ${issue.keys.length - shown.length} more`
          : '';
      message = `unknown field(s) ${shown.join(', ')}${more}`;
    }
    return `${path || '(root)'}: ${message}`;
  });
}
