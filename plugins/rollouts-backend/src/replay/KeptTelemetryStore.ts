import type { TelemetryTick } from '@tollgate/plugin-rollouts-common';
import type { Knex } from 'knex';
import { gunzipSync, gzipSync } from 'node:zlib';

/** The telemetry one rollout step was judged on, as kept for replay. */
export interface KeptStep {
  rolloutId: string;
  entityRef: string;
  stepIndex: number;
  stepStartedAt: string;
  /** The step's canary weight, percent. */
  weight: number;
  tickSeconds: number;
  /** The intervals the gate folded, tick numbers counted from the step's start. */
  ticks: TelemetryTick[];
  keptAt: string;
}

// JSON has no infinities; a histogram's last bucket bound is one (`le: [..., Infinity]`).
const toJson = (_k: string, v: unknown) => {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return v;
};
const fromJson = (_k: string, v: unknown) => {
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  return v;
};

/** Gzip of the intervals' JSON: cohort counts repeat their keys, which compresses well. */
export function packTicks(ticks: TelemetryTick[]): Buffer {
  return gzipSync(Buffer.from(JSON.stringify(ticks, toJson), 'utf8'), {
    level: 6,
  });
}

export function unpackTicks(packed: Buffer | Uint8Array): TelemetryTick[] {
  return JSON.parse(
    gunzipSync(packed).toString('utf8'),
    fromJson,
  ) as TelemetryTick[];
}

/**
 * The `rollout_telemetry` table (migration
 * `20261207100000_shadow_and_kept_telemetry.js`): one row per rollout step,
 * rewritten as the step grows, pruned after the retention.
 */
export class KeptTelemetryStore {
  constructor(private readonly db: Knex) {}

  /** Writes (or rewrites) these steps' rows. */
  async keep(steps: KeptStep[]): Promise<void> {
    for (let i = 0; i < steps.length; i += 100) {
      const rows = steps.slice(i, i + 100).map(s => ({
        rollout_id: s.rolloutId,
        step_index: s.stepIndex,
        step_started_at: s.stepStartedAt,
        entity_ref: s.entityRef,
        weight: s.weight,
        tick_seconds: s.tickSeconds,
        tick_count: s.ticks.length,
        ticks: packTicks(s.ticks),
        kept_at: s.keptAt,
      }));
      await this.db('rollout_telemetry')
        .insert(rows)
        .onConflict(['rollout_id', 'step_index'])
        .merge();
    }
  }

  /** The kept steps of these rollouts, by rollout, in step order. */
  async stepsOf(rolloutIds: string[]): Promise<Map<string, KeptStep[]>> {
    const out = new Map<string, KeptStep[]>();
    for (let i = 0; i < rolloutIds.length; i += 200) {
      const rows = await this.db('rollout_telemetry')
        .whereIn('rollout_id', rolloutIds.slice(i, i + 200))
        .orderBy([
          { column: 'rollout_id', order: 'asc' },
          { column: 'step_index', order: 'asc' },
        ]);
      for (const r of rows) {
        const list = out.get(r.rollout_id) ?? [];
        list.push({
          rolloutId: r.rollout_id,
          entityRef: r.entity_ref,
          stepIndex: Number(r.step_index),
          stepStartedAt: r.step_started_at,
          weight: Number(r.weight),
          tickSeconds: Number(r.tick_seconds),
          ticks: unpackTicks(r.ticks),
          keptAt: r.kept_at,
        });
        out.set(r.rollout_id, list);
      }
    }
    return out;
  }

  /** Deletes rows kept before `before`; returns how many. */
  async prune(before: Date): Promise<number> {
    return Number(
      await this.db('rollout_telemetry')
        .where('kept_at', '<', before.toISOString())
        .delete(),
    );
  }

  /** Rows and bytes of packed intervals kept (for the README's figures and tests). */
  async size(): Promise<{ rows: number; ticks: number; bytes: number }> {
    const rows = await this.db('rollout_telemetry').select(
      'tick_count',
      'ticks',
    );
    let ticks = 0;
    let bytes = 0;
    for (const r of rows) {
      ticks += Number(r.tick_count);
      bytes += (r.ticks as Buffer).length;
    }
    return { rows: rows.length, ticks, bytes };
  }
}
