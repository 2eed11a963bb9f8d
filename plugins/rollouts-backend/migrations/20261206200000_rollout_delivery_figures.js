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
 * Rollouts decided before this migration keep these columns empty (the
 * summary leaves them out of these figures); `kpi_intervals` of an active
 * rollout fills at its next evaluation.
 *
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
