import knexFactory, { type Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import {
  assertPostgresOrSkip,
  startPostgres,
  type PostgresServer,
} from './postgres';

/** A database a test runs on: its name for the test's title, and how to open a fresh, empty one. */
export type TestDatabase = [name: string, open: () => Promise<Knex>];

/**
 * The databases a store's tests run on, for `describe.each`: an in-memory
 * SQLite always, and a fresh database on a private PostgreSQL cluster when
 * it can run here (`assertPostgresOrSkip`: skipped with a message outside
 * CI, an error in CI). Call it at a test file's top level: it starts the
 * cluster before the file's tests and stops it after them.
 */
export function testDatabases(
  suite: string,
  options: { prefix: string; poolMax?: number },
): TestDatabase[] {
  const databases: TestDatabase[] = [
    [
      'SQLite',
      async () =>
        knexFactory({
          client: 'better-sqlite3',
          connection: ':memory:',
          useNullAsDefault: true,
        }),
    ],
  ];
  if (!assertPostgresOrSkip(suite)) return databases;
  let pg: PostgresServer | undefined;
  beforeAll(async () => {
    pg = await startPostgres();
  });
  afterAll(() => pg?.stop());
  databases.push([
    'PostgreSQL',
    async () => {
      const name = `${options.prefix}_${randomUUID().slice(0, 8)}`;
      await pg!.createDatabase(name);
      return knexFactory({
        client: 'pg',
        connection: pg!.connection(name),
        pool: { min: 0, max: options.poolMax ?? 10 },
      });
    },
  ]);
  return databases;
}
