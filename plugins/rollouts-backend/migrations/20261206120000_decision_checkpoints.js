// @ts-check

/**
 * Signed checkpoints of the decision log: every `every` entries (app-config
 * `rollouts.decisionLog.checkpoints`) the store signs the hash of the entry
 * at that seq with an Ed25519 key, in the append's transaction, and keeps
 * the signature here. Like the decisions, rows are only ever inserted; see
 * `src/database/decisionCheckpoints.ts` for what is signed.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('decision_checkpoints', table => {
    table.comment(
      'Signed checkpoints of the decision hash chain (append-only, kept)',
    );
    table.bigInteger('seq').primary().notNullable();
    table.string('hash', 64).notNullable();
    table.string('created_at', 32).notNullable();
    table.string('key_id', 64).notNullable();
    table.text('signature').notNullable();
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('decision_checkpoints');
};
