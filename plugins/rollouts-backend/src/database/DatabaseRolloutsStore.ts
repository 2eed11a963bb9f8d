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
import { randomFillSync } from 'node:crypto';
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

/** The content a decision's hash covers: everything but the hash itself. */
export function decisionHash(entry: Omit<DecisionEntry, 'hash'>): string {
  const { prevHash, ...content } = entry;
  return sha256(`${prevHash}\n${canonicalJson(content)}`);
}

/** Every rollouts column a `StoredRollout` is built from, but the evidence snapshot. */
const LIST_COLUMNS = [
  'id', 'entity_ref', 'provider', 'target', 'external_id', 'version', 'previous_version', 'status', 'steps',
  'current_step_index', 'current_weight', 'started_at', 'step_started_at', 'finished_at', 'updated_at',
  'policy_name', 'policy_hash', 'last_evaluation', 'last_error', 'pending_action', 'row_version',
];

/** PostgreSQL types of the rollouts columns a batch update may set (the rest are text-like). */
const PG_TYPES: Record<string, string> = {
  expected: 'integer',
  current_step_index: 'integer',
  current_weight: 'real',
  burn_rate: 'real',
};

const uuidBytes = Buffer.alloc(16);

/**
 * A time-ordered UUID (version 7, RFC 9562): a 48-bit Unix-millisecond
 * timestamp, then random bits. New decision ids land at the end of the id
 * index instead of at random places in it, which keeps appends to a log of
 * millions of entries cheap.
 */
export function timeOrderedUuid(now = Date.now()): string {
  randomFillSync(uuidBytes);
  uuidBytes.writeUIntBE(now, 0, 6);
  uuidBytes[6] = (uuidBytes[6] & 0x0f) | 0x70;
  uuidBytes[8] = (uuidBytes[8] & 0x3f) | 0x80;
  const h = uuidBytes.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
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

/** A row of the decisions table for an entry. */
export function decisionRow(entry: DecisionEntry, json: JsonOnce): Record<string, unknown> {
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
    evidence: entry.evidence === null ? null : json.of(entry.evidence),
    policy_hash: entry.policyHash,
    outcome: entry.outcome,
    created_at: entry.createdAt,
    prev_hash: entry.prevHash,
    hash: entry.hash,
  };
}

/**
 * Knex-backed store (SQLite and PostgreSQL).
 */
export class DatabaseRolloutsStore implements RolloutsStore {
  readonly #db: Knex;
  readonly #isPg: boolean;
  #generation = 0;

  static async create(options: { database: DatabaseService; skipMigrations?: boolean }): Promise<DatabaseRolloutsStore> {
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
    this.#isPg = client === 'pg' || client === 'postgres' || client === 'postgresql';
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
        row[column] = value === undefined || value === null ? null : isJson ? (json ? json.of(value) : JSON.stringify(value)) : value;
      }
    }
    if ('evidence' in patch) Object.assign(row, figureColumns(patch.evidence));
    return row;
  }

  /** The row a successful conditional update leaves, without reading it back. */
  #applyPatch(rollout: StoredRollout, patch: RolloutPatch, updatedAt: string): StoredRollout {
    const next: StoredRollout = { ...rollout, updatedAt, rowVersion: rollout.rowVersion + 1 };
    // as in #patchToRow: a key present with null or undefined clears the column
    for (const [key, value] of Object.entries(patch)) (next as any)[key] = value ?? undefined;
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

  async upsertDiscovered(rollout: Omit<StoredRollout, 'rowVersion' | 'updatedAt'>) {
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
    const q = this.#db('rollouts').select(filter.withEvidence ? [...LIST_COLUMNS, 'evidence'] : LIST_COLUMNS);
    if (filter.entityRefs) q.whereIn('entity_ref', filter.entityRefs);
    if (filter.status) q.whereIn('status', filter.status);
    if (filter.finishedSince) {
      q.where(b => b.whereNull('finished_at').orWhere('finished_at', '>=', filter.finishedSince!));
    }
    q.orderBy('started_at', 'desc');
    if (filter.limit) q.limit(filter.limit);
    return (await q).map(r => this.#toRollout(r));
  }

  async updateRollout(id: string, expectedVersion: number, patch: RolloutPatch) {
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
    const out: Array<{ rollout: StoredRollout; decision?: DecisionEntry } | undefined> = [];
    for (const chunk of chunks(updates, BATCH)) {
      const updatedAt = new Date().toISOString();
      const json = new JsonOnce();
      const result = await this.#db.transaction(async trx => {
        const applied = await this.#updateMany(
          trx,
          chunk.map(u => ({ id: u.rollout.id, expected: u.rollout.rowVersion, row: { ...this.#patchToRow(u.patch, json), updated_at: updatedAt } })),
        );
        const rows = chunk.map(u => (applied.has(u.rollout.id) ? this.#applyPatch(u.rollout, u.patch, updatedAt) : undefined));
        const toLog = chunk.map((u, i) => (rows[i] && u.decision ? u.decision : undefined));
        const logged = await this.#appendInTransaction(trx, toLog.filter((d): d is NewDecision => d !== undefined), json);
        let next = 0;
        return rows.map((rollout, i) => (rollout ? { rollout, decision: toLog[i] ? logged[next++] : undefined } : undefined));
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
  async #updateMany(trx: Knex.Transaction, items: Array<{ id: string; expected: number; row: Record<string, unknown> }>): Promise<Set<string>> {
    const applied = new Set<string>();
    if (!items.length) return applied;
    if (this.#isPg) {
      // Lock the rows in one order, so two replicas' batches never deadlock on each other.
      await trx('rollouts').select('id').whereIn('id', items.map(i => i.id)).orderBy('id').forUpdate();
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
      const cast = (name: string) => (this.#isPg ? `::${PG_TYPES[name] ?? 'text'}` : '');
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
    return this.#write(() => this.#db.transaction(trx => this.#appendInTransaction(trx, decisions)));
  }

  /**
   * Extends the hash chain by the decisions, in order: reads the head (locked
   * on PostgreSQL until the transaction ends, so concurrent appenders queue),
   * inserts the entries in multi-row statements and moves the head, only if
   * nobody moved it meanwhile.
   */
  async #appendInTransaction(trx: Knex.Transaction, decisions: NewDecision[], json = new JsonOnce()): Promise<DecisionEntry[]> {
    if (!decisions.length) return [];
    const headQuery = trx('decision_chain').where({ id: 1 });
    const head = await (this.#isPg ? headQuery.forUpdate() : headQuery).first();
    let seq = Number(head.seq);
    let prevHash: string = head.hash;
    const now = new Date().toISOString();
    const entries = decisions.map(decision => {
      seq++;
      const base: Omit<DecisionEntry, 'hash'> = {
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
      };
      const entry: DecisionEntry = { ...base, hash: decisionHash(base) };
      prevHash = entry.hash;
      return entry;
    });
    for (const chunk of chunks(entries, BATCH)) {
      await this.#insertRows(trx, 'decisions', chunk.map(e => decisionRow(e, json)));
    }
    const updated = await trx('decision_chain')
      .where({ id: 1, seq: head.seq })
      .update({ seq, hash: prevHash });
    if (updated !== 1) {
      throw new ConflictError('decision log head moved while appending; retry');
    }
    return entries;
  }

  /** One multi-row `VALUES` insert (knex turns a SQLite multi-row insert into a compound SELECT capped at 500 terms). */
  async #insertRows(trx: Knex.Transaction, table: string, rows: Record<string, unknown>[]) {
    const columns = Object.keys(rows[0]);
    const tuple = `(${columns.map(() => '?').join(', ')})`;
    const bindings: unknown[] = [];
    for (const row of rows) for (const c of columns) bindings.push(row[c] ?? null);
    await trx.raw(
      `insert into "${table}" (${columns.map(c => `"${c}"`).join(', ')}) values ${rows.map(() => tuple).join(', ')}`,
      bindings as Knex.RawBinding[],
    );
  }

  async listRolloutFigures(filter: { entityRefs?: string[]; finishedSince: string }): Promise<RolloutFigures[]> {
    const refs = filter.entityRefs;
    if (refs && refs.length === 0) return [];
    const q = this.#db('rollouts')
      .select('entity_ref', 'status', 'started_at', 'step_started_at', 'finished_at', 'burn_rate', 'kpi_deltas')
      .where(b => b.whereNull('finished_at').orWhere('finished_at', '>=', filter.finishedSince));
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
        burnRate: row.burn_rate === null || row.burn_rate === undefined ? undefined : Number(row.burn_rate),
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

  async listDecisions(options: { rolloutId?: string; entityRefs?: string[]; since?: string; limit?: number; before?: number }): Promise<DecisionPage> {
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

  async verifyDecisions(): Promise<DecisionChainVerification> {
    let prev = GENESIS_HASH;
    let expectedSeq = 1;
    let checked = 0;
    const batch = 5000;
    for (;;) {
      const rows = await this.#db('decisions')
        .where('seq', '>=', expectedSeq)
        .orderBy('seq', 'asc')
        .limit(batch);
      for (const row of rows) {
        const entry = this.#toDecision(row);
        checked++;
        if (entry.seq !== expectedSeq) {
          return { ok: false, checked, firstBroken: { seq: expectedSeq, id: entry.id, problem: `entry ${expectedSeq} is missing (next is ${entry.seq})` } };
        }
        if (entry.prevHash !== prev) {
          return { ok: false, checked, firstBroken: { seq: entry.seq, id: entry.id, problem: 'previous-hash link does not match the entry before it' } };
        }
        const { hash, ...rest } = entry;
        if (decisionHash(rest) !== hash) {
          return { ok: false, checked, firstBroken: { seq: entry.seq, id: entry.id, problem: 'content does not match its hash (the row was changed)' } };
        }
        prev = hash;
        expectedSeq++;
      }
      if (rows.length < batch) break;
    }
    const head = await this.#db('decision_chain').where({ id: 1 }).first();
    if (Number(head.seq) !== expectedSeq - 1 || head.hash !== prev) {
      return { ok: false, checked, firstBroken: { seq: Number(head.seq), id: '', problem: `the chain head says ${head.seq} entries but ${expectedSeq - 1} were found (entries were deleted)` } };
    }
    return { ok: true, checked };
  }

  async claimActionRequest(record: Omit<ActionRequestRecord, 'state' | 'result'>) {
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

  async finishActionRequest(key: string, state: 'done' | 'failed', result: unknown) {
    await this.#db('action_requests')
      .where({ idempotency_key: key })
      .update({ state, result: JSON.stringify(result) });
  }

  async getActionRequest(key: string): Promise<ActionRequestRecord | undefined> {
    const row = await this.#db('action_requests').where({ idempotency_key: key }).first();
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
