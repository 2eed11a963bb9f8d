import type {
  DecisionListEntry,
  DecisionPage,
} from '@tollgate/plugin-rollouts-common';
import type { Knex } from 'knex';
import { toDecision, type DecisionRow } from './decisionChain';
import type { DecisionCheckpoint } from './decisionCheckpoints';
import {
  DECISION_LIST_COLUMNS,
  DECISION_PAGE_COLUMNS,
  decisionPageJson,
  type DecisionPageJson,
} from './decisionPageJson';
import { fixedRead } from './fixedReads';
import type { DecisionQuery } from './RolloutsStore';

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

/** The seq a page without a cursor starts below: above any seq. */
const NO_CURSOR = Number.MAX_SAFE_INTEGER;

/**
 * The decision timeline's two reads, each on one fixed SQL text
 * (`fixedReads.ts`): a rollout's head, and a page of its decisions as the
 * API's JSON, written from the rows (`decisionPageJson.ts`).
 */
export function decisionPageReads(db: Knex) {
  const head = fixedRead(
    db,
    'select "entity_ref", (select max("seq") from "decisions" where "rollout_id" = ?) as "last_seq" from "rollouts" where "id" = ?',
    ['entity_ref', 'last_seq'],
  );
  const page = fixedRead(
    db,
    `select ${DECISION_LIST_COLUMNS.map(c => `"${c}"`).join(', ')}, ("evidence" is not null) as "has_evidence" from "decisions" where "rollout_id" = ? and "seq" < ? and "kind" <> 'shadow' order by "seq" desc limit ?`,
    DECISION_PAGE_COLUMNS,
  );
  return {
    /** The rollout's entity and the seq of its newest decision (0 without any); undefined when there is no such rollout. */
    async head(
      rolloutId: string,
    ): Promise<{ entityRef: string; lastSeq: number } | undefined> {
      const [row] = await head([rolloutId, rolloutId]);
      if (!row) return undefined;
      return { entityRef: row[0] as string, lastSeq: Number(row[1] ?? 0) };
    },
    /** `listDecisions({ rolloutId, limit, before, withEvidence: false })` as its JSON text (shadow entries left out, as there). */
    async pageJson(
      rolloutId: string,
      query: { limit?: number; before?: number },
    ): Promise<DecisionPageJson> {
      const limit = query.limit ?? 50;
      const rows = await page([
        rolloutId,
        query.before ?? NO_CURSOR,
        limit + 1,
      ]);
      return decisionPageJson(rows, limit);
    },
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
