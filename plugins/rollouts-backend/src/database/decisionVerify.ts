import type {
  DecisionChainVerification,
  DecisionEntry,
} from '@tollgate/plugin-rollouts-common';
import type { Knex } from 'knex';
import type { KeyObject } from 'node:crypto';
import { GENESIS_HASH } from './canonical';
import {
  decisionHash,
  decisionRowHash,
  toDecision,
  type DecisionRow,
} from './decisionChain';
import {
  checkpointSignatureValid,
  type DecisionCheckpoint,
} from './decisionCheckpoints';

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
