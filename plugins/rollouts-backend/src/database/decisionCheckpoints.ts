import {
  createHash,
  createPrivateKey,
  createPublicKey,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';

/**
 * Signed checkpoints of the decision log: every `every` entries the store
 * signs the chain's hash at that entry with an Ed25519 key, in the same
 * transaction as the append, and keeps the signature in the
 * `decision_checkpoints` table. A hash commits to every entry before it, so
 * a reader who kept a checkpoint catches any rewrite of the chain up to it,
 * and a checkpoint signed with the key shows the log had that head when the
 * key's holder (this backend) wrote it.
 *
 * No database here: the `verify-log` command checks checkpoints with this
 * module too.
 */

/** A signed checkpoint, as stored and as exported. */
export interface DecisionCheckpoint {
  /** The entry whose hash is signed. */
  seq: number;
  /** That entry's hash (the chain head when it was appended). */
  hash: string;
  createdAt: string;
  /** `keyId` of the public key the signature verifies with. */
  keyId: string;
  /** Ed25519 signature of `checkpointMessage`, base64. */
  signature: string;
}

/** What is signed: a JSON array, UTF-8: `["tollgate-decision-checkpoint",1,seq,hash,createdAt]`. */
export function checkpointMessage(
  checkpoint: Pick<DecisionCheckpoint, 'seq' | 'hash' | 'createdAt'>,
): Buffer {
  return Buffer.from(
    JSON.stringify([
      'tollgate-decision-checkpoint',
      1,
      Number(checkpoint.seq),
      checkpoint.hash,
      checkpoint.createdAt,
    ]),
    'utf8',
  );
}

/** The first 16 hex digits of the SHA-256 of the public key's DER (SPKI) form. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
}

/** An Ed25519 public key from PEM text; throws naming the problem. */
export function checkpointPublicKey(pem: string): KeyObject {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new Error(
      `the checkpoint key must be Ed25519, got ${key.asymmetricKeyType}`,
    );
  }
  return key;
}

/** Whether the checkpoint's signature verifies with the public key. */
export function checkpointSignatureValid(
  checkpoint: DecisionCheckpoint,
  publicKey: KeyObject,
): boolean {
  if (typeof checkpoint.signature !== 'string') return false;
  try {
    return verify(
      null,
      checkpointMessage(checkpoint),
      publicKey,
      Buffer.from(checkpoint.signature, 'base64'),
    );
  } catch {
    return false;
  }
}

/** Signs checkpoints with the configured private key. */
export class CheckpointSigner {
  readonly #privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly keyId: string;
  /** A checkpoint at every seq that is a multiple of this. */
  readonly every: number;

  /** From the PEM text of an Ed25519 private key (PKCS#8); throws naming the problem. */
  constructor(privateKeyPem: string, every: number) {
    if (!Number.isInteger(every) || every < 1) {
      throw new Error(
        `rollouts.decisionLog.checkpoints.every must be a positive integer, got ${every}`,
      );
    }
    let key: KeyObject;
    try {
      key = createPrivateKey(privateKeyPem);
    } catch (e) {
      throw new Error(
        `rollouts.decisionLog.checkpoints.privateKey is not a PEM private key: ${(e as Error).message}`,
      );
    }
    if (key.asymmetricKeyType !== 'ed25519') {
      throw new Error(
        `rollouts.decisionLog.checkpoints.privateKey must be an Ed25519 key, got ${key.asymmetricKeyType}`,
      );
    }
    this.#privateKey = key;
    this.publicKey = createPublicKey(key);
    this.keyId = keyIdOf(this.publicKey);
    this.every = every;
  }

  /** The public key, PEM (SPKI). */
  publicKeyPem(): string {
    return String(this.publicKey.export({ type: 'spki', format: 'pem' }));
  }

  sign(seq: number, hash: string, createdAt: string): DecisionCheckpoint {
    const signature = sign(
      null,
      checkpointMessage({ seq, hash, createdAt }),
      this.#privateKey,
    ).toString('base64');
    return { seq, hash, createdAt, keyId: this.keyId, signature };
  }
}
