import knexFactory, { type Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import {
  DatabaseRolloutsStore,
  migrateRolloutsDatabase,
} from '../database/DatabaseRolloutsStore';
import type { NewDecision, StoredRollout } from '../database/RolloutsStore';
import { DecisionPageCache } from './decisionPageCache';

function decision(rollout: StoredRollout, i: number): NewDecision {
  return {
    rolloutId: rollout.id,
    entityRef: rollout.entityRef,
    stepIndex: 0,
    verdict: 'continue',
    kind: 'automatic',
    actor: 'scheduler',
    reasons: [`decision ${i}`],
    evidence: { i },
    policyHash: null,
    outcome: 'none',
  };
}

describe('DecisionPageCache', () => {
  let knex: Knex;
  let store: DatabaseRolloutsStore;
  let rollout: StoredRollout;

  beforeEach(async () => {
    knex = knexFactory({
      client: 'better-sqlite3',
      connection: ':memory:',
      useNullAsDefault: true,
    });
    await migrateRolloutsDatabase(knex);
    store = DatabaseRolloutsStore.fromKnex(knex);
    const now = new Date().toISOString();
    ({ rollout } = await store.upsertDiscovered({
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
    }));
    await store.appendDecisions(
      Array.from({ length: 30 }, (_, i) => decision(rollout, i)),
    );
  });
  afterEach(() => knex.destroy());

  const page = (cache: DecisionPageCache, before?: number, s = store) =>
    cache
      .text(`${before}`, before !== undefined, () =>
        s.listDecisions({
          rolloutId: rollout.id,
          limit: 10,
          before,
          withEvidence: false,
        }),
      )
      .then(t => JSON.parse(t) as { items: Array<{ seq: number }> });

  it("shows this store's append on the next read of the newest page", async () => {
    const cache = new DecisionPageCache(store, { newestPageTtlMs: 60_000 });
    const first = await page(cache);
    await store.appendDecision(decision(rollout, 30));
    const second = await page(cache);
    expect(second.items[0].seq).toBe(first.items[0].seq + 1);
  });

  it("shows another replica's append on the newest page within its time to live, never later", async () => {
    const cache = new DecisionPageCache(store, { newestPageTtlMs: 100 });
    const other = DatabaseRolloutsStore.fromKnex(knex);
    const first = await page(cache);
    await other.appendDecision(decision(rollout, 30));
    await new Promise(r => setTimeout(r, 150));
    expect((await page(cache)).items[0].seq).toBe(first.items[0].seq + 1);
  });

  it('reads a page below a cursor once for any number of readers, and keeps it across appends', async () => {
    const cache = new DecisionPageCache(store);
    const newest = await page(cache);
    const cursor = newest.items[9].seq;
    const spy = vi.spyOn(store, 'listDecisions');
    const pages = await Promise.all(
      Array.from({ length: 20 }, () => page(cache, cursor)),
    );
    await store.appendDecision(decision(rollout, 30));
    pages.push(await page(cache, cursor));
    expect(spy).toHaveBeenCalledTimes(1);
    expect(new Set(pages.map(p => JSON.stringify(p))).size).toBe(1);
    expect(pages[0].items[0].seq).toBe(cursor - 1);
  });

  it('evicts the least recently used pages beyond its byte budget, and keeps no failed read', async () => {
    const cache = new DecisionPageCache(store, { maxBytes: 1 });
    const spy = vi.spyOn(store, 'listDecisions');
    await page(cache, 20);
    await page(cache, 20);
    expect(spy).toHaveBeenCalledTimes(2);

    const roomy = new DecisionPageCache(store);
    await expect(
      roomy.text('x', true, () => Promise.reject(new Error('db down'))),
    ).rejects.toThrow('db down');
    await expect(roomy.text('x', true, async () => ({ ok: 1 }))).resolves.toBe(
      '{"ok":1}',
    );
  });

  it("finds a rollout's entity for the permission check once, and undefined for an unknown id", async () => {
    const cache = new DecisionPageCache(store);
    const spy = vi.spyOn(store, 'getRollout');
    expect(await cache.entityRefOf(rollout.id)).toBe(rollout.entityRef);
    expect(await cache.entityRefOf(rollout.id)).toBe(rollout.entityRef);
    expect(spy).toHaveBeenCalledTimes(1);
    expect(await cache.entityRefOf(randomUUID())).toBeUndefined();
  });
});
