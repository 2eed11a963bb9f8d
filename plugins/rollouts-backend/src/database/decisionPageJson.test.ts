import type { Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import { testDatabases } from '@tollgate/test-support';
import {
  DatabaseRolloutsStore,
  migrateRolloutsDatabase,
} from './DatabaseRolloutsStore';
import { reasonsJson } from './decisionPageJson';
import type { NewDecision, StoredRollout } from './RolloutsStore';
import { discoveredRollout } from '../testUtils/rollouts';

const databases = testDatabases('decision page JSON on PostgreSQL', {
  prefix: 'page',
  poolMax: 4,
});

/** Strings JSON writes with escapes, or that a shortcut could get wrong. */
const AWKWARD = [
  'plain',
  'say "hi"',
  'back\\slash and /slash',
  'two\nlines\r\n\ttabbed',
  'bell \u0007 unit \u001f del \u007f',
  'café — naïve 日本語',
  'emoji 🚦 and a line separator \u2028 paragraph \u2029',
  '',
  '{"looks":["like json"]}',
];

/** Reasons texts another writer (or an older version) may have stored: valid JSON, not as `JSON.stringify` writes it. */
const STORED_REASONS = [
  '[ "spaced" , "out" ]',
  '["caf\\u00e9"]',
  '["\\/slash"]',
  '["\\u0008 is \\\\b", "\\u001F upper"]',
  '["\\ud83d\\udea6 escaped pair"]',
  '["lone \\ud800 surrogate"]',
  '[]',
  '["nested", ["array"], 1, null, {"b": 1, "a": 2}]',
  '{"not":"an array"}',
];

describe('reasonsJson', () => {
  it('writes any stored reasons text as JSON.stringify(JSON.parse(text)) would', () => {
    for (const text of [
      ...STORED_REASONS,
      JSON.stringify(AWKWARD),
      JSON.stringify(['\u0000\u0008\u0009\u000a\u000b\u000c\u000d\u000e']),
      JSON.stringify(['\ud800 lone', 'low \udc00']),
    ]) {
      expect(reasonsJson(text)).toBe(JSON.stringify(JSON.parse(text)));
    }
    expect(() => reasonsJson('["unterminated')).toThrow(SyntaxError);
  });
});

describe.each(databases)('decision page JSON on %s', (_name, makeKnex) => {
  let knex: Knex;
  let store: DatabaseRolloutsStore;
  let rollout: StoredRollout;

  beforeEach(async () => {
    knex = await makeKnex();
    await migrateRolloutsDatabase(knex);
    store = DatabaseRolloutsStore.fromKnex(knex);
    ({ rollout } = await store.upsertDiscovered(
      discoveredRollout({ entityRef: 'component:default/checkout-"api"' }),
    ));
  });
  afterEach(() => knex.destroy());

  const decision = (i: number, over: Partial<NewDecision> = {}) =>
    ({
      rolloutId: rollout.id,
      entityRef: rollout.entityRef,
      stepIndex: i % 3,
      verdict: i % 2 ? 'hold' : 'continue',
      kind: 'automatic',
      actor:
        i % 2 ? 'scheduler' : `user:default/${AWKWARD[i % AWKWARD.length]}`,
      reasons: [AWKWARD[i % AWKWARD.length], `decision ${i}`],
      evidence: i % 4 ? { i } : null,
      policyHash: i % 3 ? null : `policy-${i}`,
      outcome: 'none',
      ...over,
    }) satisfies NewDecision;

  /** The page as the API wrote it before: JSON.stringify of the listed objects. */
  const asObjects = async (query: { limit?: number; before?: number }) =>
    JSON.stringify(
      await store.listDecisions({
        rolloutId: rollout.id,
        ...query,
        withEvidence: false,
      }),
    );

  it('writes every page byte for byte as JSON.stringify of the listed entries, awkward strings, stored reasons texts, cursors and shadow entries included', async () => {
    await store.appendDecisions([
      ...AWKWARD.map((_, i) => decision(i)),
      decision(100, { reasons: [] }),
      decision(101, { kind: 'shadow', reasons: ['would have held'] }),
      decision(102, { kind: 'manual', verdict: 'pause', actor: 'user:x' }),
    ]);
    // reasons texts stored by something other than JSON.stringify
    const stored = await store.appendDecisions(
      STORED_REASONS.map((_, i) => decision(200 + i)),
    );
    for (const [i, entry] of stored.entries()) {
      await knex('decisions')
        .where({ seq: entry.seq })
        .update({ reasons: STORED_REASONS[i] });
    }

    const newest = await store.getDecisionPageJson(rollout.id, { limit: 50 });
    expect(newest.json).toBe(await asObjects({ limit: 50 }));
    const all = JSON.parse(newest.json);
    expect(all.items).toHaveLength(AWKWARD.length + 2 + STORED_REASONS.length);
    expect(all.nextCursor).toBeUndefined();
    expect(all.items.some((e: any) => e.kind === 'shadow')).toBe(false);
    expect(all.items.some((e: any) => e.policyHash === null)).toBe(true);
    expect(all.items.some((e: any) => e.reasons.length === 0)).toBe(true);
    expect(newest.newest).toEqual({
      seq: all.items[0].seq,
      hash: all.items[0].hash,
    });

    // small pages, walked with their cursors, and the default size
    let before: number | undefined;
    let pages = 0;
    do {
      const page = await store.getDecisionPageJson(rollout.id, {
        limit: 4,
        before,
      });
      expect(page.json).toBe(await asObjects({ limit: 4, before }));
      before = JSON.parse(page.json).nextCursor;
      pages++;
    } while (before !== undefined);
    expect(pages).toBe(Math.ceil(all.items.length / 4));
    expect((await store.getDecisionPageJson(rollout.id, {})).json).toBe(
      await asObjects({}),
    );
    // an exactly full last page has no cursor
    expect(
      (await store.getDecisionPageJson(rollout.id, { limit: 3, before: 4 }))
        .json,
    ).toBe(await asObjects({ limit: 3, before: 4 }));
  });

  it('writes an empty page for a rollout without decisions, below its first, or unknown', async () => {
    await store.appendDecision(decision(0));
    for (const [id, query] of [
      [rollout.id, { limit: 10, before: 1 }],
      [randomUUID(), { limit: 10 }],
    ] as const) {
      const page = await store.getDecisionPageJson(id, query);
      expect(page).toEqual({ json: '{"items":[]}', newest: undefined });
      expect(page.json).toBe(
        JSON.stringify(
          await store.listDecisions({
            rolloutId: id,
            ...query,
            withEvidence: false,
          }),
        ),
      );
    }
  });
});
