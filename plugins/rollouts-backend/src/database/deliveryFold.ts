import type { RolloutStep } from '@tollgate/plugin-rollouts-common';
import type { Knex } from 'knex';
import {
  DELIVERY_COLUMNS,
  deliveryRow,
  deliveryStateOf,
  foldDecision,
  PG_CASTS,
  type DeliveryState,
  type FoldedDecision,
} from './deliveryFigures';
import { parseJson } from './rolloutRows';

/**
 * Where the delivery figures' fold (`deliveryFigures.ts`) meets the
 * database: the rollouts rows read, decisions folded into them in log
 * order, the rows they changed written back, in the appending transaction.
 */

/** What the fold reads of a rollouts row. */
export const DELIVERY_READ_COLUMNS = ['id', 'steps', ...DELIVERY_COLUMNS];

function once<T>(fn: () => T): () => T {
  let done = false;
  let value: T;
  return () => {
    if (!done) {
      value = fn();
      done = true;
    }
    return value;
  };
}

/** Rows per statement of the fold's read and write (SQLite; PostgreSQL takes a batch in one). */
const CHUNK = 200;

/** Rows per statement on PostgreSQL, whose read and write each take one array or JSON parameter. */
const PG_CHUNK = 5000;

/**
 * PostgreSQL's write of folded rows: one statement whose rows arrive as a
 * single JSON parameter (numbers as their text, as `pg` sends a number
 * parameter, so Infinity and NaN survive), instead of a VALUES list of 13
 * parameters a row that the server parses and plans each time.
 */
const pgFoldUpdate = (() => {
  const types = DELIVERY_COLUMNS.map(
    c => `"${c}" ${PG_CASTS[c] ?? 'text'}`,
  ).join(', ');
  return (
    `update "rollouts" set ${DELIVERY_COLUMNS.map(c => `"${c}" = "v"."${c}"`).join(', ')} ` +
    `from json_to_recordset(?::json) as "v"("id" text, ${types}) where "rollouts"."id" = "v"."id"`
  );
})();

function pgFoldRows(
  states: ReadonlyMap<string, { state: DeliveryState }>,
): string {
  const rows: Array<Record<string, unknown>> = [];
  for (const [id, { state }] of states) {
    const row = deliveryRow(state);
    const out: Record<string, unknown> = { id };
    for (const c of DELIVERY_COLUMNS) {
      const v = row[c];
      out[c] = typeof v === 'number' ? String(v) : (v ?? null);
    }
    rows.push(out);
  }
  return JSON.stringify(rows);
}

/**
 * A fold over rollouts rows already read (`DELIVERY_READ_COLUMNS`):
 * decisions are folded in log order as they come (the append folds each
 * run of entries while the database stores it), then the rows they
 * changed are written back in one statement (PostgreSQL) or chunks
 * (SQLite).
 */
export class DeliveryFold {
  readonly #states = new Map<
    string,
    { state: DeliveryState; steps: () => RolloutStep[] }
  >();
  readonly #changed = new Map<string, { state: DeliveryState }>();

  constructor(rows: Array<Record<string, any>>) {
    for (const row of rows)
      this.#states.set(row.id, {
        state: deliveryStateOf(row),
        steps: once(() => parseJson<RolloutStep[]>(row.steps) ?? []),
      });
  }

  /** Folds decisions (in log order, after those folded before); a shadow policy's would-have entries never count. */
  add(decisions: FoldedDecision[]): void {
    for (const d of decisions) {
      if (d.kind === 'shadow') continue;
      const entry = this.#states.get(d.rolloutId);
      if (!entry) continue;
      entry.state = foldDecision(entry.state, d, entry.steps);
      this.#changed.set(d.rolloutId, entry);
    }
  }

  /** Writes the rows a decision was folded into. */
  async write(trx: Knex.Transaction, isPg: boolean): Promise<void> {
    if (!this.#changed.size) return;
    if (isPg) {
      await trx.raw(pgFoldUpdate, [pgFoldRows(this.#changed)]);
      return;
    }
    const names = ['id', ...DELIVERY_COLUMNS];
    const tuple = `(${names.map(() => '?').join(', ')})`;
    const changed = [...this.#changed];
    for (let i = 0; i < changed.length; i += CHUNK) {
      const chunk = changed.slice(i, i + CHUNK);
      const bindings: unknown[] = [];
      for (const [id, { state }] of chunk) {
        const row = deliveryRow(state);
        bindings.push(id, ...DELIVERY_COLUMNS.map(c => row[c] ?? null));
      }
      // VALUES columns are column1, column2… in SQLite.
      const sql =
        `update "rollouts" set ${DELIVERY_COLUMNS.map(c => `"${c}" = "v"."${c}"`).join(', ')} ` +
        `from (select ${names.map((n, k) => `column${k + 1} as "${n}"`).join(', ')} from (values ${chunk.map(() => tuple).join(', ')}) as "t") as "v" ` +
        `where "rollouts"."id" = "v"."id"`;
      await trx.raw(sql, bindings as Knex.RawBinding[]);
    }
  }
}

/**
 * Folds just-appended decisions into their rollouts' delivery columns, in
 * the appending transaction: reads the rows' state, folds each decision in
 * log order, writes the rows back. The appending transaction holds the
 * decision chain's head (locked on PostgreSQL), so appenders fold one after
 * another; nothing else writes these columns. (An append that locked and
 * read the rows first folds with a `DeliveryFold` of its own.)
 */
export async function foldDeliveryFigures(
  trx: Knex.Transaction,
  isPg: boolean,
  appended: FoldedDecision[],
): Promise<void> {
  const decisions = appended.filter(d => d.kind !== 'shadow');
  if (!decisions.length) return;
  const ids = [...new Set(decisions.map(d => d.rolloutId))];
  const size = isPg ? PG_CHUNK : CHUNK;
  for (let i = 0; i < ids.length; i += size) {
    const chunk = ids.slice(i, i + size);
    const read = trx('rollouts').select(...DELIVERY_READ_COLUMNS);
    const rows = await (isPg
      ? read.whereRaw('"id" = any(?::text[])', [chunk])
      : read.whereIn('id', chunk));
    if (!rows.length) continue;
    const fold = new DeliveryFold(rows);
    fold.add(decisions);
    await fold.write(trx, isPg);
  }
}
