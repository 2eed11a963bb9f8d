import type {
  DecisionChainVerification,
  DecisionEntry,
} from '@tollgate/plugin-rollouts-common';
import type { Knex } from 'knex';
import { createHash, randomFillSync, type KeyObject } from 'node:crypto';
import { canonicalJson, GENESIS_HASH, sha256 } from './canonical';
import {
  checkpointSignatureValid,
  type DecisionCheckpoint,
} from './decisionCheckpoints';

/**
 * The decision log's hash chain: how an entry becomes a row of the
 * decisions table, how each chain version hashes a row, and how the whole
 * chain is verified.
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

export function decisionRowHash(row: Omit<DecisionRow, 'hash'>): string {
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
  if (typeof evidence === 'string') h.update(evidence);
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
  of(value: unknown): string {
    if (!value || typeof value !== 'object') return JSON.stringify(value);
    let json = this.#seen.get(value);
    if (json === undefined) {
      json = JSON.stringify(value);
      this.#seen.set(value, json);
    }
    return json;
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
): { entry: DecisionEntry; row: DecisionRow } {
  const row = decisionRow({ ...base, hash: '' }, json, DECISION_CHAIN_VERSION);
  row.hash = decisionRowHash(row);
  return { entry: { ...base, hash: row.hash }, row };
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

/** The first entry of a chain that does not verify, and why. */
export interface BrokenEntry {
  seq: number;
  id: string;
  problem: string;
}

/**
 * Checks rows of the decisions table one at a time, in seq order: every seq
 * present and in order, every `prev_hash` equal to the entry before's hash,
 * and every hash equal to its row's under the row's `chain_version` (1: the
 * parsed content, canonical JSON; 2: the stored column text, see
 * `decisionRowHash`). A log upgraded in place holds version-1 rows, then
 * version-2 rows; the link between them is checked like any other.
 *
 * The one implementation of the rule: the store's `verifyDecisions` and the
 * `verify-log` command (over an export, no database) both feed it rows.
 */
export class ChainVerifier {
  /** The hash the next row must name as `prev_hash`. */
  prev: string;
  /** The seq the next row must have. */
  nextSeq: number;
  /** Rows checked so far (the broken one included). */
  checked = 0;

  constructor(
    start: { prevHash: string; nextSeq: number } = {
      prevHash: GENESIS_HASH,
      nextSeq: 1,
    },
  ) {
    this.prev = start.prevHash;
    this.nextSeq = start.nextSeq;
  }

  /**
   * Checks the next row; undefined when it is sound (and the chain moves on
   * to it). `contentHidden`: only the row's seq, `prev_hash` and `hash` are
   * known (an export leaves out entries its reader may not see), so its link
   * is checked and its content is not.
   */
  check(row: DecisionRow, contentHidden = false): BrokenEntry | undefined {
    const seq = Number(row.seq);
    this.checked++;
    const broken = (problem: string, at = seq): BrokenEntry => ({
      seq: at,
      id: row.id ?? '',
      problem,
    });
    if (seq !== this.nextSeq) {
      return broken(
        `entry ${this.nextSeq} is missing (next is ${row.seq})`,
        this.nextSeq,
      );
    }
    if (row.prev_hash !== this.prev) {
      return broken('previous-hash link does not match the entry before it');
    }
    if (!contentHidden) {
      const version = row.chain_version === undefined ? 1 : row.chain_version;
      let expected: string;
      if (version === 2) {
        expected = decisionRowHash(row);
      } else if (version === 1) {
        let entry: DecisionEntry;
        try {
          entry = toDecision(row);
        } catch {
          return broken('content is not valid JSON (the row was changed)');
        }
        const { hash: _hash, ...rest } = entry;
        expected = decisionHash(rest);
      } else {
        return broken(
          `unknown chain version ${JSON.stringify(version)} (the row was changed)`,
        );
      }
      if (expected !== row.hash) {
        return broken('content does not match its hash (the row was changed)');
      }
    }
    this.prev = row.hash;
    this.nextSeq++;
    return undefined;
  }
}

/**
 * Recomputes the chain from the first entry with a `ChainVerifier`, then
 * checks that the chain head names the last entry. Each stored checkpoint
 * must name its entry's hash and, when `publicKey` is given, carry a valid
 * signature by it (checkpoints of another key, before a rotation, are
 * checked against their entry only).
 */
export async function verifyDecisionChain(
  db: Knex,
  publicKey?: { keyId: string; key: KeyObject },
): Promise<DecisionChainVerification> {
  const verifier = new ChainVerifier();
  const checkpoints = new Map<number, DecisionCheckpoint>();
  for (const c of await db('decision_checkpoints').orderBy('seq')) {
    checkpoints.set(Number(c.seq), {
      seq: Number(c.seq),
      hash: c.hash,
      createdAt: c.created_at,
      keyId: c.key_id,
      signature: c.signature,
    });
  }
  const batch = 5000;
  for (;;) {
    const rows: DecisionRow[] = await db('decisions')
      .where('seq', '>=', verifier.nextSeq)
      .orderBy('seq', 'asc')
      .limit(batch);
    for (const row of rows) {
      const firstBroken = verifier.check(row);
      if (firstBroken)
        return { ok: false, checked: verifier.checked, firstBroken };
      const checkpoint = checkpoints.get(Number(row.seq));
      if (!checkpoint) continue;
      checkpoints.delete(checkpoint.seq);
      let problem: string | undefined;
      if (checkpoint.hash !== row.hash) {
        problem =
          'its signed checkpoint names another hash (the chain was rewritten)';
      } else if (
        publicKey &&
        checkpoint.keyId === publicKey.keyId &&
        !checkpointSignatureValid(checkpoint, publicKey.key)
      ) {
        problem = "its checkpoint's signature does not verify";
      }
      if (problem) {
        return {
          ok: false,
          checked: verifier.checked,
          firstBroken: { seq: checkpoint.seq, id: row.id, problem },
        };
      }
    }
    if (rows.length < batch) break;
  }
  const checked = verifier.checked;
  const head = await db('decision_chain').where({ id: 1 }).first();
  if (
    Number(head.seq) !== verifier.nextSeq - 1 ||
    head.hash !== verifier.prev
  ) {
    return {
      ok: false,
      checked,
      firstBroken: {
        seq: Number(head.seq),
        id: '',
        problem: `the chain head says ${head.seq} entries but ${verifier.nextSeq - 1} were found (entries were deleted)`,
      },
    };
  }
  const [orphan] = checkpoints.values();
  if (orphan) {
    return {
      ok: false,
      checked,
      firstBroken: {
        seq: orphan.seq,
        id: '',
        problem: `a signed checkpoint names entry ${orphan.seq}, which is not in the log (entries were deleted)`,
      },
    };
  }
  return { ok: true, checked };
}
