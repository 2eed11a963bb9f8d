import type { LoggerService } from '@backstage/backend-plugin-api';
import { CustomErrorBase, InputError, NotFoundError } from '@backstage/errors';
import { formatZodIssues } from '@tollgate/plugin-rollouts-common';
import express from 'express';
import { randomUUID } from 'node:crypto';
import type { z } from 'zod/v3';

/**
 * The HTTP edge of the API, before and after the routes: what a request
 * must look like (JSON bodies, percent-encoded queries, a size limit), how
 * a failed parse names the field, and how errors are answered (a caller's
 * mistake says what is wrong; anything else is a 500 naming a log
 * reference, never the database's words).
 */

/** Errors whose message is meant for the caller (@backstage/errors' own, e.g. InputError, and the providers' 503). */
export const CALLER_ERRORS = new Set([
  'InputError',
  'AuthenticationError',
  'NotAllowedError',
  'NotFoundError',
  'ConflictError',
  'NotModifiedError',
  'NotImplementedError',
  'ServiceUnavailableError',
]);

/** The largest request body the API reads. */
export const BODY_LIMIT_BYTES = 256 * 1024;

/** 413: the body is larger than {@link BODY_LIMIT_BYTES}. */
export class PayloadTooLargeError extends CustomErrorBase {
  name = 'PayloadTooLargeError' as const;
  statusCode = 413;
}

/** 415: the body is not JSON, or not in a charset or encoding the API reads. */
export class UnsupportedMediaTypeError extends CustomErrorBase {
  name = 'UnsupportedMediaTypeError' as const;
  statusCode = 415;
}

/** A value quoted in an error message: JSON-escaped and cut to 80 characters. */
export function quote(value: unknown): string {
  const text = String(value);
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}

function decodeQueryPart(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A rollout id from the path: rollout ids are UUIDs, anything else is a 400 naming `id`. */
export function rolloutIdParam(req: express.Request): string {
  const id = req.params.id;
  if (!UUID.test(id))
    throw new InputError(`id: must be a rollout id (a UUID), got ${quote(id)}`);
  return id;
}

/**
 * Body-parser's errors (too large, not JSON, unknown charset or encoding)
 * become errors that say `body:` and what is wrong, without echoing the body.
 */
function bodyError(error: any): Error {
  if (error instanceof CustomErrorBase) return error; // already says what is wrong
  const type: string | undefined = error?.type;
  switch (type) {
    case 'entity.too.large': {
      const bytes = error.length ?? error.expected;
      return new PayloadTooLargeError(
        `body: is larger than the ${BODY_LIMIT_BYTES / 1024} kB limit${typeof bytes === 'number' ? ` (${bytes} bytes)` : ''}`,
      );
    }
    case 'entity.parse.failed': {
      const text = typeof error.body === 'string' ? error.body.trimStart() : '';
      if (text && !text.startsWith('{') && !text.startsWith('[')) {
        return new InputError('body: must be a JSON object');
      }
      return new InputError(
        `body: is not valid JSON (${String(error.message).slice(0, 200)})`,
      );
    }
    case 'charset.unsupported':
      return new UnsupportedMediaTypeError(
        `body: unsupported charset ${quote(error.charset)}; send UTF-8 JSON`,
      );
    case 'encoding.unsupported':
      return new UnsupportedMediaTypeError(
        `body: unsupported Content-Encoding ${quote(error.encoding)}; send identity, gzip or deflate`,
      );
    case 'request.aborted':
    case 'request.size.invalid':
      return new InputError(`body: ${error.message}`);
    default: {
      const status = error?.statusCode ?? error?.status;
      if (
        error?.expose === true &&
        typeof status === 'number' &&
        status >= 400 &&
        status < 500
      ) {
        // e.g. a gzip body that does not inflate
        return new InputError(
          `body: could not be read (${String(error.message).slice(0, 200)})`,
        );
      }
      return error;
    }
  }
}

export function parse<T extends z.ZodTypeAny>(
  schema: T,
  input: unknown,
  where: string,
): z.infer<T> {
  const result = schema.safeParse(input ?? {});
  if (!result.success) {
    const lines = formatZodIssues(result.error);
    const more =
      lines.length > 20 ? `; and ${lines.length - 20} more problems` : '';
    throw new InputError(
      `invalid ${where}: ${lines.slice(0, 20).join('; ')}${more}`,
    );
  }
  return result.data;
}

/** Checks and parses every request before the routes see it. */
export function requestChecks(router: express.Router) {
  // A POST body must be JSON: anything else would reach the handlers as `{}`
  // and be answered with a confusing list of missing fields.
  router.use((req, _res, next) => {
    const length = req.headers['content-length'];
    const hasBody =
      req.headers['transfer-encoding'] !== undefined ||
      (length !== undefined && length !== '0');
    if (req.method === 'POST' && hasBody && !req.is('application/json')) {
      const type = req.headers['content-type'];
      throw new UnsupportedMediaTypeError(
        `body: must be JSON with Content-Type: application/json (got ${type ? quote(type) : 'no Content-Type'})`,
      );
    }
    next();
  });
  // A query string that does not percent-decode would reach the handlers
  // still encoded (the query parser gives up silently): refuse it.
  router.use((req, _res, next) => {
    const at = req.originalUrl.indexOf('?');
    if (at < 0 || req.path === '/health') {
      next();
      return;
    }
    for (const part of req.originalUrl.slice(at + 1).split('&')) {
      const eq = part.indexOf('=');
      const rawKey = eq < 0 ? part : part.slice(0, eq);
      const key = decodeQueryPart(rawKey);
      if (key === undefined) {
        throw new InputError(
          `invalid query: ${quote(rawKey)}: the parameter name is not valid percent-encoded UTF-8`,
        );
      }
      if (eq >= 0 && decodeQueryPart(part.slice(eq + 1)) === undefined) {
        throw new InputError(
          `invalid query: ${key.replace(/\[.*$/, '')}: is not valid percent-encoded UTF-8`,
        );
      }
    }
    next();
  });
  router.use(express.json({ limit: BODY_LIMIT_BYTES }));
  router.use(
    (
      error: unknown,
      _req: express.Request,
      _res: express.Response,
      next: express.NextFunction,
    ) => {
      next(bodyError(error));
    },
  );
}

/** The answers for what no route served, and for errors. */
export function errorAnswers(router: express.Router, logger?: LoggerService) {
  // Under /api/rollouts, a path no route serves is a 404 that says so.
  router.use((req, _res, next) => {
    if (req.method === 'OPTIONS') {
      next();
      return;
    }
    throw new NotFoundError(
      `path: no route for ${req.method} ${quote(req.path)}`,
    );
  });

  // Express could not percent-decode a path parameter.
  router.use(
    (
      error: any,
      req: express.Request,
      _res: express.Response,
      next: express.NextFunction,
    ) => {
      if (
        error?.status === 400 &&
        typeof error.message === 'string' &&
        error.message.startsWith('Failed to decode param')
      ) {
        next(
          new InputError(
            `path: ${quote(req.path)} is not valid percent-encoded UTF-8`,
          ),
        );
        return;
      }
      next(error);
    },
  );

  // Anything else (a database error, a bug) is logged in full and answers a
  // plain 500 naming a reference in that log: no SQL, table names or stack.
  router.use(
    (
      error: any,
      req: express.Request,
      _res: express.Response,
      next: express.NextFunction,
    ) => {
      if (
        CALLER_ERRORS.has(error?.name) ||
        (typeof error?.statusCode === 'number' && error.statusCode < 500)
      ) {
        next(error);
        return;
      }
      const ref = randomUUID().slice(0, 8);
      logger?.error(
        `rollouts: ${req.method} ${req.path} failed (ref ${ref}): ${error?.message ?? error}`,
        error instanceof Error ? error : undefined,
      );
      next(
        new Error(
          `internal error (ref ${ref}); the backend log has the details`,
        ),
      );
    },
  );
}
