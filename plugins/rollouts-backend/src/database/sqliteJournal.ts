import type { Knex } from 'knex';

/**
 * Puts a file-backed SQLite database in WAL journal mode (better-sqlite3).
 *
 * Backstage's database service (`@backstage/backend-defaults`, the SQLite
 * connector it uses for `better-sqlite3` and `sqlite3`) only runs
 * `PRAGMA foreign_keys = ON` on each new connection; it leaves the journal
 * mode at SQLite's default (DELETE: a rollback journal written, synced and
 * deleted on every commit), and its config takes no pragmas or pool hooks
 * (the config is YAML, with no functions). WAL is a property of the
 * database file once set, so the store sets it once at start: a commit then
 * appends to the write-ahead log instead, and readers do not block the
 * writer. `synchronous` stays at its default (FULL), so a committed append
 * is as durable as before.
 *
 * An in-memory database has no WAL (SQLite answers `memory`) and is left as
 * it is. Returns the journal mode in effect.
 */
export async function preferSqliteWal(knex: Knex): Promise<string | undefined> {
  if (String(knex.client.config.client ?? '') !== 'better-sqlite3')
    return undefined;
  const rows: Array<{ journal_mode: string }> = await knex.raw(
    'pragma journal_mode',
  );
  const mode = rows[0]?.journal_mode;
  if (mode === 'memory' || mode === 'wal') return mode;
  const set: Array<{ journal_mode: string }> = await knex.raw(
    'pragma journal_mode = WAL',
  );
  return set[0]?.journal_mode;
}
