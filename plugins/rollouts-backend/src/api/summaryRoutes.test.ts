import type {
  BackstageCredentials,
  HttpAuthService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import type {
  RolloutsSummary,
  ServiceSummary,
  ServiceSummaryPage,
} from '@tollgate/plugin-rollouts-common';
import express from 'express';
import Router from 'express-promise-router';
import request from 'supertest';
import type { EntityLookup, IndexedEntity } from '../catalog/EntityIndex';
import { emptyDeliveryState } from '../database/deliveryFigures';
import type { RolloutFigures, RolloutsStore } from '../database/RolloutsStore';
import { errorAnswers, requestChecks } from './errors';
import { summaryRoutes } from './summaryRoutes';

const hoursAgo = (h: number) =>
  new Date(Date.now() - h * 3_600_000).toISOString();
const refOf = (i: number) =>
  `component:default/svc-${String(i).padStart(3, '0')}`;

/**
 * Service i: an active rollout (burn rate i % 9) unless i % 6 is 5; KPI
 * evidence on it when i % 3 is 0; i % 4 rolled-back rollouts; an error
 * budget share growing with i unless i % 5 is 0 (none known).
 */
function figuresOf(i: number): RolloutFigures[] {
  const entityRef = refOf(i);
  const rows: RolloutFigures[] = [];
  if (i % 6 !== 5)
    rows.push({
      entityRef,
      id: `active-${i}`,
      version: `1.${i}.0`,
      status: 'progressing',
      startedAt: hoursAgo(2),
      stepStartedAt: hoursAgo(1),
      burnRate: i % 9,
      ...(i % 3 === 0
        ? {
            kpiIntervals: [
              {
                name: 'conversion',
                direction: 'increase' as const,
                scale: 'relative' as const,
                difference: 0.01,
                ci: [-0.02, 0.04] as [number, number],
              },
            ],
          }
        : {}),
    });
  for (let k = 0; k < i % 4; k++)
    rows.push({
      entityRef,
      status: 'rolled-back',
      startedAt: hoursAgo(30 + k),
      stepStartedAt: hoursAgo(30 + k),
      finishedAt: hoursAgo(29 + k),
    });
  rows.push({
    entityRef,
    status: 'promoted',
    startedAt: hoursAgo(50),
    stepStartedAt: hoursAgo(49),
    finishedAt: hoursAgo(48),
    ...(i % 5 !== 0
      ? {
          delivery: {
            ...emptyDeliveryState(),
            burnAt: hoursAgo(48),
            budgetService: 1000 * (i + 1),
            budgetCanary: 100 * (i + 1),
          },
        }
      : {}),
  });
  return rows;
}

function fakeStore(count: number): RolloutsStore {
  const figures = Array.from({ length: count }, (_, i) => figuresOf(i)).flat();
  return {
    generation: () => 0,
    listRolloutFigures: async (filter: {
      entityRefs?: string[];
      finishedSince: string;
    }) => {
      const refs = filter.entityRefs && new Set(filter.entityRefs);
      return figures.filter(
        f =>
          (!refs || refs.has(f.entityRef)) &&
          (!f.finishedAt || f.finishedAt >= filter.finishedSince),
      );
    },
  } as unknown as RolloutsStore;
}

function fakeEntities(count: number): EntityLookup {
  const all: IndexedEntity[] = Array.from({ length: count }, (_, i) => ({
    entityRef: refOf(i),
    owner: i % 2 ? 'group:default/odd' : 'group:default/even',
  })) as IndexedEntity[];
  return {
    all: async () => all,
    byRef: async ref => all.find(e => e.entityRef === ref),
    byTarget: async () => undefined,
  };
}

/** `user:default/all` reads every service; `user:default/thirds` those whose number is a multiple of 3. */
const permissions = {
  authorize: async (
    requests: Array<{ resourceRef?: string }>,
    options: { credentials: BackstageCredentials },
  ) =>
    requests.map(r => {
      const user = (options.credentials.principal as { userEntityRef: string })
        .userEntityRef;
      const n = Number(r.resourceRef?.split('-').pop());
      const allowed = user === 'user:default/all' || n % 3 === 0;
      return {
        result: allowed ? AuthorizeResult.ALLOW : AuthorizeResult.DENY,
      };
    }),
} as unknown as PermissionsService;

const httpAuth = {
  credentials: async (req: express.Request) => ({
    $$type: '@backstage/BackstageCredentials',
    principal: {
      type: 'user',
      userEntityRef: req.header('x-user') ?? 'user:default/all',
    },
  }),
} as unknown as HttpAuthService;

function app(count: number) {
  const router = Router();
  requestChecks(router);
  summaryRoutes(router, {
    store: fakeStore(count),
    entities: fakeEntities(count),
    httpAuth,
    permissions,
  });
  errorAnswers(router);
  // the backend's error middleware, as far as these routes need it
  return express()
    .use('/api/rollouts', router)
    .use(
      (
        err: Error,
        _req: express.Request,
        res: express.Response,
        _next: express.NextFunction,
      ) => {
        res
          .status(err.name === 'InputError' ? 400 : 500)
          .json({ error: { name: err.name, message: err.message } });
      },
    );
}

async function page(
  server: express.Express,
  query: string,
  user = 'user:default/all',
): Promise<ServiceSummaryPage> {
  const res = await request(server)
    .get(`/api/rollouts/v1/summary/services?${query}`)
    .set('x-user', user)
    .expect(200);
  return res.body;
}

const refs = (p: { items: ServiceSummary[] }) => p.items.map(s => s.entityRef);

describe('GET /v1/summary/services', () => {
  const server = app(45);

  it('pages every service by name by default, 20 at a time, with the total', async () => {
    const first = await page(server, 'days=30');
    expect(first).toMatchObject({ total: 45, offset: 0, limit: 20 });
    expect(refs(first)).toEqual(Array.from({ length: 20 }, (_, i) => refOf(i)));
    const last = await page(server, 'days=30&offset=40&limit=20');
    expect(refs(last)).toEqual([40, 41, 42, 43, 44].map(refOf));
    expect(last.total).toBe(45);
    // the rows are the summary's rows
    expect(first.items[3]).toMatchObject({
      entityRef: refOf(3),
      activeRollouts: 1,
      rolledBack: 3,
      budgetBurnRate: 3,
      activeCohorts: [{ rolloutId: 'active-3', version: '1.3.0' }],
    });
  });

  it('sorts by a figure, largest first by default, services without it last either way', async () => {
    const all = async (q: string) => {
      const rows: ServiceSummary[] = [];
      for (let offset = 0; ; offset += 100) {
        const p = await page(server, `${q}&limit=100&offset=${offset}`);
        rows.push(...p.items);
        if (rows.length >= p.total) return rows;
      }
    };
    const spent = await all('sort=budgetSpent');
    const known = spent.filter(s => s.budgetSpent !== null);
    expect(known).toHaveLength(36); // i % 5 === 0: none known
    expect(spent.slice(0, 36)).toEqual(known);
    expect(known.map(s => s.entityRef)).toEqual(
      Array.from({ length: 45 }, (_, i) => 44 - i)
        .filter(i => i % 5 !== 0)
        .map(refOf),
    );
    const ascending = await all('sort=budgetSpent&order=asc');
    expect(ascending.slice(0, 36).map(s => s.entityRef)).toEqual(
      [...known].reverse().map(s => s.entityRef),
    );
    expect(ascending.slice(36).every(s => s.budgetSpent === null)).toBe(true);

    // ties go by name, so pages never repeat or skip a row
    const burn = await all('sort=budgetBurnRate');
    expect(burn.slice(0, 5).map(s => [s.entityRef, s.budgetBurnRate])).toEqual([
      [refOf(8), 8],
      [refOf(26), 8],
      [refOf(44), 8], // 17 and 35 have no active rollout
      [refOf(7), 7],
      [refOf(16), 7],
    ]);
    expect(burn.slice(-7).every(s => s.budgetBurnRate === null)).toBe(true);
    expect(new Set(burn.map(s => s.entityRef)).size).toBe(45);

    const rolledBack = await page(server, 'sort=rolledBack&limit=3');
    expect(refs(rolledBack)).toEqual([3, 7, 11].map(refOf));
    const byName = await page(server, 'sort=entityRef&order=desc&limit=2');
    expect(refs(byName)).toEqual([44, 43].map(refOf));
    const active = await page(server, 'sort=activeRollouts&order=asc&limit=2');
    expect(refs(active)).toEqual([5, 11].map(refOf));
  });

  it('searches the name, and keeps only services with KPI evidence or a budget share when asked', async () => {
    const found = await page(server, 'q=SVC-01');
    expect(refs(found)).toEqual(
      Array.from({ length: 10 }, (_, i) => refOf(10 + i)),
    );
    expect(found.total).toBe(10);
    const kpis = await page(server, 'active=true&limit=100');
    expect(refs(kpis)).toEqual(
      Array.from({ length: 45 }, (_, i) => i)
        .filter(i => i % 3 === 0 && i % 6 !== 5)
        .map(refOf),
    );
    expect(kpis.items.every(s => s.activeCohorts?.length)).toBe(true);
    const budgeted = await page(server, 'budgeted=true&sort=budgetSpent');
    expect(budgeted.total).toBe(36);
    const none = await page(server, 'q=no-such-service');
    expect(none).toEqual({ items: [], total: 0, offset: 0, limit: 20 });
    const even = await page(server, 'owner=group:default/even&limit=100');
    expect(even.total).toBe(23);
  });

  it('pages over the services the caller may read only: filtered before paging, so totals leak nothing', async () => {
    const thirds = 'user:default/thirds';
    const first = await page(server, 'limit=10', thirds);
    expect(first.total).toBe(15);
    expect(refs(first)).toEqual(
      [0, 3, 6, 9, 12, 15, 18, 21, 24, 27].map(refOf),
    );
    const second = await page(server, 'limit=10&offset=10', thirds);
    expect(refs(second)).toEqual([30, 33, 36, 39, 42].map(refOf));
    const searched = await page(server, 'q=svc-00&limit=100', thirds);
    expect(refs(searched)).toEqual([0, 3, 6, 9].map(refOf));
    const summary = await request(server)
      .get('/api/rollouts/v1/summary?days=30')
      .set('x-user', thirds)
      .expect(200);
    expect(summary.body.servicesTotal).toBe(15);
    expect(
      summary.body.services.every(
        (s: ServiceSummary) => Number(s.entityRef.split('-').pop()) % 3 === 0,
      ),
    ).toBe(true);
  });

  it('refuses bad input with a 400 naming the field', async () => {
    const cases: Array<[string, string]> = [
      ['limit=101', 'limit'],
      ['limit=0', 'limit'],
      ['offset=-1', 'offset'],
      ['sort=owner', 'sort'],
      ['order=up', 'order'],
      ['active=yes', 'active'],
      ['budgeted=1', 'budgeted'],
      ['days=0', 'days'],
      ['colour=red', 'colour'],
    ];
    for (const [query, field] of cases) {
      const res = await request(server)
        .get(`/api/rollouts/v1/summary/services?${query}`)
        .expect(400);
      expect([query, res.body.error.message]).toEqual([
        query,
        expect.stringContaining(field),
      ]);
    }
  });

  it('answers a page the client already has with 304', async () => {
    const first = await request(server)
      .get('/api/rollouts/v1/summary/services?sort=budgetSpent')
      .expect(200);
    expect(first.headers.etag).toBeTruthy();
    await request(server)
      .get('/api/rollouts/v1/summary/services?sort=budgetSpent')
      .set('If-None-Match', first.headers.etag)
      .expect(304);
    const other = await request(server)
      .get('/api/rollouts/v1/summary/services?sort=budgetSpent&offset=20')
      .expect(200);
    expect(other.headers.etag).not.toBe(first.headers.etag);
  });
});

describe('GET /v1/summary', () => {
  it('carries the 20 services with the most budget spent and how many there are, not every service', async () => {
    const res = await request(app(45))
      .get('/api/rollouts/v1/summary?days=30')
      .expect(200);
    const body = res.body as RolloutsSummary;
    expect(body.servicesTotal).toBe(45);
    expect(body.services.map(s => s.entityRef)).toEqual(
      Array.from({ length: 45 }, (_, i) => 44 - i)
        .filter(i => i % 5 !== 0)
        .slice(0, 20)
        .map(refOf),
    );
    // the portfolio figures still count every service
    expect(body.activeRollouts).toBe(45 - 7);
  });

  it('does not grow with the number of services', async () => {
    const size = async (count: number) => {
      const res = await request(app(count))
        .get('/api/rollouts/v1/summary?days=30')
        .expect(200);
      expect(res.body.servicesTotal).toBe(count);
      return Number(res.headers['content-length']);
    };
    const small = await size(40);
    const large = await size(800);
    expect(large).toBeLessThan(small * 1.1);
  });
});
