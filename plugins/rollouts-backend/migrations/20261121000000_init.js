// @ts-check

/**
 * Tollgate's tables: rollouts (current state, one row each), decisions (the
 * append-only, hash-chained decision log), decision_chain (the chain head,
 * locked while appending so concurrent replicas keep one linear chain) and
 * action_requests (idempotency keys of user actions).
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('rollouts', table => {
    table.comment('Rollouts Tollgate gates, one row per rollout');
    table.string('id', 64).primary().notNullable();
    table.string('entity_ref', 512).notNullable();
    table.string('provider', 64).notNullable();
    table.string('target', 256).notNullable();
    table.string('external_id', 512).notNullable();
    table.string('version', 128).notNullable();
    table.string('previous_version', 128).nullable();
    table.string('status', 32).notNullable();
    table.text('steps').notNullable();
    table.integer('current_step_index').notNullable().defaultTo(0);
    table.float('current_weight').notNullable().defaultTo(0);
    table.string('started_at', 32).notNullable();
    table.string('step_started_at', 32).notNullable();
    table.string('finished_at', 32).nullable();
    table.string('updated_at', 32).notNullable();
    table.string('policy_name', 128).nullable();
    table.string('policy_hash', 64).nullable();
    table.text('last_evaluation').nullable();
    table.text('evidence').nullable();
    table.text('last_error').nullable();
    table.string('pending_action', 32).nullable();
    table.integer('row_version').notNullable().defaultTo(0);
    table.unique(['provider', 'external_id'], {
      indexName: 'rollouts_provider_external_id_uniq',
    });
    table.index(['entity_ref'], 'rollouts_entity_ref_idx');
    table.index(['status'], 'rollouts_status_idx');
    table.index(['finished_at'], 'rollouts_finished_at_idx');
  });

  await knex.schema.createTable('decisions', table => {
    table.comment(
      'Append-only decision log; every row is hash-chained to the previous one',
    );
    table.bigInteger('seq').primary().notNullable();
    table.string('id', 64).notNullable();
    table.string('rollout_id', 64).notNullable();
    table.string('entity_ref', 512).notNullable();
    table.integer('step_index').notNullable();
    table.string('verdict', 32).notNullable();
    table.string('kind', 16).notNullable();
    table.string('actor', 512).notNullable();
    table.text('reasons').notNullable();
    table.text('evidence').nullable();
    table.string('policy_hash', 64).nullable();
    table.string('outcome', 16).notNullable();
    table.string('created_at', 32).notNullable();
    table.string('prev_hash', 64).notNullable();
    table.string('hash', 64).notNullable();
    table.unique(['id'], { indexName: 'decisions_id_uniq' });
    table.index(['rollout_id', 'seq'], 'decisions_rollout_seq_idx');
    table.index(['entity_ref', 'seq'], 'decisions_entity_seq_idx');
    table.index(['created_at'], 'decisions_created_at_idx');
  });

  await knex.schema.createTable('decision_chain', table => {
    table.comment(
      'Head of the decision hash chain (a single row, locked while appending)',
    );
    table.integer('id').primary().notNullable();
    table.bigInteger('seq').notNullable();
    table.string('hash', 64).notNullable();
  });
  await knex('decision_chain').insert({ id: 1, seq: 0, hash: '0'.repeat(64) });

  await knex.schema.createTable('action_requests', table => {
    table.comment('Idempotency keys of user actions and their first result');
    table.string('idempotency_key', 128).primary().notNullable();
    table.string('rollout_id', 64).notNullable();
    table.string('action', 16).notNullable();
    table.string('actor', 512).notNullable();
    table.string('state', 16).notNullable();
    table.text('result').nullable();
    table.string('created_at', 32).notNullable();
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('action_requests');
  await knex.schema.dropTable('decision_chain');
  await knex.schema.dropTable('decisions');
  await knex.schema.dropTable('rollouts');
};
