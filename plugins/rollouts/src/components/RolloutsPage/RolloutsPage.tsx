import { ActionNotice, type ActionNoticeValue } from '../ActionNotice';
import { memo, useCallback, useState } from 'react';
import Box from '@mui/material/Box';
import Paper from '@mui/material/Paper';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import ToggleButton from '@mui/material/ToggleButton';
import ToggleButtonGroup from '@mui/material/ToggleButtonGroup';
import Tooltip from '@mui/material/Tooltip';
import Typography from '@mui/material/Typography';
import { useTheme } from '@mui/material/styles';
import {
  Bar,
  BarChart,
  CartesianGrid,
  Legend,
  ResponsiveContainer,
  Tooltip as ChartTooltip,
  XAxis,
  YAxis,
} from 'recharts';
import {
  Content,
  Header,
  InfoCard,
  Link,
  Page,
  Progress,
  ResponseErrorPanel,
  Table,
  type TableColumn,
} from '@backstage/core-components';
import { useApi, useApiHolder } from '@backstage/core-plugin-api';
import { catalogApiRef } from '@backstage/plugin-catalog-react';
import { stringifyEntityRef } from '@backstage/catalog-model';
import type {
  Rollout,
  RolloutsSummary,
} from '@tollgate/plugin-rollouts-common';
import { rolloutsApiRef } from '../../api';
import { useLiveData } from '../../hooks/useLiveData';
import {
  entityName,
  entityRolloutsPath,
  formatDuration,
  formatMinutes,
  formatNumber,
  formatPercent,
  sinceIso,
} from '../../utils/format';
import { RolloutActions, type ActionOutcome } from '../RolloutActions';
import { StatusChip, VerdictChip } from '../RolloutChips';
import {
  ActiveKpisPanel,
  BudgetPanel,
  IncidentsPanel,
  KPI_PAGE_SIZES,
} from './DashboardPanels';
import { definitions } from './definitions';
import { SERVICES_DEFAULT_SORT, ServicesTable } from './ServicesTable';
import { serverPaging, useServicePage } from './useServicePage';
import { ShadowPoliciesPanel } from '../ShadowPolicies';
import { WhatIfSection } from '../WhatIf';

const DAY_OPTIONS = [7, 30, 90] as const;

interface Option {
  ref: string;
  label: string;
}

function useCatalogOptions(kind: 'Group' | 'System'): Option[] {
  const catalogApi = useApiHolder().get(catalogApiRef);
  const data = useLiveData(
    async () => {
      if (!catalogApi) return [];
      const res = await catalogApi.getEntities({
        filter: { kind },
        fields: [
          'kind',
          'metadata.name',
          'metadata.namespace',
          'metadata.title',
          'spec.profile.displayName',
        ],
      });
      return res.items
        .map(e => {
          const ref = stringifyEntityRef(e);
          const title =
            (e.spec as { profile?: { displayName?: string } } | undefined)
              ?.profile?.displayName ?? e.metadata.title;
          return {
            ref,
            label: title ? `${title} (${e.metadata.name})` : e.metadata.name,
          };
        })
        .sort((a, b) => a.label.localeCompare(b.label));
    },
    [catalogApi, kind],
    { live: false },
  );
  return data.value ?? [];
}

function Tile(props: {
  testId: string;
  label: string;
  value: string;
  help: string;
  detail?: string;
}) {
  return (
    <Tooltip title={props.help} describeChild>
      <Paper
        variant="outlined"
        sx={{ p: 2 }}
        data-testid={props.testId}
        tabIndex={0}
      >
        <Typography variant="overline" component="h3" color="text.secondary">
          {props.label}
        </Typography>
        <Typography
          variant="h4"
          component="p"
          data-testid={`${props.testId}-value`}
        >
          {props.value}
        </Typography>
        {props.detail && (
          <Typography variant="caption" color="text.secondary">
            {props.detail}
          </Typography>
        )}
      </Paper>
    </Tooltip>
  );
}

export const KpiTiles = memo(function KpiTilesView(props: {
  summary: RolloutsSummary;
}) {
  const s = props.summary;
  const days = s.windowDays;
  const count = (n: number | undefined, what: string) =>
    n === undefined ? undefined : `${n} ${what}`;
  return (
    <Box
      data-testid="kpi-tiles"
      sx={{
        display: 'grid',
        gap: 2,
        gridTemplateColumns: 'repeat(auto-fit, minmax(190px, 1fr))',
      }}
    >
      <Tile
        testId="tile-active"
        label="Active rollouts"
        value={String(s.activeRollouts)}
        help={definitions.active()}
      />
      <Tile
        testId="tile-success"
        label="Success rate"
        value={formatPercent(s.successRate)}
        detail={`${s.promoted} of ${s.finishedRollouts} finished in the last ${days} days`}
        help={definitions.success(days)}
      />
      <Tile
        testId="tile-failed"
        label="Failed rollouts per 100"
        value={formatNumber(s.failedPer100 ?? null, 3)}
        detail={`${s.finishedRollouts - s.promoted} of ${s.finishedRollouts} finished`}
        help={definitions.failedPer100(days)}
      />
      <Tile
        testId="tile-cfr"
        label="Change-failure rate"
        value={formatPercent(s.changeFailureRate)}
        detail={
          s.reachedFull === undefined
            ? undefined
            : `${s.changeFailures ?? 0} of ${s.reachedFull} that reached full`
        }
        help={definitions.changeFailure(days)}
      />
      <Tile
        testId="tile-mttr"
        label="Mean time to rollback"
        value={formatMinutes(s.meanTimeToRollbackMinutes)}
        detail={count(s.timedRollbacks, 'rollbacks')}
        help={definitions.mttr(days)}
      />
      <Tile
        testId="tile-detection"
        label="Detection lag"
        value={formatMinutes(s.meanDetectionLagMinutes)}
        detail={count(s.detections, 'regressions detected')}
        help={definitions.detection(days)}
      />
      <Tile
        testId="tile-automation"
        label="Automation success"
        value={formatPercent(s.automationSuccessRate ?? null)}
        detail={
          s.allSteps === undefined
            ? undefined
            : `${s.automatedSteps ?? 0} of ${s.allSteps} steps`
        }
        help={definitions.automation(days)}
      />
    </Box>
  );
});

const TrendChart = memo(function TrendChartView(props: {
  trend: RolloutsSummary['trend'];
}) {
  const theme = useTheme();
  if (props.trend.length === 0) {
    return (
      <Typography variant="body2">
        No finished rollouts in this period.
      </Typography>
    );
  }
  return (
    <Box sx={{ width: '100%', height: 260 }} data-testid="trend-chart">
      <ResponsiveContainer
        width="100%"
        height="100%"
        initialDimension={{ width: 600, height: 260 }}
      >
        <BarChart
          data={props.trend}
          margin={{ top: 8, right: 16, left: 0, bottom: 0 }}
        >
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis dataKey="day" />
          <YAxis allowDecimals={false} width={32} />
          <ChartTooltip />
          <Legend />
          <Bar
            dataKey="promoted"
            name="promoted"
            stackId="a"
            fill={theme.palette.success.main}
            isAnimationActive={false}
          />
          <Bar
            dataKey="rolledBack"
            name="rolled back"
            stackId="a"
            fill={theme.palette.error.main}
            isAnimationActive={false}
          />
          <Bar
            dataKey="other"
            name="other (aborted, failed)"
            stackId="a"
            fill={theme.palette.grey[500]}
            isAnimationActive={false}
          />
        </BarChart>
      </ResponsiveContainer>
    </Box>
  );
});

function stepText(r: Rollout): string {
  const n = r.steps?.length ?? 0;
  return n
    ? `${r.currentStepIndex + 1}/${n} · ${r.currentWeight}%`
    : `${r.currentWeight}%`;
}

/** Which page of the active rollouts the table shows; the backend pages, filters and searches. */
interface ActivePage {
  page: number;
  pageSize: number;
  q: string;
}

function ActiveRolloutsTable(props: {
  rollouts: Rollout[];
  total: number;
  query: ActivePage;
  onQuery: (q: ActivePage) => void;
  onAction: (o: ActionOutcome) => void;
}) {
  const { query, onQuery } = props;
  const columns: TableColumn<Rollout>[] = [
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
    {
      title: 'Status',
      field: 'status',
      render: r => <StatusChip status={r.status} />,
    },
    { title: 'Step', field: 'currentWeight', render: r => stepText(r) },
    {
      title: 'Verdict',
      field: 'lastEvaluation.verdict',
      render: r => (
        <Tooltip title={r.lastEvaluation?.reasons?.join('; ') ?? ''}>
          <span>
            <VerdictChip verdict={r.lastEvaluation?.verdict} />
          </span>
        </Tooltip>
      ),
    },
    {
      title: 'Time in step',
      field: 'stepStartedAt',
      customSort: (a, b) =>
        Date.parse(b.stepStartedAt) - Date.parse(a.stepStartedAt),
      render: r => formatDuration(sinceIso(r.stepStartedAt)),
    },
    {
      title: 'Actions',
      sorting: false,
      width: '300px',
      cellStyle: { minWidth: 300 },
      render: r => (
        <RolloutActions rollout={r} size="small" onDone={props.onAction} />
      ),
    },
  ];
  return (
    <Table<Rollout>
      title={`Active rollouts (${props.total})`}
      data={props.rollouts}
      columns={columns}
      {...serverPaging(query, props.total, onQuery)}
      emptyContent={
        <Box sx={{ p: 2 }}>No active rollouts for this selection.</Box>
      }
    />
  );
}

/** The executive dashboard. */
export function RolloutsPage() {
  const api = useApi(rolloutsApiRef);
  const [owner, setOwner] = useState('');
  const [system, setSystem] = useState('');
  const [days, setDays] = useState<number>(30);
  const [notice, setNotice] = useState<ActionNoticeValue>();
  const groups = useCatalogOptions('Group');
  const systems = useCatalogOptions('System');

  const summary = useLiveData(
    () =>
      api.getSummary({
        owner: owner || undefined,
        system: system || undefined,
        days,
      }),
    [api, owner, system, days],
    { signalThrottleMs: 10_000 },
  );
  // One page of the active rollouts, filtered and searched by the backend:
  // a portfolio of thousands ships the 20 rows shown, not all of them.
  const [activeQuery, setActiveQuery] = useState<ActivePage>({
    page: 0,
    pageSize: 20,
    q: '',
  });
  const active = useLiveData(
    () =>
      api.listRollouts({
        status: 'active',
        limit: activeQuery.pageSize,
        offset: activeQuery.page * activeQuery.pageSize,
        owner: owner || undefined,
        system: system || undefined,
        q: activeQuery.q || undefined,
      }),
    [api, owner, system, activeQuery],
    {
      signalThrottleMs: 5_000,
    },
  );
  const firstPage = () => setActiveQuery(q => ({ ...q, page: 0 }));
  // The panels over services page on the backend too: the summary carries
  // the portfolio figures, not a row per service.
  const scope = { owner, system, days };
  const kpiServices = useServicePage(
    scope,
    { pageSize: KPI_PAGE_SIZES[0], sort: 'budgetBurnRate', order: 'desc' },
    { active: true },
  );
  const budgetServices = useServicePage(
    scope,
    { pageSize: 10, sort: 'budgetSpent', order: 'desc' },
    { budgeted: true },
  );
  const allServices = useServicePage(scope, {
    pageSize: 20,
    ...SERVICES_DEFAULT_SORT,
  });

  const onAction = useCallback(
    (o: ActionOutcome) => {
      setNotice({ severity: o.severity, message: o.message });
      active.refresh();
      summary.refresh();
      kpiServices.data.refresh();
      budgetServices.data.refresh();
      allServices.data.refresh();
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [
      active.refresh,
      summary.refresh,
      kpiServices.data.refresh,
      budgetServices.data.refresh,
      allServices.data.refresh,
    ],
  );

  return (
    <Page themeId="tool">
      <Header
        title="Rollouts"
        subtitle="Progressive delivery across the portfolio"
      />
      <Content>
        <Stack
          direction={{ xs: 'column', md: 'row' }}
          spacing={2}
          sx={{ mb: 3 }}
          alignItems={{ md: 'center' }}
        >
          <TextField
            select
            label="Owner"
            value={owner}
            onChange={e => {
              setOwner(e.target.value);
              firstPage();
            }}
            sx={{ minWidth: 220 }}
            size="small"
            SelectProps={{ native: true }}
            InputLabelProps={{ shrink: true }}
            inputProps={{ 'data-testid': 'owner-filter' }}
          >
            <option value="">All owners</option>
            {groups.map(g => (
              <option key={g.ref} value={g.ref}>
                {g.label}
              </option>
            ))}
          </TextField>
          <TextField
            select
            label="System"
            value={system}
            onChange={e => {
              setSystem(e.target.value);
              firstPage();
            }}
            sx={{ minWidth: 220 }}
            size="small"
            SelectProps={{ native: true }}
            InputLabelProps={{ shrink: true }}
            inputProps={{ 'data-testid': 'system-filter' }}
          >
            <option value="">All systems</option>
            {systems.map(g => (
              <option key={g.ref} value={g.ref}>
                {g.label}
              </option>
            ))}
          </TextField>
          <ToggleButtonGroup
            size="small"
            exclusive
            value={days}
            onChange={(_e, v) => v && setDays(v)}
            aria-label="Period"
          >
            {DAY_OPTIONS.map(d => (
              <ToggleButton key={d} value={d} aria-label={`${d} days`}>
                {`${d} days`}
              </ToggleButton>
            ))}
          </ToggleButtonGroup>
        </Stack>

        {summary.loading && <Progress />}
        {!summary.loading && summary.error && !summary.value && (
          <ResponseErrorPanel error={summary.error} />
        )}
        {summary.value && (
          <Stack spacing={3}>
            <KpiTiles summary={summary.value} />
            <Box
              sx={{
                display: 'grid',
                gap: 3,
                gridTemplateColumns: {
                  xs: 'minmax(0, 1fr)',
                  xl: 'repeat(2, minmax(0, 1fr))',
                },
                alignItems: 'start',
              }}
            >
              <ActiveKpisPanel page={kpiServices} />
              <BudgetPanel
                sloWindowDays={summary.value.sloWindowDays}
                page={budgetServices}
              />
            </Box>
            <IncidentsPanel summary={summary.value} />
            <InfoCard
              title={`Finished rollouts per day (last ${summary.value.windowDays} days)`}
            >
              <TrendChart trend={summary.value.trend ?? []} />
            </InfoCard>
          </Stack>
        )}
        <Box sx={{ mt: 3 }} data-testid="active-rollouts">
          {active.loading && <Progress />}
          {!active.loading && active.error && !active.value && (
            <ResponseErrorPanel error={active.error} />
          )}
          {active.value && (
            <ActiveRolloutsTable
              rollouts={active.value.items}
              total={active.value.total ?? active.value.items.length}
              query={activeQuery}
              onQuery={setActiveQuery}
              onAction={onAction}
            />
          )}
        </Box>
        {summary.value && (
          <Box sx={{ mt: 3 }}>
            <ServicesTable page={allServices} />
          </Box>
        )}
        <Box sx={{ mt: 3 }}>
          <ShadowPoliciesPanel days={days} />
        </Box>
        <Box sx={{ mt: 3 }}>
          <WhatIfSection />
        </Box>
        <ActionNotice notice={notice} onClose={() => setNotice(undefined)} />
      </Content>
    </Page>
  );
}
