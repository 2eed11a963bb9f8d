import knexFactory, { type Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import {
  DatabaseRolloutsStore,
  migrateRolloutsDatabase,
} from '../database/DatabaseRolloutsStore';
import type { NewDecision, StoredRollout } from '../database/RolloutsStore';
import { cachedJson } from './cachedJson';
import { DecisionPageCache } from './decisionPageCache';
import { discoveredRollout } from '../testUtils/rollouts';

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
    ({ rollout } = await store.upsertDiscovered(discoveredRollout()));
    await store.appendDecisions(
      Array.from({ length: 30 }, (_, i) => decision(rollout, i)),
    );
  });
  afterEach(() => knex.destroy());

  const allow = async () => {};
  const page = async (
    cache: DecisionPageCache,
    before?: number,
  ): Promise<{ items: Array<{ seq: number }> }> =>
    JSON.parse(
      (await cache.page(
        rollout.id,
        { limit: 10, before },
        allow,
      ))!.body.toString(),
    );

  it("shows an append on the next read of the newest page, whichever replica's store appended", async () => {
    const cache = new DecisionPageCache(store);
    const other = DatabaseRolloutsStore.fromKnex(knex);
    const first = await page(cache);
    await store.appendDecision(decision(rollout, 30));
    expect((await page(cache)).items[0].seq).toBe(first.items[0].seq + 1);
    await other.appendDecision(decision(rollout, 31));
    expect((await page(cache)).items[0].seq).toBe(first.items[0].seq + 2);
  });

  it('reads the newest page once while nothing is appended, and a page below a cursor once for good', async () => {
    const cache = new DecisionPageCache(store);
    const spy = vi.spyOn(store, 'getDecisionPageJson');
    const newest = await Promise.all(
      Array.from({ length: 20 }, () => page(cache)),
    );
    expect(spy).toHaveBeenCalledTimes(1);
    const cursor = newest[0].items[9].seq;
    const below = await Promise.all(
      Array.from({ length: 20 }, () => page(cache, cursor)),
    );
    await store.appendDecision(decision(rollout, 30));
    below.push(await page(cache, cursor));
    expect(spy).toHaveBeenCalledTimes(2);
    expect(new Set(below.map(p => JSON.stringify(p))).size).toBe(1);
    expect(below[0].items[0].seq).toBe(cursor - 1);
  });

  it("asks the permission check with the rollout's entity before serving, even a kept page, and undefined for an unknown rollout", async () => {
    const cache = new DecisionPageCache(store);
    await page(cache);
    const deny = vi.fn(async (entityRef: string) => {
      throw new Error(`not allowed on ${entityRef}`);
    });
    await expect(cache.page(rollout.id, { limit: 10 }, deny)).rejects.toThrow(
      'not allowed on component:default/checkout-api',
    );
    expect(await cache.page(randomUUID(), {}, allow)).toBeUndefined();
  });

  it('evicts the least recently used pages beyond its byte budget, and keeps no failed read', async () => {
    const cache = new DecisionPageCache(store, { maxBytes: 1 });
    const spy = vi.spyOn(store, 'getDecisionPageJson');
    await page(cache, 20);
    await page(cache, 20);
    expect(spy).toHaveBeenCalledTimes(2);

    const roomy = new DecisionPageCache(store);
    await expect(
      roomy.answer('x', () => Promise.reject(new Error('db down'))),
    ).rejects.toThrow('db down');
    const kept = await roomy.answer('x', async () => cachedJson({ ok: 1 }));
    expect(kept.body.toString()).toBe('{"ok":1}');
  });

  it('names a page in its ETag by what fixes it (size, newest entry), without hashing its bytes', async () => {
    const first = await new DecisionPageCache(store).page(
      rollout.id,
      { limit: 10 },
      allow,
    );
    const newest = JSON.parse(first!.body.toString()).items[0];
    expect(first!.etag).toBe(
      `W/"${first!.body.length.toString(16)}-p1.10.${newest.seq}.${newest.hash.slice(0, 32)}"`,
    );
    // another replica's cache names the same page alike; a shadow entry (not listed) changes nothing
    await store.appendDecision({
      ...decision(rollout, 30),
      kind: 'shadow',
    });
    const other = await new DecisionPageCache(
      DatabaseRolloutsStore.fromKnex(knex),
    ).page(rollout.id, { limit: 10 }, allow);
    expect(other).toEqual(first);
    await store.appendDecision(decision(rollout, 31));
    const after = await new DecisionPageCache(store).page(
      rollout.id,
      { limit: 10 },
      allow,
    );
    expect(after!.etag).not.toBe(first!.etag);
    expect(
      (await new DecisionPageCache(store).page(randomUUID(), {}, allow))?.etag,
    ).toBeUndefined();
  });
});
