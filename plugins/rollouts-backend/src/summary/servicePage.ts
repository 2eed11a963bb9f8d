import {
  SUMMARY_FIRST_SERVICES,
  type RolloutsSummary,
  type ServiceSort,
  type ServiceSummary,
  type ServiceSummaryPage,
  type SummaryServicesQuery,
} from '@tollgate/plugin-rollouts-common';

/** Rows a page of `GET /v1/summary/services` has when the caller names no limit. */
export const DEFAULT_SERVICE_PAGE = 20;

const collator = new Intl.Collator();

type Order = 'asc' | 'desc';

const figure: Record<
  Exclude<ServiceSort, 'entityRef'>,
  (s: ServiceSummary) => number | null | undefined
> = {
  budgetSpent: s => s.budgetSpent,
  budgetBurnRate: s => s.budgetBurnRate,
  rolledBack: s => s.rolledBack,
  activeRollouts: s => s.activeRollouts,
};

/**
 * Orders rows by `sort`: a service without the figure (no burn rate, no
 * budget share known) comes after every service with one, whichever the
 * order; ties go by entity ref, so pages are stable.
 */
function compareBy(sort: ServiceSort, order: Order) {
  const sign = order === 'asc' ? 1 : -1;
  if (sort === 'entityRef')
    return (a: ServiceSummary, b: ServiceSummary) =>
      sign * collator.compare(a.entityRef, b.entityRef);
  const of = figure[sort];
  return (a: ServiceSummary, b: ServiceSummary) => {
    const x = of(a);
    const y = of(b);
    const xMissing = x === null || x === undefined;
    const yMissing = y === null || y === undefined;
    if (xMissing !== yMissing) return xMissing ? 1 : -1;
    const byFigure = xMissing || yMissing ? 0 : sign * (x - y);
    return byFigure || collator.compare(a.entityRef, b.entityRef);
  };
}

/** The default order of a sort: the largest figures first, names A to Z. */
export function defaultOrder(sort: ServiceSort): Order {
  return sort === 'entityRef' ? 'asc' : 'desc';
}

// A summary object is shared while its cache holds: its sorted row lists are kept with it.
const sortedCache = new WeakMap<
  RolloutsSummary,
  Map<string, ServiceSummary[]>
>();

function sortedServices(
  summary: RolloutsSummary,
  sort: ServiceSort,
  order: Order,
): ServiceSummary[] {
  let bySort = sortedCache.get(summary);
  if (!bySort) {
    bySort = new Map();
    sortedCache.set(summary, bySort);
  }
  const key = `${sort}|${order}`;
  let rows = bySort.get(key);
  if (!rows) {
    rows = [...summary.services].sort(compareBy(sort, order));
    bySort.set(key, rows);
  }
  return rows;
}

/**
 * One page of a summary's service rows. The summary holds only the services
 * the caller may read (its entity refs were filtered by the permission
 * policy before it was computed), so the filters, the total and the page
 * are all taken over readable services only.
 */
export function servicePage(
  summary: RolloutsSummary,
  query: Pick<
    SummaryServicesQuery,
    'q' | 'sort' | 'order' | 'offset' | 'limit' | 'active' | 'budgeted'
  >,
): ServiceSummaryPage {
  const sort = query.sort ?? 'entityRef';
  const order = query.order ?? defaultOrder(sort);
  const offset = query.offset ?? 0;
  const limit = query.limit ?? DEFAULT_SERVICE_PAGE;
  const needle = query.q?.toLocaleLowerCase('en-US');
  let rows = sortedServices(summary, sort, order);
  if (needle || query.active || query.budgeted)
    rows = rows.filter(
      s =>
        (!needle || s.entityRef.toLocaleLowerCase('en-US').includes(needle)) &&
        (!query.active || (s.activeCohorts?.length ?? 0) > 0) &&
        (!query.budgeted ||
          (s.budgetSpent !== null && s.budgetSpent !== undefined)),
    );
  return {
    items: rows.slice(offset, offset + limit),
    total: rows.length,
    offset,
    limit,
  };
}

/**
 * What `GET /v1/summary` answers: the portfolio figures with only the first
 * `SUMMARY_FIRST_SERVICES` service rows (most error budget spent first, as
 * the budget panel lists them) and how many there are in all. The answer's
 * size no longer grows with the number of services.
 */
export function summaryAnswer(summary: RolloutsSummary): RolloutsSummary {
  return {
    ...summary,
    services: sortedServices(summary, 'budgetSpent', 'desc').slice(
      0,
      SUMMARY_FIRST_SERVICES,
    ),
    servicesTotal: summary.services.length,
  };
}
