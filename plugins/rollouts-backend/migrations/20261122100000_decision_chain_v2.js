// @ts-check

/**
 * Decision log chain version 2: every decision row records the rule its
 * hash was computed with, in `chain_version`.
 *
 * * 1: sha256(prevHash + "\n" + canonical JSON of the entry's parsed
 *   content). Every row that exists when this migration runs keeps 1 (the
 *   column's default) and keeps verifying with that rule.
 * * 2: sha256 over the exact stored text of every column (evidence JSON text
 *   as stored, not re-canonicalised); see `decisionRowHash` in
 *   `src/database/DatabaseRolloutsStore.ts`. The store writes 2 from now on.
 *
 * The default stays 1, so a replica still running the previous code during a
 * rolling upgrade keeps writing correctly labelled version-1 rows.
 *
 * On PostgreSQL 14 and later built with LZ4, new evidence values of the
 * decisions and rollouts tables are compressed with LZ4 instead of pglz:
 * pglz of a 6 KiB evidence snapshot was a large part of the server's cost of
 * an append. The stored text is the same; only its on-disk form differs
 * (existing values stay pglz until rewritten).
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('decisions', table => {
    table.integer('chain_version').notNullable().defaultTo(1);
  });
  if (await hasLz4(knex)) {
    await knex.raw(
      'alter table "decisions" alter column "evidence" set compression lz4',
    );
    await knex.raw(
      'alter table "rollouts" alter column "evidence" set compression lz4',
    );
  }
};

/**
 * Whether this is PostgreSQL with LZ4 TOAST compression.
 *
 * @param {import('knex').Knex} knex
 */
async function hasLz4(knex) {
  const client = String(knex.client.config.client ?? '');
  if (client !== 'pg' && client !== 'postgres' && client !== 'postgresql')
    return false;
  const result = await knex.raw(
    `select 1 from pg_settings where name = 'default_toast_compression' and 'lz4' = any(enumvals)`,
  );
  return result.rows.length > 0;
}

/**
 * Refuses to go down while version-2 rows exist: without the column they
 * would no longer verify.
 *
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  const [{ n }] = await knex('decisions')
    .where('chain_version', '>', 1)
    .count({ n: '*' });
  if (Number(n) > 0) {
    throw new Error(
      `cannot remove decisions.chain_version: ${n} decisions are hashed with chain version 2`,
    );
  }
  if (await hasLz4(knex)) {
    await knex.raw(
      'alter table "decisions" alter column "evidence" set compression default',
    );
    await knex.raw(
      'alter table "rollouts" alter column "evidence" set compression default',
    );
  }
  await knex.schema.alterTable('decisions', table => {
    table.dropColumn('chain_version');
  });
};
