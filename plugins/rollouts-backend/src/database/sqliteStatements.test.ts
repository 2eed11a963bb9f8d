import knexFactory, { type Knex } from 'knex';
import { keepSqliteStatements } from './sqliteStatements';

function sqlite(): Knex {
  return knexFactory({
    client: 'better-sqlite3',
    connection: ':memory:',
    useNullAsDefault: true,
    pool: { min: 1, max: 1 },
  });
}

/** Counts the statements SQLite prepares on the connection knex hands out. */
async function countPrepares(knex: Knex): Promise<{ count: number }> {
  const counter = { count: 0 };
  const connection: any = await knex.client.acquireConnection();
  const prepare = connection.prepare.bind(connection);
  connection.prepare = (sql: string) => {
    counter.count++;
    return prepare(sql);
  };
  await knex.client.releaseConnection(connection);
  return counter;
}

describe('keepSqliteStatements', () => {
  let knex: Knex;
  afterEach(async () => {
    await knex?.destroy();
  });

  it('prepares a statement once and runs it again with new bindings, with the same answers as knex alone', async () => {
    knex = sqlite();
    await knex.schema.createTable('t', t => {
      t.string('id').primary();
      t.integer('n');
    });
    expect(keepSqliteStatements(knex)).toBe(true);
    const prepares = await countPrepares(knex);
    for (let i = 0; i < 20; i++) await knex('t').insert({ id: `r${i}`, n: i });
    const read = [];
    for (let i = 0; i < 20; i++)
      read.push(await knex('t').where('id', `r${i}`).first());
    expect(read.map(r => r.n)).toEqual([...Array(20).keys()]);
    // one INSERT and one SELECT, each prepared once for 20 runs
    expect(prepares.count).toBe(2);
    // writes report what knex reports: affected rows of an update, a delete
    expect(await knex('t').where('n', '<', 5).update({ n: 0 })).toBe(5);
    expect(await knex('t').where('n', 0).del()).toBe(5);
    expect(await knex('t').count({ c: '*' }).first()).toEqual({ c: 15 });
  });

  it('keeps at most the given number of statements, the least recently used dropped first', async () => {
    knex = sqlite();
    await knex.schema.createTable('t', t => t.integer('n'));
    keepSqliteStatements(knex, 2);
    const prepares = await countPrepares(knex);
    const a = () => knex('t').where('n', 1);
    const b = () => knex('t').where('n', '>', 1);
    const c = () => knex('t').where('n', '<', 1);
    await a();
    await b();
    await a(); // kept
    await c(); // drops b, the least recently used
    await a(); // kept
    await b(); // prepared again
    expect(prepares.count).toBe(4);
  });

  it('answers after the schema changed under a kept statement', async () => {
    knex = sqlite();
    await knex.schema.createTable('t', t => t.integer('n'));
    keepSqliteStatements(knex);
    await knex('t').insert({ n: 1 });
    expect(await knex('t').select('*')).toEqual([{ n: 1 }]);
    await knex.schema.alterTable('t', t => t.string('s').defaultTo('x'));
    expect(await knex('t').select('*')).toEqual([{ n: 1, s: 'x' }]);
  });

  it('leaves other clients alone', () => {
    knex = knexFactory({ client: 'pg', connection: {} });
    expect(keepSqliteStatements(knex)).toBe(false);
  });
});
