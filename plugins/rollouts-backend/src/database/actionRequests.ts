import type { Knex } from 'knex';
import { parseJson } from './rolloutRows';
import type { ActionRequestRecord } from './RolloutsStore';

export async function getActionRequest(
  db: Knex,
  key: string,
): Promise<ActionRequestRecord | undefined> {
  const row = await db('action_requests')
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

export async function claimActionRequest(
  db: Knex,
  record: Omit<ActionRequestRecord, 'state' | 'result'>,
): Promise<{ claimed: boolean; existing?: ActionRequestRecord }> {
  try {
    await db('action_requests').insert({
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
    const existing = await getActionRequest(db, record.idempotencyKey);
    if (!existing) throw e;
    return { claimed: false, existing };
  }
}

export async function finishActionRequest(
  db: Knex,
  key: string,
  state: 'done' | 'failed',
  result: unknown,
) {
  await db('action_requests')
    .where({ idempotency_key: key })
    .update({ state, result: JSON.stringify(result) });
}
