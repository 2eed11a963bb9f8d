// @ts-check

/**
 * PostgreSQL: rollouts pages are filled to half, so an update that changes
 * no indexed column (the delivery figures folded at every decision append,
 * `src/database/deliveryFigures.ts`) is a HOT update: the new row version
 * goes on the same page and none of the table's eight indexes is written.
 * With full pages almost every such update moved the row to another page
 * and inserted into every index; in `bench:loop` the fold's UPDATE of
 * 10,000 rollouts rows took 300–380 ms before and 95–110 ms after.
 *
 * Only new pages take the setting (no table rewrite, no lock beyond the
 * ALTER's brief one): an existing row moves to a half-empty page at its
 * next update, and is updated in place from then on. The table is about
 * twice its size on disk (rollouts rows are a few hundred bytes).
 *
 * SQLite has no fill factor; nothing to do there.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  if (!isPg(knex)) return;
  await knex.raw('alter table "rollouts" set (fillfactor = 50)');
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  if (!isPg(knex)) return;
  await knex.raw('alter table "rollouts" reset (fillfactor)');
};

/**
 * @param {import('knex').Knex} knex
 */
function isPg(knex) {
  const client = String(knex.client.config.client ?? '');
  return client === 'pg' || client === 'postgres' || client === 'postgresql';
}
