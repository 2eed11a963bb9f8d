import {
  DatabaseService,
  resolvePackagePath,
} from '@backstage/backend-plugin-api';
import type {
  DecisionChainVerification,
  DecisionEntry,
  DecisionListEntry,
  DecisionPage,
} from '@tollgate/plugin-rollouts-common';
import type { Knex } from 'knex';
import {
  JsonOnce,
  toDecision,
  verifyDecisionChain,
  type DecisionRow,
} from './decisionChain';
import type {
  CheckpointSigner,
  DecisionCheckpoint,
} from './decisionCheckpoints';
import { appendInTransaction, type Dialect } from './decisionLog';
import {
  DELIVERY_COLUMNS,
  deliveryStateOf,
  foldDeliveryFigures,
} from './deliveryFigures';
import {
  applyPatch,
  LIST_COLUMNS,
  parseJson,
  patchToRow,
  toRollout,
  updateMany,
} from './rolloutRows';
import { preferSqliteWal } from './sqliteJournal';
import type {
  ActionRequestRecord,
  DecisionQuery,
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

// The hash chain's rules, for tests and tools that build or check rows.
export {
  DECISION_CHAIN_VERSION,
  decisionHash,
  decisionRow,
  decisionRowHash,
  JsonOnce,
  sealDecision,
  timeOrderedUuid,
  type DecisionRow,
} from './decisionChain';

/** The decisions columns a list reads: all but the evidence. */
const DECISION_LIST_COLUMNS = [
  'seq',
  'id',
  'rollout_id',
  'entity_ref',
  'step_index',
  'verdict',
  'kind',
  'actor',
  'reasons',
  'policy_hash',
  'outcome',
  'created_at',
  'prev_hash',
  'hash',
];

function withoutEvidence(row: any): DecisionListEntry {
  const { evidence: _evidence, ...entry } = toDecision({
    ...row,
    evidence: null,
  });
  return { ...entry, hasEvidence: Boolean(Number(row.has_evidence)) };
}

/** Rows per statement and per transaction of the batch writes. */
const BATCH = 500;

function chunks<T>(xs: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

/**
 * Knex-backed store (SQLite and PostgreSQL).
 */
export class DatabaseRolloutsStore implements RolloutsStore {
  readonly #db: Knex;
  readonly #isPg: boolean;
  readonly #dialect: Dialect;
  #generation = 0;

  static async create(options: {
    database: DatabaseService;
    skipMigrations?: boolean;
    /** Signs a checkpoint of the decision log every `every` entries. */
    checkpoints?: CheckpointSigner;
  }): Promise<DatabaseRolloutsStore> {
    const client = await options.database.getClient();
    if (!options.database.migrations?.skip && !options.skipMigrations) {
      await migrateRolloutsDatabase(client);
    }
    await preferSqliteWal(client);
    return new DatabaseRolloutsStore(client, options.checkpoints);
  }

  /** For tests and tools that already hold a migrated knex client. */
  static fromKnex(
    knex: Knex,
    options: {
      checkpoints?: CheckpointSigner;
      /** How decisions rows reach PostgreSQL (`copy` unless told; `values` is the plain INSERT, for comparisons). */
      pgDecisionInsert?: 'copy' | 'values';
    } = {},
  ): DatabaseRolloutsStore {
    return new DatabaseRolloutsStore(
      knex,
      options.checkpoints,
      options.pgDecisionInsert,
    );
  }

  private constructor(
    db: Knex,
    checkpoints?: CheckpointSigner,
    pgDecisionInsert?: 'copy' | 'values',
  ) {
    this.#db = db;
    const client = String(db.client.config.client ?? '');
    this.#isPg =
      client === 'pg' || client === 'postgres' || client === 'postgresql';
    this.#dialect = {
      isPg: this.#isPg,
      isBetterSqlite: client === 'better-sqlite3',
      checkpoints,
      pgDecisionInsert,
    };
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
      return { rollout: toRollout(existing), created: false };
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
      ...patchToRow(rollout),
    };
    try {
      await this.#write(() => this.#db('rollouts').insert(row));
    } catch (e) {
      // Another replica inserted it between our read and our insert.
      const again = await this.#db('rollouts')
        .where({ provider: rollout.provider, external_id: rollout.externalId })
        .first();
      if (again) return { rollout: toRollout(again), created: false };
      throw e;
    }
    return { rollout: (await this.getRollout(rollout.id))!, created: true };
  }

  async getRollout(id: string) {
    const row = await this.#db('rollouts').where({ id }).first();
    return row ? toRollout(row) : undefined;
  }

  async listRollouts(filter: RolloutFilter = {}) {
    const q = this.#filtered(filter).select(
      filter.withEvidence ? [...LIST_COLUMNS, 'evidence'] : LIST_COLUMNS,
    );
    // id breaks ties, so pages neither repeat nor skip rows started together
    q.orderBy([
      { column: 'started_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ]);
    if (filter.limit) q.limit(filter.limit);
    if (filter.offset) {
      // SQLite takes OFFSET only after a LIMIT
      if (!filter.limit) q.limit(Number.MAX_SAFE_INTEGER);
      q.offset(filter.offset);
    }
    return (await q).map(r => toRollout(r));
  }

  async countRollouts(filter: RolloutFilter = {}) {
    const [row] = await this.#filtered(filter).count({ n: '*' });
    return Number(row.n);
  }

  async listRolloutEntityRefs(filter: RolloutFilter = {}) {
    const rows = await this.#filtered(filter).distinct('entity_ref');
    return rows.map(r => r.entity_ref as string);
  }

  /** The rows a filter matches, in a query the list, count and refs share. */
  #filtered(filter: RolloutFilter) {
    const q = this.#db('rollouts');
    // (an empty list matches nothing: knex writes it as 1 = 0)
    if (filter.entityRefs) q.whereIn('entity_ref', filter.entityRefs);
    if (filter.status) q.whereIn('status', filter.status);
    if (filter.watchState) q.where('watch_state', filter.watchState);
    if (filter.finishedSince) {
      q.where(b =>
        b
          .whereNull('finished_at')
          .orWhere('finished_at', '>=', filter.finishedSince!),
      );
    }
    if (filter.search) {
      const like = `%${filter.search.toLowerCase().replace(/[\\%_]/g, c => `\\${c}`)}%`;
      q.where(b =>
        b
          .whereRaw(`lower(entity_ref) like ? escape '\\'`, [like])
          .orWhereRaw(`lower(version) like ? escape '\\'`, [like]),
      );
    }
    return q;
  }

  async getGateStates(ids: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const chunk of chunks(ids, BATCH)) {
      const rows = await this.#db('rollouts')
        .select('id', 'gate_state')
        .whereIn('id', chunk)
        .whereNotNull('gate_state');
      for (const r of rows) out.set(r.id, r.gate_state);
    }
    return out;
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
          ...patchToRow(patch),
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
        const applied = await updateMany(
          trx,
          this.#isPg,
          chunk.map(u => ({
            id: u.rollout.id,
            expected: u.rollout.rowVersion,
            row: { ...patchToRow(u.patch, json), updated_at: updatedAt },
          })),
        );
        const rows = chunk.map(u =>
          applied.has(u.rollout.id)
            ? applyPatch(u.rollout, u.patch, updatedAt)
            : undefined,
        );
        const toLog = chunk.map((u, i) =>
          rows[i] && u.decision ? u.decision : undefined,
        );
        const logged = await appendInTransaction(
          trx,
          this.#dialect,
          toLog.filter((d): d is NewDecision => d !== undefined),
          json,
        );
        await foldDeliveryFigures(trx, this.#isPg, logged);
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

  async finishAction(update: {
    rollout: StoredRollout;
    patch: RolloutPatch;
    decision: NewDecision;
  }): Promise<{ rollout?: StoredRollout; decision: DecisionEntry }> {
    return this.#write(() =>
      this.#db.transaction(async trx => {
        const updatedAt = new Date().toISOString();
        const json = new JsonOnce();
        const applied = await updateMany(trx, this.#isPg, [
          {
            id: update.rollout.id,
            expected: update.rollout.rowVersion,
            row: {
              ...patchToRow(update.patch, json),
              updated_at: updatedAt,
            },
          },
        ]);
        const [decision] = await appendInTransaction(
          trx,
          this.#dialect,
          [update.decision],
          json,
        );
        await foldDeliveryFigures(trx, this.#isPg, [decision]);
        return {
          rollout: applied.has(update.rollout.id)
            ? applyPatch(update.rollout, update.patch, updatedAt)
            : undefined,
          decision,
        };
      }),
    );
  }

  /**
   * Locks the decisions' rollout rows (PostgreSQL) before the chain head,
   * the order every other writer takes them in (folding the delivery
   * figures updates them): an append beside a rollout update cannot
   * deadlock (a registration's append while another replica records on
   * the same new rollout did).
   */
  async #lockRolloutRows(trx: Knex.Transaction, decisions: NewDecision[]) {
    if (!this.#isPg) return;
    const ids = [...new Set(decisions.map(d => d.rolloutId))].sort();
    for (const chunk of chunks(ids, BATCH))
      await trx('rollouts')
        .whereIn('id', chunk)
        .orderBy('id')
        .forUpdate()
        .select('id');
  }

  /**
   * Runs `fn` in a transaction and, when it says it applied (a conditional
   * update of another table: a pipeline's row), appends the decisions in
   * the same transaction. Undefined when `fn` did not apply.
   */
  async transactWithDecisions(
    fn: (trx: Knex.Transaction) => Promise<boolean>,
    decisions: NewDecision[],
  ): Promise<DecisionEntry[] | undefined> {
    return this.#write(() =>
      this.#db.transaction(async trx => {
        if (!(await fn(trx))) return undefined;
        await this.#lockRolloutRows(trx, decisions);
        const logged = await appendInTransaction(trx, this.#dialect, decisions);
        await foldDeliveryFigures(trx, this.#isPg, logged);
        return logged;
      }),
    );
  }

  async appendDecision(decision: NewDecision): Promise<DecisionEntry> {
    const [entry] = await this.appendDecisions([decision]);
    return entry;
  }

  async appendDecisions(decisions: NewDecision[]): Promise<DecisionEntry[]> {
    if (!decisions.length) return [];
    return this.#write(() =>
      this.#db.transaction(async trx => {
        await this.#lockRolloutRows(trx, decisions);
        const logged = await appendInTransaction(trx, this.#dialect, decisions);
        await foldDeliveryFigures(trx, this.#isPg, logged);
        return logged;
      }),
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
        'id',
        'version',
        'kpi_intervals',
        ...DELIVERY_COLUMNS,
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
        id: row.id,
        version: row.version,
        // the dashboard shows the active rollouts' intervals only
        kpiIntervals:
          row.kpi_intervals && !row.finished_at
            ? JSON.parse(row.kpi_intervals)
            : undefined,
        delivery: deliveryStateOf(row),
      });
    }
    return out;
  }

  listDecisions(
    options: DecisionQuery & { withEvidence?: true },
  ): Promise<DecisionPage>;
  listDecisions(
    options: DecisionQuery & { withEvidence: false },
  ): Promise<DecisionPage<DecisionListEntry>>;
  async listDecisions(
    options: DecisionQuery & { withEvidence?: boolean },
  ): Promise<DecisionPage<any>> {
    const limit = options.limit ?? 50;
    const q = this.#db('decisions');
    // Without the evidence column (several KiB a row): whether there is one is enough for a list.
    if (options.withEvidence === false) {
      q.select(
        ...DECISION_LIST_COLUMNS,
        this.#db.raw('(evidence is not null) as has_evidence'),
      );
    }
    if (options.rolloutId) q.where('rollout_id', options.rolloutId);
    if (options.entityRefs) q.whereIn('entity_ref', options.entityRefs);
    // A shadow policy's would-have entries are never acted on: out of lists unless asked for.
    if (options.shadow === 'only') q.where('kind', 'shadow');
    else if (options.shadow !== 'include') q.whereNot('kind', 'shadow');
    if (options.since) q.where('created_at', '>=', options.since);
    if (options.before) q.where('seq', '<', options.before);
    const rows = await q.orderBy('seq', 'desc').limit(limit + 1);
    const items = rows
      .slice(0, limit)
      .map(r =>
        options.withEvidence === false ? withoutEvidence(r) : toDecision(r),
      );
    return {
      items,
      nextCursor: rows.length > limit ? items[items.length - 1].seq : undefined,
    };
  }

  async getDecisionHead(rolloutId: string) {
    const row = await this.#db('rollouts')
      .select(
        'entity_ref',
        this.#db('decisions')
          .max('seq')
          .where('rollout_id', rolloutId)
          .as('last_seq'),
      )
      .where('id', rolloutId)
      .first();
    if (!row) return undefined;
    return {
      entityRef: row.entity_ref as string,
      lastSeq: Number(row.last_seq ?? 0),
    };
  }

  async getDecisionEvidence(
    rolloutId: string,
    seq: number,
  ): Promise<{ evidence: Record<string, unknown> | null } | undefined> {
    const row = await this.#db('decisions')
      .select('evidence')
      .where({ seq, rollout_id: rolloutId })
      .first();
    if (!row) return undefined;
    return {
      evidence: row.evidence === null ? null : JSON.parse(row.evidence),
    };
  }

  async decisionHead(): Promise<{ seq: number; hash: string }> {
    const head = await this.#db('decision_chain').where({ id: 1 }).first();
    return { seq: Number(head.seq), hash: head.hash };
  }

  async *exportDecisions(options: {
    after: number;
    throughSeq: number;
    batch?: number;
  }): AsyncGenerator<
    | { type: 'entry'; row: DecisionRow }
    | { type: 'checkpoint'; checkpoint: DecisionCheckpoint }
  > {
    const batch = options.batch ?? 500;
    let after = options.after;
    while (after < options.throughSeq) {
      const to = Math.min(options.throughSeq, after + batch);
      const [rows, checkpoints] = await Promise.all([
        this.#db('decisions')
          .where('seq', '>', after)
          .andWhere('seq', '<=', to)
          .orderBy('seq', 'asc'),
        this.#db('decision_checkpoints')
          .where('seq', '>', after)
          .andWhere('seq', '<=', to)
          .orderBy('seq', 'asc'),
      ]);
      let c = 0;
      for (const row of rows as DecisionRow[]) {
        yield { type: 'entry', row };
        while (
          c < checkpoints.length &&
          Number(checkpoints[c].seq) <= Number(row.seq)
        ) {
          const cp = checkpoints[c++];
          if (Number(cp.seq) !== Number(row.seq)) continue;
          yield {
            type: 'checkpoint',
            checkpoint: {
              seq: Number(cp.seq),
              hash: cp.hash,
              createdAt: cp.created_at,
              keyId: cp.key_id,
              signature: cp.signature,
            },
          };
        }
      }
      after = to;
    }
  }

  checkpointPublicKeyPem(): string | undefined {
    return this.#dialect.checkpoints?.publicKeyPem();
  }

  /**
   * Recomputes the chain from the first entry, and checks the stored
   * checkpoints against it (see `verifyDecisionChain`).
   */
  verifyDecisions(): Promise<DecisionChainVerification> {
    const signer = this.#dialect.checkpoints;
    return verifyDecisionChain(
      this.#db,
      signer ? { keyId: signer.keyId, key: signer.publicKey } : undefined,
    );
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
