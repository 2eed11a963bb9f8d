import { z } from 'zod/v3';
import type { DecisionListEntry, GateVerdict } from './types';

/**
 * Shadow policies and what-if replay: the types of `GET /v1/shadow` and
 * `POST /v1/policies/whatif`, and the what-if request schema.
 */

/** How a shadow policy's verdict differed from the enforced one's. @public */
export type ShadowDisagreementKind =
  /** the shadow would have rolled back; the enforced policy did not */
  | 'would-rollback'
  /** the shadow would have promoted while the enforced policy continued or held */
  | 'promote-earlier'
  /** the enforced policy promoted while the shadow would have continued, held or rolled back */
  | 'promote-later'
  /** the enforced policy rolled back; the shadow would not have */
  | 'would-not-rollback'
  /** hold against continue, either way */
  | 'hold-vs-continue';

/** One logged would-have decision that disagreed with the enforced verdict. @public */
export interface ShadowDisagreement {
  /** The would-have entry's `seq` in the decision log. */
  seq: number;
  rolloutId: string;
  entityRef: string;
  version?: string;
  stepIndex: number;
  at: string;
  kind: ShadowDisagreementKind;
  shadowVerdict: GateVerdict;
  enforcedVerdict: GateVerdict;
  /** The shadow's first reason past the would-have line. */
  reason?: string;
  /** How the rollout ended (or `active`). */
  rolloutStatus?: string;
}

/** The figures of one shadow policy over the window. @public */
export interface ShadowPolicyFigures {
  policy: string;
  /** Rollouts the shadow evaluated in the window. */
  rolloutsShadowed: number;
  /** Rollouts with at least one disagreement. */
  rolloutsDisagreeing: number;
  /** Rollouts per kind of disagreement (a rollout counts once per kind). */
  byKind: Record<ShadowDisagreementKind, number>;
  /** Latest disagreements, newest first (at most 20). */
  latest: ShadowDisagreement[];
}

/** `GET /v1/shadow?days=`. @public */
export interface ShadowSummary {
  days: number;
  policies: ShadowPolicyFigures[];
  generatedAt: string;
}

/** `GET /v1/rollouts/:id/shadow`: the rollout's shadow policies and their would-have entries. @public */
export interface RolloutShadow {
  /** Each shadow policy that ran on the rollout, with the verdict pair it last logged. */
  policies: Array<{
    policy: string;
    enforced?: GateVerdict;
    shadow?: GateVerdict;
    updatedAt: string;
  }>;
  /** Its would-have entries, newest first (at most 50). */
  items: DecisionListEntry[];
}

/** The most rollouts one what-if request replays. @public */
export const WHATIF_MAX_ROLLOUTS = 200;

const entityRefText = z
  .string()
  .max(512)
  .regex(
    /^[a-z0-9_-]+:([a-z0-9_.-]+\/)?[a-z0-9_.-]+$/i,
    'must be an entity ref like component:default/checkout',
  );

const instant = z
  .string()
  .max(40)
  .refine(
    s => !Number.isNaN(Date.parse(s)),
    'must be a date-time like 2026-12-01T00:00:00Z',
  );

/**
 * `POST /v1/policies/whatif` body: a candidate policy (`policy` object or
 * `yaml` text) and which past rollouts to replay under it.
 *
 * @public
 */
export const whatIfRequestSchema = z
  .object({
    yaml: z
      .string({
        invalid_type_error: 'must be a string holding the policy YAML',
      })
      .max(64 * 1024)
      .optional(),
    policy: z.unknown().optional(),
    selection: z
      .object({
        services: z.array(entityRefText).max(200).optional(),
        from: instant.optional(),
        to: instant.optional(),
        limit: z.number().int().min(1).max(WHATIF_MAX_ROLLOUTS).optional(),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((body, ctx) => {
    const hasYaml = body.yaml !== undefined;
    const hasPolicy = body.policy !== undefined;
    if (hasYaml === hasPolicy) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: hasYaml ? ['policy'] : [],
        message: hasYaml
          ? 'send either yaml or policy, not both'
          : 'send the candidate policy as policy (an object) or yaml (text)',
      });
    }
    const { from, to } = body.selection;
    if (from && to && Date.parse(from) > Date.parse(to)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['selection', 'to'],
        message: 'must not be before selection.from',
      });
    }
  });

/** A what-if request as parsed. @public */
export type WhatIfRequest = z.infer<typeof whatIfRequestSchema>;

/** Where and when a replay, or the real rollout, ended up. @public */
export interface WhatIfOutcome {
  /**
   * `rollback`, `full` (promoted to full traffic), `undecided` (the kept
   * telemetry ended before a verdict: the release moved on, or was stopped,
   * sooner than the candidate would have decided), or for what happened:
   * `active` (still rolling out) and `stopped` (aborted or failed).
   */
  outcome: 'rollback' | 'full' | 'undecided' | 'active' | 'stopped';
  /** The step it happened in (0-based). */
  stepIndex?: number;
  /** Minutes from the rollout's start. */
  minute?: number;
  reasons?: string[];
}

/** One step of a replay: what the candidate said there. @public */
export interface WhatIfStep {
  stepIndex: number;
  weight: number;
  /** Intervals of kept telemetry in the step. */
  intervals: number;
  /** Minutes the real rollout spent in the step. */
  actualMinutes: number;
  /** The candidate's verdict at the end of what it saw of the step. */
  verdict: GateVerdict;
  /** Minutes into the step at which the candidate would have promoted or rolled back. */
  decidedAtMinute?: number;
}

/** One rollout of a what-if answer. @public */
export interface WhatIfRolloutResult {
  rolloutId: string;
  entityRef: string;
  version: string;
  startedAt: string;
  replayable: boolean;
  /** Why it could not be replayed (no kept telemetry, a step without it). */
  notReplayable?: string;
  actual: WhatIfOutcome;
  whatIf?: WhatIfOutcome;
  steps?: WhatIfStep[];
  /** How the candidate compares: `same`, `would-rollback`, `would-not-rollback`, `earlier`, `later`, `undecided`. */
  comparison?:
    | 'same'
    | 'would-rollback'
    | 'would-not-rollback'
    | 'earlier'
    | 'later'
    | 'undecided';
}

/** Totals of one side (the candidate or what happened). @public */
export interface WhatIfTotals {
  rollbacks: number;
  promotionsToFull: number;
  undecided: number;
  /** Mean minutes from start to full, over the rollouts that reached full. */
  meanMinutesToFull?: number;
}

/** `POST /v1/policies/whatif` answer. @public */
export interface WhatIfResult {
  policy: { name: string; hash: string };
  /** Rollouts selected (readable by the caller), replayed or not. */
  rollouts: WhatIfRolloutResult[];
  /** More rollouts matched than the limit: the oldest were left out. */
  truncated: boolean;
  limit: number;
  totals: {
    replayed: number;
    notReplayable: number;
    /** Over the replayed rollouts only. */
    whatIf: WhatIfTotals;
    actual: WhatIfTotals;
  };
}
