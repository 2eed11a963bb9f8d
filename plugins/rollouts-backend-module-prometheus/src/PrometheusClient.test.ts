import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
} from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { TelemetryRequest } from '@tollgate/plugin-rollouts-node';
import { PrometheusQueryError } from './PrometheusClient';
import { PrometheusTelemetryProvider } from './PrometheusTelemetryProvider';

// Failure modes that a real Prometheus does not produce on demand: a server
// that never answers, a closed port, a proxy's non-JSON error page.

const queries = {
  requests:
    'sum(increase(http_requests_total{service="{{target}}",{{cohort}}}[{{step}}]))',
  errors:
    'sum(increase(http_errors_total{service="{{target}}",{{cohort}}}[{{step}}]))',
};

const request: TelemetryRequest = {
  provider: 'argo-rollouts',
  target: 'shop/checkout',
  entityRef: 'component:default/checkout',
  start: new Date('2026-11-21T10:00:00Z'),
  end: new Date('2026-11-21T10:01:00Z'),
  stepSeconds: 10,
  kpis: [],
};

function listen(server: Server | HttpServer): Promise<number> {
  return new Promise(resolve =>
    server.listen(0, '127.0.0.1', () =>
      resolve((server.address() as AddressInfo).port),
    ),
  );
}

function close(server: Server | HttpServer): Promise<void> {
  return new Promise(resolve => {
    server.close(() => resolve());
    if ('closeAllConnections' in server) server.closeAllConnections();
  });
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body;
}

describe('Prometheus HTTP failures', () => {
  it('throws a timeout error when Prometheus never answers (timeoutSeconds 1)', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer(s => sockets.add(s)); // accepts, never answers
    const port = await listen(silent);
    try {
      const provider = PrometheusTelemetryProvider.create({
        baseUrl: `http://127.0.0.1:${port}`,
        timeoutSeconds: 1,
        queries,
      });
      const began = Date.now();
      const error = await provider.getCohortTelemetry(request).catch(e => e);
      expect(error).toBeInstanceOf(PrometheusQueryError);
      expect(error.message).toMatch(
        /query for (canary|baseline) (requests|errors) of shop\/checkout \(template from the default config\) failed: timed out after 1 s/,
      );
      expect(error.message).toMatch(/query: sum\(increase\(http_/);
      expect(error.errorType).toBe('timeout');
      expect(Date.now() - began).toBeLessThan(5_000);
    } finally {
      for (const s of sockets) s.destroy();
      await close(silent);
    }
  });

  it('throws when Prometheus cannot be reached', async () => {
    const probe = createServer();
    const port = await listen(probe);
    await close(probe); // the port is now closed
    const provider = PrometheusTelemetryProvider.create({
      baseUrl: `http://127.0.0.1:${port}`,
      timeoutSeconds: 2,
      queries,
    });
    await expect(provider.getCohortTelemetry(request)).rejects.toThrow(
      /cannot reach Prometheus at http:\/\/127\.0\.0\.1:\d+\/api\/v1\/query_range: ECONNREFUSED/,
    );
  });

  it('sends the token, headers and timeout, and reports HTTP and API errors', async () => {
    const seen: Array<{
      headers: IncomingMessage['headers'];
      url?: string;
      body: URLSearchParams;
    }> = [];
    let answer: { status: number; type: string; body: string } = {
      status: 401,
      type: 'text/plain',
      body: 'Unauthorized: bad token',
    };
    const server = createHttpServer(async (req, res) => {
      seen.push({
        headers: req.headers,
        url: req.url,
        body: new URLSearchParams(await readBody(req)),
      });
      res.writeHead(answer.status, { 'content-type': answer.type });
      res.end(answer.body);
    });
    const port = await listen(server);
    try {
      const provider = PrometheusTelemetryProvider.create({
        baseUrl: `http://127.0.0.1:${port}/prom/`,
        token: 'read-only-token',
        headers: { 'X-Scope-OrgID': 'shop' },
        timeoutSeconds: 5,
        queries,
      });
      await expect(provider.getCohortTelemetry(request)).rejects.toThrow(
        /failed: HTTP 401 Unauthorized from .*: Unauthorized: bad token/,
      );
      const first = seen[0];
      expect(first.url).toBe('/prom/api/v1/query_range');
      expect(first.headers.authorization).toBe('Bearer read-only-token');
      expect(first.headers['x-scope-orgid']).toBe('shop');
      expect(first.body.get('timeout')).toBe('5s');
      expect(first.body.get('step')).toBe('10');
      // six intervals: evaluated at the end of the first and of the last
      expect(Number(first.body.get('start'))).toBe(
        request.start.getTime() / 1000 + 10,
      );
      expect(Number(first.body.get('end'))).toBe(
        request.start.getTime() / 1000 + 60,
      );
      expect(first.body.get('query')).toMatch(
        /^sum\(increase\(http_(requests|errors)_total\{service="shop\/checkout",track="(canary|stable)"\}\[10s\]\)\)$/,
      );

      answer = {
        status: 422,
        type: 'application/json',
        body: JSON.stringify({
          status: 'error',
          errorType: 'execution',
          error: 'query processing would load too many samples into memory',
        }),
      };
      const error = await provider.getCohortTelemetry(request).catch(e => e);
      expect(error.message).toMatch(
        /failed: execution: query processing would load too many samples into memory \(HTTP 422\)/,
      );
      expect(error.errorType).toBe('execution');
      expect(error.httpStatus).toBe(422);
    } finally {
      await close(server);
    }
  });

  it('falls back to GET when a proxy refuses POST', async () => {
    const methods: string[] = [];
    const server = createHttpServer((req, res) => {
      methods.push(req.method!);
      if (req.method === 'POST') {
        res.writeHead(405).end('Method Not Allowed');
        return;
      }
      const params = new URL(req.url!, 'http://x').searchParams;
      const start = Number(params.get('start'));
      const value = params.get('query')!.includes('errors') ? '1' : '100';
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          status: 'success',
          data: {
            resultType: 'matrix',
            result: [{ metric: {}, values: [[start, value]] }],
          },
        }),
      );
    });
    const port = await listen(server);
    try {
      const provider = PrometheusTelemetryProvider.create({
        baseUrl: `http://127.0.0.1:${port}`,
        timeoutSeconds: 5,
        queries,
      });
      const { ticks } = await provider.getCohortTelemetry(request);
      expect(ticks[0]).toEqual({
        tick: 1,
        time: request.start.getTime() / 1000 + 10,
        baseline: { requests: 100, errors: 1 },
        canary: { requests: 100, errors: 1 },
      });
      expect(ticks[1]).toEqual({
        tick: 2,
        time: request.start.getTime() / 1000 + 20,
      });
      // four queries (requests, errors × two cohorts), each answered once by GET
      expect(methods.filter(m => m === 'GET')).toHaveLength(4);
      // later calls go straight to GET
      methods.length = 0;
      await provider.getCohortTelemetry(request);
      expect(methods).toEqual(['GET', 'GET', 'GET', 'GET']);
    } finally {
      await close(server);
    }
  });
});
