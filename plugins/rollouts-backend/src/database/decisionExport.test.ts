import knexFactory, { type Knex } from 'knex';
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  assertPostgresOrSkip,
  startPostgres,
  type PostgresServer,
} from '@tollgate/test-support';
import { decisionRowHash, type DecisionRow } from './decisionChain';
import { CheckpointSigner, checkpointPublicKey } from './decisionCheckpoints';
import {
  exportLines,
  exportLineText,
  verifyExportText,
} from './decisionExport';
import {
  DatabaseRolloutsStore,
  migrateRolloutsDatabase,
} from './DatabaseRolloutsStore';
import type { NewDecision } from './RolloutsStore';

const root = resolve(__dirname, '../../../..');

function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: String(privateKey.export({ type: 'pkcs8', format: 'pem' })),
    publicPem: String(publicKey.export({ type: 'spki', format: 'pem' })),
  };
}

function decision(
  i: number,
  entityRef = 'component:default/checkout',
): NewDecision {
  return {
    rolloutId: `ro-${i % 3}`,
    entityRef,
    stepIndex: i % 4,
    verdict: i % 2 ? 'hold' : 'continue',
    kind: 'automatic',
    actor: 'scheduler',
    reasons: [`decision ${i}`, 'ünïcödé "quoted"\nline'],
    evidence:
      i % 5 === 0
        ? null
        : { i, score: i / 7, nested: { b: [1, 2, { z: 'x\u2028y' }] } },
    policyHash: i % 2 ? 'abc' : null,
    outcome: 'none',
  };
}

async function sqlite(): Promise<Knex> {
  const knex = knexFactory({
    client: 'better-sqlite3',
    connection: ':memory:',
    useNullAsDefault: true,
  });
  await migrateRolloutsDatabase(knex);
  return knex;
}

async function exportText(
  store: DatabaseRolloutsStore,
  options: {
    after?: number;
    limit?: number;
    readable?: (ref: string) => boolean;
  } = {},
): Promise<string> {
  const out: string[] = [];
  for await (const line of exportLines(store, {
    after: options.after ?? 0,
    limit: options.limit ?? 1_000_000,
    readable: options.readable,
  }))
    out.push(exportLineText(line));
  return out.join('');
}

/** A log of 23 entries in three appends (checkpoints at 5, 10, 15, 20, some inside a batch). */
async function seededStore(knex: Knex, signer?: CheckpointSigner) {
  const store = DatabaseRolloutsStore.fromKnex(knex, { checkpoints: signer });
  for (const [from, n] of [
    [1, 7],
    [8, 1],
    [9, 15],
  ]) {
    await store.appendDecisions(
      Array.from({ length: n }, (_, k) => decision(from + k)),
    );
  }
  return store;
}

/** Changes one character of one line's text: the line of entry `seq`, inside the value of `column`. */
function flipByte(
  text: string,
  seq: number,
  column: keyof DecisionRow,
): string {
  const lines = text.split('\n');
  const at = lines.findIndex(l => {
    if (!l) return false;
    const line = JSON.parse(l);
    return line.type === 'entry' && Number(line.columns.seq) === seq;
  });
  const line = JSON.parse(lines[at]);
  const value = String(line.columns[column]);
  const k = Math.floor(value.length / 2);
  const c = value[k] === '1' ? '2' : '1';
  line.columns[column] = `${value.slice(0, k)}${c}${value.slice(k + 1)}`;
  lines[at] = JSON.stringify(line);
  return lines.join('\n');
}

function run(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise(done => {
    execFile(
      process.execPath,
      [
        join(root, 'node_modules/tsx/dist/cli.mjs'),
        join(root, 'scripts/verify-log.ts'),
        ...args,
      ],
      { cwd: root },
      (error, stdout, stderr) =>
        done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('decision log export and verify-log (SQLite)', () => {
  const keys = keyPair();
  let knex: Knex;
  afterEach(async () => {
    await knex?.destroy();
  });

  it('signs a checkpoint every N entries in the append, and the export round trip verifies with the key', async () => {
    knex = await sqlite();
    const signer = new CheckpointSigner(keys.privatePem, 5);
    const store = await seededStore(knex, signer);
    const stored = await knex('decision_checkpoints').orderBy('seq');
    expect(stored.map(c => Number(c.seq))).toEqual([5, 10, 15, 20]);
    expect(store.checkpointPublicKeyPem()).toBe(keys.publicPem);

    const text = await exportText(store);
    const result = verifyExportText(text, {
      publicKey: checkpointPublicKey(keys.publicPem),
    });
    expect(result).toMatchObject({
      ok: true,
      entries: 23,
      firstSeq: 1,
      lastSeq: 23,
      checkpoints: 4,
      signaturesVerified: 4,
    });
    // The columns are the stored text: the backend's own hash rule gives each row's hash from them.
    const entries = text
      .split('\n')
      .filter(Boolean)
      .map(l => JSON.parse(l))
      .filter(l => l.type === 'entry');
    const rows = await knex('decisions').orderBy('seq');
    expect(entries.map(e => e.columns)).toEqual(rows);
    expect(entries.map(e => decisionRowHash(e.columns))).toEqual(
      rows.map(r => r.hash),
    );
    expect(await store.verifyDecisions()).toEqual({ ok: true, checked: 23 });
  });

  it('pages: an export after a seq starts there, and says there is more', async () => {
    knex = await sqlite();
    const store = await seededStore(
      knex,
      new CheckpointSigner(keys.privatePem, 5),
    );
    const first = await exportText(store, { limit: 10 });
    const second = await exportText(store, { after: 10, limit: 100 });
    expect(verifyExportText(first)).toMatchObject({
      ok: true,
      entries: 10,
      checkpoints: 2,
    });
    expect(first).toContain('"more":true');
    const rest = verifyExportText(second);
    expect(rest).toMatchObject({ ok: true, entries: 13, firstSeq: 11 });
    expect(rest.notes.join()).toContain('starts at seq 11');
    // pages one after the other verify as one export
    expect(verifyExportText(first + second)).toMatchObject({
      ok: true,
      entries: 23,
      firstSeq: 1,
    });
  });

  it('names the seq when one byte of a stored column is changed', async () => {
    knex = await sqlite();
    const store = await seededStore(knex);
    const text = await exportText(store);
    for (const [seq, column] of [
      [4, 'evidence'],
      [9, 'reasons'],
      [17, 'created_at'],
      [23, 'actor'],
    ] as const) {
      const result = verifyExportText(flipByte(text, seq, column));
      expect([result.ok, result.broken?.seq]).toEqual([false, seq]);
      expect(result.broken?.problem).toContain('does not match its hash');
    }
    // a deleted line and two swapped lines
    const lines = text.split('\n');
    const without = lines.filter((_, i) => i !== 6).join('\n');
    expect(verifyExportText(without).broken?.seq).toBe(6);
    const swapped = [...lines];
    [swapped[3], swapped[4]] = [swapped[4], swapped[3]];
    expect(verifyExportText(swapped.join('\n')).broken?.seq).toBe(3);
    // the newest entries cut off: the header's head says more were there
    const cut = lines.filter((_, i) => i < 20 || i === lines.length - 2);
    expect(verifyExportText(cut.join('\n'))).toMatchObject({ ok: false });
  });

  it('catches a whole-chain rewrite in the database against a checkpoint the reader kept', async () => {
    knex = await sqlite();
    const signer = new CheckpointSigner(keys.privatePem, 5);
    const store = await seededStore(knex, signer);
    const before = await exportText(store);
    const kept = before
      .split('\n')
      .filter(Boolean)
      .map(l => JSON.parse(l))
      .find(l => l.type === 'checkpoint' && l.checkpoint.seq === 15).checkpoint;

    // Someone with write access to the database changes entry 3 and
    // recomputes every hash after it, moves the head and drops the
    // checkpoints they cannot re-sign.
    const rows: DecisionRow[] = await knex('decisions').orderBy('seq');
    let prev = rows[0].prev_hash;
    for (const row of rows) {
      if (Number(row.seq) === 3) row.verdict = 'rollback';
      row.prev_hash = prev;
      row.hash = decisionRowHash(row);
      prev = row.hash;
      await knex('decisions').where({ seq: row.seq }).update({
        verdict: row.verdict,
        prev_hash: row.prev_hash,
        hash: row.hash,
      });
    }
    await knex('decision_chain').where({ id: 1 }).update({ hash: prev });
    // the backend's own verification still holds the signed checkpoints against it
    expect((await store.verifyDecisions()).firstBroken).toMatchObject({
      seq: 5,
      problem: expect.stringContaining('rewritten'),
    });
    await knex('decision_checkpoints').delete();
    // the database alone no longer tells
    expect(await store.verifyDecisions()).toEqual({ ok: true, checked: 23 });

    const after = await exportText(store);
    expect(verifyExportText(after)).toMatchObject({ ok: true, checkpoints: 0 });
    const checked = verifyExportText(after, { kept });
    expect([checked.ok, checked.broken?.seq]).toEqual([false, 15]);
    expect(checked.broken?.problem).toContain('rewritten');
    // and the kept checkpoint against the honest export matches
    expect(verifyExportText(before, { kept })).toMatchObject({
      ok: true,
      keptMatched: true,
    });
    // an export that stops short of the kept checkpoint does not pass either
    const short = verifyExportText(await exportText(store, { limit: 12 }), {
      kept,
    });
    expect([short.ok, short.broken?.seq]).toEqual([false, 15]);
  });

  it('fails a checkpoint whose signature does not verify with the given key, and one that does not match its entry', async () => {
    knex = await sqlite();
    const store = await seededStore(
      knex,
      new CheckpointSigner(keys.privatePem, 5),
    );
    const text = await exportText(store);
    const other = keyPair();
    const wrong = verifyExportText(text, {
      publicKey: checkpointPublicKey(other.publicPem),
    });
    expect([wrong.ok, wrong.broken?.seq]).toEqual([false, 5]);
    expect(wrong.broken?.problem).toContain('signature');
    // a checkpoint signed by another key over the same head fails with the right key
    const forger = new CheckpointSigner(other.privatePem, 5);
    const forged = text
      .split('\n')
      .map(l => {
        if (!l.includes('"type":"checkpoint"')) return l;
        const line = JSON.parse(l);
        const c = line.checkpoint;
        return JSON.stringify({
          type: 'checkpoint',
          checkpoint: {
            ...forger.sign(c.seq, c.hash, c.createdAt),
            keyId: c.keyId,
          },
        });
      })
      .join('\n');
    expect(
      verifyExportText(forged, {
        publicKey: checkpointPublicKey(keys.publicPem),
      }).broken?.seq,
    ).toBe(5);
    // a checkpoint moved to another entry
    const moved = text.replace('"seq":10,"hash"', '"seq":11,"hash"');
    expect(verifyExportText(moved).broken?.seq).toBe(11);
  });

  it('after a key rotation checks each checkpoint with the key it names', async () => {
    knex = await sqlite();
    const next = keyPair();
    await DatabaseRolloutsStore.fromKnex(knex, {
      checkpoints: new CheckpointSigner(keys.privatePem, 5),
    }).appendDecisions([1, 2, 3, 4, 5, 6].map(i => decision(i)));
    const rotated = DatabaseRolloutsStore.fromKnex(knex, {
      checkpoints: new CheckpointSigner(next.privatePem, 5),
    });
    await rotated.appendDecisions([7, 8, 9, 10, 11].map(i => decision(i)));
    const text = await exportText(rotated);
    const both = [keys.publicPem, next.publicPem].map(checkpointPublicKey);
    expect(verifyExportText(text, { publicKey: both })).toMatchObject({
      ok: true,
      checkpoints: 2,
      signaturesVerified: 2,
    });
    // only the new key: the old checkpoint is not taken on trust
    expect(verifyExportText(text, { publicKey: [both[1]] }).broken?.seq).toBe(
      5,
    );
    // the backend checks its own key's checkpoints and leaves the old key's to their entries
    expect(await rotated.verifyDecisions()).toEqual({ ok: true, checked: 11 });
  });

  it('redacts entries the reader may not read: their links are checked, their content is not', async () => {
    knex = await sqlite();
    const store = DatabaseRolloutsStore.fromKnex(knex);
    await store.appendDecisions([
      decision(1),
      decision(2, 'component:default/secret'),
      decision(3),
    ]);
    const text = await exportText(store, {
      readable: ref => ref !== 'component:default/secret',
    });
    expect(text).not.toContain('secret');
    expect(verifyExportText(text)).toMatchObject({
      ok: true,
      entries: 3,
      redacted: 1,
    });
  });

  it('without a key writes no checkpoints, and the store has no public key', async () => {
    knex = await sqlite();
    const store = await seededStore(knex);
    expect(await knex('decision_checkpoints').count({ n: '*' })).toEqual([
      { n: 0 },
    ]);
    expect(store.checkpointPublicKeyPem()).toBeUndefined();
  });

  it('refuses a key that is not Ed25519', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(
      () =>
        new CheckpointSigner(
          String(privateKey.export({ type: 'pkcs8', format: 'pem' })),
          5,
        ),
    ).toThrow(/Ed25519/);
    expect(() => new CheckpointSigner('not a key', 5)).toThrow(/PEM/);
  });

  it('npm run verify-log: exit 0 on a good export, 1 naming the seq of a changed byte or a rewrite, wrong key fails', async () => {
    knex = await sqlite();
    const store = await seededStore(
      knex,
      new CheckpointSigner(keys.privatePem, 5),
    );
    const dir = mkdtempSync(join(tmpdir(), 'verify-log-'));
    const text = await exportText(store);
    const file = (name: string, content: string) => {
      const path = join(dir, name);
      writeFileSync(path, content);
      return path;
    };
    const good = file('good.ndjson', text);
    const key = file('key.pem', keys.publicPem);
    const wrongKey = file('wrong.pem', keyPair().publicPem);
    const bad = file('bad.ndjson', flipByte(text, 12, 'evidence'));
    const kept = file(
      'kept.json',
      JSON.stringify({
        seq: 10,
        hash: 'f'.repeat(64),
        createdAt: '',
        keyId: '',
        signature: '',
      }),
    );

    const [ok, unsigned, broken, wrong, rewritten] = await Promise.all([
      run([good, '--key', key]),
      run(['--', good]),
      run([bad, '--key', key]),
      run([good, '--key', wrongKey]),
      run([good, '--checkpoint', kept]),
    ]);
    expect([ok.code, ok.stdout]).toEqual([
      0,
      expect.stringContaining('OK, 23 entries'),
    ]);
    expect(ok.stdout).toContain('4 checkpoints, every signature verified');
    expect([unsigned.code, unsigned.stdout]).toEqual([
      0,
      expect.stringContaining('signatures unverified'),
    ]);
    expect([broken.code, broken.stderr]).toEqual([
      1,
      expect.stringContaining('BROKEN at seq 12'),
    ]);
    expect([wrong.code, wrong.stderr]).toEqual([
      1,
      expect.stringContaining('BROKEN at seq 5'),
    ]);
    expect([rewritten.code, rewritten.stderr]).toEqual([
      1,
      expect.stringContaining('BROKEN at seq 10'),
    ]);
  });
});

const runPg = assertPostgresOrSkip('decision log export on PostgreSQL');

describe.runIf(runPg)('decision log export (PostgreSQL)', () => {
  let pg: PostgresServer | undefined;
  let knex: Knex | undefined;
  beforeAll(async () => {
    pg = await startPostgres();
  });
  afterAll(async () => {
    await knex?.destroy();
    pg?.stop();
  });

  it('signs checkpoints in the append and the export verifies, bigint seq and all', async () => {
    const name = `export_${randomUUID().slice(0, 8)}`;
    await pg!.createDatabase(name);
    knex = knexFactory({ client: 'pg', connection: pg!.connection(name) });
    await migrateRolloutsDatabase(knex);
    const keys = keyPair();
    const store = await seededStore(
      knex,
      new CheckpointSigner(keys.privatePem, 5),
    );
    const text = await exportText(store);
    expect(
      verifyExportText(text, {
        publicKey: checkpointPublicKey(keys.publicPem),
      }),
    ).toMatchObject({ ok: true, entries: 23, signaturesVerified: 4 });
    expect(verifyExportText(flipByte(text, 8, 'reasons')).broken?.seq).toBe(8);
  });
});
