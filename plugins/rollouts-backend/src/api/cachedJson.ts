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
