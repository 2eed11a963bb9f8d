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
  claimActionRequest,
  finishActionRequest,
  getActionRequest,
} from './actionRequests';
import type { DecisionRow } from './decisionChain';
import type {
  CheckpointSigner,
  DecisionCheckpoint,
} from './decisionCheckpoints';
import type { Dialect } from './decisionLog';
import type { DecisionPageJson } from './decisionPageJson';
import {
  exportDecisionRows,
  decisionPageReads,
  listDecisionPage,
  readChainHead,
  readDecisionEvidence,
} from './decisionReads';
import { verifyDecisionChain } from './decisionVerify';
import {
  filteredRollouts,
  readGateStates,
  readRolloutFigures,
} from './rolloutQueries';
import { LIST_COLUMNS, patchToRow, toRollout } from './rolloutRows';
import {
  appendLockedWithFigures,
  finishActionInTransaction,
  updateRolloutsLogged,
} from './rolloutWrites';
import { preferSqliteWal } from './sqliteJournal';
import { keepSqliteStatements } from './sqliteStatements';
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

/**
 * Knex-backed store (SQLite and PostgreSQL).
 */
export class DatabaseRolloutsStore implements RolloutsStore {
  readonly #db: Knex;
  readonly #dialect: Dialect;
  readonly #pageReads: ReturnType<typeof decisionPageReads>;
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
    keepSqliteStatements(db);
    this.#pageReads = decisionPageReads(db);
    const client = String(db.client.config.client ?? '');
    this.#dialect = {
      isPg: client === 'pg' || client === 'postgres' || client === 'postgresql',
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

  #filtered(filter: RolloutFilter) {
    return filteredRollouts(this.#db, filter);
  }

  async getGateStates(ids: string[]): Promise<Map<string, string>> {
    return readGateStates(this.#db, ids);
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
    return this.#write(() =>
      updateRolloutsLogged(this.#db, this.#dialect, updates),
    );
  }

  async finishAction(update: {
    rollout: StoredRollout;
    patch: RolloutPatch;
    decision: NewDecision;
  }): Promise<{ rollout?: StoredRollout; decision: DecisionEntry }> {
    return this.#write(() =>
      this.#db.transaction(trx =>
        finishActionInTransaction(trx, this.#dialect, update),
      ),
    );
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
        return appendLockedWithFigures(trx, this.#dialect, decisions);
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
        return appendLockedWithFigures(trx, this.#dialect, decisions);
      }),
    );
  }

  async listRolloutFigures(filter: {
    entityRefs?: string[];
    finishedSince: string;
  }): Promise<RolloutFigures[]> {
    return readRolloutFigures(this.#db, filter);
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
    return listDecisionPage(this.#db, options);
  }

  async getDecisionHead(rolloutId: string) {
    return this.#pageReads.head(rolloutId);
  }

  async getDecisionPageJson(
    rolloutId: string,
    query: { limit?: number; before?: number },
  ): Promise<DecisionPageJson> {
    return this.#pageReads.pageJson(rolloutId, query);
  }

  async getDecisionEvidence(
    rolloutId: string,
    seq: number,
  ): Promise<{ evidence: Record<string, unknown> | null } | undefined> {
    return readDecisionEvidence(this.#db, rolloutId, seq);
  }

  async decisionHead(): Promise<{ seq: number; hash: string }> {
    return readChainHead(this.#db);
  }

  exportDecisions(options: {
    after: number;
    throughSeq: number;
    batch?: number;
  }): AsyncGenerator<
    | { type: 'entry'; row: DecisionRow }
    | { type: 'checkpoint'; checkpoint: DecisionCheckpoint }
  > {
    return exportDecisionRows(this.#db, options);
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
    return claimActionRequest(this.#db, record);
  }

  async finishActionRequest(
    key: string,
    state: 'done' | 'failed',
    result: unknown,
  ) {
    await finishActionRequest(this.#db, key, state, result);
  }

  async getActionRequest(
    key: string,
  ): Promise<ActionRequestRecord | undefined> {
    return getActionRequest(this.#db, key);
  }
}
