import type { Knex } from 'knex';
import { figureColumns } from './figures';
import type { JsonOnce } from './decisionChain';
import type { RolloutPatch, StoredRollout } from './RolloutsStore';

/**
 * The rollouts table as rows: which columns a `StoredRollout` is read from,
 * how a patch becomes column values, and the conditional batch update.
 */

export function parseJson<T>(text: string | null | undefined): T | undefined {
  if (text === null || text === undefined) return undefined;
  return JSON.parse(text) as T;
}

/** Every rollouts column a `StoredRollout` is built from, but the evidence snapshot. */
export const LIST_COLUMNS = [
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
  'watch',
];

/** PostgreSQL types of the rollouts columns a batch update may set (the rest are text-like). */
const PG_TYPES: Record<string, string> = {
  expected: 'integer',
  current_step_index: 'integer',
  current_weight: 'real',
  burn_rate: 'real',
};

export function toRollout(row: any): StoredRollout {
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
    ...(row.watch ? { watch: parseJson(row.watch) } : {}),
    // only `getRollout` reads it (lists leave the column out)
    ...(row.gate_state ? { gateState: row.gate_state } : {}),
  };
}

export function patchToRow(
  patch: RolloutPatch,
  json?: JsonOnce,
): Record<string, unknown> {
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
    ['watch', 'watch', true],
    ['gateState', 'gate_state'],
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
  if ('watch' in patch) row.watch_state = patch.watch?.state ?? null;
  return row;
}

/** The row a successful conditional update leaves, without reading it back. */
export function applyPatch(
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

/**
 * Conditional updates of many rows in one statement per column set: each
 * row changes only while it still has its expected row version. Returns
 * the ids that changed.
 */
export async function updateMany(
  trx: Knex.Transaction,
  isPg: boolean,
  items: Array<{
    id: string;
    expected: number;
    row: Record<string, unknown>;
  }>,
): Promise<Set<string>> {
  const applied = new Set<string>();
  if (!items.length) return applied;
  if (isPg) {
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
      isPg ? `::${PG_TYPES[name] ?? 'text'}` : '';
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
    for (const r of isPg ? result.rows : result) applied.add(r.id);
  }
  return applied;
}
