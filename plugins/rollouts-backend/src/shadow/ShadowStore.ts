import type { Knex } from 'knex';

/** A shadow policy's state for one rollout, as `rollout_shadows` keeps it. */
export interface ShadowRow {
  rolloutId: string;
  policyName: string;
  entityRef: string;
  /** The shadow's whole-rollout gate state (the JSON `loop/gateStates.ts` stores). */
  gateState?: string;
  /** The last `enforced/shadow` verdict pair logged. */
  lastPair?: string;
  updatedAt: string;
}

/** A would-have entry of the decision log with its rollout's version and status. */
export interface ShadowEntryRow {
  seq: number;
  rolloutId: string;
  entityRef: string;
  stepIndex: number;
  verdict: string;
  actor: string;
  reasons: string[];
  createdAt: string;
  version?: string;
  status?: string;
}

/**
 * The `rollout_shadows` table and the reads the shadow panel needs (migration
 * `20261207100000_shadow_and_kept_telemetry.js`).
 */
export class ShadowStore {
  constructor(private readonly db: Knex) {}

  async get(
    rolloutId: string,
    policyName: string,
  ): Promise<ShadowRow | undefined> {
    const r = await this.db('rollout_shadows')
      .where({ rollout_id: rolloutId, policy_name: policyName })
      .first();
    return r
      ? {
          rolloutId: r.rollout_id,
          policyName: r.policy_name,
          entityRef: r.entity_ref,
          gateState: r.gate_state ?? undefined,
          lastPair: r.last_pair ?? undefined,
          updatedAt: r.updated_at,
        }
      : undefined;
  }

  /** The shadows that ran on one rollout. */
  async forRollout(rolloutId: string): Promise<ShadowRow[]> {
    const rows = await this.db('rollout_shadows')
      .select(
        'rollout_id',
        'policy_name',
        'entity_ref',
        'last_pair',
        'updated_at',
      )
      .where({ rollout_id: rolloutId })
      .orderBy('policy_name');
    return rows.map(r => ({
      rolloutId: r.rollout_id,
      policyName: r.policy_name,
      entityRef: r.entity_ref,
      lastPair: r.last_pair ?? undefined,
      updatedAt: r.updated_at,
    }));
  }

  /** Inserts or updates rows; a row without a gate state keeps the stored one. */
  async put(rows: ShadowRow[]): Promise<void> {
    const withState = rows.filter(r => r.gateState);
    const without = rows.filter(r => !r.gateState);
    for (const [list, merge] of [
      [withState, undefined],
      [without, ['entity_ref', 'last_pair', 'updated_at']],
    ] as const) {
      for (let i = 0; i < list.length; i += 200) {
        const q = this.db('rollout_shadows')
          .insert(
            list.slice(i, i + 200).map(r => ({
              rollout_id: r.rolloutId,
              policy_name: r.policyName,
              entity_ref: r.entityRef,
              gate_state: r.gateState ?? null,
              last_pair: r.lastPair ?? null,
              updated_at: r.updatedAt,
            })),
          )
          .onConflict(['rollout_id', 'policy_name']);
        await (merge ? q.merge([...merge]) : q.merge());
      }
    }
  }

  /**
   * The shadows of rollouts active now or finished since `since`: per policy
   * and rollout, with the rollout's entity (the panel counts and filters them).
   */
  async shadowedSince(
    since: string,
  ): Promise<
    Array<{ policyName: string; rolloutId: string; entityRef: string }>
  > {
    const rows = await this.db('rollout_shadows as s')
      .join('rollouts as r', 'r.id', 's.rollout_id')
      .select('s.policy_name', 's.rollout_id', 's.entity_ref')
      .where(b =>
        b.whereNull('r.finished_at').orWhere('r.finished_at', '>=', since),
      );
    return rows.map(r => ({
      policyName: r.policy_name,
      rolloutId: r.rollout_id,
      entityRef: r.entity_ref,
    }));
  }

  /** The would-have entries of these rollouts since `since`, newest first. */
  async entriesOf(
    rolloutIds: string[],
    since: string,
  ): Promise<ShadowEntryRow[]> {
    const out: ShadowEntryRow[] = [];
    for (let i = 0; i < rolloutIds.length; i += 200) {
      const rows = await this.db('decisions as d')
        .leftJoin('rollouts as r', 'r.id', 'd.rollout_id')
        .select(
          'd.seq',
          'd.rollout_id',
          'd.entity_ref',
          'd.step_index',
          'd.verdict',
          'd.actor',
          'd.reasons',
          'd.created_at',
          'r.version',
          'r.status',
        )
        .whereIn('d.rollout_id', rolloutIds.slice(i, i + 200))
        .andWhere('d.kind', 'shadow')
        .andWhere('d.created_at', '>=', since);
      for (const r of rows)
        out.push({
          seq: Number(r.seq),
          rolloutId: r.rollout_id,
          entityRef: r.entity_ref,
          stepIndex: Number(r.step_index),
          verdict: r.verdict,
          actor: r.actor,
          reasons: JSON.parse(r.reasons),
          createdAt: r.created_at,
          version: r.version ?? undefined,
          status: r.status ?? undefined,
        });
    }
    return out.sort((a, b) => b.seq - a.seq);
  }
}
