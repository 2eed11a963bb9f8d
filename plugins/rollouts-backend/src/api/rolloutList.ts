import {
  ACTIVE_ROLLOUT_STATUSES,
  FINAL_ROLLOUT_STATUSES,
  type ListRolloutsQuery,
  type RolloutStatus,
} from '@tollgate/plugin-rollouts-common';
import type { EntityLookup } from '../catalog/EntityIndex';
import type { RolloutFilter, RolloutsStore } from '../database/RolloutsStore';

/** Rows a page has when the caller names no limit. */
export const DEFAULT_PAGE = 500;

function statusesOf(status: ListRolloutsQuery['status']) {
  if (status === 'active') return [...ACTIVE_ROLLOUT_STATUSES];
  if (status === 'finished') return [...FINAL_ROLLOUT_STATUSES];
  return status ? [status as RolloutStatus] : undefined;
}

/**
 * One page of `GET /v1/rollouts` and how many rows all pages hold, both
 * counted over the services the caller may read only: the services the
 * rows could belong to are found first (the entity asked for, the catalog's
 * services of the owner or system, or the distinct services of the matching
 * rows), the permission policy is asked about those, and the page and the
 * total are read over the allowed ones. So a page is never short because
 * rows the caller may not see were cut from it, and `total` never counts them.
 */
export async function listRolloutsPage(
  deps: {
    store: RolloutsStore;
    entities: EntityLookup;
    allowedEntityRefs: (refs: string[]) => Promise<Set<string>>;
  },
  query: ListRolloutsQuery,
) {
  const filter: RolloutFilter = {
    status: statusesOf(query.status),
    search: query.q,
  };
  // the owner's or system's services from the catalog, read once
  const inScope =
    query.owner || query.system
      ? (await deps.entities.all())
          .filter(e => !query.owner || e.owner === query.owner)
          .filter(e => !query.system || e.system === query.system)
          .map(e => e.entityRef)
      : undefined;
  let candidates: string[];
  if (query.entityRef)
    candidates =
      inScope?.includes(query.entityRef) === false ? [] : [query.entityRef];
  else candidates = inScope ?? (await deps.store.listRolloutEntityRefs(filter));
  const allowed = await deps.allowedEntityRefs(candidates);
  const entityRefs = candidates.filter(r => allowed.has(r));
  const limit = query.limit ?? DEFAULT_PAGE;
  const offset = query.offset ?? 0;
  const items = await deps.store.listRollouts({
    ...filter,
    entityRefs,
    limit,
    offset,
  });
  // a page that is not full is the last one: it gives the total without counting
  const total =
    items.length < limit && (items.length > 0 || offset === 0)
      ? offset + items.length
      : await deps.store.countRollouts({ ...filter, entityRefs });
  return { items, total };
}
