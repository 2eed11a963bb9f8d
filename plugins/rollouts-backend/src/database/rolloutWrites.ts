import type { DecisionEntry } from '@tollgate/plugin-rollouts-common';
import type { Knex } from 'knex';
import { BATCH, chunks } from './batches';
import { JsonOnce } from './decisionChain';
import { appendInTransaction, type Dialect } from './decisionLog';
import {
  DELIVERY_READ_COLUMNS,
  DeliveryFold,
  foldDeliveryFigures,
} from './deliveryFold';
import { applyPatch, patchToRow, updateMany } from './rolloutRows';
import type {
  NewDecision,
  RolloutPatch,
  RolloutUpdate,
  StoredRollout,
} from './RolloutsStore';

/** Rollouts rows locked per statement (the ids go as one array parameter). */
const LOCK_CHUNK = 5000;

/**
 * Locks the decisions' rollout rows (PostgreSQL) before the chain head,
 * the order every other writer takes them in (folding the delivery
 * figures updates them): an append beside a rollout update cannot
 * deadlock (a registration's append while another replica records on
 * the same new rollout did).
 */
async function lockRolloutRows(
  trx: Knex.Transaction,
  dialect: Dialect,
  decisions: NewDecision[],
): Promise<Array<Record<string, any>> | undefined> {
  if (!dialect.isPg) return undefined;
  const ids = [...new Set(decisions.map(d => d.rolloutId))].sort();
  // read with the lock what the fold needs of them (one statement fewer); one array parameter
  const rows: Array<Record<string, any>> = [];
  for (const chunk of chunks(ids, LOCK_CHUNK))
    rows.push(
      ...(await trx('rollouts')
        .whereRaw('"id" = any(?::text[])', [chunk])
        .orderBy('id')
        .forUpdate()
        .select(...DELIVERY_READ_COLUMNS)),
    );
  return rows;
}

/** Appends decisions (their rollout rows locked first) and folds them into the delivery figures. */
export async function appendLockedWithFigures(
  trx: Knex.Transaction,
  dialect: Dialect,
  decisions: NewDecision[],
): Promise<DecisionEntry[]> {
  const locked = await lockRolloutRows(trx, dialect, decisions);
  if (!locked) {
    const logged = await appendInTransaction(trx, dialect, decisions);
    await foldDeliveryFigures(trx, dialect.isPg, logged);
    return logged;
  }
  // each run of entries is folded while the database stores it
  const fold = new DeliveryFold(locked);
  const logged = await appendInTransaction(
    trx,
    dialect,
    decisions,
    undefined,
    run => fold.add(run),
  );
  await fold.write(trx, dialect.isPg);
  return logged;
}

export async function updateRolloutsLogged(
  db: Knex,
  dialect: Dialect,
  updates: RolloutUpdate[],
) {
  const out: Array<
    { rollout: StoredRollout; decision?: DecisionEntry } | undefined
  > = [];
  for (const chunk of chunks(updates, BATCH)) {
    const updatedAt = new Date().toISOString();
    const json = new JsonOnce();
    const result = await db.transaction(async trx => {
      const applied = await updateMany(
        trx,
        dialect.isPg,
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
        dialect,
        toLog.filter((d): d is NewDecision => d !== undefined),
        json,
      );
      await foldDeliveryFigures(trx, dialect.isPg, logged);
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

export async function finishActionInTransaction(
  trx: Knex.Transaction,
  dialect: Dialect,
  update: {
    rollout: StoredRollout;
    patch: RolloutPatch;
    decision: NewDecision;
  },
): Promise<{ rollout?: StoredRollout; decision: DecisionEntry }> {
  const updatedAt = new Date().toISOString();
  const json = new JsonOnce();
  const applied = await updateMany(trx, dialect.isPg, [
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
    dialect,
    [update.decision],
    json,
  );
  await foldDeliveryFigures(trx, dialect.isPg, [decision]);
  return {
    rollout: applied.has(update.rollout.id)
      ? applyPatch(update.rollout, update.patch, updatedAt)
      : undefined,
    decision,
  };
}
