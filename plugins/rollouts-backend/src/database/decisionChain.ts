import type { DecisionEntry } from '@tollgate/plugin-rollouts-common';
import { createHash, randomFillSync } from 'node:crypto';
import { canonicalJson, sha256 } from './canonical';

/**
 * The decision log's hash chain: how an entry becomes a row of the
 * decisions table, and how each chain version hashes a row (the whole
 * chain is verified in `decisionVerify.ts`).
 */

/**
 * Chain version 1: the hash covers the entry's parsed content, everything but
 * the hash itself, as canonical JSON (keys sorted at every depth):
 * sha256(prevHash + "\n" + canonicalJson(content)). Rows written before
 * migration 20261122100000 carry `chain_version` 1 and verify with this rule.
 */
export function decisionHash(entry: Omit<DecisionEntry, 'hash'>): string {
  const { prevHash, ...content } = entry;
  return sha256(`${prevHash}\n${canonicalJson(content)}`);
}

/** The chain version the store writes. */
export const DECISION_CHAIN_VERSION = 2;

/** A row of the decisions table, every column as stored. */
export interface DecisionRow {
  seq: number;
  id: string;
  rollout_id: string;
  entity_ref: string;
  step_index: number;
  verdict: string;
  kind: string;
  actor: string;
  /** JSON text of the reasons. */
  reasons: string;
  /** JSON text of the evidence snapshot, or null. */
  evidence: string | null;
  policy_hash: string | null;
  outcome: string;
  created_at: string;
  prev_hash: string;
  hash: string;
  chain_version: number;
}

/** The decisions table's columns in insert order. */
export const DECISION_COLUMNS: ReadonlyArray<keyof DecisionRow> = [
  'seq',
  'id',
  'rollout_id',
  'entity_ref',
  'step_index',
  'verdict',
  'kind',
  'actor',
  'reasons',
  'evidence',
  'policy_hash',
  'outcome',
  'created_at',
  'prev_hash',
  'hash',
  'chain_version',
];

/**
 * Chain version 2: the hash covers the exact stored value of every column
 * but `hash`, the evidence's JSON text as stored (never parsed or
 * re-canonicalised, so a snapshot of several KiB costs one SHA-256 pass):
 *
 *     sha256( header + "\n" + (evidence ?? "") )   (UTF-8, lowercase hex)
 *     header = JSON.stringify([2, seq, id, rollout_id, entity_ref, step_index, verdict,
 *                              kind, actor, reasons, policy_hash, outcome, created_at,
 *                              prev_hash, evidence !== null])
 *
 * The header is a JSON array of the column values (integers as JSON numbers,
 * text columns, `reasons` included, as JSON strings of their stored text,
 * NULL as null), so it holds no raw newline and the first "\n" ends it; the
 * last element tells a NULL evidence from an empty text. The leading 2 is the
 * row's `chain_version` (a v1 input starts with a hex hash, never "[").
 * Changing any stored column of a version-2 row, its version included,
 * changes this hash or breaks the link to the next row.
 */
/** false for no evidence, true for text; anything else a database handed back (a BLOB, say) hashes differently from text. */
function evidenceKind(evidence: unknown): boolean | string {
  if (evidence === null) return false;
  if (typeof evidence === 'string') return true;
  return typeof evidence;
}

export function decisionRowHash(
  row: Omit<DecisionRow, 'hash'>,
  /** The evidence text's UTF-8 bytes when the caller has them already (the same bytes the text hashes to, one encoding pass fewer). */
  evidenceUtf8?: Buffer,
): string {
  const evidence: unknown = row.evidence;
  const header = JSON.stringify([
    2,
    intColumn(row.seq),
    row.id,
    row.rollout_id,
    row.entity_ref,
    intColumn(row.step_index),
    row.verdict,
    row.kind,
    row.actor,
    row.reasons,
    row.policy_hash,
    row.outcome,
    row.created_at,
    row.prev_hash,
    evidenceKind(evidence),
  ]);
  const h = createHash('sha256').update(header).update('\n');
  if (typeof evidence === 'string') h.update(evidenceUtf8 ?? evidence);
  return h.digest('hex');
}

/**
 * An integer column's value as stored: PostgreSQL's driver hands bigints
 * back as their decimal text (and a driver may hand back a BigInt), which is
 * the same integer. Anything else (a
 * SQLite text like "3 " in an integer column) stays as it is, so it hashes
 * differently from the integer.
 */
function intColumn(value: unknown): unknown {
  if (typeof value === 'bigint')
    return Number.isSafeInteger(Number(value)) ? Number(value) : String(value);
  return typeof value === 'string' && /^(0|-?[1-9][0-9]{0,14})$/.test(value)
    ? Number(value)
    : value;
}

/** Random bytes for decision ids, drawn from the system's CSPRNG 4 KiB at a time (one call per id costs more than the rest of the id). */
const randomPool = Buffer.alloc(4096);

let randomAt = randomPool.length;

/**
 * A time-ordered UUID (version 7, RFC 9562): a 48-bit Unix-millisecond
 * timestamp, then random bits. New decision ids land at the end of the id
 * index instead of at random places in it, which keeps appends to a log of
 * millions of entries cheap.
 */
export function timeOrderedUuid(now = Date.now()): string {
  if (randomAt + 16 > randomPool.length) {
    randomFillSync(randomPool);
    randomAt = 0;
  }
  const uuidBytes = randomPool.subarray(randomAt, randomAt + 16);
  randomAt += 16;
  uuidBytes.writeUIntBE(now, 0, 6);
  uuidBytes[6] = (uuidBytes[6] & 0x0f) | 0x70;
  uuidBytes[8] = (uuidBytes[8] & 0x3f) | 0x80;
  const h = uuidBytes.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * JSON of values, memoised per object for one batch: a gate evaluation's
 * evidence goes into the rollout row and into its decision, and
 * serialising a snapshot of several KiB twice is a large part of a write.
 */
/** Serialises each object once, however many rows carry it. */
export class JsonOnce {
  readonly #seen = new Map<object, string>();
  readonly #utf8 = new Map<object, Buffer | null>();
  of(value: unknown): string {
    if (!value || typeof value !== 'object') return JSON.stringify(value);
    let json = this.#seen.get(value);
    if (json === undefined) {
      json = JSON.stringify(value);
      this.#seen.set(value, json);
    }
    return json;
  }
  /**
   * The UTF-8 bytes of `of(value)` for an object this batch has asked for
   * before (a snapshot several rows share): encoded once, then the chain
   * hashes them and the binary COPY copies them, instead of encoding the
   * text twice per row. Undefined the first time: a row's own snapshot is
   * hashed and encoded as text, as a buffer of its own per row costs more
   * (an allocation outside the heap, and the collections it brings: ~30 µs
   * a row measured) than the encoding it saves.
   */
  sharedUtf8(value: unknown): Buffer | undefined {
    if (!value || typeof value !== 'object') return undefined;
    const bytes = this.#utf8.get(value);
    if (bytes) return bytes;
    if (bytes === undefined) {
      this.#utf8.set(value, null);
      return undefined;
    }
    const encoded = Buffer.from(this.of(value), 'utf8');
    this.#utf8.set(value, encoded);
    return encoded;
  }
}

/**
 * The decisions row of an entry that already has its hash, labelled with the
 * chain version that hash was computed with (see `sealDecision` to hash a
 * new entry).
 */
export function decisionRow(
  entry: DecisionEntry,
  json: JsonOnce,
  chainVersion: number = DECISION_CHAIN_VERSION,
): DecisionRow {
  return {
    seq: entry.seq,
    id: entry.id,
    rollout_id: entry.rolloutId,
    entity_ref: entry.entityRef,
    step_index: entry.stepIndex,
    verdict: entry.verdict,
    kind: entry.kind,
    actor: entry.actor,
    reasons: JSON.stringify(entry.reasons),
    evidence:
      entry.evidence === null || entry.evidence === undefined
        ? null
        : json.of(entry.evidence),
    policy_hash: entry.policyHash ?? null,
    outcome: entry.outcome,
    created_at: entry.createdAt,
    prev_hash: entry.prevHash,
    hash: entry.hash,
    chain_version: chainVersion,
  };
}

/**
 * Hashes a new entry with the current chain rule (version 2) over the row
 * it will be stored as: returns that row and the entry with its hash. Each
 * evidence object is serialised once (by `json`) and hashed as that text.
 */
export function sealDecision(
  base: Omit<DecisionEntry, 'hash'>,
  json: JsonOnce,
): {
  entry: DecisionEntry;
  row: DecisionRow;
  /** The UTF-8 bytes of `row.evidence` when they were encoded (a snapshot rows share), for the binary COPY; null otherwise. */
  evidenceUtf8: Buffer | null;
} {
  const entry = { ...base, hash: '' };
  const row = decisionRow(entry, json, DECISION_CHAIN_VERSION);
  const evidenceUtf8 =
    row.evidence === null ? null : (json.sharedUtf8(base.evidence) ?? null);
  row.hash = decisionRowHash(row, evidenceUtf8 ?? undefined);
  entry.hash = row.hash;
  return { entry, row, evidenceUtf8 };
}

export function toDecision(row: any): DecisionEntry {
  return {
    seq: Number(row.seq),
    id: row.id,
    rolloutId: row.rollout_id,
    entityRef: row.entity_ref,
    stepIndex: Number(row.step_index),
    verdict: row.verdict,
    kind: row.kind,
    actor: row.actor,
    reasons: JSON.parse(row.reasons),
    evidence: row.evidence === null ? null : JSON.parse(row.evidence),
    policyHash: row.policy_hash ?? null,
    outcome: row.outcome,
    createdAt: row.created_at,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}
