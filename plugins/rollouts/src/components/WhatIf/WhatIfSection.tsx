import { useState } from 'react';
import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Chip from '@mui/material/Chip';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import {
  InfoCard,
  Link,
  Progress,
  Table,
  type TableColumn,
} from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import type {
  WhatIfOutcome,
  WhatIfResult,
  WhatIfRolloutResult,
  WhatIfTotals,
} from '@tollgate/plugin-rollouts-common';
import { rolloutsApiRef } from '../../api';
import { serverMessage } from '../../utils/errors';
import {
  entityName,
  entityRolloutsPath,
  formatDateTime,
} from '../../utils/format';

/** A stricter candidate to start from: slower promotions at a looser α. */
export const EXAMPLE_POLICY = `slo:
  availability: 0.995
  latency: { thresholdMs: 500, objective: 0.99 }
gate:
  alpha: 0.1
  promote: { minDurationSeconds: 240, minCanaryRequests: 1000 }
`;

const COMPARISON_COLOR: Record<
  string,
  'error' | 'warning' | 'info' | 'success' | 'default'
> = {
  same: 'success',
  'would-rollback': 'error',
  'would-not-rollback': 'warning',
  earlier: 'info',
  later: 'warning',
  undecided: 'default',
};

/** `rollback at step 2, minute 14` and the like. */
export function outcomeText(o: WhatIfOutcome | undefined): string {
  if (!o) return '—';
  const where = [
    o.stepIndex !== undefined ? `step ${o.stepIndex + 1}` : undefined,
    o.minute !== undefined ? `minute ${o.minute}` : undefined,
  ].filter(Boolean);
  const name = o.outcome === 'full' ? 'promoted to full' : o.outcome;
  return where.length ? `${name} (${where.join(', ')})` : name;
}

function totalsText(t: WhatIfTotals): string {
  const minutes =
    t.meanMinutesToFull === undefined ? '—' : `${t.meanMinutesToFull} min`;
  return `${t.rollbacks} rollbacks · ${t.promotionsToFull} promotions to full · ${t.undecided} undecided · mean time to full ${minutes}`;
}

function Results(props: { result: WhatIfResult }) {
  const { result } = props;
  const columns: TableColumn<WhatIfRolloutResult>[] = [
    {
      title: 'Rollout',
      render: r => (
        <Link
          to={`${entityRolloutsPath(r.entityRef)}?rollout=${encodeURIComponent(r.rolloutId)}`}
        >
          {entityName(r.entityRef)} {r.version}
        </Link>
      ),
    },
    { title: 'Started', render: r => formatDateTime(r.startedAt) },
    { title: 'What happened', render: r => outcomeText(r.actual) },
    {
      title: 'Under the candidate',
      render: r => (r.replayable ? outcomeText(r.whatIf) : 'not replayable'),
    },
    {
      title: 'Compared',
      render: r =>
        r.comparison ? (
          <Chip
            size="small"
            color={COMPARISON_COLOR[r.comparison]}
            label={r.comparison}
          />
        ) : (
          '—'
        ),
    },
    {
      title: 'Why',
      render: r => r.notReplayable ?? r.whatIf?.reasons?.[0] ?? '—',
    },
  ];
  return (
    <Box data-testid="whatif-results">
      <Typography variant="subtitle1">
        Policy {result.policy.name} ({result.policy.hash.slice(0, 12)}):{' '}
        {result.totals.replayed} replayed, {result.totals.notReplayable} not
        replayable (no kept telemetry)
      </Typography>
      {result.truncated && (
        <Alert severity="info" sx={{ my: 1 }}>
          More rollouts matched than the limit of {result.limit}: the newest{' '}
          {result.limit} were replayed. Narrow the services or the period.
        </Alert>
      )}
      <Box component="dl" data-testid="whatif-totals" sx={{ my: 1 }}>
        <Typography component="dt" variant="body2" fontWeight="bold">
          Under the candidate
        </Typography>
        <Typography
          component="dd"
          variant="body2"
          data-testid="whatif-totals-candidate"
        >
          {totalsText(result.totals.whatIf)}
        </Typography>
        <Typography component="dt" variant="body2" fontWeight="bold">
          What happened (same rollouts)
        </Typography>
        <Typography
          component="dd"
          variant="body2"
          data-testid="whatif-totals-actual"
        >
          {totalsText(result.totals.actual)}
        </Typography>
      </Box>
      <Table
        options={{
          paging: false,
          search: false,
          toolbar: false,
          padding: 'dense',
        }}
        columns={columns}
        data={[...result.rollouts].sort(
          (a, b) => Number(b.replayable) - Number(a.replayable),
        )}
      />
    </Box>
  );
}

/**
 * The dashboard's what-if replay: a candidate policy (YAML), the services
 * and period to replay, and per rollout the verdict the candidate would
 * have reached and when, against what happened (`POST /v1/policies/whatif`).
 */
export function WhatIfSection() {
  const api = useApi(rolloutsApiRef);
  const [yaml, setYaml] = useState(EXAMPLE_POLICY);
  const [services, setServices] = useState('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<string>();
  const [result, setResult] = useState<WhatIfResult>();

  const run = async () => {
    setRunning(true);
    setError(undefined);
    try {
      const refs = services
        .split(/[\s,]+/)
        .map(s => s.trim())
        .filter(Boolean)
        .map(s => (s.includes(':') ? s : `component:default/${s}`));
      setResult(
        await api.runWhatIf({
          yaml,
          selection: {
            ...(refs.length ? { services: refs } : {}),
            ...(from ? { from: new Date(from).toISOString() } : {}),
            ...(to ? { to: new Date(`${to}T23:59:59`).toISOString() } : {}),
          },
        }),
      );
    } catch (e) {
      setResult(undefined);
      setError(serverMessage(e));
    } finally {
      setRunning(false);
    }
  };

  return (
    <InfoCard title="What-if replay">
      <Box data-testid="whatif">
        <Typography variant="body2" gutterBottom>
          Replays past rollouts under a candidate policy over the telemetry they
          were judged on (kept for rollouts.telemetry.retentionDays): the
          verdict it would have reached and when, against what happened. Only
          rollouts you may read are replayed.
        </Typography>
        <Stack spacing={2}>
          <TextField
            label="Candidate policy (YAML)"
            multiline
            minRows={6}
            value={yaml}
            onChange={e => setYaml(e.target.value)}
            inputProps={{ 'data-testid': 'whatif-policy', spellCheck: false }}
            sx={{ fontFamily: 'monospace' }}
          />
          <Stack direction={{ xs: 'column', md: 'row' }} spacing={2}>
            <TextField
              label="Services (entity refs or names, comma-separated; empty: all you may read)"
              value={services}
              onChange={e => setServices(e.target.value)}
              size="small"
              sx={{ flex: 1 }}
              inputProps={{ 'data-testid': 'whatif-services' }}
            />
            <TextField
              label="From"
              type="date"
              value={from}
              onChange={e => setFrom(e.target.value)}
              size="small"
              InputLabelProps={{ shrink: true }}
              inputProps={{ 'data-testid': 'whatif-from' }}
            />
            <TextField
              label="To"
              type="date"
              value={to}
              onChange={e => setTo(e.target.value)}
              size="small"
              InputLabelProps={{ shrink: true }}
              inputProps={{ 'data-testid': 'whatif-to' }}
            />
            <Button
              variant="contained"
              onClick={run}
              disabled={running || !yaml.trim()}
            >
              Run what-if
            </Button>
          </Stack>
          {running && <Progress />}
          {error && (
            <Alert severity="error" data-testid="whatif-error">
              {error}
            </Alert>
          )}
          {result && <Results result={result} />}
        </Stack>
      </Box>
    </InfoCard>
  );
}
