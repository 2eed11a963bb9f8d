import Box from '@mui/material/Box';
import Chip from '@mui/material/Chip';
import Stack from '@mui/material/Stack';
import {
  Link,
  ResponseErrorPanel,
  Table,
  type TableColumn,
} from '@backstage/core-components';
import type {
  ServiceSort,
  ServiceSummary,
} from '@tollgate/plugin-rollouts-common';
import {
  entityName,
  entityRolloutsPath,
  formatNumber,
} from '../../utils/format';
import { BurnRateChip } from './DashboardPanels';
import { serverPaging, type ServicePage } from './useServicePage';

/** The order the table starts in, and goes back to when a column's sort is cleared. */
export const SERVICES_DEFAULT_SORT = {
  sort: 'budgetBurnRate',
  order: 'desc',
} as const;

type Column = TableColumn<ServiceSummary> & { sortKey?: ServiceSort };

/**
 * Every service the caller may read, a page at a time: the backend pages,
 * searches (the service's name) and sorts (a column's figure).
 */
export function ServicesTable(props: { page: ServicePage }) {
  const { query, onQuery, data } = props.page;
  const sorted = (key: ServiceSort) =>
    query.sort === key ? { defaultSort: query.order } : {};
  const columns: Column[] = [
    {
      title: 'Service',
      field: 'entityRef',
      sortKey: 'entityRef',
      ...sorted('entityRef'),
      render: s => (
        <Link to={entityRolloutsPath(s.entityRef)}>
          {entityName(s.entityRef)}
        </Link>
      ),
    },
    {
      title: 'Active',
      field: 'activeRollouts',
      type: 'numeric',
      sortKey: 'activeRollouts',
      ...sorted('activeRollouts'),
    },
    {
      title: 'Finished',
      field: 'finishedRollouts',
      type: 'numeric',
      sorting: false,
    },
    {
      title: 'Rolled back',
      field: 'rolledBack',
      type: 'numeric',
      sortKey: 'rolledBack',
      ...sorted('rolledBack'),
    },
    {
      title: 'Error-budget burn',
      field: 'budgetBurnRate',
      type: 'numeric',
      sortKey: 'budgetBurnRate',
      ...sorted('budgetBurnRate'),
      render: s => <BurnRateChip rate={s.budgetBurnRate} />,
    },
    {
      title: 'KPI impact (canary vs baseline)',
      sorting: false,
      render: s => {
        const entries = Object.entries(s.kpiImpact ?? {});
        if (entries.length === 0) return '—';
        return (
          <Stack direction="row" spacing={0.5} flexWrap="wrap" useFlexGap>
            {entries.map(([k, v]) => (
              <Chip
                key={k}
                size="small"
                variant="outlined"
                label={`${k} ${v >= 0 ? '+' : ''}${formatNumber(v * 100, 3)}%`}
              />
            ))}
          </Stack>
        );
      },
    },
  ];
  const total = data.value?.total ?? 0;
  return (
    <Box data-testid="services-table">
      <Table<ServiceSummary>
        title={`Error-budget burn and KPI impact by service (${total})`}
        subtitle="Burn: how fast the service spends its error budget during its rollouts (above 1× spends it faster than the SLO allows). KPI impact: average change of business metrics on the new version."
        data={data.value?.items ?? []}
        columns={columns}
        isLoading={data.loading}
        // the page the backend sent, in the order it sorted
        {...serverPaging(query, total, onQuery)}
        onOrderChange={(column, direction) => {
          const sortKey = columns[column]?.sortKey;
          onQuery({
            ...query,
            page: 0,
            ...(sortKey && direction
              ? { sort: sortKey, order: direction }
              : SERVICES_DEFAULT_SORT),
          });
        }}
        emptyContent={
          <Box sx={{ p: 2 }}>No service matches this selection.</Box>
        }
      />
      {!data.value && data.error && <ResponseErrorPanel error={data.error} />}
    </Box>
  );
}
