import { useCallback, useState } from 'react';
import { useApi } from '@backstage/core-plugin-api';
import type {
  ServiceSort,
  ServiceSummaryPage,
} from '@tollgate/plugin-rollouts-common';
import { rolloutsApiRef } from '../../api';
import { useLiveData, type LiveData } from '../../hooks/useLiveData';

/** Which page of the service rows a panel shows; the backend filters, sorts and pages. */
export interface ServicePageQuery {
  page: number;
  pageSize: number;
  q: string;
  sort: ServiceSort;
  order: 'asc' | 'desc';
}

/** The dashboard's filters every panel shares. */
export interface DashboardScope {
  owner: string;
  system: string;
  days: number;
}

export interface ServicePage {
  query: ServicePageQuery;
  onQuery: (query: ServicePageQuery) => void;
  data: LiveData<ServiceSummaryPage>;
}

/**
 * One page of `GET /v1/summary/services` for a panel: `only` narrows the
 * rows (services with KPI evidence, with a budget share), `initial` is the
 * panel's first order and page size. A new owner, system or period starts
 * again at the first page.
 */
export function useServicePage(
  scope: DashboardScope,
  initial: Omit<ServicePageQuery, 'page' | 'q'>,
  only: { active?: boolean; budgeted?: boolean } = {},
): ServicePage {
  const api = useApi(rolloutsApiRef);
  const scopeKey = `${scope.owner}|${scope.system}|${scope.days}`;
  const [state, setState] = useState({
    ...initial,
    page: 0,
    q: '',
    scopeKey,
  });
  const query: ServicePageQuery =
    state.scopeKey === scopeKey ? state : { ...state, page: 0 };
  const onQuery = useCallback(
    (next: ServicePageQuery) => setState({ ...next, scopeKey }),
    [scopeKey],
  );
  const { active, budgeted } = only;
  const data = useLiveData(
    () =>
      api.listSummaryServices({
        owner: scope.owner || undefined,
        system: scope.system || undefined,
        days: scope.days,
        q: query.q || undefined,
        sort: query.sort,
        order: query.order,
        offset: query.page * query.pageSize,
        limit: query.pageSize,
        active,
        budgeted,
      }),
    [
      api,
      scope.owner,
      scope.system,
      scope.days,
      query.q,
      query.sort,
      query.order,
      query.page,
      query.pageSize,
      active,
      budgeted,
    ],
    { signalThrottleMs: 10_000 },
  );
  return { query, onQuery, data };
}

/**
 * The props that make a Backstage table show the page the backend sent, as
 * page `query.page` of `total` rows, and ask for another page or search
 * through `onQuery` (the active rollouts and the services table alike).
 */
export function serverPaging<
  Q extends { page: number; pageSize: number; q: string },
>(query: Q, total: number, onQuery: (query: Q) => void) {
  return {
    page: query.page,
    totalCount: total,
    onPageChange: (page: number, pageSize: number) =>
      onQuery({ ...query, page, pageSize }),
    onSearchChange: (q: string) => onQuery({ ...query, page: 0, q }),
    options: {
      paging: true,
      pageSize: query.pageSize,
      pageSizeOptions: [20, 50, 100],
      search: true,
      searchText: query.q,
      debounceInterval: 300,
      padding: 'dense' as const,
      emptyRowsWhenPaging: false,
    },
  };
}
