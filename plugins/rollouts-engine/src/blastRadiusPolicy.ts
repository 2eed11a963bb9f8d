/**
 * The blast-radius policy (`gate.blastRadius`): whether the consumers the catalog names for the
 * released service are watched, and what harm to one of them does. See blastRadius.ts.
 */
import { z } from 'zod/v3';

export const blastRadiusPolicySchema = z
  .object({
    /** watch the consumers (catalog `dependsOn` / consumed APIs) of the released service */
    enabled: z.boolean().default(true),
    /** what a consumer whose error-budget burn rose with the step does to the rollout */
    onConsumerHarm: z.enum(['hold', 'rollback']).default('hold'),
    /** judge only these consumers (entity refs, e.g. `component:default/storefront`); default: all */
    consumers: z
      .array(
        z.string().regex(/^[a-z0-9-_]+:[a-zA-Z0-9-_.]+\/[a-zA-Z0-9-_.]+$/, {
          message: 'must be a full entity ref, kind:namespace/name',
        }),
      )
      .max(50, { message: 'at most 50 consumers' })
      .optional(),
    /** α per rollout of the consumer tests, split over the judged consumers and the canary steps */
    alpha: z
      .number({ invalid_type_error: 'must be a number' })
      .gt(0, { message: 'must be between 0 and 1 (exclusive)' })
      .lt(1, { message: 'must be between 0 and 1 (exclusive)' })
      .default(0.01),
    /** the rise in burn (× the consumer's error budget) above the before-burn's upper bound that counts as harm */
    minBurnRise: z
      .number({ invalid_type_error: 'must be a number' })
      .gt(0, { message: 'must be > 0' })
      .max(1000, { message: 'must be at most 1000' })
      .default(1),
    /** the reference: this long before the step started */
    beforeSeconds: z
      .number({ invalid_type_error: 'must be a number' })
      .min(60, { message: 'must be between 60 and 86400' })
      .max(86_400, { message: 'must be between 60 and 86400' })
      .default(1800),
    /** a consumer with fewer requests than this in the reference window is not measured */
    minRequests: z
      .number({ invalid_type_error: 'must be a number' })
      .min(0, { message: 'must be >= 0' })
      .default(100),
  })
  .strict();

export type GateBlastRadiusPolicy = z.output<typeof blastRadiusPolicySchema>;
