// @ts-check

/**
 * Shadow policies and what-if replay:
 *
 * - `rollout_telemetry`: the telemetry a rollout was judged on, one row per
 *   rollout step: the step's intervals as the gate folded them (gzip of
 *   their JSON array in `ticks`), the step's start, weight and interval
 *   length. Rewritten as the step grows; pruned after
 *   `rollouts.telemetry.retentionDays` (by `kept_at`).
 * - `rollout_shadows`: per rollout and shadow policy, the shadow's gate
 *   state (the same JSON as `rollouts.gate_state`, so any replica rebuilds
 *   it) and the last (enforced, shadow) verdict pair it logged.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('rollout_telemetry', table => {
    table.comment('Telemetry each rollout step was judged on (compressed)');
    table.string('rollout_id', 64).notNullable();
    table.integer('step_index').notNullable();
    table.string('step_started_at', 32).notNullable();
    table.string('entity_ref', 512).notNullable();
    table.float('weight').notNullable();
    table.integer('tick_seconds').notNullable();
    table.integer('tick_count').notNullable();
    table.binary('ticks').notNullable();
    table.string('kept_at', 32).notNullable();
    table.primary(['rollout_id', 'step_index']);
    table.index(['kept_at'], 'rollout_telemetry_kept_at_idx');
  });
  await knex.schema.createTable('rollout_shadows', table => {
    table.comment('Shadow policies evaluated beside the enforced one');
    table.string('rollout_id', 64).notNullable();
    table.string('policy_name', 128).notNullable();
    table.string('entity_ref', 512).notNullable();
    table.text('gate_state').nullable();
    table.string('last_pair', 64).nullable();
    table.string('updated_at', 32).notNullable();
    table.primary(['rollout_id', 'policy_name']);
    table.index(['updated_at'], 'rollout_shadows_updated_at_idx');
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('rollout_shadows');
  await knex.schema.dropTable('rollout_telemetry');
};
