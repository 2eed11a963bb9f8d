import type { Knex } from 'knex';

/** The part of a better-sqlite3 statement knex's dialect uses. */
interface Statement {
  reader: boolean;
  all(bindings: unknown[]): unknown[];
  run(bindings: unknown[]): {
    lastInsertRowid: number | bigint;
    changes: number;
  };
}

/** The part of a better-sqlite3 connection this needs. */
interface Connection {
  prepare(sql: string): Statement;
}

/** The part of knex's better-sqlite3 client this replaces. */
interface BetterSqliteClient {
  driverName?: string;
  _query(connection: Connection, obj: QueryObject): Promise<QueryObject>;
  _formatBindings(bindings: unknown[] | undefined): unknown[];
}

interface QueryObject {
  sql?: string;
  bindings?: unknown[];
  options?: { safeIntegers?: boolean };
  response?: unknown;
  context?: { lastID: number | bigint; changes: number };
}

const PATCHED = Symbol.for('tollgate.sqliteStatementCache');

/** Statements kept per connection, least recently used dropped first. */
export const SQLITE_STATEMENTS_KEPT = 256;

/**
 * Keeps better-sqlite3's prepared statements per connection, by SQL text.
 *
 * knex's better-sqlite3 dialect prepares every query anew
 * (`connection.prepare(sql)`, then `all` or `run`), and SQLite's prepare
 * (parse, plan, code generation) costs as much as running a point read:
 * measured on `GET /v1/rollouts/:id`, 21 % of the request's CPU went to
 * `prepare` and 20 % to the query itself. A kept statement runs with new
 * bindings; SQLite re-prepares it by itself after a schema change. Both
 * calls are synchronous, so two queries never share a statement mid-run.
 *
 * It wraps `_query` of this knex instance's client only (the plugin's own
 * database); it does exactly what knex does apart from the keeping, and
 * steps aside for queries with their own `safeIntegers`, any other client
 * and a knex whose dialect no longer looks like this. Returns whether the
 * statements are kept.
 */
export function keepSqliteStatements(
  knex: Knex,
  max = SQLITE_STATEMENTS_KEPT,
): boolean {
  const client = knex.client as unknown as BetterSqliteClient & {
    [PATCHED]?: true;
  };
  if (client.driverName !== 'better-sqlite3') return false;
  if (client[PATCHED]) return true;
  if (
    typeof client._query !== 'function' ||
    typeof client._formatBindings !== 'function'
  )
    return false;
  const plain = client._query;
  const kept = new WeakMap<Connection, Map<string, Statement>>();
  client._query = async function keptQuery(
    this: BetterSqliteClient,
    connection: Connection,
    obj: QueryObject,
  ) {
    if (
      !obj.sql ||
      !connection ||
      typeof connection.prepare !== 'function' ||
      obj.options?.safeIntegers !== undefined
    )
      return plain.call(this, connection, obj);
    let statements = kept.get(connection);
    if (!statements) {
      statements = new Map();
      kept.set(connection, statements);
    }
    let statement = statements.get(obj.sql);
    if (statement) {
      // most recently used last: the oldest goes first
      statements.delete(obj.sql);
    } else {
      statement = connection.prepare(obj.sql);
      if (statements.size >= max)
        statements.delete(statements.keys().next().value!);
    }
    statements.set(obj.sql, statement);
    const bindings = this._formatBindings(obj.bindings);
    if (statement.reader) {
      obj.response = statement.all(bindings);
      return obj;
    }
    const response = statement.run(bindings);
    obj.response = response;
    obj.context = {
      lastID: response.lastInsertRowid,
      changes: response.changes,
    };
    return obj;
  };
  client[PATCHED] = true;
  return true;
}
