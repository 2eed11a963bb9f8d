// @ts-check

/**
 * The dashboard's per-rollout figures as columns, so the summary reads a few
 * small columns through one index instead of every evidence snapshot:
 * `burn_rate` (worst burn rate in the rollout's evidence) and `kpi_deltas`
 * (JSON of relative canary–baseline KPI deltas). The store fills them
 * whenever it writes evidence; this migration backfills existing rows.
 *
 * The two extraction functions below are a frozen copy of
 * `src/database/figures.ts` as of this migration (a migration must not
 * change meaning when the code moves on).
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('rollouts', table => {
    table.float('burn_rate').nullable();
    table.text('kpi_deltas').nullable();
  });

  let after = '';
  for (;;) {
    const rows = await knex('rollouts')
      .select('id', 'evidence')
      .whereNotNull('evidence')
      .andWhere('id', '>', after)
      .orderBy('id')
      .limit(500);
    if (!rows.length) break;
    for (const row of rows) {
      let evidence;
      try {
        evidence = JSON.parse(row.evidence);
      } catch {
        continue;
      }
      const deltas = kpiDeltas(evidence);
      await knex('rollouts')
        .where({ id: row.id })
        .update({
          burn_rate: worstBurnRate(evidence) ?? null,
          kpi_deltas: Object.keys(deltas).length
            ? JSON.stringify(deltas)
            : null,
        });
    }
    after = rows[rows.length - 1].id;
  }

  await knex.schema.alterTable('rollouts', table => {
    // Covers the summary's read (active rollouts and those finished in the window) without the table.
    table.index(
      [
        'finished_at',
        'entity_ref',
        'status',
        'started_at',
        'step_started_at',
        'burn_rate',
        'kpi_deltas',
      ],
      'rollouts_summary_idx',
    );
    // A service's rollouts, newest first (the entity tab's lists).
    table.index(['entity_ref', 'started_at'], 'rollouts_entity_started_idx');
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.alterTable('rollouts', table => {
    table.dropIndex([], 'rollouts_entity_started_idx');
    table.dropIndex([], 'rollouts_summary_idx');
  });
  await knex.schema.alterTable('rollouts', table => {
    table.dropColumn('kpi_deltas');
    table.dropColumn('burn_rate');
  });
};

/** @param {unknown} v */
function num(v) {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** @param {any} evidence */
function worstBurnRate(evidence) {
  const burn = evidence?.checks?.burn;
  if (!burn || typeof burn !== 'object') return undefined;
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
  visit(burn);
  return worst;
}

/** @param {any} evidence */
function kpiDeltas(evidence) {
  /** @type {Record<string, number>} */
  const out = {};
  const signals = evidence?.signals;
  if (!Array.isArray(signals)) return out;
  for (const s of signals) {
    if (
      !s ||
      (s.kind !== 'kpi' &&
        s.kind !== 'proportion' &&
        s.kind !== 'mean' &&
        !String(s.kind ?? '').startsWith('kpi'))
    )
      continue;
    const base = num(s.baseline?.estimate ?? s.baseline);
    const canary = num(s.canary?.estimate ?? s.canary);
    const rel = num(s.relativeDifference);
    if (rel !== undefined) out[s.name] = rel;
    else if (base !== undefined && canary !== undefined && base !== 0)
      out[s.name] = (canary - base) / base;
  }
  return out;
}
