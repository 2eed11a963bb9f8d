import { ConflictError } from '@backstage/errors';
import type { DecisionEntry } from '@tollgate/plugin-rollouts-common';
import type { Knex } from 'knex';
import type { CheckpointSigner } from './decisionCheckpoints';
import {
  DECISION_COLUMNS,
  JsonOnce,
  sealDecision,
  timeOrderedUuid,
  type DecisionRow,
} from './decisionChain';
import {
  decisionsTableTakesBinaryCopy,
  startDecisionCopy,
} from './decisionCopy';
import type { NewDecision } from './RolloutsStore';

/** Which database a transaction runs on. */
export interface Dialect {
  isPg: boolean;
  isBetterSqlite: boolean;
  /** Signs a checkpoint whenever an append passes a multiple of its `every` (none without it). */
  checkpoints?: CheckpointSigner;
  /**
   * How decisions rows reach PostgreSQL: `copy` (the default), one binary
   * `COPY … FROM STDIN` per append; `values`, multi-row INSERT statements
   * (the plain path, kept as the benchmark's baseline and the tests'
   * reference). Both store the same rows.
   */
  pgDecisionInsert?: 'copy' | 'values';
  /** Whether the decisions table takes the binary COPY (checked once per store, on its first PostgreSQL append). */
  pgCopyChecked?: Promise<boolean>;
}

/** Decisions rows per INSERT statement on PostgreSQL, and per hashing run (16 columns: 1,600 parameters). */
const DECISION_INSERT_ROWS = 100;

const pgInsertText = (() => {
  let p = 0;
  return decisionInsertSql(DECISION_INSERT_ROWS, () => `$${++p}`);
})();

/** The prepared single-row insert of each better-sqlite3 connection. */
const sqliteInserts = new WeakMap<
  object,
  { run(values: unknown[]): unknown }
>();

function decisionInsertSql(rows: number, placeholder: () => string): string {
  const tuples: string[] = [];
  for (let r = 0; r < rows; r++)
    tuples.push(`(${DECISION_COLUMNS.map(placeholder).join(', ')})`);
  return `insert into "decisions" (${DECISION_COLUMNS.map(c => `"${c}"`).join(', ')}) values ${tuples.join(', ')}`;
}

/**
 * Extends the hash chain by the decisions, in order: reads the head (locked
 * on PostgreSQL until the transaction ends, so concurrent appenders queue),
 * inserts the entries and moves the head, only if nobody moved it
 * meanwhile. Entries are hashed (chain version 2) in runs of
 * `DECISION_INSERT_ROWS`; the next run is hashed while the database
 * inserts the previous one.
 */
export async function appendInTransaction(
  trx: Knex.Transaction,
  dialect: Dialect,
  decisions: NewDecision[],
  json = new JsonOnce(),
  /** Called with each run of entries once it is on its way to the database (the caller's work on them overlaps the insert). */
  onRun?: (entries: DecisionEntry[]) => void,
): Promise<DecisionEntry[]> {
  if (!decisions.length) return [];
  const headQuery = trx('decision_chain').where({ id: 1 });
  const head = await (dialect.isPg ? headQuery.forUpdate() : headQuery).first();
  let seq = Number(head.seq);
  let prevHash: string = head.hash;
  const now = new Date().toISOString();
  const insert = await decisionInserter(trx, dialect);
  const entries: DecisionEntry[] = [];
  let inFlight: Promise<void> | undefined;
  try {
    for (let from = 0; from < decisions.length; from += DECISION_INSERT_ROWS) {
      const rows: DecisionRow[] = [];
      const evidenceUtf8: Array<Buffer | null> = [];
      const to = Math.min(decisions.length, from + DECISION_INSERT_ROWS);
      for (let i = from; i < to; i++) {
        const decision = decisions[i];
        seq++;
        const {
          entry,
          row,
          evidenceUtf8: bytes,
        } = sealDecision(
          {
            seq,
            id: timeOrderedUuid(),
            rolloutId: decision.rolloutId,
            entityRef: decision.entityRef,
            stepIndex: decision.stepIndex,
            verdict: decision.verdict,
            kind: decision.kind,
            actor: decision.actor,
            reasons: decision.reasons,
            evidence: decision.evidence ?? null,
            policyHash: decision.policyHash ?? null,
            outcome: decision.outcome,
            createdAt: decision.createdAt ?? now,
            prevHash,
          },
          json,
        );
        prevHash = entry.hash;
        entries.push(entry);
        rows.push(row);
        evidenceUtf8.push(bytes);
      }
      // one statement at a time on the connection; this one was hashed while the last one ran
      if (inFlight) await inFlight;
      inFlight = insert.write(rows, evidenceUtf8);
      // awaited above or below; this only keeps a failure from being reported as unhandled if hashing throws
      inFlight.catch(() => {});
      onRun?.(entries.slice(from, to));
    }
    if (inFlight) await inFlight;
  } catch (e) {
    // a COPY left open would hold the connection, and the transaction's ROLLBACK behind it
    await insert.abort(e);
    throw e;
  }
  await insert.end();
  const signer = dialect.checkpoints;
  if (signer) {
    const first = Number(head.seq) + 1;
    const checkpoints = [];
    for (
      let at = Math.ceil(first / signer.every) * signer.every;
      at <= seq;
      at += signer.every
    ) {
      const c = signer.sign(at, entries[at - first].hash, now);
      checkpoints.push({
        seq: c.seq,
        hash: c.hash,
        created_at: c.createdAt,
        key_id: c.keyId,
        signature: c.signature,
      });
    }
    if (checkpoints.length)
      await trx('decision_checkpoints').insert(checkpoints);
  }
  const updated = await trx('decision_chain')
    .where({ id: 1, seq: head.seq })
    .update({ seq, hash: prevHash });
  if (updated !== 1) {
    throw new ConflictError('decision log head moved while appending; retry');
  }
  return entries;
}

/** Where an append's rows go, run by run. */
interface DecisionInserter {
  /** Stores (or sends) a run of rows; the next run is hashed while it runs. `evidenceUtf8[i]`: the UTF-8 of `rows[i].evidence`. */
  write(
    rows: DecisionRow[],
    evidenceUtf8: ReadonlyArray<Buffer | null>,
  ): Promise<void>;
  /** After the last run: resolves once every row is stored. */
  end(): Promise<void>;
  /** After a failure: leaves the connection usable for the ROLLBACK. */
  abort(reason: unknown): Promise<void>;
}

const nothingPending = async () => {};

/**
 * How this transaction inserts decisions rows. Knex's query building and
 * binding dominate at thousands of rows per second (and PostgreSQL's
 * parsing and planning of a fresh multi-row statement every time), so the
 * rows go straight to the transaction's own connection:
 *
 * * SQLite (better-sqlite3): one prepared single-row INSERT per
 *   connection, run for each row (SQLite inserts in-process; a bigger
 *   statement saves nothing measurable).
 * * PostgreSQL (pg), `copy` (the default): one binary `COPY … FROM STDIN`
 *   per append (`decisionCopy.ts`): each run of rows is sent as soon as it
 *   is hashed and the server stores it while the next run is hashed; no
 *   statement of 1,600 parameters to parse and plan per 100 rows, no
 *   escaping. COPY is plain SQL on the connection, so it also works behind
 *   a pooler in transaction mode.
 * * PostgreSQL (pg), `values`: one multi-row statement of up to
 *   `DECISION_INSERT_ROWS` rows, sent unnamed. A named (server-side
 *   prepared) statement was about 30% faster here but breaks behind a
 *   pooler in transaction mode (PgBouncer before 1.21, or without
 *   `max_prepared_statements`), which many Backstage installs use.
 *
 * Anything else goes through knex. Every statement runs on the
 * transaction's connection, so it is part of the same transaction.
 */
async function decisionInserter(
  trx: Knex.Transaction,
  dialect: Dialect,
): Promise<DecisionInserter> {
  const conn: any = await (trx as any).client?.acquireConnection?.();
  if (dialect.isBetterSqlite && conn && typeof conn.prepare === 'function') {
    const st: { run(values: unknown[]): unknown } =
      sqliteInserts.get(conn) ?? conn.prepare(decisionInsertSql(1, () => '?'));
    sqliteInserts.set(conn, st);
    return {
      write: async rows => {
        for (const row of rows) st.run(DECISION_COLUMNS.map(c => row[c]));
      },
      end: nothingPending,
      abort: nothingPending,
    };
  }
  if (dialect.isPg && conn && typeof conn.query === 'function') {
    if ((dialect.pgDecisionInsert ?? 'copy') === 'copy') {
      dialect.pgCopyChecked ??= decisionsTableTakesBinaryCopy(conn).catch(e => {
        dialect.pgCopyChecked = undefined;
        throw e;
      });
      if (await dialect.pgCopyChecked) {
        const copy = await startDecisionCopy(conn);
        return {
          write: async (rows, evidenceUtf8) => {
            copy.write(rows, evidenceUtf8);
            // lets the socket take the run before the next one is hashed
            await new Promise(resolve => setImmediate(resolve));
          },
          end: () => copy.end(),
          abort: reason =>
            copy.abort(
              `decision append failed: ${reason instanceof Error ? reason.message : String(reason)}`,
            ),
        };
      }
    }
    return {
      write: async rows => {
        const values: unknown[] = [];
        for (const row of rows)
          for (const c of DECISION_COLUMNS) values.push(row[c]);
        if (rows.length === DECISION_INSERT_ROWS) {
          await conn.query({ text: pgInsertText, values });
        } else {
          let p = 0;
          await conn.query({
            text: decisionInsertSql(rows.length, () => `$${++p}`),
            values,
          });
        }
      },
      end: nothingPending,
      abort: nothingPending,
    };
  }
  return {
    write: rows =>
      insertRows(
        trx,
        'decisions',
        rows as unknown as Record<string, unknown>[],
      ),
    end: nothingPending,
    abort: nothingPending,
  };
}

/** One multi-row `VALUES` insert (knex turns a SQLite multi-row insert into a compound SELECT capped at 500 terms). */
async function insertRows(
  trx: Knex.Transaction,
  table: string,
  rows: Record<string, unknown>[],
) {
  const columns = Object.keys(rows[0]);
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  const bindings: unknown[] = [];
  for (const row of rows)
    for (const c of columns) bindings.push(row[c] ?? null);
  await trx.raw(
    `insert into "${table}" (${columns.map(c => `"${c}"`).join(', ')}) values ${rows.map(() => tuple).join(', ')}`,
    bindings as Knex.RawBinding[],
  );
}
