import type { Knex } from 'knex';
import { BATCH, chunks } from './batches';
import { DELIVERY_COLUMNS, deliveryStateOf } from './deliveryFigures';
import type { RolloutFigures, RolloutFilter } from './RolloutsStore';

/** The rows a filter matches, in a query the list, count and refs share. */
export function filteredRollouts(db: Knex, filter: RolloutFilter) {
  const q = db('rollouts');
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

export async function readGateStates(
  db: Knex,
  ids: string[],
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const chunk of chunks(ids, BATCH)) {
    const rows = await db('rollouts')
      .select('id', 'gate_state')
      .whereIn('id', chunk)
      .whereNotNull('gate_state');
    for (const r of rows) out.set(r.id, r.gate_state);
  }
  return out;
}

export async function readRolloutFigures(
  db: Knex,
  filter: {
    entityRefs?: string[];
    finishedSince: string;
  },
): Promise<RolloutFigures[]> {
  const refs = filter.entityRefs;
  if (refs && refs.length === 0) return [];
  const q = db('rollouts')
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
