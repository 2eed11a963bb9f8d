// @ts-check

/**
 * The whole-rollout gate's state and the post-promotion watch:
 *
 * - `gate_state`: JSON of the rollout's gate state (the engine's
 *   `RolloutGateState`, carried across steps) as of the start of its
 *   current step, or as of the promotion that ended a step. Written by the
 *   gate loop with the promotion and at the first evaluation of a new step;
 *   any replica rebuilds the current step from it and the step's telemetry.
 * - `watch`: JSON of the watch after the promotion to full (bake window),
 *   and `watch_state` (its `state`), indexed, so the gate loop finds the
 *   rollouts it still watches.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('rollouts', table => {
    table.text('gate_state').nullable();
    table.text('watch').nullable();
    table.string('watch_state', 32).nullable();
    table.index(['watch_state'], 'rollouts_watch_state_idx');
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.alterTable('rollouts', table => {
    table.dropIndex([], 'rollouts_watch_state_idx');
  });
  await knex.schema.alterTable('rollouts', table => {
    table.dropColumn('watch_state');
    table.dropColumn('watch');
    table.dropColumn('gate_state');
  });
};
