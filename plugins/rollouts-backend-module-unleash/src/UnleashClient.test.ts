import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UnleashApiError, UnleashClient } from './UnleashClient';
import { UnleashDeployProvider } from './UnleashDeployProvider';

/** A stand-in HTTP server for failures a real Unleash will not produce on demand. */
async function serve(
  handler: Parameters<typeof createServer>[1],
): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>(r => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
  };
}

async function closedPort(): Promise<string> {
  const { url, server } = await serve(() => {});
  await new Promise(r => server.close(r));
  return url;
}

const keys = {
  tokenConfigKey: 'rollouts.providers.unleash.apiToken',
  timeoutConfigKey: 'rollouts.providers.unleash.timeoutSeconds',
};

describe('UnleashClient failures', () => {
  const servers: Server[] = [];
  afterAll(() =>
    servers.forEach(s => {
      s.closeAllConnections();
      s.close();
    }),
  );

  it('an unreachable server is a thrown error naming the base URL and the path', async () => {
    const url = await closedPort();
    const provider = UnleashDeployProvider.create({
      baseUrl: url,
      apiToken: 't',
      discovery: { enabled: false },
    });
    const error = await provider.getRollout('new-checkout').catch(e => e);
    expect(error).toBeInstanceOf(UnleashApiError);
    expect(error.message).toMatch(
      new RegExp(
        `Unleash at ${url} is unreachable: GET /api/admin/projects/default/features/new-checkout failed \\(ECONNREFUSED\\)`,
      ),
    );
  });

  it('a server that does not answer in time is a thrown timeout naming the path and the config key', async () => {
    const { url, server } = await serve(() => {}); // never answers
    servers.push(server);
    const client = new UnleashClient({
      baseUrl: url,
      apiToken: 't',
      timeoutMs: 200,
      ...keys,
    });
    await expect(
      client.request('GET', '/api/admin/projects/default/features/x'),
    ).rejects.toThrow(
      'Unleash did not answer GET /api/admin/projects/default/features/x within 0.2 s (rollouts.providers.unleash.timeoutSeconds)',
    );
  });

  it("5xx is a thrown error with the status, the path and Unleash's message", async () => {
    const { url, server } = await serve((_req, res) => {
      res.writeHead(503, { 'Content-Type': 'application/json' });
      res.end(
        JSON.stringify({
          name: 'ServiceUnavailable',
          message: 'database is down',
        }),
      );
    });
    servers.push(server);
    const client = new UnleashClient({
      baseUrl: `${url}/api/`,
      apiToken: 't',
      timeoutMs: 2000,
      ...keys,
    });
    const error: UnleashApiError = await client
      .request<never>(
        'PATCH',
        '/api/admin/projects/p/features/f/environments/e/strategies/s',
        [],
      )
      .catch((e: UnleashApiError) => e);
    expect(error).toMatchObject({
      status: 503,
      method: 'PATCH',
      path: '/api/admin/projects/p/features/f/environments/e/strategies/s',
    });
    expect(error.message).toBe(
      'Unleash failed on PATCH /api/admin/projects/p/features/f/environments/e/strategies/s (HTTP 503: database is down)',
    );
  });

  it('401 and 403 say the token lacks admin access and name its config key', async () => {
    const { url, server } = await serve((req, res) => {
      res.writeHead(req.url?.includes('forbidden') ? 403 : 401, {
        'Content-Type': 'application/json',
      });
      res.end(
        JSON.stringify({
          name: 'NoAccessError',
          message: 'You need permission UPDATE_FEATURE_STRATEGY',
        }),
      );
    });
    servers.push(server);
    const client = new UnleashClient({
      baseUrl: url,
      apiToken: 't',
      timeoutMs: 2000,
      ...keys,
    });
    await expect(client.request('GET', '/api/admin/x')).rejects.toThrow(
      /HTTP 401.*rollouts\.providers\.unleash\.apiToken lacks admin access/,
    );
    await expect(client.request('GET', '/api/admin/forbidden')).rejects.toThrow(
      /refused GET \/api\/admin\/forbidden \(HTTP 403: You need permission UPDATE_FEATURE_STRATEGY\)\. The token in rollouts\.providers\.unleash\.apiToken lacks admin access/,
    );
  });
});
