/**
 * Blast radius: the consumers of the released service (the catalog's `dependsOn` relations and
 * the components consuming an API it provides) and whether their error-budget burn rose with the
 * canary's step. A consumer has no canary of its own: its SLI is all its traffic, compared with
 * its own reference window just before the step started.
 *
 * The test per consumer is the post-promotion watch's (bake.ts), on the consumer's counts:
 *
 * - the reference is the exact Poisson upper confidence bound (level 1 − α'/2) of the
 *   consumer's error rate in the window before the step, plus `minBurnRise` × its error budget
 *   (1 − its availability objective): the limit;
 * - the step's errors and requests so far are tested against the limit with the one-sample
 *   anytime-valid Poisson mixture (`poissonAboveLogMixture`, mixing over v = log(λ/limit) > 0,
 *   N(0, 0.5²) prior): harm when its e-value reaches 2/α'. The cumulative counts' likelihood
 *   ratio is the product of the per-interval ones, so recomputing it at every evaluation is one
 *   e-process watched continuously (Ville's inequality).
 *
 * A consumer whose rate stays at (or below) its reference rate is reported harmed with
 * probability at most α'/2 (the bound fails) + α'/2 (the e-process crosses) = α'. α' is the
 * policy's `alpha` divided by the judged consumers and the canary steps (Bonferroni, fixed in
 * advance), so a false hold or rollback has probability at most `alpha` per rollout.
 *
 * Missing telemetry is never health: a consumer without usable counts is `not-measured`, which
 * neither holds nor clears anything.
 */
import type {
  BlastRadiusConsumerEvidence,
  BlastRadiusEvidence,
  ConsumerWindowCounts,
  GateDecision,
} from '@tollgate/plugin-rollouts-common';
import { poissonRateUpperBound } from './bake';
import type { GateBlastRadiusPolicy } from './blastRadiusPolicy';
import { poissonAboveLogMixture } from './normalMixture';
import { num } from './reasons';

/** The mixture prior's scale on v = log(λ/limit), as the bake watch uses. */
const SIGMA = 0.5;

/** One consumer as the backend found it: the catalog relation, its SLO and its two windows. */
export interface BlastRadiusConsumerInput {
  entityRef: string;
  relation: 'dependsOn' | 'consumesApi';
  via?: string;
  /** the consumer's availability objective (its own policy's SLO); undefined: not known */
  availability?: number;
  /** its counts before the step and in the step; null/undefined: not read */
  before?: ConsumerWindowCounts | null;
  during?: ConsumerWindowCounts | null;
  /** why it could not be measured (no Tollgate annotation, telemetry failed…) */
  notMeasured?: string;
}

export interface BlastRadiusInput {
  policy: GateBlastRadiusPolicy;
  consumers: BlastRadiusConsumerInput[];
  /** 1-based step, its share (0..1) and the number of canary steps of the ladder (shares below 100 %) */
  step: number;
  share: number;
  canarySteps: number;
}

const burnOf = (w: ConsumerWindowCounts | null | undefined, budget: number) =>
  w && w.requests > 0 ? w.errors / w.requests / budget : null;

/** `5 %`, `0.5 %`, `25 %` */
export function shareText(share: number): string {
  return `${Number((share * 100).toPrecision(3))} %`;
}

/** `the 5 % step`; `the step` when the share is not known */
const stepText = (share: number) =>
  share > 0 ? `the ${shareText(share)} step` : 'the step';

const burnText = (b: number | null) => (b === null ? 'n/a' : `${num(b, 2)}×`);

/** an e-value from its log: beyond double range it is said as a power of ten */
const eValueText = (logE: number) =>
  logE < 690 ? num(Math.exp(logE)) : `10^${Math.floor(logE / Math.LN10)}`;

function relationText(c: BlastRadiusConsumerInput): string {
  if (c.relation === 'consumesApi')
    return `consumes ${c.via ?? 'an API'} it provides`;
  return c.via ? `depends on it and consumes ${c.via}` : 'depends on it';
}

function assessOne(
  c: BlastRadiusConsumerInput,
  input: BlastRadiusInput,
  judged: boolean,
  alphaPerTest: number,
): BlastRadiusConsumerEvidence {
  const { policy } = input;
  const base: BlastRadiusConsumerEvidence = {
    entityRef: c.entityRef,
    relation: c.relation,
    ...(c.via ? { via: c.via } : {}),
    status: 'not-measured',
    reason: '',
    burnBefore: null,
    burnDuring: null,
    limitBurn: null,
    availability: c.availability ?? null,
    before: c.before ?? null,
    during: c.during ?? null,
    statistic: null,
    threshold: null,
  };
  if (!judged)
    return {
      ...base,
      status: 'not-judged',
      reason: "not in the policy's blastRadius.consumers",
    };
  if (c.notMeasured) return { ...base, reason: c.notMeasured };
  const a = c.availability;
  if (a === undefined || !(a > 0 && a < 1))
    return { ...base, reason: 'no availability objective to measure burn by' };
  const budget = 1 - a;
  const before = c.before;
  const during = c.during;
  const burnBefore = burnOf(before, budget);
  const burnDuring = burnOf(during, budget);
  const withBurn = { ...base, burnBefore, burnDuring };
  if (!before || before.requests < Math.max(1, policy.minRequests))
    return {
      ...withBurn,
      reason: `too little telemetry before the step (${before?.requests ?? 0} requests, ${policy.minRequests} needed)`,
    };
  if (!during || !(during.requests > 0))
    return { ...withBurn, reason: 'no telemetry in the step yet' };
  const limit =
    poissonRateUpperBound(before.errors, before.requests, alphaPerTest / 2) +
    policy.minBurnRise * budget;
  const statistic = poissonAboveLogMixture(
    during.errors,
    during.requests,
    limit,
    SIGMA,
  );
  const threshold = Math.log(2 / alphaPerTest);
  const limitBurn = limit / budget;
  const measured = { ...withBurn, limitBurn, statistic, threshold };
  if (statistic >= threshold)
    return {
      ...measured,
      status: 'harm',
      reason: `consumer ${c.entityRef} error-budget burn rose from ${burnText(burnBefore)} to ${burnText(burnDuring)} with ${stepText(input.share)} (it ${relationText(c)}; limit ${burnText(limitBurn)}, e-value ${eValueText(statistic)} ≥ ${num(2 / alphaPerTest)})`,
    };
  return {
    ...measured,
    status: 'no-rise',
    reason: `burn ${burnText(burnBefore)} before the step, ${burnText(burnDuring)} in it: no rise above ${burnText(limitBurn)} shown`,
  };
}

/** Judge every consumer of the released service for the current step. */
export function assessBlastRadius(
  input: BlastRadiusInput,
): BlastRadiusEvidence {
  const { policy } = input;
  const only = policy.consumers ? new Set(policy.consumers) : undefined;
  const judged = input.consumers.map(c => !only || only.has(c.entityRef));
  const k = Math.max(1, judged.filter(Boolean).length);
  const alphaPerTest = policy.alpha / (k * Math.max(1, input.canarySteps));
  const consumers = input.consumers.map((c, i) =>
    assessOne(c, input, judged[i], alphaPerTest),
  );
  return {
    onConsumerHarm: policy.onConsumerHarm,
    alpha: policy.alpha,
    alphaPerTest,
    minBurnRise: policy.minBurnRise,
    beforeSeconds: policy.beforeSeconds,
    step: input.step,
    share: input.share,
    consumers,
    harmed: consumers.filter(c => c.status === 'harm').map(c => c.entityRef),
    action: 'none',
  };
}

/**
 * Fold the check into the gate's decision (mutates it): harm to a consumer turns a promotion
 * or a wait into a hold (`onConsumerHarm: hold`) or the verdict into a rollback (`rollback`),
 * names the consumer first among the reasons and marks the rule `blast-radius`. A rollback the
 * gate already decided stays one.
 */
export function applyBlastRadius(
  decision: GateDecision,
  evidence: BlastRadiusEvidence,
): GateDecision {
  decision.blastRadius = evidence;
  if (!evidence.harmed.length) return decision;
  const reasons = evidence.consumers
    .filter(c => c.status === 'harm')
    .map(c => c.reason);
  let action: BlastRadiusEvidence['action'] = 'none';
  if (evidence.onConsumerHarm === 'rollback') {
    if (decision.verdict !== 'rollback') action = 'rollback';
  } else if (
    decision.verdict === 'promote' ||
    decision.verdict === 'continue'
  ) {
    action = 'hold';
  }
  if (action !== 'none') {
    decision.verdict = action;
    if (decision.rollout)
      decision.rollout = { ...decision.rollout, rule: 'blast-radius' };
  }
  evidence.action = action;
  decision.reasons = [...reasons, ...decision.reasons];
  return decision;
}
