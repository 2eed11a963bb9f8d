import type {
  DecisionListEntry,
  DecisionPage,
} from '@tollgate/plugin-rollouts-common';
import type { Knex } from 'knex';
import {
  DECISION_COLUMNS,
  toDecision,
  type DecisionRow,
} from './decisionChain';
import type { DecisionCheckpoint } from './decisionCheckpoints';
import type { DecisionQuery } from './RolloutsStore';

/** The decisions columns a list reads: all but the evidence (and the chain version, which a list does not show). */
const DECISION_LIST_COLUMNS = DECISION_COLUMNS.filter(
  c => c !== 'evidence' && c !== 'chain_version',
);

function withoutEvidence(row: any): DecisionListEntry {
  const { evidence: _evidence, ...entry } = toDecision({
    ...row,
    evidence: null,
  });
  return { ...entry, hasEvidence: Boolean(Number(row.has_evidence)) };
}

export async function listDecisionPage(
  db: Knex,
  options: DecisionQuery & { withEvidence?: boolean },
): Promise<DecisionPage<any>> {
  const limit = options.limit ?? 50;
  const q = db('decisions');
  // Without the evidence column (several KiB a row): whether there is one is enough for a list.
  if (options.withEvidence === false) {
    q.select(
      ...DECISION_LIST_COLUMNS,
      db.raw('(evidence is not null) as has_evidence'),
    );
  }
  if (options.rolloutId) q.where('rollout_id', options.rolloutId);
  if (options.entityRefs) q.whereIn('entity_ref', options.entityRefs);
  // A shadow policy's would-have entries are never acted on: out of lists unless asked for.
  if (options.shadow === 'only') q.where('kind', 'shadow');
  else if (options.shadow !== 'include') q.whereNot('kind', 'shadow');
  if (options.since) q.where('created_at', '>=', options.since);
  if (options.before) q.where('seq', '<', options.before);
  const rows = await q.orderBy('seq', 'desc').limit(limit + 1);
  const items = rows
    .slice(0, limit)
    .map(r =>
      options.withEvidence === false ? withoutEvidence(r) : toDecision(r),
    );
  return {
    items,
    nextCursor: rows.length > limit ? items[items.length - 1].seq : undefined,
  };
}

export async function readDecisionHead(db: Knex, rolloutId: string) {
  const row = await db('rollouts')
    .select(
      'entity_ref',
      db('decisions').max('seq').where('rollout_id', rolloutId).as('last_seq'),
    )
    .where('id', rolloutId)
    .first();
  if (!row) return undefined;
  return {
    entityRef: row.entity_ref as string,
    lastSeq: Number(row.last_seq ?? 0),
  };
}

export async function readDecisionEvidence(
  db: Knex,
  rolloutId: string,
  seq: number,
): Promise<{ evidence: Record<string, unknown> | null } | undefined> {
  const row = await db('decisions')
    .select('evidence')
    .where({ seq, rollout_id: rolloutId })
    .first();
  if (!row) return undefined;
  return {
    evidence: row.evidence === null ? null : JSON.parse(row.evidence),
  };
}

export async function readChainHead(
  db: Knex,
): Promise<{ seq: number; hash: string }> {
  const head = await db('decision_chain').where({ id: 1 }).first();
  return { seq: Number(head.seq), hash: head.hash };
}

export async function* exportDecisionRows(
  db: Knex,
  options: {
    after: number;
    throughSeq: number;
    batch?: number;
  },
): AsyncGenerator<
  | { type: 'entry'; row: DecisionRow }
  | { type: 'checkpoint'; checkpoint: DecisionCheckpoint }
> {
  const batch = options.batch ?? 500;
  let after = options.after;
  while (after < options.throughSeq) {
    const to = Math.min(options.throughSeq, after + batch);
    const [rows, checkpoints] = await Promise.all([
      db('decisions')
        .where('seq', '>', after)
        .andWhere('seq', '<=', to)
        .orderBy('seq', 'asc'),
      db('decision_checkpoints')
        .where('seq', '>', after)
        .andWhere('seq', '<=', to)
        .orderBy('seq', 'asc'),
    ]);
    let c = 0;
    for (const row of rows as DecisionRow[]) {
      yield { type: 'entry', row };
      while (
        c < checkpoints.length &&
        Number(checkpoints[c].seq) <= Number(row.seq)
      ) {
        const cp = checkpoints[c++];
        if (Number(cp.seq) !== Number(row.seq)) continue;
        yield {
          type: 'checkpoint',
          checkpoint: {
            seq: Number(cp.seq),
            hash: cp.hash,
            createdAt: cp.created_at,
            keyId: cp.key_id,
            signature: cp.signature,
          },
        };
      }
    }
    after = to;
  }
}
