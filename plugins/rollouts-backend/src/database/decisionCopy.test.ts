import knexFactory, { type Knex } from 'knex';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  assertPostgresOrSkip,
  startPostgres,
  type PostgresServer,
} from '@tollgate/test-support';
import { CheckpointSigner } from './decisionCheckpoints';
import { encodeDecisionRows, startDecisionCopy } from './decisionCopy';
import { decisionRowHash, JsonOnce, sealDecision } from './decisionChain';
import {
  DatabaseRolloutsStore,
  migrateRolloutsDatabase,
  type DecisionRow,
} from './DatabaseRolloutsStore';
import type { NewDecision } from './RolloutsStore';
import { preferSqliteWal } from './sqliteJournal';

/** Decision ids from a counter the test resets, so two appends of the same decisions write the same rows. */
const ids = vi.hoisted(() => ({ next: 0 }));
vi.mock('./decisionChain', async importOriginal => ({
  ...(await importOriginal<typeof import('./decisionChain')>()),
  timeOrderedUuid: () =>
    `0190a000-0000-7000-8000-${String(++ids.next).padStart(12, '0')}`,
}));

/** About 6 KiB of evidence, with the characters COPY's text format would have to escape and non-ASCII text. */
function bigEvidence(i: number) {
  return {
    verdict: i % 3 ? 'continue' : 'hold',
    note: 'tab\there, newline\nthere, back\\slash, "quotes", ünïcödé, 😀, \u2028',
    signals: Array.from({ length: 40 }, (_, k) => ({
      name: `signal-${k}`,
      canary: { value: (i * 31 + k) / 7, n: 1000 + k },
      baseline: { value: (i * 17 + k) / 11, n: 990 + k },
      interval: [-0.001 * k, 0.002 * k],
      rule: k % 5 ? 'non-inferiority' : 'deterioration',
    })),
  };
}

/** One snapshot object several decisions of a batch carry (sent as bytes encoded once). */
const sharedEvidence = bigEvidence(3);

function evidenceAt(i: number) {
  if (i % 9 === 0) return null;
  if (i % 6 === 3) return sharedEvidence;
  return i % 2 ? bigEvidence(i) : { i, small: true };
}

function decisionAt(i: number): NewDecision {
  return {
    rolloutId: `ro-${i % 4}`,
    entityRef: `component:default/svc-${i % 3}`,
    stepIndex: i % 5,
    verdict: i % 2 ? 'hold' : 'continue',
    kind: i % 7 ? 'automatic' : 'manual',
    actor: i % 7 ? 'scheduler' : 'user:default/jane\tdoe\n"ops" \\ 日本',
    reasons: [`decision ${i}`, 'ünïcödé "quoted"\nline\r\n\\'],
    evidence: evidenceAt(i),
    policyHash: i % 2 ? `policy-${i % 3}` : null,
    outcome: 'none',
    createdAt: new Date(Date.UTC(2026, 11, 6, 12, 0, i)).toISOString(),
  };
}

describe('encodeDecisionRows', () => {
  const row = (overrides: Partial<DecisionRow>): DecisionRow => ({
    seq: 1,
    id: 'id',
    rollout_id: 'r',
    entity_ref: 'e',
    step_index: 0,
    verdict: 'continue',
    kind: 'automatic',
    actor: 'a',
    reasons: '[]',
    evidence: null,
    policy_hash: null,
    outcome: 'none',
    created_at: 't',
    prev_hash: 'p',
    hash: 'h',
    chain_version: 2,
    ...overrides,
  });

  it('writes each value as its length and UTF-8 bytes, NULL as -1', () => {
    const out = encodeDecisionRows([row({ actor: 'é😀', seq: 2 ** 40 })]);
    expect(out.readInt16BE(0)).toBe(16);
    expect(out.readInt32BE(2)).toBe(8);
    expect(out.readBigInt64BE(6)).toBe(BigInt(2 ** 40));
    // seq, then id, rollout_id, entity_ref (4 + 2, 4 + 1, 4 + 1), step_index (4 + 4), verdict, kind
    const actorAt = 2 + 12 + 6 + 5 + 5 + 8 + (4 + 8) + (4 + 9);
    expect(out.readInt32BE(actorAt)).toBe(6);
    expect(out.subarray(actorAt + 4, actorAt + 10).toString('utf8')).toBe(
      'é😀',
    );
    expect(out.readInt32BE(actorAt + 10 + 4 + 2)).toBe(-1);
  });

  it('hashes and sends a snapshot several rows share encoded once, exactly as its text would be', () => {
    const json = new JsonOnce();
    const shared = bigEvidence(1);
    const sealed = [shared, bigEvidence(3), shared, null, { i: 2 }, shared].map(
      (evidence, i) =>
        sealDecision(
          {
            ...decisionAt(i + 1),
            evidence,
            seq: i + 1,
            id: `id-${i}`,
            policyHash: null,
            createdAt: '2026-12-07T00:00:00.000Z',
            prevHash: 'p',
          },
          json,
        ),
    );
    const rows = sealed.map(s => s.row);
    // a snapshot's first row and a row's own snapshot go as text; the shared one's next rows as its bytes, encoded once
    expect(sealed.map(s => s.evidenceUtf8 !== null)).toEqual([
      false,
      false,
      true,
      false,
      false,
      true,
    ]);
    expect(sealed[5].evidenceUtf8).toBe(sealed[2].evidenceUtf8);
    expect(sealed[2].evidenceUtf8?.toString('utf8')).toBe(
      sealed[2].row.evidence,
    );
    for (const s of sealed) {
      // the rule as the verifier applies it, from the stored text alone
      expect(s.row.hash).toBe(decisionRowHash(s.row));
    }
    expect(sealed[5].row.evidence).toBe(sealed[0].row.evidence);
    expect(
      encodeDecisionRows(
        rows,
        sealed.map(s => s.evidenceUtf8),
      ).equals(encodeDecisionRows(rows)),
    ).toBe(true);
  });

  it("sends a run of rows as one CopyData message on the connection's socket, in order with pg's own messages", async () => {
    const sent: Array<[string, Buffer]> = [];
    const connection = (stream: boolean) => ({
      query: () => {},
      sendCopyFromChunk: (chunk: Buffer) => sent.push(['pg', chunk]),
      endCopyFrom: () => {},
      sendCopyFail: () => {},
      stream: stream
        ? {
            writable: true,
            write: (b: Buffer) => sent.push(['socket', Buffer.from(b)]),
          }
        : undefined,
    });
    const rows = [
      row({ evidence: '{"a":"ü"}' }),
      row({ seq: 2, evidence: null }),
    ];
    for (const socket of [true, false]) {
      sent.length = 0;
      const copy = await startDecisionCopy({
        query(submittable: any) {
          const conn = connection(socket);
          submittable.submit(conn);
          submittable.handleCopyInResponse(conn);
        },
      });
      copy.write(rows, [Buffer.from('{"a":"ü"}'), null]);
      const data = encodeDecisionRows(rows);
      // the file header through pg, then the rows
      expect(sent[0][0]).toBe('pg');
      expect(sent[1][0]).toBe(socket ? 'socket' : 'pg');
      const message = sent[1][1];
      // through the socket: 'd', the length (itself included), the data; through pg: the data (pg frames it)
      const framed = Buffer.alloc(5);
      framed[0] = 0x64;
      framed.writeInt32BE(4 + data.length, 1);
      expect(message.subarray(0, socket ? 5 : 0)).toEqual(
        framed.subarray(0, socket ? 5 : 0),
      );
      expect(message.subarray(socket ? 5 : 0).equals(data)).toBe(true);
    }
  });

  it('refuses an integer column value that is not one (the plain INSERT refuses it too)', () => {
    expect(() => encodeDecisionRows([row({ step_index: 1.5 })])).toThrow(
      /step_index: 1.5 is not a 32-bit integer/,
    );
    expect(() => encodeDecisionRows([row({ step_index: 2 ** 31 })])).toThrow(
      /32-bit/,
    );
  });
});

describe('preferSqliteWal', () => {
  it('puts a file database in WAL mode and leaves an in-memory one as it is', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-wal-'));
    const file = knexFactory({
      client: 'better-sqlite3',
      connection: { filename: join(dir, 'rollouts.sqlite') },
      useNullAsDefault: true,
    });
    const memory = knexFactory({
      client: 'better-sqlite3',
      connection: ':memory:',
      useNullAsDefault: true,
    });
    try {
      expect(await preferSqliteWal(file)).toBe('wal');
      expect(await file.raw('pragma journal_mode')).toEqual([
        { journal_mode: 'wal' },
      ]);
      expect(await preferSqliteWal(memory)).toBe('memory');
    } finally {
      await file.destroy();
      await memory.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const runPg = assertPostgresOrSkip('decision COPY on PostgreSQL');

describe.runIf(runPg)('decision appends by COPY (PostgreSQL)', () => {
  let pg: PostgresServer | undefined;
  const clients: Knex[] = [];
  beforeAll(async () => {
    pg = await startPostgres();
  });
  afterAll(async () => {
    await Promise.all(clients.map(k => k.destroy()));
    pg?.stop();
  });

  async function database(): Promise<Knex> {
    const name = `copy_${randomUUID().slice(0, 8)}`;
    await pg!.createDatabase(name);
    const knex = knexFactory({
      client: 'pg',
      connection: pg!.connection(name),
    });
    clients.push(knex);
    await migrateRolloutsDatabase(knex);
    return knex;
  }

  const { privateKey } = generateKeyPairSync('ed25519');
  const privatePem = String(
    privateKey.export({ type: 'pkcs8', format: 'pem' }),
  );

  async function appendAll(
    knex: Knex,
    pgDecisionInsert: 'copy' | 'values',
    batches: number[],
  ) {
    ids.next = 0;
    const store = DatabaseRolloutsStore.fromKnex(knex, {
      pgDecisionInsert,
      checkpoints: new CheckpointSigner(privatePem, 50),
    });
    const hashes: string[] = [];
    let from = 0;
    for (const size of batches) {
      const start = from;
      const batch = Array.from({ length: size }, (_, k) =>
        decisionAt(start + k),
      );
      hashes.push(...(await store.appendDecisions(batch)).map(e => e.hash));
      from += size;
    }
    return { store, hashes };
  }

  it('writes byte-identical rows (same hashes, same checkpoints) to the plain multi-row INSERT', async () => {
    const batches = [1, 99, 100, 101, 250, 3];
    const [copyDb, plainDb] = [await database(), await database()];
    const copy = await appendAll(copyDb, 'copy', batches);
    const plain = await appendAll(plainDb, 'values', batches);
    expect(copy.hashes).toHaveLength(554);
    expect(copy.hashes).toEqual(plain.hashes);

    const rowsOf = (knex: Knex) =>
      knex.raw(
        `select seq::text, id, rollout_id, entity_ref, step_index, verdict, kind, actor, reasons,
                evidence, policy_hash, outcome, created_at, prev_hash, hash, chain_version,
                octet_length(evidence) as evidence_bytes
           from decisions order by decisions.seq`,
      );
    const [copyRows, plainRows] = [
      (await rowsOf(copyDb)).rows,
      (await rowsOf(plainDb)).rows,
    ];
    expect(copyRows).toHaveLength(554);
    expect(copyRows).toEqual(plainRows);
    expect(copyRows[1].evidence_bytes).toBeGreaterThan(5000);
    expect(copyRows[1].actor).toBe('scheduler');
    expect(copyRows[7].actor).toBe('user:default/jane\tdoe\n"ops" \\ 日本');

    const checkpointsOf = (knex: Knex) =>
      knex('decision_checkpoints').select('seq', 'hash').orderBy('seq');
    expect(await checkpointsOf(copyDb)).toEqual(await checkpointsOf(plainDb));
    expect(await checkpointsOf(copyDb)).toHaveLength(11);
    expect(await copy.store.verifyDecisions()).toEqual({
      ok: true,
      checked: 554,
    });
    expect(await plain.store.verifyDecisions()).toEqual({
      ok: true,
      checked: 554,
    });
  });

  it('rolls back an append the server refuses mid-COPY, or that fails while hashing, and keeps appending', async () => {
    const knex = await database();
    const store = DatabaseRolloutsStore.fromKnex(knex);
    await store.appendDecisions([decisionAt(1), decisionAt(2)]);

    // the 150th row is too long for its column: the server refuses it after the first run was sent
    const refused = Array.from({ length: 200 }, (_, k) => decisionAt(k));
    refused[149] = { ...refused[149], actor: 'x'.repeat(600) };
    await expect(store.appendDecisions(refused)).rejects.toThrow(
      /too long|value too long/,
    );

    // evidence that cannot be serialised fails in Node, after a run went out
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const unhashable = Array.from({ length: 150 }, (_, k) => decisionAt(k));
    unhashable[120] = { ...unhashable[120], evidence: circular };
    await expect(store.appendDecisions(unhashable)).rejects.toThrow(
      /circular/i,
    );

    // a value the binary encoding refuses before anything is sent
    await expect(
      store.appendDecisions([{ ...decisionAt(3), stepIndex: 1.5 }]),
    ).rejects.toThrow(/not a 32-bit integer/);

    const more = await store.appendDecisions(
      Array.from({ length: 120 }, (_, k) => decisionAt(k)),
    );
    expect(more.map(e => e.seq)).toEqual(
      Array.from({ length: 120 }, (_, k) => k + 3),
    );
    expect(await store.verifyDecisions()).toEqual({ ok: true, checked: 122 });
    expect(Number((await knex('decisions').count({ n: '*' }))[0].n)).toBe(122);
  });
});
