import type { Knex } from 'knex';
import { testDatabases } from '@tollgate/test-support';
import { fixedRead } from './fixedReads';

// one connection: the test's own statements run on the read's connection
const databases = testDatabases('fixed reads on PostgreSQL', {
  prefix: 'fixed',
  poolMax: 1,
});

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

const postgres = databases.find(([name]) => name === 'PostgreSQL');

describe.skipIf(!postgres)('fixedRead on PostgreSQL behind a pooler', () => {
  let knex: Knex;
  beforeEach(async () => {
    knex = await postgres![1]();
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
