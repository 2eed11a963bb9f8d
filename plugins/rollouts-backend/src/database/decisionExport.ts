import type { KeyObject } from 'node:crypto';
import type { RolloutsStore } from './RolloutsStore';
import type { DecisionRow } from './decisionChain';
import { ChainVerifier } from './decisionVerify';
import {
  checkpointSignatureValid,
  keyIdOf,
  type DecisionCheckpoint,
} from './decisionCheckpoints';

/**
 * The decision log's export (`GET /v1/decisions/export`): NDJSON, one JSON
 * object a line, and its verification (the `verify-log` command), which
 * needs no database. Lines, in order:
 *
 *     {"type":"header","format":"tollgate-decision-log","version":1,"after":0,"head":{"seq":N,"hash":"…"},"exportedAt":"…"}
 *     {"type":"entry","columns":{…every column of the decisions row, as stored…}}
 *     {"type":"entry","redacted":true,"columns":{"seq":…,"prev_hash":"…","hash":"…","chain_version":2}}
 *     {"type":"checkpoint","checkpoint":{"seq":…,"hash":"…","createdAt":"…","keyId":"…","signature":"…"}}
 *     {"type":"end","entries":N,"lastSeq":S,"more":false}
 *
 * `columns` are the values the database handed back, text columns as their
 * stored text (JSON strings decode to exactly that text), so a reader
 * recomputes each hash from them with the chain's own rule
 * (`decisionRowHash`). An entry the caller may not read is exported
 * redacted: its link is checked, its content is not. A checkpoint follows
 * the entry it signs.
 */

export const EXPORT_FORMAT = 'tollgate-decision-log';

export interface ExportHeader {
  type: 'header';
  format: typeof EXPORT_FORMAT;
  version: 1;
  /** Entries after this seq. */
  after: number;
  /** The chain head when the export started; no entry after it is exported. */
  head: { seq: number; hash: string };
  exportedAt: string;
}

export type ExportLine =
  | ExportHeader
  | { type: 'entry'; redacted?: true; columns: Partial<DecisionRow> }
  | { type: 'checkpoint'; checkpoint: DecisionCheckpoint }
  | { type: 'end'; entries: number; lastSeq: number; more: boolean };

/**
 * One line of the export: JSON with U+2028 and U+2029 escaped (JSON text
 * may hold them raw, but some line readers end a line at them).
 */
export function exportLineText(line: ExportLine): string {
  return `${JSON.stringify(line)
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029')}\n`;
}

/** A redacted entry's columns: what links it into the chain, nothing of its content. */
export function redactedColumns(row: DecisionRow): Partial<DecisionRow> {
  return {
    seq: row.seq,
    prev_hash: row.prev_hash,
    hash: row.hash,
    chain_version: row.chain_version,
  };
}

/**
 * The export's lines: the header, the entries after `after` (at most
 * `limit`, none past the head read first), each checkpoint after its
 * entry, and the end line. `readable` says whether the caller may read an
 * entity's decisions; other entries are redacted.
 */
export async function* exportLines(
  store: Pick<RolloutsStore, 'decisionHead' | 'exportDecisions'>,
  options: {
    after: number;
    limit: number;
    readable?: (entityRef: string) => boolean | Promise<boolean>;
  },
): AsyncGenerator<ExportLine> {
  const { after, limit, readable } = options;
  const head = await store.decisionHead();
  yield {
    type: 'header',
    format: EXPORT_FORMAT,
    version: 1,
    after,
    head,
    exportedAt: new Date().toISOString(),
  };
  let entries = 0;
  let lastSeq = after;
  const throughSeq = Math.min(head.seq, after + limit);
  for await (const item of store.exportDecisions({ after, throughSeq })) {
    if (item.type === 'checkpoint') {
      yield item;
      continue;
    }
    const row = item.row;
    entries++;
    lastSeq = Number(row.seq);
    if (!readable || (await readable(row.entity_ref))) {
      yield { type: 'entry', columns: row };
    } else {
      yield { type: 'entry', redacted: true, columns: redactedColumns(row) };
    }
  }
  yield { type: 'end', entries, lastSeq, more: lastSeq < head.seq };
}

export interface ExportVerifyOptions {
  /** Check each checkpoint's signature with this public key; without it signatures are reported unverified. */
  publicKey?: KeyObject | KeyObject[];
  /** A checkpoint the reader kept from an earlier export: the export must reach its seq and have its hash there. */
  kept?: DecisionCheckpoint;
}

export interface ExportVerification {
  ok: boolean;
  /** Entries checked (redacted ones included). */
  entries: number;
  redacted: number;
  firstSeq?: number;
  lastSeq?: number;
  checkpoints: number;
  /** Checkpoints whose signature was checked with the given key. */
  signaturesVerified: number;
  /** Whether the kept checkpoint was found, with its hash, in the export. */
  keptMatched: boolean;
  /** The first problem: the seq it is at (when there is one) and what it is. */
  broken?: { seq?: number; line: number; problem: string };
  /** What the verification could not check (a chain starting after seq 1, unsigned checkpoints). */
  notes: string[];
}

/**
 * Verifies an export line by line (feed it with `line`, then call
 * `finish`): every entry's hash recomputed and linked to the one before,
 * every checkpoint's hash equal to its entry's and (with a key) its
 * signature valid, the kept checkpoint matched, and the export complete.
 */
export class ExportVerifier {
  readonly #options: ExportVerifyOptions;
  #chain?: ChainVerifier;
  #header?: ExportHeader;
  #end?: Extract<ExportLine, { type: 'end' }>;
  #lastEntry?: { seq: number; hash: string };
  #lineNo = 0;
  readonly result: ExportVerification = {
    ok: true,
    entries: 0,
    redacted: 0,
    checkpoints: 0,
    signaturesVerified: 0,
    keptMatched: false,
    notes: [],
  };

  constructor(options: ExportVerifyOptions = {}) {
    this.#options = options;
  }

  #fail(problem: string, seq?: number): false {
    this.result.ok = false;
    this.result.broken = { seq, line: this.#lineNo, problem };
    return false;
  }

  /** Checks the next line; false once the export is broken (later lines are not looked at). */
  line(text: string): boolean {
    if (!this.result.ok) return false;
    this.#lineNo++;
    if (text.trim() === '') return true;
    let line: ExportLine;
    try {
      line = JSON.parse(text);
    } catch {
      return this.#fail('not a JSON line');
    }
    if (!line || typeof line !== 'object') {
      return this.#fail('not a JSON object');
    }
    if (this.#end && line.type !== 'header') {
      return this.#fail(`a ${line.type} line after the end line`);
    }
    switch (line.type) {
      case 'header':
        return this.#onHeader(line);
      case 'entry':
        return this.#onEntry(line);
      case 'checkpoint':
        return this.#onCheckpoint(line.checkpoint);
      case 'end':
        this.#end = line;
        return true;
      default:
        return this.#fail(
          `unknown line type ${JSON.stringify((line as any).type)}`,
        );
    }
  }

  #onHeader(header: ExportHeader): boolean {
    if (header.format !== EXPORT_FORMAT || header.version !== 1) {
      return this.#fail(
        `not a ${EXPORT_FORMAT} export of version 1 (format ${JSON.stringify(header.format)}, version ${JSON.stringify(header.version)})`,
      );
    }
    // Pages of one log may be concatenated: each must start where the last ended.
    if (this.#header && this.#end) {
      if (Number(header.after) !== this.#lastEntry?.seq) {
        return this.#fail(
          `the next page starts after seq ${header.after}, the last ended at ${this.#lastEntry?.seq}`,
        );
      }
      this.#end = undefined;
    } else if (this.#header) {
      return this.#fail('a second header before the end line');
    }
    this.#header = header;
    return true;
  }

  #onEntry(line: Extract<ExportLine, { type: 'entry' }>): boolean {
    if (!this.#header) return this.#fail('an entry before the header');
    const row = line.columns as DecisionRow;
    if (!row || typeof row !== 'object') {
      return this.#fail('an entry without columns');
    }
    if (!this.#chain) {
      const seq = Number(row.seq);
      if (seq !== 1) {
        this.result.notes.push(
          `the export starts at seq ${seq}: entries before it, and its link to them, were not checked`,
        );
      }
      this.result.firstSeq = seq;
      this.#chain = new ChainVerifier({
        prevHash: row.prev_hash,
        nextSeq: seq,
      });
    }
    const broken = this.#chain.check(row, line.redacted === true);
    this.result.entries++;
    if (line.redacted) this.result.redacted++;
    if (broken) return this.#fail(broken.problem, broken.seq);
    const seq = Number(row.seq);
    this.result.lastSeq = seq;
    this.#lastEntry = { seq, hash: row.hash };
    const kept = this.#options.kept;
    if (kept && Number(kept.seq) === seq) {
      if (kept.hash !== row.hash) {
        return this.#fail(
          `the chain was rewritten: the kept checkpoint says entry ${seq} has hash ${kept.hash}, the export has ${row.hash}`,
          seq,
        );
      }
      this.result.keptMatched = true;
    }
    return true;
  }

  #onCheckpoint(checkpoint: DecisionCheckpoint): boolean {
    if (!checkpoint || typeof checkpoint !== 'object') {
      return this.#fail('a checkpoint line without a checkpoint');
    }
    const seq = Number(checkpoint.seq);
    this.result.checkpoints++;
    if (
      this.#lastEntry?.seq !== seq ||
      this.#lastEntry.hash !== checkpoint.hash
    ) {
      return this.#fail(
        `checkpoint at seq ${seq} does not match the entry it follows (seq ${this.#lastEntry?.seq})`,
        seq,
      );
    }
    const keys = this.#keys();
    if (keys.size) {
      // The checkpoint names its key; with several keys (a rotation) the one of that id checks it.
      const key =
        keys.get(checkpoint.keyId) ??
        (keys.size === 1 ? [...keys.values()][0] : undefined);
      if (!key) {
        return this.#fail(
          `checkpoint at seq ${seq} is signed with key ${JSON.stringify(checkpoint.keyId)}, which no given key is`,
          seq,
        );
      }
      if (!checkpointSignatureValid(checkpoint, key)) {
        return this.#fail(
          `checkpoint at seq ${seq}: the signature does not verify with the given key`,
          seq,
        );
      }
      this.result.signaturesVerified++;
    }
    return true;
  }

  #keyMap?: Map<string, KeyObject>;

  /** The given public keys by key id. */
  #keys(): Map<string, KeyObject> {
    if (!this.#keyMap) {
      const list = [this.#options.publicKey ?? []].flat();
      this.#keyMap = new Map(list.map(k => [keyIdOf(k), k]));
    }
    return this.#keyMap;
  }

  /** Ends the verification: the export must be complete, and reach the kept checkpoint. */
  finish(): ExportVerification {
    if (!this.result.ok) return this.result;
    this.#lineNo++;
    if (!this.#header) {
      this.#fail('no header line: not a decision log export');
      return this.result;
    }
    if (!this.#end) {
      this.#fail('no end line: the export was cut short', this.#lastEntry?.seq);
      return this.result;
    }
    const head = this.#header.head;
    if (
      !this.#end.more &&
      (this.#lastEntry?.seq ?? Number(this.#header.after)) !== Number(head.seq)
    ) {
      this.#fail(
        `the log's head was entry ${head.seq} when the export started, but the export ends at ${this.#lastEntry?.seq ?? this.#header.after}`,
        Number(head.seq),
      );
      return this.result;
    }
    if (
      !this.#end.more &&
      this.#lastEntry &&
      this.#lastEntry.hash !== head.hash
    ) {
      this.#fail(
        `the last entry's hash is not the head's hash the export started with`,
        this.#lastEntry.seq,
      );
      return this.result;
    }
    const kept = this.#options.kept;
    if (kept && !this.result.keptMatched) {
      const from = this.result.firstSeq;
      const to = this.result.lastSeq;
      this.#fail(
        from !== undefined && Number(kept.seq) < from
          ? `the kept checkpoint at seq ${kept.seq} is before the export's first entry (${from}); export from an earlier seq`
          : `the export ends at seq ${to ?? 'none'}, before the kept checkpoint at seq ${kept.seq}: entries were deleted or withheld`,
        Number(kept.seq),
      );
      return this.result;
    }
    if (this.result.checkpoints > 0 && this.#keys().size === 0) {
      this.result.notes.push(
        `${this.result.checkpoints} checkpoint signatures NOT verified (no key given)`,
      );
    }
    return this.result;
  }
}

/** Verifies a whole export held in memory (tests, small exports). */
export function verifyExportText(
  text: string,
  options: ExportVerifyOptions = {},
): ExportVerification {
  const verifier = new ExportVerifier(options);
  for (const line of text.split('\n')) {
    if (!verifier.line(line)) break;
  }
  return verifier.finish();
}
