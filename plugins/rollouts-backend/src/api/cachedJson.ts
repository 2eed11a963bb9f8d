import { createHash } from 'node:crypto';
import type express from 'express';

/**
 * An answer kept for many requests: its JSON bytes and their ETag, computed
 * once. Express would otherwise encode the text and hash it (SHA-1) on
 * every send, which for the dashboard's summary costs more than the rest of
 * the request; and a client revalidating with `If-None-Match` gets a 304.
 */
export interface CachedJson {
  body: Buffer;
  etag: string;
}

export function cachedJson(value: unknown): CachedJson {
  const body = Buffer.from(JSON.stringify(value));
  // Express's own weak ETag format: length in hex, then the SHA-1's base64 prefix
  const hash = createHash('sha1').update(body).digest('base64').slice(0, 27);
  return { body, etag: `W/"${body.length.toString(16)}-${hash}"` };
}

/**
 * An answer whose ETag names what fixes its content (`identity`, ETag-safe
 * characters) instead of hashing its bytes: for text that is a function of
 * that identity, such as a decision page of an append-only, hash-chained
 * log. The length stays in it, in Express's format.
 */
export function identifiedJson(json: string, identity: string): CachedJson {
  const body = Buffer.from(json);
  return { body, etag: `W/"${body.length.toString(16)}-${identity}"` };
}

/** Sends a kept answer (304 when the client already has it). */
export function sendCachedJson(res: express.Response, cached: CachedJson) {
  res.set('ETag', cached.etag);
  res.type('application/json');
  if (res.req.fresh) {
    res.status(304).end();
    return;
  }
  res.send(cached.body);
}
