import type {
  DecisionEntry,
  PipelineStage,
  RolloutPipeline,
} from '@tollgate/plugin-rollouts-common';
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { NewDecision } from '../database/RolloutsStore';

/** A pipeline row with its optimistic-concurrency version and its claim. */
export interface StoredPipeline extends RolloutPipeline {
  rowVersion: number;
  /** Set while a replica starts a stage (`start:<stage>`), with the time it claimed. */
  pendingAction?: string;
}

/** Fields a conditional update may change. */
export type PipelinePatch = Partial<
  Pick<
    StoredPipeline,
    'status' | 'stages' | 'nextStage' | 'soakUntil' | 'stoppedReason'
  >
> & { pendingAction?: string | null };

/** The store's side that appends decisions in the pipeline row's transaction. */
export interface DecisionTransactions {
  transactWithDecisions(
    fn: (trx: Knex.Transaction) => Promise<boolean>,
    decisions: NewDecision[],
  ): Promise<DecisionEntry[] | undefined>;
}

/** One id per (service, version): any replica derives the same one. */
export function pipelineId(entityRef: string, version: string): string {
  return createHash('sha256')
    .update(`${entityRef}\n${version}`)
    .digest('hex')
    .slice(0, 32);
}

function toPipeline(row: any): StoredPipeline {
  return {
    id: row.id,
    entityRef: row.entity_ref,
    version: row.version,
    previousVersion: row.previous_version ?? undefined,
    status: row.status,
    stages: JSON.parse(row.stages) as PipelineStage[],
    nextStage: Number(row.next_stage),
    soakSeconds: Number(row.soak_seconds),
    soakUntil: row.soak_until ?? undefined,
    stoppedReason: row.stopped_reason ?? undefined,
    pendingAction: row.pending_action ?? undefined,
    rowVersion: Number(row.row_version),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function patchToRow(patch: PipelinePatch): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  if (patch.status !== undefined) row.status = patch.status;
  if (patch.stages !== undefined) row.stages = JSON.stringify(patch.stages);
  if (patch.nextStage !== undefined) row.next_stage = patch.nextStage;
  if (patch.soakUntil !== undefined) row.soak_until = patch.soakUntil;
  if (patch.stoppedReason !== undefined)
    row.stopped_reason = patch.stoppedReason;
  if (patch.pendingAction !== undefined)
    row.pending_action = patch.pendingAction;
  return row;
}

/**
 * The pipelines table (SQLite and PostgreSQL). Every change is a
 * conditional update on `row_version`, so two replicas never both apply
 * one; a change with decisions commits them in the same transaction.
 */
export class PipelineStore {
  constructor(
    private readonly db: Knex,
    private readonly decisions: DecisionTransactions,
  ) {}

  /** Inserts the pipeline, or returns the one another replica inserted first. */
  async create(
    p: Omit<
      StoredPipeline,
      'id' | 'rowVersion' | 'createdAt' | 'updatedAt' | 'pendingAction'
    >,
    now: Date,
  ): Promise<{ pipeline: StoredPipeline; created: boolean }> {
    const id = pipelineId(p.entityRef, p.version);
    const existing = await this.get(id);
    if (existing) return { pipeline: existing, created: false };
    try {
      await this.db('rollout_pipelines').insert({
        id,
        entity_ref: p.entityRef,
        version: p.version,
        previous_version: p.previousVersion ?? null,
        status: p.status,
        stages: JSON.stringify(p.stages),
        next_stage: p.nextStage,
        soak_seconds: p.soakSeconds,
        soak_until: p.soakUntil ?? null,
        stopped_reason: p.stoppedReason ?? null,
        row_version: 1,
        created_at: now.toISOString(),
        updated_at: now.toISOString(),
      });
    } catch (e) {
      const again = await this.get(id);
      if (again) return { pipeline: again, created: false };
      throw e;
    }
    return { pipeline: (await this.get(id))!, created: true };
  }

  async get(id: string): Promise<StoredPipeline | undefined> {
    const row = await this.db('rollout_pipelines').where({ id }).first();
    return row ? toPipeline(row) : undefined;
  }

  async forRelease(
    entityRef: string,
    version: string,
  ): Promise<StoredPipeline | undefined> {
    return this.get(pipelineId(entityRef, version));
  }

  /** Newest first. */
  async list(filter: {
    entityRef?: string;
    status?: RolloutPipeline['status'][];
    limit?: number;
  }): Promise<StoredPipeline[]> {
    const q = this.db('rollout_pipelines').orderBy([
      { column: 'created_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ]);
    if (filter.entityRef) q.where({ entity_ref: filter.entityRef });
    if (filter.status) q.whereIn('status', filter.status);
    if (filter.limit) q.limit(filter.limit);
    return (await q).map(toPipeline);
  }

  /**
   * Applies the patch only while the row still has `p.rowVersion`, and
   * appends the decisions in the same transaction. Returns the new row, or
   * undefined when another writer got there first (nothing is written).
   */
  async update(
    p: StoredPipeline,
    patch: PipelinePatch,
    now: Date,
    decisions: NewDecision[] = [],
  ): Promise<
    { pipeline: StoredPipeline; decisions: DecisionEntry[] } | undefined
  > {
    const updatedAt = now.toISOString();
    const apply = async (trx: Knex.Transaction | Knex) =>
      (await trx('rollout_pipelines')
        .where({ id: p.id, row_version: p.rowVersion })
        .update({
          ...patchToRow(patch),
          row_version: p.rowVersion + 1,
          updated_at: updatedAt,
        })) === 1;
    let logged: DecisionEntry[] = [];
    if (decisions.length) {
      const written = await this.decisions.transactWithDecisions(
        apply,
        decisions,
      );
      if (!written) return undefined;
      logged = written;
    } else if (!(await apply(this.db))) return undefined;
    const pipeline: StoredPipeline = {
      ...p,
      ...(patch as Partial<StoredPipeline>),
      pendingAction:
        patch.pendingAction === undefined
          ? p.pendingAction
          : (patch.pendingAction ?? undefined),
      rowVersion: p.rowVersion + 1,
      updatedAt,
    };
    return { pipeline, decisions: logged };
  }
}
