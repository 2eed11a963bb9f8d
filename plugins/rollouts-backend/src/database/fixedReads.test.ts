import knexFactory, { type Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import {
  assertPostgresOrSkip,
  startPostgres,
  type PostgresServer,
} from '@tollgate/test-support';
import { fixedRead } from './fixedReads';

const runPg = assertPostgresOrSkip('fixed reads on PostgreSQL');
let pg: PostgresServer | undefined;

beforeAll(async () => {
  if (runPg) pg = await startPostgres();
});
afterAll(() => pg?.stop());

const databases: Array<[string, () => Promise<Knex>]> = [
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
if (runPg) {
  databases.push([
    'PostgreSQL',
    async () => {
      const name = `fixed_${randomUUID().slice(0, 8)}`;
      await pg!.createDatabase(name);
      return knexFactory({
        client: 'pg',
        connection: pg!.connection(name),
        // one connection: the test's own statements run on the read's connection
        pool: { min: 0, max: 1 },
      });
    },
  ]);
}

describe.each(databases)('fixedRead on %s', (_name, makeKnex) => {
  let knex: Knex;
  beforeEach(async () => {
    knex = await makeKnex();
    await knex.schema.createTable('t', table => {
      table.string('id').primary();
      table.integer('n');
      table.text('note').nullable();
    });
    await knex('t').insert([
      { id: 'a', n: 1, note: 'say "hi"' },
      { id: 'b', n: 2, note: null },
      { id: 'c', n: 3, note: 'ünïcode' },
    ]);
  });
  afterEach(() => knex.destroy());

  it('reads rows as arrays of column values in the select order, with bindings', async () => {
    const read = fixedRead(
      knex,
      'select "note", "id", "n" from "t" where "n" >= ? and "id" <> ? order by "n" desc limit ?',
      ['note', 'id', 'n'],
    );
    expect(await read([1, 'c', 10])).toEqual([
      [null, 'b', 2],
      ['say "hi"', 'a', 1],
    ]);
    expect(await read([3, 'x', 10])).toEqual([['ünïcode', 'c', 3]]);
    expect(await read([9, 'x', 10])).toEqual([]);
  });
});

describe.skipIf(!runPg)('fixedRead on PostgreSQL behind a pooler', () => {
  let knex: Knex;
  beforeEach(async () => {
    knex = await databases[1][1]();
    await knex.schema.createTable('t', table => {
      table.string('id').primary();
      table.integer('n');
    });
    await knex('t').insert([
      { id: 'a', n: 1 },
      { id: 'b', n: 2 },
      { id: 'c', n: 3 },
    ]);
  });
  afterEach(() => knex.destroy());

  it('keeps the statement prepared on the server, and reads on unnamed when a pooler loses it', async () => {
    const read = fixedRead(knex, 'select "n" from "t" where "id" = ?', ['n']);
    expect(await read(['a'])).toEqual([[1]]);
    const prepared = async () =>
      Number(
        (await knex.raw('select count(*) as c from pg_prepared_statements'))
          .rows[0].c,
      );
    expect(await prepared()).toBe(1);
    // what PgBouncer in transaction mode does: the next server connection has no such statement
    await knex.raw('deallocate all');
    expect(await read(['b'])).toEqual([[2]]);
    expect(await read(['c'])).toEqual([[3]]);
    expect(await prepared()).toBe(0);
  });
});
