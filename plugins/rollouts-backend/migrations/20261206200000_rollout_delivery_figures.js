// @ts-check

/**
 * The executive dashboard's delivery figures, kept per rollout as its
 * decisions are appended (see `src/database/deliveryFigures.ts`), so the
 * summary never reads the decision log:
 *
 * - `kpi_intervals`: JSON of the KPIs in the rollout's latest evidence
 *   (canary − baseline difference, its always-valid interval, scale and
 *   direction), written with the evidence like `kpi_deltas`;
 * - `first_harm_at`, `rolled_back_at`, `reached_full_at`,
 *   `failed_after_full_at`: times of the first harmful verdict, the first
 *   applied rollback, the first promotion to full and the first rollback
 *   (or roll-forward) after it;
 * - `steps_auto`, `steps_all`: steps the automation completed, and every
 *   promote or rollback action on the deploy system;
 * - `budget_service`, `budget_canary`: burn rate × seconds integrated over
 *   the rollout's logged decisions (service-wide, and the canary's burn
 *   weighted by its traffic share); `burn_service`, `burn_canary`, `burn_at`:
 *   the rates in effect since the latest decision, for the integral's open end;
 * - `incidents`: JSON of the rollout's latest incidents (rollbacks, failed
 *   rollbacks, holds on burn or stale telemetry).
 *
 * The delivery columns of the rollouts active or finished in the last
 * `BACKFILL_DAYS` days (the dashboard's longest window) are backfilled from
 * their decisions, folded with a frozen copy of `foldDecision` (below, as of
 * this migration); older rollouts keep them empty (the summary leaves them
 * out of these figures). `kpi_intervals` of an active rollout fills at its
 * next evaluation.
 */

/** Days back the backfill reaches (the dashboard's longest window). */
const BACKFILL_DAYS = 90;

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('rollouts', table => {
    table.text('kpi_intervals').nullable();
    table.string('first_harm_at', 40).nullable();
    table.string('rolled_back_at', 40).nullable();
    table.string('reached_full_at', 40).nullable();
    table.string('failed_after_full_at', 40).nullable();
    table.integer('steps_auto').nullable();
    table.integer('steps_all').nullable();
    table.double('budget_service').nullable();
    table.double('budget_canary').nullable();
    table.double('burn_service').nullable();
    table.double('burn_canary').nullable();
    table.string('burn_at', 40).nullable();
    table.text('incidents').nullable();
  });

  const since = new Date(Date.now() - BACKFILL_DAYS * 86_400_000).toISOString();
  let after = '';
  for (;;) {
    const rollouts = await knex('rollouts')
      .select('id', 'steps')
      .where('id', '>', after)
      .andWhere(b =>
        b.whereNull('finished_at').orWhere('finished_at', '>=', since),
      )
      .orderBy('id')
      .limit(200);
    if (!rollouts.length) break;
    after = rollouts[rollouts.length - 1].id;
    /** @type {Map<string, { state: any, steps: any[] }>} */
    const states = new Map();
    for (const r of rollouts) {
      let steps = [];
      try {
        steps = JSON.parse(r.steps ?? '[]') ?? [];
      } catch {
        // no ladder: no step weight
      }
      states.set(r.id, { state: emptyState(), steps });
    }
    const decisions = await knex('decisions')
      .select(
        'seq',
        'rollout_id',
        'step_index',
        'verdict',
        'kind',
        'outcome',
        'reasons',
        'evidence',
        'created_at',
      )
      .whereIn('rollout_id', [...states.keys()])
      .orderBy('seq');
    for (const row of decisions) {
      const entry = states.get(row.rollout_id);
      if (!entry) continue;
      entry.state = fold(
        entry.state,
        {
          seq: Number(row.seq),
          verdict: row.verdict,
          kind: row.kind,
          outcome: row.outcome,
          reasons: parse(row.reasons) ?? [],
          evidence: parse(row.evidence) ?? null,
          stepIndex: Number(row.step_index),
          createdAt: row.created_at,
        },
        entry.steps,
      );
    }
    for (const [id, { state }] of states) {
      if (state.burnAt === null) continue; // no decision
      await knex('rollouts')
        .where({ id })
        .update({
          first_harm_at: state.firstHarmAt,
          rolled_back_at: state.rolledBackAt,
          reached_full_at: state.reachedFullAt,
          failed_after_full_at: state.failedAfterFullAt,
          steps_auto: state.stepsAuto,
          steps_all: state.stepsAll,
          budget_service: state.budgetService,
          budget_canary: state.budgetCanary,
          burn_service: state.burnService,
          burn_canary: state.burnCanary,
          burn_at: state.burnAt,
          incidents: state.incidents.length
            ? JSON.stringify(state.incidents)
            : null,
        });
    }
  }
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.alterTable('rollouts', table => {
    table.dropColumn('incidents');
    table.dropColumn('burn_at');
    table.dropColumn('burn_canary');
    table.dropColumn('burn_service');
    table.dropColumn('budget_canary');
    table.dropColumn('budget_service');
    table.dropColumn('steps_all');
    table.dropColumn('steps_auto');
    table.dropColumn('failed_after_full_at');
    table.dropColumn('reached_full_at');
    table.dropColumn('rolled_back_at');
    table.dropColumn('first_harm_at');
    table.dropColumn('kpi_intervals');
  });
};

/** @param {string | null | undefined} text */
function parse(text) {
  if (text === null || text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

// --- a frozen copy of src/database/deliveryFigures.ts's fold, as of this migration ---

const MAX_INCIDENTS = 5;
const SUPERSEDED_REASON =
  'a newer rollout of this target started before the bake window closed';

function emptyState() {
  return {
    /** @type {string | null} */ firstHarmAt: null,
    /** @type {string | null} */ rolledBackAt: null,
    /** @type {string | null} */ reachedFullAt: null,
    /** @type {string | null} */ failedAfterFullAt: null,
    stepsAuto: 0,
    stepsAll: 0,
    budgetService: 0,
    budgetCanary: 0,
    /** @type {number | null} */ burnService: null,
    /** @type {number | null} */ burnCanary: null,
    /** @type {string | null} */ burnAt: null,
    /** @type {any[]} */ incidents: [],
  };
}

/** @param {unknown} v */
function isObject(v) {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** @param {unknown} v */
function num(v) {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Worst burn rate of one view (`longBurn`, `burnRate` or `rate` at any depth). @param {any} evidence @param {string} view */
function viewBurnRate(evidence, view) {
  const burn = evidence?.checks?.burn;
  if (!isObject(burn) || !isObject(burn[view])) return undefined;
  /** @type {number | undefined} */
  let worst;
  /** @param {unknown} v */
  const visit = v => {
    if (!v || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v)) {
      if (/burn.?rate/i.test(k) || k === 'rate' || k === 'longBurn') {
        const n = num(x);
        if (n !== undefined)
          worst = worst === undefined ? n : Math.max(worst, n);
      } else if (typeof x === 'object') visit(x);
    }
  };
  visit(burn[view]);
  return worst;
}

/** @param {any} evidence */
function shows(evidence) {
  if (!isObject(evidence)) return { harm: false, burn: false, stale: false };
  const burn = evidence.checks?.burn;
  const canaryAlert =
    isObject(burn) && isObject(burn.canary) && Boolean(burn.canary.alerting);
  /** @param {string} view @param {string} sli */
  const windowAlert = (view, sli) =>
    isObject(burn) &&
    isObject(burn[view]) &&
    Array.isArray(burn[view][sli]) &&
    burn[view][sli].some(
      /** @param {any} w */ w =>
        isObject(w) && typeof w.name === 'string' && w.alerting,
    );
  const anyBurnAlert =
    (isObject(burn) &&
      isObject(burn.service) &&
      Boolean(burn.service.alerting)) ||
    canaryAlert ||
    ['availability', 'latency'].some(
      sli => windowAlert('canary', sli) || windowAlert('service', sli),
    );
  const guard = Boolean(burn?.guard?.fired);
  const deteriorated =
    Array.isArray(evidence.signals) &&
    evidence.signals.some(
      /** @param {any} x */ x =>
        isObject(x) && typeof x.name === 'string' && x.rule === 'deterioration',
    );
  const freshness = evidence.checks?.freshness;
  return {
    harm: canaryAlert || deteriorated,
    burn: anyBurnAlert || guard,
    stale: isObject(freshness) && Boolean(freshness.stale),
  };
}

/** @param {string | null} a @param {string} b */
function earlier(a, b) {
  return a === null || Date.parse(b) < Date.parse(a) ? b : a;
}

/**
 * @param {ReturnType<typeof emptyState>} state
 * @param {{ seq: number, verdict: string, kind: string, outcome: string, reasons: string[], evidence: any, stepIndex: number, createdAt: string }} d
 * @param {Array<{ weight: number }>} steps
 */
function fold(state, d, steps) {
  const s = { ...state, incidents: [...state.incidents] };
  const t = Date.parse(d.createdAt);
  if (s.burnAt !== null) {
    const seconds = Math.max(0, (t - Date.parse(s.burnAt)) / 1000);
    s.budgetService += (s.burnService ?? 0) * seconds;
    s.budgetCanary += (s.burnCanary ?? 0) * seconds;
  }
  if (s.burnAt === null || t >= Date.parse(s.burnAt)) s.burnAt = d.createdAt;
  const applied = d.outcome === 'applied';
  const acted = d.outcome === 'applied' || d.outcome === 'failed';
  const next = steps[d.stepIndex + 1];
  const full =
    d.verdict === 'promote' && applied && (!next || next.weight >= 100);
  const service = viewBurnRate(d.evidence, 'service');
  const canary = viewBurnRate(d.evidence, 'canary');
  if (service !== undefined) s.burnService = service;
  if (canary !== undefined) {
    const stepAfter =
      d.verdict === 'promote' && applied ? d.stepIndex + 1 : d.stepIndex;
    const weight = steps[stepAfter]?.weight ?? steps[d.stepIndex]?.weight ?? 0;
    s.burnCanary = canary * (weight / 100);
  }
  if ((d.verdict === 'rollback' && applied) || full) {
    s.burnService = null;
    s.burnCanary = null;
  }
  const seen =
    d.verdict === 'hold'
      ? shows(d.evidence)
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
  /** @type {string | undefined} */
  let kind;
  if (d.verdict === 'rollback' && d.outcome === 'failed')
    kind = 'rollback-failed';
  else if (d.verdict === 'rollback' && applied) kind = 'rollback';
  else if (d.verdict === 'hold' && seen.burn) kind = 'hold-burn';
  else if (
    d.verdict === 'hold' &&
    (seen.stale ||
      (!d.evidence && d.reasons.some(r => /telemetry|stale/i.test(r))))
  )
    kind = 'hold-stale';
  if (kind) {
    s.incidents.push({
      kind,
      at: d.createdAt,
      seq: d.seq,
      reason:
        d.reasons.find(r => !r.startsWith('rule: ')) ?? d.reasons[0] ?? kind,
    });
    if (s.incidents.length > MAX_INCIDENTS)
      s.incidents.splice(0, s.incidents.length - MAX_INCIDENTS);
  }
  return s;
}
