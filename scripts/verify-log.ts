/**
 * npm run --silent verify-log -- FILE [--key KEY.pem]... [--checkpoint KEPT.json]
 *
 * Verifies an export of the decision log (`GET /api/rollouts/v1/decisions/export`,
 * NDJSON) without a database: recomputes every entry's hash from its stored
 * columns and its link to the entry before, checks every checkpoint against
 * its entry and, with --key (the PEM from `GET /v1/decisions/checkpoint-key`),
 * its Ed25519 signature (after a key rotation, give every key: each
 * checkpoint is checked with the key its `keyId` names). --checkpoint names a checkpoint the reader kept from
 * an earlier export (a `checkpoint` line of it, or just its object): the
 * export must hold that entry with that hash, so a chain rewritten in the
 * database since is caught. The hashing is the backend's own
 * (plugins/rollouts-backend/src/database/decisionChain.ts).
 *
 * Exit 0: the export verifies. 1: it does not (stderr names the first broken
 * seq). 2: bad usage or an unreadable file.
 */
import { createReadStream, readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { checkpointPublicKey } from '../plugins/rollouts-backend/src/database/decisionCheckpoints';
import type { DecisionCheckpoint } from '../plugins/rollouts-backend/src/database/decisionCheckpoints';
import { ExportVerifier } from '../plugins/rollouts-backend/src/database/decisionExport';

const USAGE =
  'usage: npm run --silent verify-log -- FILE [--key KEY.pem]... [--checkpoint KEPT.json]\n';

function fail(message: string): number {
  process.stderr.write(`verify-log: ${message}\n`);
  return 2;
}

async function main(argv: string[]): Promise<number> {
  const args = argv.filter(a => a !== '--');
  let file: string | undefined;
  const keyFiles: string[] = [];
  let keptFile: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--key' || a === '--checkpoint') {
      const value = args[++i];
      if (!value) return fail(`${a} needs a file\n${USAGE}`);
      if (a === '--key') keyFiles.push(value);
      else keptFile = value;
    } else if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE);
      return 0;
    } else if (a.startsWith('-')) {
      return fail(`unknown option ${a}\n${USAGE}`);
    } else if (file) {
      return fail(`one export file at a time\n${USAGE}`);
    } else file = a;
  }
  if (!file) return fail(`no export file\n${USAGE}`);

  const publicKeys: KeyObject[] = [];
  for (const keyFile of keyFiles) {
    try {
      publicKeys.push(checkpointPublicKey(readFileSync(keyFile, 'utf8')));
    } catch (e) {
      return fail(
        `${keyFile}: not an Ed25519 public key: ${(e as Error).message}`,
      );
    }
  }
  let kept: DecisionCheckpoint | undefined;
  if (keptFile) {
    try {
      const parsed = JSON.parse(readFileSync(keptFile, 'utf8'));
      kept = parsed?.type === 'checkpoint' ? parsed.checkpoint : parsed;
      if (
        !kept ||
        !Number.isInteger(Number(kept.seq)) ||
        typeof kept.hash !== 'string'
      )
        throw new Error('no seq and hash in it');
    } catch (e) {
      return fail(`${keptFile}: not a checkpoint: ${(e as Error).message}`);
    }
  }

  const verifier = new ExportVerifier({ publicKey: publicKeys, kept });
  try {
    // Lines end at "\n" only (readline would also split at U+2028 and U+2029, which JSON text may hold).
    let rest = '';
    let going = true;
    for await (const chunk of createReadStream(file, 'utf8')) {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop()!;
      for (const line of parts) if (going) going = verifier.line(line);
      if (!going) break;
    }
    if (going && rest) verifier.line(rest);
  } catch (e) {
    return fail(`${file}: ${(e as Error).message}`);
  }
  const r = verifier.finish();
  if (!r.ok) {
    const b = r.broken!;
    process.stderr.write(
      `verify-log: ${file}: BROKEN${b.seq !== undefined ? ` at seq ${b.seq}` : ''} (line ${b.line}): ${b.problem}\n`,
    );
    return 1;
  }
  const range =
    r.firstSeq === undefined ? 'no entries' : `seq ${r.firstSeq}..${r.lastSeq}`;
  const out = [
    `verify-log: ${file}: OK, ${r.entries} entries (${range}), every hash recomputed and linked`,
  ];
  if (r.redacted)
    out.push(
      `  ${r.redacted} entries redacted (no permission to read them): their links checked, their content not`,
    );
  if (publicKeys.length)
    out.push(
      `  ${r.checkpoints} checkpoints, every signature verified with ${keyFiles.join(', ')}`,
    );
  else
    out.push(
      `  ${r.checkpoints} checkpoints, each matching its entry; signatures unverified (no --key)`,
    );
  if (kept)
    out.push(
      `  the kept checkpoint (seq ${kept.seq}) matches: no rewrite up to it`,
    );
  for (const note of r.notes)
    if (!/NOT verified/.test(note)) out.push(`  note: ${note}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  code => {
    process.exitCode = code;
  },
  e => {
    process.stderr.write(`verify-log: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 2;
  },
);
