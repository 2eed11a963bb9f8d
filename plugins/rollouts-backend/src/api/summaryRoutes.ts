import type {
  BackstageCredentials,
  HttpAuthService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import {
  summaryQuerySchema,
  summaryServicesQuerySchema,
  type RolloutsSummary,
} from '@tollgate/plugin-rollouts-common';
import type express from 'express';
import type { EntityLookup } from '../catalog/EntityIndex';
import type { RolloutsStore } from '../database/RolloutsStore';
import { computeSummary } from '../summary/summary';
import {
  defaultOrder,
  DEFAULT_SERVICE_PAGE,
  servicePage,
  summaryAnswer,
} from '../summary/servicePage';
import { cachedJson, sendCachedJson, type CachedJson } from './cachedJson';
import { parse } from './errors';
import { readableEntityRefs } from './readableEntities';

/**
 * Pages of one summary kept as bytes, the most recently asked for (the
 * dashboard's panels ask for a few each; up to 200 summaries are cached).
 */
const MAX_PAGES_KEPT = 32;

/**
 * `GET /v1/summary` (the portfolio figures, with a first slice of the
 * service rows) and `GET /v1/summary/services` (every service row, a page
 * at a time). Both read the same summary: computed over the services the
 * caller may read, and shared while its cache holds.
 */
export function summaryRoutes(
  router: express.Router,
  options: {
    store: RolloutsStore;
    entities: EntityLookup;
    httpAuth: HttpAuthService;
    permissions: PermissionsService;
    sloWindowDays?: number;
  },
) {
  const { store, entities, httpAuth, permissions } = options;

  /** The summary over the catalog's services of the owner or system the caller may read. */
  async function readableSummary(
    credentials: BackstageCredentials,
    query: { owner?: string; system?: string; days?: number },
  ): Promise<RolloutsSummary> {
    const refs = (await entities.all())
      .filter(e => !query.owner || e.owner === query.owner)
      .filter(e => !query.system || e.system === query.system)
      .map(e => e.entityRef);
    const allowed = await readableEntityRefs(permissions, credentials, refs);
    return computeSummary(store, {
      days: query.days ?? 30,
      entityRefs: refs.filter(r => allowed.has(r)),
      sloWindowDays: options.sloWindowDays,
    });
  }

  // computeSummary hands back the same object while its cache holds, so
  // the JSON bytes and ETag of what is answered from it are kept with it:
  // a dashboard full of managers costs one serialisation per change, not
  // one per request.
  const summaryJson = new WeakMap<RolloutsSummary, CachedJson>();
  router.get('/v1/summary', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const query = parse(summaryQuerySchema, req.query, 'query');
    const summary = await readableSummary(credentials, query);
    let answer = summaryJson.get(summary);
    if (answer === undefined) {
      answer = cachedJson(summaryAnswer(summary));
      summaryJson.set(summary, answer);
    }
    sendCachedJson(res, answer);
  });

  const pageJson = new WeakMap<RolloutsSummary, Map<string, CachedJson>>();
  router.get('/v1/summary/services', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const query = parse(summaryServicesQuerySchema, req.query, 'query');
    const summary = await readableSummary(credentials, query);
    const sort = query.sort ?? 'entityRef';
    const page = {
      q: query.q,
      sort,
      order: query.order ?? defaultOrder(sort),
      offset: query.offset ?? 0,
      limit: query.limit ?? DEFAULT_SERVICE_PAGE,
      active: query.active,
      budgeted: query.budgeted,
    };
    let pages = pageJson.get(summary);
    if (!pages) {
      pages = new Map();
      pageJson.set(summary, pages);
    }
    const key = JSON.stringify(page);
    const answer = pages.get(key) ?? cachedJson(servicePage(summary, page));
    pages.delete(key);
    pages.set(key, answer);
    if (pages.size > MAX_PAGES_KEPT) pages.delete(pages.keys().next().value!);
    sendCachedJson(res, answer);
  });
}
