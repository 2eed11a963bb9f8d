import {
  readBurnRows,
  readKeyNumbers,
  readSignals,
  viewBurnRate,
  type DecisionEntry,
  type RolloutIncident,
  type RolloutStep,
} from '@tollgate/plugin-rollouts-common';
import { parseJson } from './rolloutRows';

/**
 * The dashboard's delivery figures of one rollout, folded decision by
 * decision as the store appends them to the log (in the same transaction),
 * so the summary reads a few columns per rollout instead of the log.
 *
 * Migration `20261206200000_rollout_delivery_figures.js` holds a frozen
 * copy of this fold to backfill existing rollouts; change the fold's meaning
 * only with a new migration that recomputes the columns.
 *
 * Definitions (the README and the dashboard's tooltips say the same):
 *
 * - harmful verdict: a `rollback` (gate, bake watch or person; applied or
 *   not), or a `hold` whose evidence shows harm (the canary's burn windows
 *   alerting, or a signal the engine found deteriorated);
 * - `firstHarmAt`: the first harmful verdict's time; `rolledBackAt`: the
 *   first applied rollback's;
 * - `reachedFullAt`: the first applied promotion that opens full traffic
 *   (no next step, or a next step at 100%);
 * - `failedAfterFullAt`: after that, the first rollback decision (applied or
 *   failed), or the bake watch ended because a newer release of the target
 *   started (a roll-forward);
 * - steps: every `promote` or `rollback` decision that acted on the deploy
 *   system (outcome applied or failed) counts one step in `stepsAll`; an
 *   applied automatic `promote` counts one in `stepsAuto`;
 * - budget: each logged decision's burn rates hold until the rollout's next
 *   logged decision (the gate logs a decision when its verdict changes); the
 *   time between two decisions adds `burnService × seconds` to
 *   `budgetService` and `burnCanary × seconds` to `budgetCanary`. The
 *   service burn is the worst long-window burn of the service-wide view in
 *   the evidence; the canary burn is the canary view's, times the traffic
 *   share of the step the rollout is in after the decision. A decision
 *   without burn evidence keeps the rates; an applied rollback or the
 *   promotion to full ends the rollout's exposure (rates cleared);
 * - incidents: an applied rollback, a failed rollback, a hold on burn (any
 *   burn view alerting, or the promotion guard fired) and a hold on stale
 *   telemetry (the freshness check stale, or a hold without evidence whose
 *   reason names the telemetry), each with its first reason past a rule
 *   note (`rule: …`); the latest `MAX_INCIDENTS` are kept.
 */
export interface DeliveryState {
  firstHarmAt: string | null;
  rolledBackAt: string | null;
  reachedFullAt: string | null;
  failedAfterFullAt: string | null;
  stepsAuto: number;
  stepsAll: number;
  /** burn rate × seconds */
  budgetService: number;
  budgetCanary: number;
  burnService: number | null;
  burnCanary: number | null;
  burnAt: string | null;
  incidents: StoredIncident[];
}

/** An incident as a rollout row keeps it (the summary adds the service and version). */
export type StoredIncident = Pick<
  RolloutIncident,
  'kind' | 'at' | 'seq' | 'reason'
>;

export const MAX_INCIDENTS = 5;

/** The reason the bake watch logs when a newer release of the target ends it (`loop/watch.ts`). */
export const SUPERSEDED_REASON =
  'a newer rollout of this target started before the bake window closed';

export function emptyDeliveryState(): DeliveryState {
  return {
    firstHarmAt: null,
    rolledBackAt: null,
    reachedFullAt: null,
    failedAfterFullAt: null,
    stepsAuto: 0,
    stepsAll: 0,
    budgetService: 0,
    budgetCanary: 0,
    burnService: null,
    burnCanary: null,
    burnAt: null,
    incidents: [],
  };
}

export type FoldedDecision = Pick<
  DecisionEntry,
  | 'seq'
  | 'rolloutId'
  | 'verdict'
  | 'kind'
  | 'outcome'
  | 'createdAt'
  | 'reasons'
  | 'evidence'
  | 'stepIndex'
>;

function promotesFully(steps: RolloutStep[], stepIndex: number): boolean {
  const next = steps[stepIndex + 1];
  return !next || next.weight >= 100;
}

function shows(evidence: unknown): {
  harm: boolean;
  burn: boolean;
  stale: boolean;
} {
  if (!evidence) return { harm: false, burn: false, stale: false };
  const key = readKeyNumbers(evidence);
  const guard = Boolean((evidence as any)?.checks?.burn?.guard?.fired);
  const anyBurnAlert =
    Boolean((evidence as any)?.checks?.burn?.service?.alerting) ||
    Boolean(key.burnAlerting) ||
    readBurnRows(evidence, 'availability').some(r => r.alerting) ||
    readBurnRows(evidence, 'latency').some(r => r.alerting);
  const deteriorated = readSignals(evidence).some(
    s => s.rule === 'deterioration',
  );
  return {
    harm: Boolean(key.burnAlerting) || deteriorated,
    burn: anyBurnAlert || guard,
    stale: Boolean(key.stale),
  };
}

const earlier = (a: string | null, b: string) =>
  a === null || Date.parse(b) < Date.parse(a) ? b : a;

/** The state after one more decision of the rollout (decisions fold in log order). */
export function foldDecision(
  state: DeliveryState,
  d: FoldedDecision,
  /** The rollout's ladder (a function: read only when a decision needs it). */
  steps: RolloutStep[] | (() => RolloutStep[]),
): DeliveryState {
  const ladder = () => (typeof steps === 'function' ? steps() : steps);
  const s: DeliveryState = { ...state, incidents: [...state.incidents] };
  const t = Date.parse(d.createdAt);
  // the rates in effect since the previous decision, over the time to this one
  if (s.burnAt === null) s.burnAt = d.createdAt;
  else {
    const since = Date.parse(s.burnAt);
    const seconds = Math.max(0, (t - since) / 1000);
    s.budgetService += (s.burnService ?? 0) * seconds;
    s.budgetCanary += (s.burnCanary ?? 0) * seconds;
    if (t >= since) s.burnAt = d.createdAt;
  }

  const applied = d.outcome === 'applied';
  const acted = d.outcome === 'applied' || d.outcome === 'failed';
  const full =
    d.verdict === 'promote' && applied
      ? promotesFully(ladder(), d.stepIndex)
      : false;
  const evidence = d.evidence;
  const service = viewBurnRate(evidence, 'service');
  const canary = viewBurnRate(evidence, 'canary');
  if (service !== undefined) s.burnService = service;
  if (canary !== undefined) {
    const stepAfter =
      d.verdict === 'promote' && applied ? d.stepIndex + 1 : d.stepIndex;
    const l = ladder();
    const weight = l[stepAfter]?.weight ?? l[d.stepIndex]?.weight ?? 0;
    s.burnCanary = canary * (weight / 100);
  }
  if ((d.verdict === 'rollback' && applied) || full) {
    s.burnService = null;
    s.burnCanary = null;
  }

  // only a hold's evidence decides harm or an incident (a rollback is harmful by its verdict)
  const seen =
    d.verdict === 'hold'
      ? shows(evidence)
      : { harm: false, burn: false, stale: false };
  if (d.verdict === 'rollback' || (d.verdict === 'hold' && seen.harm))
    s.firstHarmAt = earlier(s.firstHarmAt, d.createdAt);
  if (d.verdict === 'rollback' && applied)
    s.rolledBackAt = earlier(s.rolledBackAt, d.createdAt);
  if (
    s.reachedFullAt !== null &&
    t > Date.parse(s.reachedFullAt) &&
    (d.verdict === 'rollback' ||
      (d.verdict === 'observe' &&
        d.reasons.some(r => r.includes(SUPERSEDED_REASON))))
  )
    s.failedAfterFullAt = earlier(s.failedAfterFullAt, d.createdAt);
  if (full) s.reachedFullAt = earlier(s.reachedFullAt, d.createdAt);

  if ((d.verdict === 'promote' || d.verdict === 'rollback') && acted) {
    s.stepsAll++;
    if (d.verdict === 'promote' && applied && d.kind === 'automatic')
      s.stepsAuto++;
  }

  let kind: StoredIncident['kind'] | undefined;
  if (d.verdict === 'rollback' && d.outcome === 'failed')
    kind = 'rollback-failed';
  else if (d.verdict === 'rollback' && applied) kind = 'rollback';
  else if (d.verdict === 'hold' && seen.burn) kind = 'hold-burn';
  else if (
    d.verdict === 'hold' &&
    (seen.stale ||
      (!evidence && d.reasons.some(r => /telemetry|stale/i.test(r))))
  )
    kind = 'hold-stale';
  if (kind) {
    s.incidents.push({
      kind,
      at: d.createdAt,
      seq: d.seq,
      // the first reason past the rule note ("rule: bake …") says what happened
      reason:
        d.reasons.find(r => !r.startsWith('rule: ')) ?? d.reasons[0] ?? kind,
    });
    if (s.incidents.length > MAX_INCIDENTS)
      s.incidents.splice(0, s.incidents.length - MAX_INCIDENTS);
  }
  return s;
}

/** The rollouts columns the state is kept in. */
export const DELIVERY_COLUMNS = [
  'first_harm_at',
  'rolled_back_at',
  'reached_full_at',
  'failed_after_full_at',
  'steps_auto',
  'steps_all',
  'budget_service',
  'budget_canary',
  'burn_service',
  'burn_canary',
  'burn_at',
  'incidents',
];

/** The PostgreSQL types of the columns that are not text. */
export const PG_CASTS: Record<string, string> = {
  steps_auto: 'integer',
  steps_all: 'integer',
  budget_service: 'double precision',
  budget_canary: 'double precision',
  burn_service: 'double precision',
  burn_canary: 'double precision',
};

const numOr = (v: unknown, or: number) =>
  v === null || v === undefined ? or : Number(v);
const numOrNull = (v: unknown) =>
  v === null || v === undefined ? null : Number(v);

export function deliveryStateOf(row: any): DeliveryState {
  return {
    firstHarmAt: row.first_harm_at ?? null,
    rolledBackAt: row.rolled_back_at ?? null,
    reachedFullAt: row.reached_full_at ?? null,
    failedAfterFullAt: row.failed_after_full_at ?? null,
    stepsAuto: numOr(row.steps_auto, 0),
    stepsAll: numOr(row.steps_all, 0),
    budgetService: numOr(row.budget_service, 0),
    budgetCanary: numOr(row.budget_canary, 0),
    burnService: numOrNull(row.burn_service),
    burnCanary: numOrNull(row.burn_canary),
    burnAt: row.burn_at ?? null,
    incidents: parseJson<StoredIncident[]>(row.incidents) ?? [],
  };
}

export function deliveryRow(s: DeliveryState): Record<string, unknown> {
  return {
    first_harm_at: s.firstHarmAt,
    rolled_back_at: s.rolledBackAt,
    reached_full_at: s.reachedFullAt,
    failed_after_full_at: s.failedAfterFullAt,
    steps_auto: s.stepsAuto,
    steps_all: s.stepsAll,
    budget_service: s.budgetService,
    budget_canary: s.budgetCanary,
    burn_service: s.burnService,
    burn_canary: s.burnCanary,
    burn_at: s.burnAt,
    incidents: s.incidents.length ? JSON.stringify(s.incidents) : null,
  };
}
