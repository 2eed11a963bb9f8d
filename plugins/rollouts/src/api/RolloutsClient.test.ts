import { ResponseError } from '@backstage/errors';
import { RolloutsClient } from './RolloutsClient';

function client(response: () => Response) {
  const fetch = vi.fn(async (_url: string, _init?: RequestInit) => response());
  const c = new RolloutsClient({
    discoveryApi: {
      getBaseUrl: async (id: string) => `http://backend/api/${id}`,
    },
    fetchApi: { fetch: fetch as any },
  });
  return { c, fetch };
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  });

describe('RolloutsClient', () => {
  it('builds the list, detail, decisions and summary URLs', async () => {
    const { c, fetch } = client(() => json({ items: [] }));
    await c.listRollouts({
      entityRef: 'component:default/a b',
      status: 'active',
      limit: 5,
    });
    await c.getRollout('r/1');
    await c.listDecisions('r1', { limit: 50, before: 10 });
    await c.getSummary({ owner: 'group:default/team-x', days: 7 });
    expect(fetch.mock.calls.map(call => call[0])).toEqual([
      'http://backend/api/rollouts/v1/rollouts?entityRef=component%3Adefault%2Fa+b&status=active&limit=5',
      'http://backend/api/rollouts/v1/rollouts/r%2F1',
      'http://backend/api/rollouts/v1/rollouts/r1/decisions?limit=50&before=10',
      'http://backend/api/rollouts/v1/summary?owner=group%3Adefault%2Fteam-x&days=7',
    ]);
  });

  it('builds the URL of a page of the summary services, sending only the flags that are set', async () => {
    const { c, fetch } = client(() =>
      json({ items: [], total: 0, offset: 0, limit: 20 }),
    );
    await c.listSummaryServices({
      owner: 'group:default/team-x',
      days: 30,
      q: 'check out',
      sort: 'budgetSpent',
      order: 'desc',
      offset: 20,
      limit: 10,
      active: true,
      budgeted: false,
    });
    await c.listSummaryServices();
    expect(fetch.mock.calls.map(call => call[0])).toEqual([
      'http://backend/api/rollouts/v1/summary/services?owner=group%3Adefault%2Fteam-x&days=30&q=check+out&sort=budgetSpent&order=desc&offset=20&limit=10&active=true',
      'http://backend/api/rollouts/v1/summary/services',
    ]);
  });

  it('builds the timeseries URL', async () => {
    const { c, fetch } = client(() => json({ signals: [] }));
    await c.getTimeseries('r/1');
    expect(fetch.mock.calls.map(call => call[0])).toEqual([
      'http://backend/api/rollouts/v1/rollouts/r%2F1/timeseries',
    ]);
  });

  it('posts actions with the reason and idempotency key', async () => {
    const { c, fetch } = client(() => json({ rollout: { id: 'r1' } }));
    await c.performAction('r1', 'rollback', {
      reason: 'bad',
      idempotencyKey: 'key-12345',
    });
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe(
      'http://backend/api/rollouts/v1/rollouts/r1/actions/rollback',
    );
    expect(init?.method).toBe('POST');
    expect(JSON.parse(String(init?.body))).toEqual({
      reason: 'bad',
      idempotencyKey: 'key-12345',
    });
  });

  it('turns error responses into ResponseErrors carrying the server message', async () => {
    const { c } = client(() =>
      json(
        {
          error: {
            name: 'ServiceUnavailableError',
            message: 'deploy system failed',
          },
          response: { statusCode: 503 },
        },
        503,
      ),
    );
    const err = await c.getRollout('r1').catch(e => e);
    expect(err).toBeInstanceOf(ResponseError);
    expect(err.body.error.message).toBe('deploy system failed');
  });
});
