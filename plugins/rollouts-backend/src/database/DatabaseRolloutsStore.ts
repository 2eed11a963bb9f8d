import {
  DatabaseService,
  resolvePackagePath,
} from '@backstage/backend-plugin-api';
import { ConflictError } from '@backstage/errors';
import type {
  DecisionChainVerification,
  DecisionEntry,
  DecisionPage,
} from '@tollgate/plugin-rollouts-common';
import { createHash, randomFillSync } from 'node:crypto';
import type { Knex } from 'knex';
import { canonicalJson, GENESIS_HASH, sha256 } from './canonical';
import { figureColumns } from './figures';
import type {
  ActionRequestRecord,
  NewDecision,
  RolloutFigures,
  RolloutFilter,
  RolloutPatch,
  RolloutsStore,
  RolloutUpdate,
  StoredRollout,
} from './RolloutsStore';

export const migrationsDir = resolvePackagePath(
  '@tollgate/plugin-rollouts-backend',
  'migrations',
);

/** Runs the plugin's migrations on a knex client (also used by tests). */
export async function migrateRolloutsDatabase(knex: Knex): Promise<void> {
  await knex.migrate.latest({ directory: migrationsDir });
}

function parseJson<T>(text: string | null | undefined): T | undefined {
  if (text === null || text === undefined) return undefined;
  return JSON.parse(text) as T;
}

/**
 * Chain version 1: the hash covers the entry's parsed content, everything but
 * the hash itself, as canonical JSON (keys sorted at every depth):
 * sha256(prevHash + "\n" + canonicalJson(content)). Rows written before
 * migration 20261122100000 carry `chain_version` 1 and verify with this rule.
 */
export function decisionHash(entry: Omit<DecisionEntry, 'hash'>): string {
  const { prevHash, ...content } = entry;
  return sha256(`${prevHash}\n${canonicalJson(content)}`);
}

/** The chain version the store writes. */
export const DECISION_CHAIN_VERSION = 2;

/** A row of the decisions table, every column as stored. */
export interface DecisionRow {
  seq: number;
  id: string;
  rollout_id: string;
  entity_ref: string;
  step_index: number;
  verdict: string;
  kind: string;
  actor: string;
  /** JSON text of the reasons. */
  reasons: string;
  /** JSON text of the evidence snapshot, or null. */
  evidence: string | null;
  policy_hash: string | null;
  outcome: string;
  created_at: string;
  prev_hash: string;
  hash: string;
  chain_version: number;
}

/** The decisions table's columns in insert order. */
const DECISION_COLUMNS: ReadonlyArray<keyof DecisionRow> = [
  'seq',
  'id',
  'rollout_id',
  'entity_ref',
  'step_index',
  'verdict',
  'kind',
  'actor',
  'reasons',
  'evidence',
  'policy_hash',
  'outcome',
  'created_at',
  'prev_hash',
  'hash',
  'chain_version',
];

/**
 * Chain version 2: the hash covers the exact stored value of every column
 * but `hash`, the evidence's JSON text as stored (never parsed or
 * re-canonicalised, so a snapshot of several KiB costs one SHA-256 pass):
 *
 *     sha256( header + "\n" + (evidence ?? "") )   (UTF-8, lowercase hex)
 *     header = JSON.stringify([2, seq, id, rollout_id, entity_ref, step_index, verdict,
 *                              kind, actor, reasons, policy_hash, outcome, created_at,
 *                              prev_hash, evidence !== null])
 *
 * The header is a JSON array of the column values (integers as JSON numbers,
 * text columns, `reasons` included, as JSON strings of their stored text,
 * NULL as null), so it holds no raw newline and the first "\n" ends it; the
 * last element tells a NULL evidence from an empty text. The leading 2 is the
 * row's `chain_version` (a v1 input starts with a hex hash, never "[").
 * Changing any stored column of a version-2 row, its version included,
 * changes this hash or breaks the link to the next row.
 */
/** false for no evidence, true for text; anything else a database handed back (a BLOB, say) hashes differently from text. */
function evidenceKind(evidence: unknown): boolean | string {
  if (evidence === null) return false;
  if (typeof evidence === 'string') return true;
  return typeof evidence;
}

export function decisionRowHash(row: Omit<DecisionRow, 'hash'>): string {
  const evidence: unknown = row.evidence;
  const header = JSON.stringify([
    2,
    intColumn(row.seq),
    row.id,
    row.rollout_id,
    row.entity_ref,
    intColumn(row.step_index),
    row.verdict,
    row.kind,
    row.actor,
    row.reasons,
    row.policy_hash,
    row.outcome,
    row.created_at,
    row.prev_hash,
    evidenceKind(evidence),
  ]);
  const h = createHash('sha256').update(header).update('\n');
  if (typeof evidence === 'string') h.update(evidence);
  return h.digest('hex');
}

/**
 * An integer column's value as stored: PostgreSQL's driver hands bigints
 * back as their decimal text (and a driver may hand back a BigInt), which is
 * the same integer. Anything else (a
 * SQLite text like "3 " in an integer column) stays as it is, so it hashes
 * differently from the integer.
 */
function intColumn(value: unknown): unknown {
  if (typeof value === 'bigint')
    return Number.isSafeInteger(Number(value)) ? Number(value) : String(value);
  return typeof value === 'string' && /^(0|-?[1-9][0-9]{0,14})$/.test(value)
    ? Number(value)
    : value;
}

/** Every rollouts column a `StoredRollout` is built from, but the evidence snapshot. */
const LIST_COLUMNS = [
  'id',
  'entity_ref',
  'provider',
  'target',
  'external_id',
  'version',
  'previous_version',
  'status',
  'steps',
  'current_step_index',
  'current_weight',
  'started_at',
  'step_started_at',
  'finished_at',
  'updated_at',
  'policy_name',
  'policy_hash',
  'last_evaluation',
  'last_error',
  'pending_action',
  'row_version',
];

/** PostgreSQL types of the rollouts columns a batch update may set (the rest are text-like). */
const PG_TYPES: Record<string, string> = {
  expected: 'integer',
  current_step_index: 'integer',
  current_weight: 'real',
  burn_rate: 'real',
};

/** Random bytes for decision ids, drawn from the system's CSPRNG 4 KiB at a time (one call per id costs more than the rest of the id). */
const randomPool = Buffer.alloc(4096);
let randomAt = randomPool.length;

/**
 * A time-ordered UUID (version 7, RFC 9562): a 48-bit Unix-millisecond
 * timestamp, then random bits. New decision ids land at the end of the id
 * index instead of at random places in it, which keeps appends to a log of
 * millions of entries cheap.
 */
export function timeOrderedUuid(now = Date.now()): string {
  if (randomAt + 16 > randomPool.length) {
    randomFillSync(randomPool);
    randomAt = 0;
  }
  const uuidBytes = randomPool.subarray(randomAt, randomAt + 16);
  randomAt += 16;
  uuidBytes.writeUIntBE(now, 0, 6);
  uuidBytes[6] = (uuidBytes[6] & 0x0f) | 0x70;
  uuidBytes[8] = (uuidBytes[8] & 0x3f) | 0x80;
  const h = uuidBytes.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
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

/** Rows per statement and per transaction of the batch writes. */
const BATCH = 500;

function chunks<T>(xs: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

/**
 * JSON of values, memoised per object for one batch: a gate evaluation's
 * evidence goes into the rollout row and into its decision, and
 * serialising a snapshot of several KiB twice is a large part of a write.
 */
/** Serialises each object once, however many rows carry it. */
export class JsonOnce {
  readonly #seen = new Map<object, string>();
  of(value: unknown): string {
    if (!value || typeof value !== 'object') return JSON.stringify(value);
    let json = this.#seen.get(value);
    if (json === undefined) {
      json = JSON.stringify(value);
      this.#seen.set(value, json);
    }
    return json;
  }
}

/**
 * The decisions row of an entry that already has its hash, labelled with the
 * chain version that hash was computed with (see `sealDecision` to hash a
 * new entry).
 */
export function decisionRow(
  entry: DecisionEntry,
  json: JsonOnce,
  chainVersion: number = DECISION_CHAIN_VERSION,
): DecisionRow {
  return {
    seq: entry.seq,
    id: entry.id,
    rollout_id: entry.rolloutId,
    entity_ref: entry.entityRef,
    step_index: entry.stepIndex,
    verdict: entry.verdict,
    kind: entry.kind,
    actor: entry.actor,
    reasons: JSON.stringify(entry.reasons),
    evidence:
      entry.evidence === null || entry.evidence === undefined
        ? null
        : json.of(entry.evidence),
    policy_hash: entry.policyHash ?? null,
    outcome: entry.outcome,
    created_at: entry.createdAt,
    prev_hash: entry.prevHash,
    hash: entry.hash,
    chain_version: chainVersion,
  };
}

/**
 * Hashes a new entry with the current chain rule (version 2) over the row
 * it will be stored as: returns that row and the entry with its hash. Each
 * evidence object is serialised once (by `json`) and hashed as that text.
 */
export function sealDecision(
  base: Omit<DecisionEntry, 'hash'>,
  json: JsonOnce,
): { entry: DecisionEntry; row: DecisionRow } {
  const row = decisionRow({ ...base, hash: '' }, json, DECISION_CHAIN_VERSION);
  row.hash = decisionRowHash(row);
  return { entry: { ...base, hash: row.hash }, row };
}

/**
 * Knex-backed store (SQLite and PostgreSQL).
 */
export class DatabaseRolloutsStore implements RolloutsStore {
  readonly #db: Knex;
  readonly #isPg: boolean;
  readonly #isBetterSqlite: boolean;
  #generation = 0;

  static async create(options: {
    database: DatabaseService;
    skipMigrations?: boolean;
  }): Promise<DatabaseRolloutsStore> {
    const client = await options.database.getClient();
    if (!options.database.migrations?.skip && !options.skipMigrations) {
      await migrateRolloutsDatabase(client);
    }
    return new DatabaseRolloutsStore(client);
  }

  /** For tests and tools that already hold a migrated knex client. */
  static fromKnex(knex: Knex): DatabaseRolloutsStore {
    return new DatabaseRolloutsStore(knex);
  }

  private constructor(db: Knex) {
    this.#db = db;
    const client = String(db.client.config.client ?? '');
    this.#isPg =
      client === 'pg' || client === 'postgres' || client === 'postgresql';
    this.#isBetterSqlite = client === 'better-sqlite3';
  }

  #toRollout(row: any): StoredRollout {
    return {
      id: row.id,
      entityRef: row.entity_ref,
      provider: row.provider,
      target: row.target,
      externalId: row.external_id,
      version: row.version,
      previousVersion: row.previous_version ?? undefined,
      status: row.status,
      steps: parseJson(row.steps) ?? [],
      currentStepIndex: Number(row.current_step_index),
      currentWeight: Number(row.current_weight),
      startedAt: row.started_at,
      stepStartedAt: row.step_started_at,
      finishedAt: row.finished_at ?? undefined,
      updatedAt: row.updated_at,
      policyName: row.policy_name ?? undefined,
      policyHash: row.policy_hash ?? undefined,
      lastEvaluation: parseJson(row.last_evaluation),
      evidence: parseJson(row.evidence),
      lastError: parseJson(row.last_error),
      pendingAction: row.pending_action ?? undefined,
      rowVersion: Number(row.row_version),
    };
  }

  #patchToRow(patch: RolloutPatch, json?: JsonOnce): Record<string, unknown> {
    const row: Record<string, unknown> = {};
    const map: Array<[keyof RolloutPatch, string, boolean?]> = [
      ['status', 'status'],
      ['currentStepIndex', 'current_step_index'],
      ['currentWeight', 'current_weight'],
      ['stepStartedAt', 'step_started_at'],
      ['finishedAt', 'finished_at'],
      ['version', 'version'],
      ['previousVersion', 'previous_version'],
      ['steps', 'steps', true],
      ['lastEvaluation', 'last_evaluation', true],
      ['evidence', 'evidence', true],
      ['policyName', 'policy_name'],
      ['policyHash', 'policy_hash'],
      ['entityRef', 'entity_ref'],
      ['lastError', 'last_error', true],
      ['pendingAction', 'pending_action'],
    ];
    for (const [key, column, isJson] of map) {
      if (key in patch) {
        const value = patch[key];
        if (value === undefined || value === null) row[column] = null;
        else if (isJson)
          row[column] = json ? json.of(value) : JSON.stringify(value);
        else row[column] = value;
      }
    }
    if ('evidence' in patch) Object.assign(row, figureColumns(patch.evidence));
    return row;
  }

  /** The row a successful conditional update leaves, without reading it back. */
  #applyPatch(
    rollout: StoredRollout,
    patch: RolloutPatch,
    updatedAt: string,
  ): StoredRollout {
    const next: StoredRollout = {
      ...rollout,
      updatedAt,
      rowVersion: rollout.rowVersion + 1,
    };
    // as in #patchToRow: a key present with null or undefined clears the column
    for (const [key, value] of Object.entries(patch))
      (next as any)[key] = value ?? undefined;
    return next;
  }

  generation(): number {
    return this.#generation;
  }

  /** Runs a write, moving the generation before and after it (a reader between the two sees a change coming). */
  async #write<T>(fn: () => Promise<T>): Promise<T> {
    this.#generation++;
    try {
      return await fn();
    } finally {
      this.#generation++;
    }
  }

  async upsertDiscovered(
    rollout: Omit<StoredRollout, 'rowVersion' | 'updatedAt'>,
  ) {
    const existing = await this.#db('rollouts')
      .where({ provider: rollout.provider, external_id: rollout.externalId })
      .first();
    if (existing) {
      return { rollout: this.#toRollout(existing), created: false };
    }
    const now = new Date().toISOString();
    const row = {
      id: rollout.id,
      provider: rollout.provider,
      target: rollout.target,
      external_id: rollout.externalId,
      started_at: rollout.startedAt,
      updated_at: now,
      row_version: 0,
      ...this.#patchToRow(rollout),
    };
    try {
      await this.#write(() => this.#db('rollouts').insert(row));
    } catch (e) {
      // Another replica inserted it between our read and our insert.
      const again = await this.#db('rollouts')
        .where({ provider: rollout.provider, external_id: rollout.externalId })
        .first();
      if (again) return { rollout: this.#toRollout(again), created: false };
      throw e;
    }
    return { rollout: (await this.getRollout(rollout.id))!, created: true };
  }

  async getRollout(id: string) {
    const row = await this.#db('rollouts').where({ id }).first();
    return row ? this.#toRollout(row) : undefined;
  }

  async listRollouts(filter: RolloutFilter = {}) {
    const q = this.#db('rollouts').select(
      filter.withEvidence ? [...LIST_COLUMNS, 'evidence'] : LIST_COLUMNS,
    );
    if (filter.entityRefs) q.whereIn('entity_ref', filter.entityRefs);
    if (filter.status) q.whereIn('status', filter.status);
    if (filter.finishedSince) {
      q.where(b =>
        b
          .whereNull('finished_at')
          .orWhere('finished_at', '>=', filter.finishedSince!),
      );
    }
    q.orderBy('started_at', 'desc');
    if (filter.limit) q.limit(filter.limit);
    return (await q).map(r => this.#toRollout(r));
  }

  async updateRollout(
    id: string,
    expectedVersion: number,
    patch: RolloutPatch,
  ) {
    const count = await this.#write(() =>
      this.#db('rollouts')
        .where({ id, row_version: expectedVersion })
        .update({
          ...this.#patchToRow(patch),
          updated_at: new Date().toISOString(),
          row_version: expectedVersion + 1,
        }),
    );
    if (count !== 1) return undefined;
    return this.getRollout(id);
  }

  async updateRollouts(updates: RolloutUpdate[]) {
    if (new Set(updates.map(u => u.rollout.id)).size !== updates.length) {
      throw new Error('updateRollouts: a batch must name each rollout once');
    }
    return this.#write(() => this.#updateRollouts(updates));
  }

  async #updateRollouts(updates: RolloutUpdate[]) {
    const out: Array<
      { rollout: StoredRollout; decision?: DecisionEntry } | undefined
    > = [];
    for (const chunk of chunks(updates, BATCH)) {
      const updatedAt = new Date().toISOString();
      const json = new JsonOnce();
      const result = await this.#db.transaction(async trx => {
        const applied = await this.#updateMany(
          trx,
          chunk.map(u => ({
            id: u.rollout.id,
            expected: u.rollout.rowVersion,
            row: { ...this.#patchToRow(u.patch, json), updated_at: updatedAt },
          })),
        );
        const rows = chunk.map(u =>
          applied.has(u.rollout.id)
            ? this.#applyPatch(u.rollout, u.patch, updatedAt)
            : undefined,
        );
        const toLog = chunk.map((u, i) =>
          rows[i] && u.decision ? u.decision : undefined,
        );
        const logged = await this.#appendInTransaction(
          trx,
          toLog.filter((d): d is NewDecision => d !== undefined),
          json,
        );
        let next = 0;
        return rows.map((rollout, i) =>
          rollout
            ? { rollout, decision: toLog[i] ? logged[next++] : undefined }
            : undefined,
        );
      });
      out.push(...result);
    }
    return out;
  }

  /**
   * Conditional updates of many rows in one statement per column set: each
   * row changes only while it still has its expected row version. Returns
   * the ids that changed.
   */
  async #updateMany(
    trx: Knex.Transaction,
    items: Array<{
      id: string;
      expected: number;
      row: Record<string, unknown>;
    }>,
  ): Promise<Set<string>> {
    const applied = new Set<string>();
    if (!items.length) return applied;
    if (this.#isPg) {
      // Lock the rows in one order, so two replicas' batches never deadlock on each other.
      await trx('rollouts')
        .select('id')
        .whereIn(
          'id',
          items.map(i => i.id),
        )
        .orderBy('id')
        .forUpdate();
    }
    const groups = new Map<string, typeof items>();
    for (const item of items) {
      const signature = Object.keys(item.row).sort().join(',');
      const list = groups.get(signature) ?? [];
      list.push(item);
      groups.set(signature, list);
    }
    for (const [signature, group] of groups) {
      const columns = signature.split(',');
      const names = ['id', 'expected', ...columns];
      const cast = (name: string) =>
        this.#isPg ? `::${PG_TYPES[name] ?? 'text'}` : '';
      const tuple = `(${names.map(n => `?${cast(n)}`).join(', ')})`;
      const bindings: unknown[] = [];
      for (const item of group) {
        bindings.push(item.id, item.expected);
        for (const c of columns) bindings.push(item.row[c] ?? null);
      }
      // VALUES columns are column1, column2… in both SQLite and PostgreSQL.
      const sql =
        `update "rollouts" set ${columns.map(c => `"${c}" = "v"."${c}"`).join(', ')}, "row_version" = "rollouts"."row_version" + 1 ` +
        `from (select ${names.map((n, i) => `column${i + 1} as "${n}"`).join(', ')} from (values ${group.map(() => tuple).join(', ')}) as "t") as "v" ` +
        `where "rollouts"."id" = "v"."id" and "rollouts"."row_version" = "v"."expected" returning "rollouts"."id"`;
      const result: any = await trx.raw(sql, bindings as Knex.RawBinding[]);
      for (const r of this.#isPg ? result.rows : result) applied.add(r.id);
    }
    return applied;
  }

  async appendDecision(decision: NewDecision): Promise<DecisionEntry> {
    const [entry] = await this.appendDecisions([decision]);
    return entry;
  }

  async appendDecisions(decisions: NewDecision[]): Promise<DecisionEntry[]> {
    if (!decisions.length) return [];
    return this.#write(() =>
      this.#db.transaction(trx => this.#appendInTransaction(trx, decisions)),
    );
  }

  /**
   * Extends the hash chain by the decisions, in order: reads the head (locked
   * on PostgreSQL until the transaction ends, so concurrent appenders queue),
   * inserts the entries and moves the head, only if nobody moved it
   * meanwhile. Entries are hashed (chain version 2) in runs of
   * `DECISION_INSERT_ROWS`; the next run is hashed while the database
   * inserts the previous one.
   */
  async #appendInTransaction(
    trx: Knex.Transaction,
    decisions: NewDecision[],
    json = new JsonOnce(),
  ): Promise<DecisionEntry[]> {
    if (!decisions.length) return [];
    const headQuery = trx('decision_chain').where({ id: 1 });
    const head = await (this.#isPg ? headQuery.forUpdate() : headQuery).first();
    let seq = Number(head.seq);
    let prevHash: string = head.hash;
    const now = new Date().toISOString();
    const insert = await this.#decisionInserter(trx);
    const entries: DecisionEntry[] = [];
    let inFlight: Promise<void> | undefined;
    for (let from = 0; from < decisions.length; from += DECISION_INSERT_ROWS) {
      const rows: DecisionRow[] = [];
      const to = Math.min(decisions.length, from + DECISION_INSERT_ROWS);
      for (let i = from; i < to; i++) {
        const decision = decisions[i];
        seq++;
        const { entry, row } = sealDecision(
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
      }
      // one statement at a time on the connection; this one was hashed while the last one ran
      if (inFlight) await inFlight;
      inFlight = insert(rows);
      // awaited above or below; this only keeps a failure from being reported as unhandled if hashing throws
      inFlight.catch(() => {});
    }
    if (inFlight) await inFlight;
    const updated = await trx('decision_chain')
      .where({ id: 1, seq: head.seq })
      .update({ seq, hash: prevHash });
    if (updated !== 1) {
      throw new ConflictError('decision log head moved while appending; retry');
    }
    return entries;
  }

  /**
   * How this transaction inserts decisions rows. Knex's query building and
   * binding dominate at thousands of rows per second (and PostgreSQL's
   * parsing and planning of a fresh multi-row statement every time), so the
   * rows go straight to the transaction's own connection:
   *
   * * SQLite (better-sqlite3): one prepared single-row INSERT per
   *   connection, run for each row (SQLite inserts in-process; a bigger
   *   statement saves nothing measurable).
   * * PostgreSQL (pg): one multi-row statement of up to
   *   `DECISION_INSERT_ROWS` rows, sent unnamed. A named (server-side
   *   prepared) statement was about 30% faster here but breaks behind a
   *   pooler in transaction mode (PgBouncer before 1.21, or without
   *   `max_prepared_statements`), which many Backstage installs use.
   *
   * Anything else goes through knex. Every statement runs on the
   * transaction's connection, so it is part of the same transaction.
   */
  async #decisionInserter(
    trx: Knex.Transaction,
  ): Promise<(rows: DecisionRow[]) => Promise<void>> {
    const conn: any = await (trx as any).client?.acquireConnection?.();
    if (this.#isBetterSqlite && conn && typeof conn.prepare === 'function') {
      const st: { run(values: unknown[]): unknown } =
        sqliteInserts.get(conn) ??
        conn.prepare(decisionInsertSql(1, () => '?'));
      sqliteInserts.set(conn, st);
      return async rows => {
        for (const row of rows) st.run(DECISION_COLUMNS.map(c => row[c]));
      };
    }
    if (this.#isPg && conn && typeof conn.query === 'function') {
      return async rows => {
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
      };
    }
    return rows =>
      this.#insertRows(
        trx,
        'decisions',
        rows as unknown as Record<string, unknown>[],
      );
  }

  /** One multi-row `VALUES` insert (knex turns a SQLite multi-row insert into a compound SELECT capped at 500 terms). */
  async #insertRows(
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

  async listRolloutFigures(filter: {
    entityRefs?: string[];
    finishedSince: string;
  }): Promise<RolloutFigures[]> {
    const refs = filter.entityRefs;
    if (refs && refs.length === 0) return [];
    const q = this.#db('rollouts')
      .select(
        'entity_ref',
        'status',
        'started_at',
        'step_started_at',
        'finished_at',
        'burn_rate',
        'kpi_deltas',
      )
      .where(b =>
        b
          .whereNull('finished_at')
          .orWhere('finished_at', '>=', filter.finishedSince),
      );
    // A short list filters in the database; a long one (every service in the catalog) is cheaper as a set here.
    const inSql = refs && refs.length <= 200;
    if (inSql) q.whereIn('entity_ref', refs);
    const wanted = refs && !inSql ? new Set(refs) : undefined;
    const out: RolloutFigures[] = [];
    for (const row of await q) {
      if (wanted && !wanted.has(row.entity_ref)) continue;
      out.push({
        entityRef: row.entity_ref,
        status: row.status,
        startedAt: row.started_at,
        stepStartedAt: row.step_started_at,
        finishedAt: row.finished_at ?? undefined,
        burnRate:
          row.burn_rate === null || row.burn_rate === undefined
            ? undefined
            : Number(row.burn_rate),
        kpiDeltas: row.kpi_deltas ? JSON.parse(row.kpi_deltas) : undefined,
      });
    }
    return out;
  }

  #toDecision(row: any): DecisionEntry {
    return {
      seq: Number(row.seq),
      id: row.id,
      rolloutId: row.rollout_id,
      entityRef: row.entity_ref,
      stepIndex: Number(row.step_index),
      verdict: row.verdict,
      kind: row.kind,
      actor: row.actor,
      reasons: JSON.parse(row.reasons),
      evidence: row.evidence === null ? null : JSON.parse(row.evidence),
      policyHash: row.policy_hash ?? null,
      outcome: row.outcome,
      createdAt: row.created_at,
      prevHash: row.prev_hash,
      hash: row.hash,
    };
  }

  async listDecisions(options: {
    rolloutId?: string;
    entityRefs?: string[];
    since?: string;
    limit?: number;
    before?: number;
  }): Promise<DecisionPage> {
    const limit = options.limit ?? 50;
    const q = this.#db('decisions');
    if (options.rolloutId) q.where('rollout_id', options.rolloutId);
    if (options.entityRefs) q.whereIn('entity_ref', options.entityRefs);
    if (options.since) q.where('created_at', '>=', options.since);
    if (options.before) q.where('seq', '<', options.before);
    const rows = await q.orderBy('seq', 'desc').limit(limit + 1);
    const items = rows.slice(0, limit).map(r => this.#toDecision(r));
    return {
      items,
      nextCursor: rows.length > limit ? items[items.length - 1].seq : undefined,
    };
  }

  /**
   * Recomputes the chain from the first entry: every seq present and in
   * order, every `prev_hash` equal to the entry before's hash, and every
   * hash equal to its row's under the row's `chain_version` (1: the parsed
   * content, canonical JSON; 2: the stored column text, see
   * `decisionRowHash`). A log upgraded in place holds version-1 rows, then
   * version-2 rows; the link between them is checked like any other.
   */
  async verifyDecisions(): Promise<DecisionChainVerification> {
    let prev = GENESIS_HASH;
    let expectedSeq = 1;
    let checked = 0;
    const batch = 5000;
    for (;;) {
      const rows: DecisionRow[] = await this.#db('decisions')
        .where('seq', '>=', expectedSeq)
        .orderBy('seq', 'asc')
        .limit(batch);
      for (const row of rows) {
        const seq = Number(row.seq);
        checked++;
        if (seq !== expectedSeq) {
          return {
            ok: false,
            checked,
            firstBroken: {
              seq: expectedSeq,
              id: row.id,
              problem: `entry ${expectedSeq} is missing (next is ${row.seq})`,
            },
          };
        }
        if (row.prev_hash !== prev) {
          return {
            ok: false,
            checked,
            firstBroken: {
              seq,
              id: row.id,
              problem: 'previous-hash link does not match the entry before it',
            },
          };
        }
        const version = row.chain_version === undefined ? 1 : row.chain_version;
        let expected: string;
        if (version === 2) {
          expected = decisionRowHash(row);
        } else if (version === 1) {
          let entry: DecisionEntry;
          try {
            entry = this.#toDecision(row);
          } catch {
            return {
              ok: false,
              checked,
              firstBroken: {
                seq,
                id: row.id,
                problem: 'content is not valid JSON (the row was changed)',
              },
            };
          }
          const { hash: _hash, ...rest } = entry;
          expected = decisionHash(rest);
        } else {
          return {
            ok: false,
            checked,
            firstBroken: {
              seq,
              id: row.id,
              problem: `unknown chain version ${JSON.stringify(version)} (the row was changed)`,
            },
          };
        }
        if (expected !== row.hash) {
          return {
            ok: false,
            checked,
            firstBroken: {
              seq,
              id: row.id,
              problem: 'content does not match its hash (the row was changed)',
            },
          };
        }
        prev = row.hash;
        expectedSeq++;
      }
      if (rows.length < batch) break;
    }
    const head = await this.#db('decision_chain').where({ id: 1 }).first();
    if (Number(head.seq) !== expectedSeq - 1 || head.hash !== prev) {
      return {
        ok: false,
        checked,
        firstBroken: {
          seq: Number(head.seq),
          id: '',
          problem: `the chain head says ${head.seq} entries but ${expectedSeq - 1} were found (entries were deleted)`,
        },
      };
    }
    return { ok: true, checked };
  }

  async claimActionRequest(
    record: Omit<ActionRequestRecord, 'state' | 'result'>,
  ) {
    try {
      await this.#db('action_requests').insert({
        idempotency_key: record.idempotencyKey,
        rollout_id: record.rolloutId,
        action: record.action,
        actor: record.actor,
        state: 'running',
        result: null,
        created_at: record.createdAt,
      });
      return { claimed: true };
    } catch (e) {
      const existing = await this.getActionRequest(record.idempotencyKey);
      if (!existing) throw e;
      return { claimed: false, existing };
    }
  }

  async finishActionRequest(
    key: string,
    state: 'done' | 'failed',
    result: unknown,
  ) {
    await this.#db('action_requests')
      .where({ idempotency_key: key })
      .update({ state, result: JSON.stringify(result) });
  }

  async getActionRequest(
    key: string,
  ): Promise<ActionRequestRecord | undefined> {
    const row = await this.#db('action_requests')
      .where({ idempotency_key: key })
      .first();
    if (!row) return undefined;
    return {
      idempotencyKey: row.idempotency_key,
      rolloutId: row.rollout_id,
      action: row.action,
      actor: row.actor,
      state: row.state,
      result: parseJson(row.result),
      createdAt: row.created_at,
    };
  }
}
