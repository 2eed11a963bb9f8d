import { DECISION_COLUMNS } from './decisionChain';

/*
 * A page of decisions written as the API's JSON straight from the database
 * rows, byte for byte what `JSON.stringify` makes of the `DecisionPage` of
 * `DecisionListEntry` objects that `listDecisions({ withEvidence: false })`
 * builds from the same rows (`decisionPageJson.test.ts` holds the two
 * together): no entry objects, no `JSON.parse` of the reasons only to write
 * them again.
 */

/** The decisions columns a list reads: all but the evidence (and the chain version, which a list does not show). */
export const DECISION_LIST_COLUMNS = DECISION_COLUMNS.filter(
  c => c !== 'evidence' && c !== 'chain_version',
);

/**
 * The values a page is written from, in this order: the list's columns,
 * then whether there is evidence. A `DecisionPageRow` holds them at these indexes.
 */
export const DECISION_PAGE_COLUMNS: readonly string[] = [
  ...DECISION_LIST_COLUMNS,
  'has_evidence',
];

/** A page's row: the values of `DECISION_PAGE_COLUMNS`, in order. */
export type DecisionPageRow = readonly unknown[];

const at = (column: string) => {
  const i = DECISION_PAGE_COLUMNS.indexOf(column);
  if (i < 0) throw new Error(`decision pages: no column ${column}`);
  return i;
};
const SEQ = at('seq');
const ID = at('id');
const ROLLOUT_ID = at('rollout_id');
const ENTITY_REF = at('entity_ref');
const STEP_INDEX = at('step_index');
const VERDICT = at('verdict');
const KIND = at('kind');
const ACTOR = at('actor');
const REASONS = at('reasons');
const POLICY_HASH = at('policy_hash');
const OUTCOME = at('outcome');
const CREATED_AT = at('created_at');
const PREV_HASH = at('prev_hash');
const HASH = at('hash');
const HAS_EVIDENCE = at('has_evidence');

/** `JSON.stringify(Number(value))`: the entry's integer fields. */
function int(value: unknown): string {
  const n = Number(value);
  return Number.isFinite(n) ? String(n) : 'null';
}

/**
 * One JSON string exactly as `JSON.stringify` writes it: only its own
 * escapes (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, lowercase `\u00xx` for
 * the other control characters), everything else as is. Surrogates,
 * escaped or not, are left to `JSON.parse` and `JSON.stringify`.
 */
const STRINGIFIED = String.raw`"(?:[^"\\\u0000-\u001f\ud800-\udfff]|\\["\\bfnrt]|\\u00(?:0[0-7bef]|1[0-9a-f]))*"`;
/** An array of such strings without white space: the reasons as the store writes them. */
const STRINGIFIED_STRINGS = new RegExp(
  String.raw`^\[(?:${STRINGIFIED}(?:,${STRINGIFIED})*)?\]$`,
);

/** The reasons column (JSON text) as `JSON.stringify(JSON.parse(text))`: the stored text itself when it is already that. */
export function reasonsJson(text: unknown): string {
  if (typeof text === 'string' && STRINGIFIED_STRINGS.test(text)) return text;
  return JSON.stringify(JSON.parse(text as string));
}

/** One `DecisionListEntry`'s JSON, its keys in the order `toDecision` sets them. */
function entryJson(r: DecisionPageRow): string {
  const text = JSON.stringify;
  return `{"seq":${int(r[SEQ])},"id":${text(r[ID])},"rolloutId":${text(r[ROLLOUT_ID])},"entityRef":${text(r[ENTITY_REF])},"stepIndex":${int(r[STEP_INDEX])},"verdict":${text(r[VERDICT])},"kind":${text(r[KIND])},"actor":${text(r[ACTOR])},"reasons":${reasonsJson(r[REASONS])},"policyHash":${text(r[POLICY_HASH] ?? null)},"outcome":${text(r[OUTCOME])},"createdAt":${text(r[CREATED_AT])},"prevHash":${text(r[PREV_HASH])},"hash":${text(r[HASH])},"hasEvidence":${Boolean(Number(r[HAS_EVIDENCE]))}}`;
}

export interface DecisionPageJson {
  /** The `DecisionPage` as JSON text. */
  json: string;
  /**
   * The page's newest entry (undefined for an empty page). Its hash chains
   * every entry before it, so it and the page size fix the whole page:
   * the entries are the rollout's `limit` newest up to it.
   */
  newest?: { seq: number; hash: string };
}

/**
 * The JSON of a page of `limit` entries read newest first, with one row
 * more when there is an older page (`nextCursor` is then the last entry's seq).
 */
export function decisionPageJson(
  rows: readonly DecisionPageRow[],
  limit: number,
): DecisionPageJson {
  const n = Math.min(rows.length, limit);
  let json = '{"items":[';
  for (let i = 0; i < n; i++) {
    if (i) json += ',';
    json += entryJson(rows[i]);
  }
  json += ']';
  if (rows.length > limit) json += `,"nextCursor":${int(rows[n - 1][SEQ])}`;
  json += '}';
  return {
    json,
    newest: n
      ? { seq: Number(rows[0][SEQ]), hash: String(rows[0][HASH]) }
      : undefined,
  };
}
