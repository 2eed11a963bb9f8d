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
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { canonicalJson, GENESIS_HASH, sha256 } from './canonical';
import type {
  ActionRequestRecord,
  NewDecision,
  RolloutFilter,
  RolloutPatch,
  RolloutsStore,
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

/**
 * Knex-backed store (SQLite and PostgreSQL).
 */
export class DatabaseRolloutsStore implements RolloutsStore {
  readonly #db: Knex;
  readonly #isPg: boolean;

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

  #patchToRow(patch: RolloutPatch): Record<string, unknown> {
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
    for (const [key, column, json] of map) {
      if (key in patch) {
        const value = patch[key];
        row[column] = value === undefined || value === null ? null : json ? JSON.stringify(value) : value;
      }
    }
    return row;
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
      await this.#db('rollouts').insert(row);
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
    const q = this.#db('rollouts');
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
    const count = await this.#db('rollouts')
      .where({ id, row_version: expectedVersion })
      .update({
        ...this.#patchToRow(patch),
        updated_at: new Date().toISOString(),
        row_version: expectedVersion + 1,
      });
    if (count !== 1) return undefined;
    return this.getRollout(id);
  }

  async appendDecision(decision: NewDecision): Promise<DecisionEntry> {
    return this.#db.transaction(async trx => {
      const headQuery = trx('decision_chain').where({ id: 1 });
      const head = await (this.#isPg ? headQuery.forUpdate() : headQuery).first();
      const seq = Number(head.seq) + 1;
      const base: Omit<DecisionEntry, 'hash'> = {
        seq,
        id: randomUUID(),
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
        createdAt: decision.createdAt ?? new Date().toISOString(),
        prevHash: head.hash,
      };
      const entry: DecisionEntry = { ...base, hash: decisionHash(base) };
      await trx('decisions').insert({
        seq,
        id: entry.id,
        rollout_id: entry.rolloutId,
        entity_ref: entry.entityRef,
        step_index: entry.stepIndex,
        verdict: entry.verdict,
        kind: entry.kind,
        actor: entry.actor,
        reasons: JSON.stringify(entry.reasons),
        evidence: entry.evidence === null ? null : JSON.stringify(entry.evidence),
        policy_hash: entry.policyHash,
        outcome: entry.outcome,
        created_at: entry.createdAt,
        prev_hash: entry.prevHash,
        hash: entry.hash,
      });
      const updated = await trx('decision_chain')
        .where({ id: 1, seq: head.seq })
        .update({ seq, hash: entry.hash });
      if (updated !== 1) {
        throw new ConflictError('decision log head moved while appending; retry');
      }
      return entry;
    });
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
