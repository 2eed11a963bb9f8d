// @ts-check

/**
 * Multi-stage promotion: one row per (service, release version), the
 * release's way through the stages of `tollgate.dev/stages`.
 *
 * - `stages`: JSON of the stages (name, provider, target, state, rollout id…).
 * - `next_stage`: index of the next stage to start.
 * - `pending_action`: set by the replica that claimed the row to start a
 *   stage (a conditional update on `row_version`), cleared with the
 *   decision that logs it, in one transaction.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('rollout_pipelines', table => {
    table.string('id', 64).primary();
    table.string('entity_ref', 255).notNullable();
    table.string('version', 255).notNullable();
    table.string('previous_version', 255).nullable();
    table.string('status', 32).notNullable();
    table.text('stages').notNullable();
    table.integer('next_stage').notNullable();
    table.integer('soak_seconds').notNullable().defaultTo(0);
    table.string('soak_until', 64).nullable();
    table.text('stopped_reason').nullable();
    table.string('pending_action', 255).nullable();
    table.integer('row_version').notNullable().defaultTo(1);
    table.string('created_at', 64).notNullable();
    table.string('updated_at', 64).notNullable();
    table.unique(['entity_ref', 'version'], {
      indexName: 'rollout_pipelines_release_uq',
    });
    table.index(['status'], 'rollout_pipelines_status_idx');
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('rollout_pipelines');
};
