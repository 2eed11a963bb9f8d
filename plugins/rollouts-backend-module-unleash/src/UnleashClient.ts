/**
 * A small client for the parts of Unleash's Admin API (v7) Tollgate uses.
 * Every failure is thrown with the method and URL path it concerns.
 */

/**
 * A failed call to the Unleash Admin API.
 *
 * @public
 */
export class UnleashApiError extends Error {
  override readonly name = 'UnleashApiError';
  /** HTTP status, when Unleash answered at all. */
  readonly status?: number;
  readonly method: string;
  /** Path of the call, without the base URL. */
  readonly path: string;
  /** Unleash's own message, when it gave one. */
  readonly unleashMessage?: string;

  constructor(
    message: string,
    details: {
      method: string;
      path: string;
      status?: number;
      unleashMessage?: string;
      cause?: unknown;
    },
  ) {
    super(
      message,
      details.cause === undefined ? undefined : { cause: details.cause },
    );
    this.method = details.method;
    this.path = details.path;
    this.status = details.status;
    this.unleashMessage = details.unleashMessage;
  }
}

export interface UnleashClientOptions {
  /** Unleash's base URL, e.g. `https://unleash.example.com` (a trailing `/api` is dropped). */
  baseUrl: string;
  apiToken: string;
  timeoutMs: number;
  /** The config key the token comes from, named in 401/403 errors. */
  tokenConfigKey?: string;
  /** The config key of the timeout, named in timeout errors. */
  timeoutConfigKey?: string;
}

/** Unleash's error bodies: `{ name, message, details: [{ message }] }`. */
function unleashMessageOf(text: string): string | undefined {
  if (!text) return undefined;
  try {
    const body = JSON.parse(text);
    const details = Array.isArray(body?.details)
      ? body.details
          .map((d: any) => d?.description ?? d?.message)
          .filter(Boolean)
      : [];
    const message =
      typeof body?.message === 'string' ? body.message : undefined;
    const parts = [
      message,
      ...details.filter((d: string) => d !== message),
    ].filter(Boolean);
    return parts.length ? parts.join('; ') : undefined;
  } catch {
    return text.slice(0, 300);
  }
}

export class UnleashClient {
  readonly baseUrl: string;
  readonly #token: string;
  readonly #timeoutMs: number;
  readonly #tokenKey: string;
  readonly #timeoutKey: string;

  constructor(options: UnleashClientOptions) {
    this.baseUrl = options.baseUrl
      .trim()
      .replace(/\/+$/, '')
      .replace(/\/api$/, '');
    this.#token = options.apiToken;
    this.#timeoutMs = options.timeoutMs;
    this.#tokenKey = options.tokenConfigKey ?? 'apiToken';
    this.#timeoutKey = options.timeoutConfigKey ?? 'timeoutSeconds';
  }

  /** Calls `path` (starting with `/api/…`); resolves to the parsed JSON body, or undefined for an empty one. */
  async request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<T> {
    const where = `${method} ${path}`;
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          Authorization: this.#token,
          Accept: 'application/json',
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      if (err?.name === 'TimeoutError' || err?.name === 'AbortError') {
        throw new UnleashApiError(
          `Unleash did not answer ${where} within ${this.#timeoutMs / 1000} s (${this.#timeoutKey})`,
          { method, path, cause: e },
        );
      }
      const reason =
        err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(e);
      throw new UnleashApiError(
        `Unleash at ${this.baseUrl} is unreachable: ${where} failed (${reason})`,
        {
          method,
          path,
          cause: e,
        },
      );
    }
    const text = await res.text().catch(() => '');
    if (res.ok) {
      if (!text) return undefined as T;
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new UnleashApiError(
          `Unleash answered ${where} with a body that is not JSON`,
          {
            method,
            path,
            status: res.status,
          },
        );
      }
    }
    const unleashMessage = unleashMessageOf(text);
    const said = unleashMessage ? `: ${unleashMessage}` : '';
    const details = { method, path, status: res.status, unleashMessage };
    if (res.status === 401 || res.status === 403) {
      throw new UnleashApiError(
        `Unleash refused ${where} (HTTP ${res.status}${said}). The token in ${this.#tokenKey} lacks admin access: ` +
          'use an admin API token, or a service account or personal access token allowed to update flags in this project',
        details,
      );
    }
    if (res.status === 404) {
      throw new UnleashApiError(
        `Unleash found nothing at ${where} (HTTP 404${said})`,
        details,
      );
    }
    if (res.status >= 500) {
      throw new UnleashApiError(
        `Unleash failed on ${where} (HTTP ${res.status}${said})`,
        details,
      );
    }
    throw new UnleashApiError(
      `Unleash rejected ${where} (HTTP ${res.status}${said})`,
      details,
    );
  }
}
