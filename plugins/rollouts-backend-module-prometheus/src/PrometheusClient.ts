/**
 * A minimal client of Prometheus' HTTP API (`/api/v1/query_range`,
 * `/api/v1/query`) on Node's built-in fetch. Read-only: it only evaluates
 * queries.
 */

/** One series of a range query: its labels and `[epochSeconds, "value"]` pairs. */
export interface MatrixSeries {
  metric: Record<string, string>;
  values: Array<[number, string]>;
}

/** One series of an instant query. */
export interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

/**
 * A failed Prometheus call: HTTP error, `status: "error"`, timeout or
 * unreachable server. `errorType` is Prometheus' own (`bad_data`,
 * `timeout`, `execution`, …) when it sent one.
 *
 * @public
 */
export class PrometheusQueryError extends Error {
  readonly errorType?: string;
  readonly httpStatus?: number;

  constructor(
    message: string,
    options?: { errorType?: string; httpStatus?: number; cause?: unknown },
  ) {
    super(
      message,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'PrometheusQueryError';
    this.errorType = options?.errorType;
    this.httpStatus = options?.httpStatus;
  }
}

export interface PrometheusClientOptions {
  baseUrl: string;
  headers?: Record<string, string>;
  timeoutSeconds: number;
}

interface ApiResponse {
  status?: string;
  errorType?: string;
  error?: string;
  warnings?: string[];
  data?: { resultType?: string; result?: unknown };
}

function describeCause(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  if (cause?.code) return cause.code;
  if (cause?.message) return cause.message;
  return e instanceof Error ? e.message : String(e);
}

export class PrometheusClient {
  readonly #base: string;
  readonly #headers: Record<string, string>;
  readonly #timeoutSeconds: number;
  #useGet = false;

  static create(options: PrometheusClientOptions): PrometheusClient {
    return new PrometheusClient(options);
  }

  private constructor(options: PrometheusClientOptions) {
    this.#base = options.baseUrl.replace(/\/+$/, '');
    this.#headers = { ...options.headers };
    this.#timeoutSeconds = options.timeoutSeconds;
  }

  get baseUrl(): string {
    return this.#base;
  }

  /** Evaluates `query` at start, start + step, … ≤ end (epoch seconds). */
  async queryRange(
    query: string,
    start: number,
    end: number,
    stepSeconds: number,
  ): Promise<MatrixSeries[]> {
    const data = await this.#call('/api/v1/query_range', {
      query,
      start: String(start),
      end: String(end),
      step: String(stepSeconds),
    });
    if (data.resultType !== 'matrix' || !Array.isArray(data.result)) {
      throw new PrometheusQueryError(
        `expected a range vector (matrix), Prometheus answered ${data.resultType}`,
      );
    }
    return data.result as MatrixSeries[];
  }

  /** Evaluates `query` at one instant (epoch seconds); a scalar answer comes back as one sample. */
  async query(query: string, time: number): Promise<VectorSample[]> {
    const data = await this.#call('/api/v1/query', {
      query,
      time: String(time),
    });
    if (data.resultType === 'scalar' && Array.isArray(data.result)) {
      return [{ metric: {}, value: data.result as [number, string] }];
    }
    if (data.resultType !== 'vector' || !Array.isArray(data.result)) {
      throw new PrometheusQueryError(
        `expected an instant vector, Prometheus answered ${data.resultType}`,
      );
    }
    return data.result as VectorSample[];
  }

  async #call(
    path: string,
    params: Record<string, string>,
  ): Promise<NonNullable<ApiResponse['data']>> {
    const url = `${this.#base}${path}`;
    const form = new URLSearchParams({
      ...params,
      timeout: `${this.#timeoutSeconds}s`,
    });
    let res: Response;
    let text: string;
    try {
      // POST keeps long queries out of URL length limits (Prometheus, Thanos, Mimir and
      // VictoriaMetrics accept form-encoded bodies); a proxy that answers 405 gets GET instead.
      const method = this.#useGet ? 'GET' : 'POST';
      res = await this.#send(url, form, method);
      if (res.status === 405 && method === 'POST') {
        await res.body?.cancel();
        this.#useGet = true;
        res = await this.#send(url, form, 'GET');
      }
      text = await res.text();
    } catch (e) {
      const name = (e as Error)?.name;
      if (name === 'TimeoutError' || name === 'AbortError') {
        throw new PrometheusQueryError(
          `timed out after ${this.#timeoutSeconds} s (timeoutSeconds) waiting for ${url}`,
          { errorType: 'timeout', cause: e },
        );
      }
      throw new PrometheusQueryError(
        `cannot reach Prometheus at ${url}: ${describeCause(e)}`,
        { cause: e },
      );
    }
    let json: ApiResponse | undefined;
    try {
      json = JSON.parse(text) as ApiResponse;
    } catch {
      json = undefined;
    }
    if (json?.status === 'error') {
      throw new PrometheusQueryError(
        `${json.errorType ?? 'error'}: ${json.error ?? '(no message)'} (HTTP ${res.status})`,
        {
          errorType: json.errorType,
          httpStatus: res.status,
        },
      );
    }
    if (!res.ok) {
      const snippet = text.trim().slice(0, 200);
      throw new PrometheusQueryError(
        `HTTP ${res.status} ${res.statusText} from ${url}${snippet ? `: ${snippet}` : ''}`,
        {
          httpStatus: res.status,
        },
      );
    }
    if (json?.status !== 'success' || !json.data) {
      throw new PrometheusQueryError(
        `unexpected answer from ${url} (not a Prometheus API response): ${text.slice(0, 200)}`,
        {
          httpStatus: res.status,
        },
      );
    }
    return json.data;
  }

  #send(
    url: string,
    form: URLSearchParams,
    method: 'GET' | 'POST',
  ): Promise<Response> {
    const signal = AbortSignal.timeout(this.#timeoutSeconds * 1000);
    const headers = { ...this.#headers, accept: 'application/json' };
    if (method === 'GET')
      return fetch(`${url}?${form}`, { method, headers, signal });
    return fetch(url, {
      method,
      headers: {
        ...headers,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: form,
      signal,
    });
  }
}
