import type {
  RolloutStep,
  WhatIfResult,
  WhatIfRolloutResult,
  WhatIfTotals,
} from '@tollgate/plugin-rollouts-common';
import type { Knex } from 'knex';
import type { RolloutPolicy } from '../policy/policy';
import type { KeptTelemetryStore } from './KeptTelemetryStore';
import { replayRollout, type ReplayedRollout } from './replay';

/** Which past rollouts to replay; `readable` is every entity the caller may read. */
export interface WhatIfSelection {
  readable: Set<string>;
  services?: string[];
  from: string;
  to: string;
  limit: number;
}

/**
 * `POST /v1/policies/whatif`: the rollouts the caller may read that started
 * in the window (newest first, at most `limit`: the answer says when more
 * matched), each replayed under the candidate policy over its kept
 * telemetry ({@link replayRollout}), and totals against what happened.
 */
export class WhatIfService {
  constructor(private readonly o: { db: Knex; kept: KeptTelemetryStore }) {}

  async run(
    policy: RolloutPolicy,
    sel: WhatIfSelection,
  ): Promise<WhatIfResult> {
    const { rows, truncated } = await this.#select(sel);
    const kept = await this.o.kept.stepsOf(rows.map(r => r.id));
    const rollouts = rows.map(r =>
      replayRollout(r, kept.get(r.id) ?? [], policy),
    );
    const replayed = rollouts.filter(r => r.replayable);
    return {
      policy: { name: policy.name, hash: policy.hash },
      rollouts,
      truncated,
      limit: sel.limit,
      totals: {
        replayed: replayed.length,
        notReplayable: rollouts.length - replayed.length,
        whatIf: totalsOf(replayed.map(r => r.whatIf!)),
        actual: totalsOf(replayed.map(r => r.actual)),
      },
    };
  }

  async #select(
    sel: WhatIfSelection,
  ): Promise<{ rows: ReplayedRollout[]; truncated: boolean }> {
    const wanted = (sel.services ?? [...sel.readable]).filter(r =>
      sel.readable.has(r),
    );
    if (!wanted.length) return { rows: [], truncated: false };
    const inSql = wanted.length <= 500;
    const set = new Set(wanted);
    const out: ReplayedRollout[] = [];
    let offset = 0;
    const page = inSql ? sel.limit + 1 : 1000;
    // A long list of services is filtered here, a page at a time, so unreadable rollouts never count.
    for (;;) {
      const q = this.o
        .db('rollouts')
        .select(
          'id',
          'entity_ref',
          'version',
          'status',
          'steps',
          'started_at',
          'finished_at',
          'reached_full_at',
          'rolled_back_at',
        )
        .where('started_at', '>=', sel.from)
        .andWhere('started_at', '<=', sel.to)
        .orderBy([
          { column: 'started_at', order: 'desc' },
          { column: 'id', order: 'desc' },
        ])
        .limit(page)
        .offset(offset);
      if (inSql) q.whereIn('entity_ref', wanted);
      const rows = await q;
      for (const r of rows) {
        if (!set.has(r.entity_ref)) continue;
        out.push({
          id: r.id,
          entityRef: r.entity_ref,
          version: r.version,
          status: r.status,
          steps: JSON.parse(r.steps) as RolloutStep[],
          startedAt: r.started_at,
          finishedAt: r.finished_at ?? undefined,
          reachedFullAt: r.reached_full_at ?? undefined,
          rolledBackAt: r.rolled_back_at ?? undefined,
        });
      }
      offset += rows.length;
      if (
        inSql ||
        rows.length < page ||
        out.length > sel.limit ||
        offset >= 20_000
      )
        break;
    }
    return { rows: out.slice(0, sel.limit), truncated: out.length > sel.limit };
  }
}

function totalsOf(
  outcomes: Array<{ outcome: string; minute?: number }>,
): WhatIfTotals {
  const full = outcomes.filter(o => o.outcome === 'full');
  const minutes = full.flatMap(o => (o.minute === undefined ? [] : [o.minute]));
  return {
    rollbacks: outcomes.filter(o => o.outcome === 'rollback').length,
    promotionsToFull: full.length,
    undecided: outcomes.filter(
      o => o.outcome !== 'rollback' && o.outcome !== 'full',
    ).length,
    ...(minutes.length
      ? {
          meanMinutesToFull:
            Math.round(
              (minutes.reduce((a, b) => a + b, 0) / minutes.length) * 10,
            ) / 10,
        }
      : {}),
  };
}

export type { WhatIfRolloutResult };
