import type { EvidenceSnapshot } from './evidenceReader';
/**
 * Tollgate's domain model, shared by the backend, the frontend and the
 * provider modules.
 */

/** Lifecycle of a rollout. @public */
export type RolloutStatus =
  | 'pending'
  | 'progressing'
  | 'paused'
  | 'awaiting-approval'
  | 'promoted'
  | 'rolled-back'
  | 'aborted'
  | 'failed';

/** Statuses in which the gate loop still evaluates a rollout. @public */
export const ACTIVE_ROLLOUT_STATUSES: readonly RolloutStatus[] = [
  'pending',
  'progressing',
  'paused',
  'awaiting-approval',
];

/** Final statuses. @public */
export const FINAL_ROLLOUT_STATUSES: readonly RolloutStatus[] = [
  'promoted',
  'rolled-back',
  'aborted',
  'failed',
];

/** True when the gate loop still evaluates a rollout in this status. @public */
export function isActiveStatus(status: RolloutStatus): boolean {
  return ACTIVE_ROLLOUT_STATUSES.includes(status);
}

/** One exposure step: a traffic weight (percent) or a flag cohort share. @public */
export interface RolloutStep {
  /** Percent of traffic (or of the flag's audience) on the new version, 0–100. */
  weight: number;
  /** Minimum time in this step before the gate may promote to the next, seconds. */
  minDurationSeconds?: number;
  /** The step waits for a person's approval before it is left. */
  requiresApproval?: boolean;
}

/** A gate verdict. @public */
export type GateVerdict = 'continue' | 'hold' | 'promote' | 'rollback';

/** What a person can do to a rollout. @public */
export type RolloutAction =
  'promote' | 'pause' | 'resume' | 'approve' | 'rollback';

/** Every action, in the order the UI shows them. @public */
export const ROLLOUT_ACTIONS: readonly RolloutAction[] = [
  'promote',
  'pause',
  'resume',
  'approve',
  'rollback',
];

/** A rollout as Tollgate's API returns it. @public */
export interface Rollout {
  id: string;
  entityRef: string;
  /** Deploy provider id, e.g. `simulator`, `argo-rollouts`, `unleash`. */
  provider: string;
  /** Provider-specific target, e.g. `payments/checkout-api`. */
  target: string;
  version: string;
  previousVersion?: string;
  status: RolloutStatus;
  steps: RolloutStep[];
  currentStepIndex: number;
  /** Current share of traffic on the new version, percent. */
  currentWeight: number;
  startedAt: string;
  stepStartedAt: string;
  finishedAt?: string;
  updatedAt: string;
  /** The policy the rollout runs under, and the hash of its content. */
  policyName?: string;
  policyHash?: string;
  /** The latest gate evaluation, when there is one. */
  lastEvaluation?: GateEvaluationSummary;
  /** A problem the gate loop or a provider reported (kept visible until resolved). */
  lastError?: { message: string; at: string; action?: string };
  /** The post-promotion watch (bake window), once the gate promoted the rollout to full. */
  watch?: RolloutWatch;
}

/**
 * The post-promotion watch of a rollout the gate promoted to full: for the
 * bake window the released version is compared with the service's own
 * history, and harm rolls it back. @public
 */
export interface RolloutWatch {
  /** watching: in the window; passed: the window ended clean; rolled-back: harm in the window; ended: stopped early (superseded, no gate state). */
  state: 'watching' | 'passed' | 'rolled-back' | 'ended';
  /** When the window started (the promotion to full) and when it ends. */
  startedAt: string;
  endsAt: string;
  /** The latest verdict of the watch, and why. */
  verdict?: 'continue' | 'rollback' | 'complete';
  reasons: string[];
  evaluatedAt?: string;
}

/** Which rule of the whole-rollout gate decided a verdict. @public */
export type GateRule =
  'gate' | 'change-detection' | 'step-timeout' | 'bake' | 'blast-radius';

/** The part of a gate evaluation a list view shows. @public */
export interface GateEvaluationSummary {
  verdict: GateVerdict;
  rubric: 'ready' | 'provisionally ready' | 'not ready';
  score: number;
  reasons: string[];
  evaluatedAt: string;
  /** Which rule of the whole-rollout gate decided (absent: the single-step gate). */
  rule?: GateRule;
}

/** A rollout with its current gate evidence, for the detail view. @public */
export interface RolloutDetail extends Rollout {
  /** The gate engine's full output at the latest evaluation (signals, checks, burn windows). */
  evidence?: EvidenceSnapshot;
  runbookUrl?: string;
}

/**
 * Who made a decision. `shadow`: a shadow policy's would-have verdict,
 * never acted on (left out of lists and figures unless asked for). @public
 */
export type DecisionKind = 'automatic' | 'manual' | 'override' | 'shadow';

/** One entry of the append-only decision log. @public */
export interface DecisionEntry {
  /** Position in the log, 1-based and gap-free. */
  seq: number;
  id: string;
  rolloutId: string;
  entityRef: string;
  stepIndex: number;
  /** The gate verdict, or the action a person took. */
  verdict: GateVerdict | RolloutAction | 'register' | 'observe';
  kind: DecisionKind;
  /** `scheduler` for the gate loop, or the user's entity ref. */
  actor: string;
  reasons: string[];
  evidence: EvidenceSnapshot | null;
  policyHash: string | null;
  /** Outcome of the action at the deploy provider. */
  outcome: 'applied' | 'failed' | 'none';
  createdAt: string;
  prevHash: string;
  hash: string;
}

/**
 * A decision as `GET /v1/rollouts/:id/decisions` lists it: everything but
 * the evidence snapshot (several KiB each), which
 * `GET /v1/rollouts/:id/decisions/:seq/evidence` answers for one entry.
 *
 * @public
 */
export type DecisionListEntry = Omit<DecisionEntry, 'evidence'> & {
  /** Whether an evidence snapshot was recorded with the decision. */
  hasEvidence: boolean;
};

/** A page of decisions (the API's pages hold `DecisionListEntry` items). @public */
export interface DecisionPage<T = DecisionEntry> {
  items: T[];
  /** Pass as `before` to get the next (older) page; absent on the last page. */
  nextCursor?: number;
}

/** Answer of `GET /v1/rollouts/:id/decisions/:seq/evidence`. @public */
export interface DecisionEvidence {
  seq: number;
  evidence: EvidenceSnapshot | null;
}

/** Answer of `GET /v1/decisions/verify`. @public */
export interface DecisionChainVerification {
  ok: boolean;
  checked: number;
  /** The first entry whose hash does not match its content or its predecessor. */
  firstBroken?: { seq: number; id: string; problem: string };
}

/** Portfolio figures for the executive dashboard. @public */
export interface RolloutsSummary {
  windowDays: number;
  generatedAt: string;
  activeRollouts: number;
  finishedRollouts: number;
  promoted: number;
  rolledBack: number;
  /** Share of finished rollouts that promoted. */
  successRate: number | null;
  /**
   * Change-failure rate: of the releases that reached full traffic in the
   * window, the share that needed a rollback (applied or not) or a
   * roll-forward (a newer release ended its bake window) after that.
   */
  changeFailureRate: number | null;
  /** Mean minutes from a rollout's first harmful verdict to its applied rollback. */
  meanTimeToRollbackMinutes: number | null;
  /** Mean minutes from a regressed version's deploy (rollout start) to its first harmful verdict. */
  meanDetectionLagMinutes: number | null;
  /** Finished rollouts that ended rolled back, aborted or failed, per 100 finished. */
  failedPer100?: number | null;
  /** Releases that reached full traffic in the window, and of them those counted as change failures. */
  reachedFull?: number;
  changeFailures?: number;
  /** Rollbacks and detections the two means are taken over. */
  timedRollbacks?: number;
  detections?: number;
  /** Steps the automation completed / every promote or rollback action (rollouts active or finished in the window). */
  automationSuccessRate?: number | null;
  automatedSteps?: number;
  allSteps?: number;
  /** The SLO window error-budget shares are taken over, days. */
  sloWindowDays?: number;
  /** The most severe and most recent incidents associated with rollouts. */
  incidents?: RolloutIncident[];
  /**
   * A first slice of the service rows, not all of them: the
   * `SUMMARY_FIRST_SERVICES` services with the most error budget spent
   * (then by name). Page through every row with `GET /v1/summary/services`.
   */
  services: ServiceSummary[];
  /** How many services the summary covers (the rows `GET /v1/summary/services` pages through). */
  servicesTotal?: number;
  trend: Array<{
    day: string;
    promoted: number;
    rolledBack: number;
    other: number;
  }>;
}

/** How many service rows `GET /v1/summary` carries (the rest are paged by `GET /v1/summary/services`). @public */
export const SUMMARY_FIRST_SERVICES = 20;

/** A page of `GET /v1/summary/services`: the rows and how many all pages hold. @public */
export interface ServiceSummaryPage {
  items: ServiceSummary[];
  total: number;
  offset: number;
  limit: number;
}

/** One service's row on the dashboard. @public */
export interface ServiceSummary {
  entityRef: string;
  activeRollouts: number;
  finishedRollouts: number;
  rolledBack: number;
  /** Worst error-budget burn rate the gate saw on the service's active rollouts. */
  budgetBurnRate: number | null;
  /** Mean relative KPI delta (canary vs baseline) across this period's rollouts, per KPI. */
  kpiImpact: Record<string, number>;
  /** The KPIs of each active rollout's latest evidence, with their always-valid intervals. */
  activeCohorts?: ActiveCohortKpis[];
  /**
   * Share of the service's error budget for the SLO window spent while its
   * rollouts ran: Σ service-wide burn rate × time / SLO window over the
   * logged decisions of its rollouts active or finished within the window.
   */
  budgetSpent?: number | null;
  /** The part of `budgetSpent` the new versions' traffic spent: canary burn rate × its traffic share × time / SLO window. */
  budgetSpentByRollouts?: number | null;
}

/** An active rollout's business KPIs on the dashboard. @public */
export interface ActiveCohortKpis {
  rolloutId: string;
  version: string;
  kpis: Array<{
    name: string;
    /** canary − baseline (relative: ratio − 1; absolute: difference of means) */
    difference: number | null;
    /** always-valid confidence interval for `difference` */
    ci: [number, number] | null;
    scale: 'relative' | 'absolute';
    direction: 'increase' | 'decrease';
  }>;
}

/** What kind of incident a rollout had. @public */
export type RolloutIncidentKind =
  'rollback-failed' | 'rollback' | 'hold-burn' | 'hold-stale';

/** An incident associated with a rollout, from its decision log. @public */
export interface RolloutIncident {
  kind: RolloutIncidentKind;
  /** When the decision was logged. */
  at: string;
  entityRef: string;
  rolloutId: string;
  version: string;
  /** The decision's position in the log. */
  seq: number;
  /** The decision's first reason. */
  reason: string;
}
