import { DECISION_COLUMNS, type DecisionRow } from './decisionChain';

/**
 * PostgreSQL's `COPY "decisions" (…) FROM STDIN WITH (FORMAT binary)` on a
 * `pg` client, without a dependency: a query object `pg` hands the
 * connection to (the "submittable" interface `pg-copy-streams` uses), which
 * sends the COPY, then each run of rows as CopyData as soon as it is hashed,
 * then CopyDone. One statement per append however many rows it has: no
 * parsing or planning of a 1,600-parameter statement per 100 rows, no
 * escaping of the evidence text (binary COPY sends each value as its length
 * and bytes), and the server stores one run while the next is hashed.
 *
 * The stored values are the ones the plain INSERT stores (the same strings,
 * integers and NULLs; the tests compare both paths row by row), so the
 * hash chain is unchanged.
 */

/** Column types binary COPY encodes: int8 and int4 as big-endian integers, everything else as UTF-8 text. */
const EXPECTED_TYPES: Record<string, string> = {
  seq: 'bigint',
  step_index: 'integer',
  chain_version: 'integer',
};

const TEXT_TYPES = new Set(['text', 'character varying']);

/**
 * Whether the decisions table has the column types the binary encoding
 * writes (a table altered by hand, say to `integer` seq, gets the plain
 * INSERT rather than a COPY the server would reject).
 */
export async function decisionsTableTakesBinaryCopy(conn: {
  query(q: string): Promise<{ rows: any[] }>;
}): Promise<boolean> {
  const { rows } = await conn.query(
    `select column_name, data_type from information_schema.columns where table_name = 'decisions' and table_schema = current_schema()`,
  );
  const types = new Map<string, string>(
    rows.map(r => [String(r.column_name), String(r.data_type)]),
  );
  return DECISION_COLUMNS.every(c => {
    const t = types.get(c);
    if (t === undefined) return false;
    const expected = EXPECTED_TYPES[c];
    return expected ? t === expected : TEXT_TYPES.has(t);
  });
}

const COPY_SQL = `copy "decisions" (${DECISION_COLUMNS.map(c => `"${c}"`).join(', ')}) from stdin with (format binary)`;

/** "PGCOPY\n\377\r\n\0", flags 0, header extension length 0. */
const COPY_HEADER = Buffer.concat([
  Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'),
  Buffer.alloc(8),
]);

/** The file trailer: a tuple field count of -1. */
const COPY_TRAILER = Buffer.from([0xff, 0xff]);

const INT8 = 1;
const INT4 = 2;
const TEXT = 0;
const COLUMN_KIND = DECISION_COLUMNS.map(c => {
  if (c === 'seq') return INT8;
  return EXPECTED_TYPES[c] ? INT4 : TEXT;
});

/** The text a text column stores for a value (what `pg` sends for it in the plain INSERT). */
function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function integerOf(column: string, value: unknown, bits: 32 | 64): number {
  const n = typeof value === 'string' ? Number(value) : value;
  const limit = bits === 32 ? 2 ** 31 : Number.MAX_SAFE_INTEGER + 1;
  if (
    typeof n !== 'number' ||
    !Number.isInteger(n) ||
    n >= limit ||
    n < -limit
  ) {
    throw new TypeError(
      `decisions.${column}: ${JSON.stringify(value)} is not a ${bits}-bit integer`,
    );
  }
  return n;
}

const EVIDENCE = DECISION_COLUMNS.indexOf('evidence');

/**
 * Rows in PostgreSQL's binary COPY tuple format (no file header).
 * `evidenceUtf8[i]`, when given, is the UTF-8 of `rows[i].evidence`
 * (encoded once for the hash, copied here as it is).
 */
export function encodeDecisionRows(
  rows: DecisionRow[],
  evidenceUtf8?: ReadonlyArray<Buffer | null>,
  /** Bytes left free at the start (for the CopyData message header). */
  headerRoom = 0,
): Buffer {
  const texts: Array<string | Buffer | null> = [];
  let size = 0;
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r];
    size += 2;
    for (let c = 0; c < DECISION_COLUMNS.length; c++) {
      const v = row[DECISION_COLUMNS[c]];
      const kind = COLUMN_KIND[c];
      const bytes = c === EVIDENCE ? evidenceUtf8?.[r] : undefined;
      if (v === null || v === undefined) {
        size += 4;
        if (kind === TEXT) texts.push(null);
      } else if (kind === INT8) size += 12;
      else if (kind === INT4) size += 8;
      else if (bytes) {
        texts.push(bytes);
        size += 4 + bytes.length;
      } else {
        const text = textOf(v);
        texts.push(text);
        size += 4 + Buffer.byteLength(text, 'utf8');
      }
    }
  }
  const out = Buffer.allocUnsafe(headerRoom + size);
  let at = headerRoom;
  let t = 0;
  for (const row of rows) {
    at = out.writeInt16BE(DECISION_COLUMNS.length, at);
    for (let c = 0; c < DECISION_COLUMNS.length; c++) {
      const column = DECISION_COLUMNS[c];
      const v = row[column];
      const kind = COLUMN_KIND[c];
      if (kind === TEXT) {
        const text = texts[t++];
        if (text === null) at = out.writeInt32BE(-1, at);
        else if (typeof text !== 'string') {
          at = out.writeInt32BE(text.length, at);
          at += text.copy(out, at);
        } else {
          const n = out.write(text, at + 4, 'utf8');
          out.writeInt32BE(n, at);
          at += 4 + n;
        }
      } else if (v === null || v === undefined) {
        at = out.writeInt32BE(-1, at);
      } else if (kind === INT8) {
        at = out.writeInt32BE(8, at);
        at = out.writeBigInt64BE(BigInt(integerOf(column, v, 64)), at);
      } else {
        at = out.writeInt32BE(4, at);
        at = out.writeInt32BE(integerOf(column, v, 32), at);
      }
    }
  }
  return out;
}

/** The parts of `pg`'s Connection the COPY uses. */
interface PgConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
  /** The socket (what `pg-copy-streams` writes its CopyData messages to). */
  stream?: { writable: boolean; write(chunk: Buffer): unknown };
}

/** A CopyData message: 'd', then its length (itself included), then the data. */
const COPY_DATA = 0x64;
const COPY_DATA_HEADER = 5;

/**
 * Sends rows as one CopyData message encoded in place: `pg`'s
 * `sendCopyFromChunk` would copy a run of rows (about 600 KiB for 100 rows
 * of 6 KiB evidence) into a message buffer of its own first. Written to the
 * connection's socket in order with everything `pg` sends on it, as
 * `pg-copy-streams` does; through `sendCopyFromChunk` when the connection
 * has no socket to write to.
 */
function sendRows(
  connection: PgConnection,
  rows: DecisionRow[],
  evidenceUtf8?: ReadonlyArray<Buffer | null>,
) {
  const stream = connection.stream;
  if (!stream || typeof stream.write !== 'function') {
    connection.sendCopyFromChunk(encodeDecisionRows(rows, evidenceUtf8));
    return;
  }
  const message = encodeDecisionRows(rows, evidenceUtf8, COPY_DATA_HEADER);
  message[0] = COPY_DATA;
  message.writeInt32BE(message.length - 1, 1);
  // as pg's own writes: nothing once the socket is closed (the COPY then fails and rolls back)
  if (stream.writable) stream.write(message);
}

/** A COPY FROM STDIN in progress on one `pg` client. */
export interface DecisionCopy {
  /** Sends rows (encoded now, so a bad value throws here); `evidenceUtf8` as `encodeDecisionRows` takes it. */
  write(rows: DecisionRow[], evidenceUtf8?: ReadonlyArray<Buffer | null>): void;
  /** Ends the COPY; resolves when the server has stored every row, rejects with its error. */
  end(): Promise<void>;
  /** Abandons the COPY (CopyFail): the server stores none of it; resolves once the connection is usable again. */
  abort(reason: string): Promise<void>;
}

/**
 * Starts a binary COPY into the decisions table on a `pg` client (the
 * transaction's connection, so the rows are part of the transaction).
 * Resolves once the server is ready for rows.
 */
export function startDecisionCopy(client: {
  query(submittable: object): unknown;
}): Promise<DecisionCopy> {
  return new Promise((resolveStart, rejectStart) => {
    let connection: PgConnection | undefined;
    let started = false;
    let settled = false;
    let failure: unknown;
    let resolveEnd!: () => void;
    let rejectEnd!: (e: unknown) => void;
    const finished = new Promise<void>((res, rej) => {
      resolveEnd = res;
      rejectEnd = rej;
    });
    // read by whoever awaits it; never an unhandled rejection before then
    finished.catch(() => {});
    const settle = () => {
      if (settled) return;
      settled = true;
      if (!started) {
        rejectStart(failure ?? new Error('COPY ended before it started'));
      }
      if (failure !== undefined) rejectEnd(failure);
      else resolveEnd();
    };
    const copy: DecisionCopy = {
      write(rows, evidenceUtf8) {
        if (settled) {
          // still encoded, so a bad value throws here as it would otherwise
          encodeDecisionRows(rows, evidenceUtf8);
          return;
        }
        sendRows(connection!, rows, evidenceUtf8);
      },
      end() {
        if (!settled) {
          connection!.sendCopyFromChunk(COPY_TRAILER);
          connection!.endCopyFrom();
        }
        return finished;
      },
      async abort(reason) {
        if (!settled) connection!.sendCopyFail(reason);
        await finished.catch(() => {});
      },
    };
    const submittable = {
      submit(conn: PgConnection) {
        connection = conn;
        conn.query(COPY_SQL);
      },
      handleCopyInResponse(conn: PgConnection) {
        started = true;
        conn.sendCopyFromChunk(COPY_HEADER);
        resolveStart(copy);
      },
      handleError(e: unknown) {
        // the client runs nothing else on the connection before the server's ReadyForQuery
        if (failure === undefined) failure = e;
        settle();
      },
      handleReadyForQuery() {
        settle();
      },
      handleCommandComplete() {},
      handleEmptyQuery() {},
      handleRowDescription() {},
      handleDataRow() {},
      handlePortalSuspended() {},
      handleCopyData() {},
      callback() {},
    };
    client.query(submittable);
  });
}
