import knexFactory, { type Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import {
  assertPostgresOrSkip,
  startPostgres,
  type PostgresServer,
} from '../../../../test/support/postgres';
import { DatabaseRolloutsStore, migrateRolloutsDatabase, migrationsDir } from './DatabaseRolloutsStore';
import type { StoredRollout } from './RolloutsStore';

const runPg = assertPostgresOrSkip('rollouts store on PostgreSQL');
let pg: PostgresServer | undefined;

beforeAll(async () => {
  if (runPg) pg = await startPostgres();
});
afterAll(() => pg?.stop());

const databases: Array<[string, () => Promise<Knex>]> = [
  ['SQLite', async () => knexFactory({ client: 'better-sqlite3', connection: ':memory:', useNullAsDefault: true })],
];
if (runPg) {
  databases.push([
    'PostgreSQL',
    async () => {
      const name = `store_${randomUUID().slice(0, 8)}`;
      await pg!.createDatabase(name);
      return knexFactory({ client: 'pg', connection: pg!.connection(name), pool: { min: 0, max: 10 } });
    },
  ]);
}

function rolloutInput(overrides: Partial<StoredRollout> = {}): Omit<StoredRollout, 'rowVersion' | 'updatedAt'> {
  const now = new Date().toISOString();
  return {
    id: randomUUID(),
    entityRef: 'component:default/checkout-api',
    provider: 'fake',
    target: 'checkout/checkout-api',
    externalId: `checkout/checkout-api@${randomUUID()}`,
    version: '2.0.0',
    status: 'progressing',
    steps: [{ weight: 5 }, { weight: 100 }],
    currentStepIndex: 0,
    currentWeight: 5,
    startedAt: now,
    stepStartedAt: now,
    ...overrides,
  };
}

describe.each(databases)('DatabaseRolloutsStore on %s', (_name, makeKnex) => {
  let knex: Knex;
  let store: DatabaseRolloutsStore;

  beforeEach(async () => {
    knex = await makeKnex();
    await migrateRolloutsDatabase(knex);
    store = DatabaseRolloutsStore.fromKnex(knex);
  });
  afterEach(async () => {
    await knex.destroy();
  });

  it('migrates down and up again', async () => {
    await knex.migrate.rollback({ directory: migrationsDir }, true);
    expect(await knex.schema.hasTable('decisions')).toBe(false);
    await migrateRolloutsDatabase(knex);
    expect(await knex.schema.hasTable('decisions')).toBe(true);
  });

  it('upserts discovered rollouts once per provider id', async () => {
    const input = rolloutInput();
    const first = await store.upsertDiscovered(input);
    const second = await store.upsertDiscovered({ ...input, id: randomUUID() });
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.rollout.id).toBe(first.rollout.id);
  });

  it('applies a conditional update only at the expected row version', async () => {
    const { rollout } = await store.upsertDiscovered(rolloutInput());
    const updated = await store.updateRollout(rollout.id, rollout.rowVersion, { status: 'paused' });
    expect(updated?.status).toBe('paused');
    expect(updated?.rowVersion).toBe(rollout.rowVersion + 1);
    const stale = await store.updateRollout(rollout.id, rollout.rowVersion, { status: 'rolled-back' });
    expect(stale).toBeUndefined();
    expect((await store.getRollout(rollout.id))?.status).toBe('paused');
  });

  it('keeps one linear hash chain under concurrent appends', async () => {
    const { rollout } = await store.upsertDiscovered(rolloutInput());
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        store.appendDecision({
          rolloutId: rollout.id,
          entityRef: rollout.entityRef,
          stepIndex: 0,
          verdict: i % 2 ? 'hold' : 'continue',
          kind: 'automatic',
          actor: 'scheduler',
          reasons: [`decision ${i}`],
          evidence: { i },
          policyHash: null,
          outcome: 'none',
        }),
      ),
    );
    const verification = await store.verifyDecisions();
    expect(verification).toEqual({ ok: true, checked: 40 });
    const page = await store.listDecisions({ rolloutId: rollout.id, limit: 15 });
    expect(page.items.map(d => d.seq)).toEqual(Array.from({ length: 15 }, (_, i) => 40 - i));
    const next = await store.listDecisions({ rolloutId: rollout.id, limit: 15, before: page.nextCursor });
    expect(next.items[0].seq).toBe(25);
  });

  it('names the first tampered entry and a deleted tail', async () => {
    const { rollout } = await store.upsertDiscovered(rolloutInput());
    for (let i = 0; i < 5; i++) {
      await store.appendDecision({
        rolloutId: rollout.id, entityRef: rollout.entityRef, stepIndex: 0, verdict: 'continue',
        kind: 'automatic', actor: 'scheduler', reasons: [`r${i}`], evidence: null, policyHash: null, outcome: 'none',
      });
    }
    await knex('decisions').where({ seq: 3 }).update({ reasons: JSON.stringify(['rewritten history']) });
    const tampered = await store.verifyDecisions();
    expect(tampered.ok).toBe(false);
    expect(tampered.firstBroken?.seq).toBe(3);
    expect(tampered.firstBroken?.problem).toMatch(/changed/);

    await knex('decisions').where({ seq: 3 }).update({ reasons: JSON.stringify(['r2']) });
    expect((await store.verifyDecisions()).ok).toBe(true);
    await knex('decisions').where({ seq: 5 }).delete();
    const truncated = await store.verifyDecisions();
    expect(truncated.ok).toBe(false);
    expect(truncated.firstBroken?.problem).toMatch(/deleted/);
  });

  it('hands out an idempotency key once', async () => {
    const record = { idempotencyKey: 'key-12345678', rolloutId: 'r1', action: 'rollback', actor: 'user:default/guest', createdAt: new Date().toISOString() };
    expect((await store.claimActionRequest(record)).claimed).toBe(true);
    const again = await store.claimActionRequest(record);
    expect(again.claimed).toBe(false);
    expect(again.existing?.state).toBe('running');
    await store.finishActionRequest(record.idempotencyKey, 'done', { ok: 1 });
    expect((await store.getActionRequest(record.idempotencyKey))?.result).toEqual({ ok: 1 });
  });
});
