import { memo } from 'react';
import Box from '@mui/material/Box';
import Chip from '@mui/material/Chip';
import LinearProgress from '@mui/material/LinearProgress';
import Stack from '@mui/material/Stack';
import TablePagination from '@mui/material/TablePagination';
import Tooltip from '@mui/material/Tooltip';
import Typography from '@mui/material/Typography';
import InfoOutlined from '@mui/icons-material/InfoOutlined';
import {
  InfoCard,
  Link,
  ResponseErrorPanel,
  Table,
  type TableColumn,
} from '@backstage/core-components';
import {
  formatDifference,
  formatInterval,
  type ActiveCohortKpis,
  type RolloutIncident,
  type RolloutsSummary,
  type ServiceSummary,
} from '@tollgate/plugin-rollouts-common';
import {
  entityName,
  entityRolloutsPath,
  formatDateTime,
  formatNumber,
  formatPercent,
} from '../../utils/format';
import { definitions } from './definitions';
import type { ServicePage } from './useServicePage';

/** A panel title with its definition as a tooltip (hover or focus the icon). */
function HelpTitle(props: { title: string; help: string; testId: string }) {
  return (
    <Stack direction="row" spacing={1} alignItems="center">
      <span>{props.title}</span>
      <Tooltip title={props.help} describeChild>
        <InfoOutlined
          fontSize="small"
          color="action"
          tabIndex={0}
          aria-label={`How ${props.title.toLocaleLowerCase('en-US')} is computed`}
          data-testid={`${props.testId}-help`}
        />
      </Tooltip>
    </Stack>
  );
}

/** The link to a decision: the service's Rollouts tab, with the rollout and the decision's seq. */
export function decisionPath(i: RolloutIncident): string {
  return `${entityRolloutsPath(i.entityRef)}?rollout=${encodeURIComponent(
    i.rolloutId,
  )}&decision=${i.seq}`;
}

type KpiRow = ActiveCohortKpis['kpis'][number] & {
  entityRef: string;
  rolloutId: string;
  version: string;
};

/** Harm, gain or not conclusive: where the interval lies relative to zero, given which way is good. */
export function kpiReading(k: {
  difference: number | null;
  ci: [number, number] | null;
  direction: 'increase' | 'decrease';
}): 'harm' | 'gain' | 'inconclusive' | 'no-data' {
  if (k.difference === null) return 'no-data';
  if (!k.ci) return 'inconclusive';
  const [lo, hi] = k.ci;
  const good = k.direction === 'increase' ? lo > 0 : hi < 0;
  const bad = k.direction === 'increase' ? hi < 0 : lo > 0;
  if (bad) return 'harm';
  if (good) return 'gain';
  return 'inconclusive';
}

const READING_COLOR = {
  harm: 'error',
  gain: 'success',
  inconclusive: 'default',
  'no-data': 'default',
} as const;

const READING_LABEL = {
  harm: 'harm',
  gain: 'gain',
  inconclusive: 'not conclusive',
  'no-data': 'no data yet',
} as const;

/** Services a page of the KPI panel can show. */
/** A service's error-budget burn rate (`1.2×`, red from 1×), or a dash when there is none. */
export function BurnRateChip(props: { rate: number | null }) {
  if (props.rate === null) return <>—</>;
  return (
    <Chip
      size="small"
      color={props.rate >= 1 ? 'error' : 'default'}
      label={`${formatNumber(props.rate, 3)}×`}
    />
  );
}

export const KPI_PAGE_SIZES = [5, 10, 25];

/** The error of a panel's page that failed to load (a failed refresh keeps the rows shown). */
function PageState(props: { page: ServicePage }) {
  const { data } = props.page;
  if (!data.value && data.error)
    return <ResponseErrorPanel error={data.error} />;
  return null;
}

/**
 * The KPIs of the active cohorts, a page of services at a time: the
 * services with KPI evidence on an active rollout, worst burn rate first.
 */
export function ActiveKpisPanel(props: { page: ServicePage }) {
  const { query, onQuery, data } = props.page;
  const services = data.value?.items ?? [];
  const total = data.value?.total ?? 0;
  const rows: KpiRow[] = services.flatMap(s =>
    (s.activeCohorts ?? []).flatMap(c =>
      c.kpis.map(k => ({
        ...k,
        entityRef: s.entityRef,
        rolloutId: c.rolloutId,
        version: c.version,
      })),
    ),
  );
  const columns: TableColumn<KpiRow>[] = [
    {
      title: 'Service',
      field: 'entityRef',
      render: r => (
        <Link to={entityRolloutsPath(r.entityRef)}>
          {entityName(r.entityRef)}
        </Link>
      ),
    },
    { title: 'Version', field: 'version' },
    { title: 'KPI', field: 'name' },
    {
      title: 'Canary − baseline',
      field: 'difference',
      render: r => formatDifference(r.difference, r.scale),
    },
    {
      title: 'Always-valid interval',
      sorting: false,
      render: r => formatInterval(r),
    },
    {
      title: 'Reading',
      sorting: false,
      render: r => {
        const reading = kpiReading(r);
        return (
          <Chip
            size="small"
            data-testid="kpi-reading"
            color={READING_COLOR[reading]}
            label={READING_LABEL[reading]}
          />
        );
      },
    },
  ];
  return (
    <Box data-testid="panel-kpis">
      <Table<KpiRow>
        title={
          <HelpTitle
            title="Business KPI deltas, active cohorts"
            help={definitions.kpis()}
            testId="panel-kpis"
          />
        }
        data={rows}
        columns={columns}
        isLoading={data.loading}
        options={{
          // a page holds every KPI of a few services: the pager below counts services
          paging: false,
          sorting: false,
          search: false,
          padding: 'dense',
        }}
        emptyContent={
          <Box sx={{ p: 2 }}>No active rollout has KPI evidence yet.</Box>
        }
      />
      <PageState page={props.page} />
      {total > KPI_PAGE_SIZES[0] && (
        <TablePagination
          component="div"
          count={total}
          page={query.page}
          rowsPerPage={query.pageSize}
          rowsPerPageOptions={KPI_PAGE_SIZES}
          labelRowsPerPage="Services per page:"
          onPageChange={(_e, page) => onQuery({ ...query, page })}
          onRowsPerPageChange={e =>
            onQuery({ ...query, page: 0, pageSize: Number(e.target.value) })
          }
        />
      )}
    </Box>
  );
}

function share(v: number | null | undefined): string {
  if (v === null || v === undefined) return '—';
  if (v > 0 && v < 0.001) return '<0.1%';
  return formatPercent(v);
}

/** Each service's error-budget share, most spent first, paged by the backend. */
export function BudgetPanel(props: {
  sloWindowDays?: number;
  page: ServicePage;
}) {
  const { query, onQuery, data } = props.page;
  const sloDays = props.sloWindowDays ?? 30;
  const rows = data.value?.items ?? [];
  const total = data.value?.total ?? 0;
  const columns: TableColumn<ServiceSummary>[] = [
    {
      title: 'Service',
      field: 'entityRef',
      render: s => (
        <Link to={entityRolloutsPath(s.entityRef)}>
          {entityName(s.entityRef)}
        </Link>
      ),
    },
    {
      title: `Budget spent during rollouts (of ${sloDays} days)`,
      field: 'budgetSpent',
      render: s => (
        <Stack spacing={0.5} sx={{ minWidth: 160 }}>
          <span data-testid="budget-spent">{share(s.budgetSpent)}</span>
          <LinearProgress
            variant="determinate"
            color={(s.budgetSpent ?? 0) >= 1 ? 'error' : 'primary'}
            value={Math.min(100, (s.budgetSpent ?? 0) * 100)}
            aria-label={`${entityName(s.entityRef)} budget spent`}
          />
        </Stack>
      ),
    },
    {
      title: 'By new versions',
      field: 'budgetSpentByRollouts',
      render: s => (
        <span data-testid="budget-by-rollouts">
          {share(s.budgetSpentByRollouts)}
        </span>
      ),
    },
    {
      title: 'Burn now',
      field: 'budgetBurnRate',
      render: s => <BurnRateChip rate={s.budgetBurnRate} />,
    },
  ];
  return (
    <Box data-testid="panel-budget">
      <Table<ServiceSummary>
        title={
          <HelpTitle
            title="Error-budget consumption"
            help={definitions.budget(sloDays)}
            testId="panel-budget"
          />
        }
        data={rows}
        columns={columns}
        isLoading={data.loading}
        // the page the backend sent: the table shows it as page `page` of `total` rows
        page={query.page}
        totalCount={total}
        onPageChange={(page, pageSize) => onQuery({ ...query, page, pageSize })}
        options={{
          paging: total > query.pageSize,
          pageSize: query.pageSize,
          pageSizeOptions: [10, 20, 50],
          sorting: false,
          search: false,
          padding: 'dense',
          emptyRowsWhenPaging: false,
        }}
        emptyContent={
          <Box sx={{ p: 2 }}>
            No burn rate logged by a rollout in the SLO window.
          </Box>
        }
      />
      <PageState page={props.page} />
    </Box>
  );
}

const INCIDENT_LABEL: Record<RolloutIncident['kind'], string> = {
  'rollback-failed': 'rollback failed',
  rollback: 'rolled back',
  'hold-burn': 'hold: burn',
  'hold-stale': 'hold: stale telemetry',
};

export const IncidentsPanel = memo(function IncidentsPanelView(props: {
  summary: RolloutsSummary;
}) {
  const incidents = props.summary.incidents ?? [];
  return (
    <Box data-testid="panel-incidents">
      <InfoCard
        title={
          <HelpTitle
            title="Top incidents associated with rollouts"
            help={definitions.incidents(props.summary.windowDays)}
            testId="panel-incidents"
          />
        }
        noPadding
      >
        {incidents.length === 0 ? (
          <Typography variant="body2" sx={{ p: 2 }}>
            No rollback or hold on burn or stale telemetry in this period.
          </Typography>
        ) : (
          <Box component="ol" sx={{ m: 0, p: 0, listStyle: 'none' }}>
            {incidents.map(i => (
              <Box
                component="li"
                key={`${i.rolloutId}-${i.seq}`}
                data-testid="incident"
                sx={{
                  px: 2,
                  py: 1,
                  borderTop: 1,
                  borderColor: 'divider',
                  display: 'grid',
                  gap: 1,
                  gridTemplateColumns: '150px 1fr auto',
                  alignItems: 'center',
                }}
              >
                <Chip
                  size="small"
                  color={
                    i.kind === 'rollback-failed' || i.kind === 'rollback'
                      ? 'error'
                      : 'warning'
                  }
                  label={INCIDENT_LABEL[i.kind]}
                />
                <Box>
                  <Link to={decisionPath(i)}>
                    {entityName(i.entityRef)} {i.version}
                  </Link>
                  <Typography variant="body2" color="text.secondary">
                    {i.reason}
                  </Typography>
                </Box>
                <Typography variant="caption" color="text.secondary">
                  {formatDateTime(i.at)}
                </Typography>
              </Box>
            ))}
          </Box>
        )}
      </InfoCard>
    </Box>
  );
});
