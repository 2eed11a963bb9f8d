import { useCallback, useMemo, useState } from 'react';
import Box from '@mui/material/Box';
import Chip from '@mui/material/Chip';
import Link from '@mui/material/Link';
import Paper from '@mui/material/Paper';
import Stack from '@mui/material/Stack';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Typography from '@mui/material/Typography';
import {
  Content,
  EmptyState,
  Header,
  Page,
  Progress,
  ResponseErrorPanel,
} from '@backstage/core-components';
import { identityApiRef, useApi } from '@backstage/core-plugin-api';
import { Link as RouterLink } from 'react-router-dom';
import useAsync from 'react-use/esm/useAsync';
import {
  formatDifference,
  formatInterval,
  formatNumber,
  type AttentionItem,
  type AttentionKind,
} from '@tollgate/plugin-rollouts-common';
import { rolloutsApiRef } from '../../api';
import { useLiveData } from '../../hooks/useLiveData';
import { ActionNotice, type ActionNoticeValue } from '../ActionNotice';
import { RolloutActions, type ActionOutcome } from '../RolloutActions';
import {
  entityName,
  entityRolloutsPath,
  formatDateTime,
} from '../../utils/format';

const KIND_LABEL: Record<AttentionKind, string> = {
  'failed-rollback': 'rollback failed',
  'watch-fired': 'watch rolled back',
  burning: 'burning budget',
  hold: 'held',
  stale: 'stale telemetry',
  'awaiting-approval': 'approval waiting',
  paused: 'paused',
};

const URGENT: ReadonlySet<AttentionKind> = new Set([
  'failed-rollback',
  'watch-fired',
  'burning',
]);

/** The user's own groups' rollouts first, keeping the backend's urgency order within each part. */
export function ownFirst(
  items: AttentionItem[],
  ownership: ReadonlySet<string>,
): AttentionItem[] {
  const mine = items.filter(i => i.owner && ownership.has(i.owner));
  return [...mine, ...items.filter(i => !mine.includes(i))];
}

function Health(props: { item: AttentionItem }) {
  const { health } = props.item;
  if (!health.length)
    return (
      <Typography variant="body2" color="text.secondary">
        No SLI evidence yet.
      </Typography>
    );
  return (
    <Table size="small" aria-label="canary against baseline">
      <TableHead>
        <TableRow>
          <TableCell>SLI</TableCell>
          <TableCell align="right">Baseline</TableCell>
          <TableCell align="right">Canary</TableCell>
          <TableCell align="right">Canary − baseline</TableCell>
          <TableCell align="right">Interval</TableCell>
          <TableCell>Rule</TableCell>
        </TableRow>
      </TableHead>
      <TableBody>
        {health.map(s => (
          <TableRow key={s.name}>
            <TableCell>{s.name}</TableCell>
            <TableCell align="right">{formatNumber(s.baseline)}</TableCell>
            <TableCell align="right">{formatNumber(s.canary)}</TableCell>
            <TableCell align="right">
              {formatDifference(s.difference, s.scale)}
            </TableCell>
            <TableCell align="right">{formatInterval(s)}</TableCell>
            <TableCell>{s.rule}</TableCell>
          </TableRow>
        ))}
      </TableBody>
    </Table>
  );
}

function AttentionCard(props: {
  item: AttentionItem;
  mine: boolean;
  onAction: (o: ActionOutcome) => void;
}) {
  const { item, mine, onAction } = props;
  const r = item.rollout;
  return (
    <Paper
      variant="outlined"
      sx={{ p: 2 }}
      data-testid={`attention-${entityName(r.entityRef)}`}
    >
      <Stack
        direction="row"
        spacing={1}
        alignItems="center"
        flexWrap="wrap"
        useFlexGap
      >
        <Link
          component={RouterLink}
          to={entityRolloutsPath(r.entityRef)}
          variant="h6"
        >
          {entityName(r.entityRef)}
        </Link>
        {item.needs.map(n => (
          <Chip
            key={n.kind}
            size="small"
            label={KIND_LABEL[n.kind]}
            color={URGENT.has(n.kind) ? 'error' : 'warning'}
          />
        ))}
        {mine && <Chip size="small" variant="outlined" label="your team" />}
      </Stack>
      <Box component="ul" sx={{ mt: 1, mb: 1, pl: 3 }}>
        {item.needs.map(n => (
          <li key={n.kind}>
            <Typography variant="body2">{n.text}</Typography>
          </li>
        ))}
      </Box>
      <Typography variant="body2" color="text.secondary">
        {r.previousVersion ? `${r.previousVersion} → ` : ''}
        {r.version} · {r.provider} · {r.target} · step {r.currentStepIndex + 1}{' '}
        of {r.steps.length} ({r.currentWeight} %) · started{' '}
        {formatDateTime(r.startedAt)} · owner {item.owner ?? 'unknown'}
        {item.lastAction
          ? ` · last: ${item.lastAction.verdict} by ${item.lastAction.actor}, ${formatDateTime(item.lastAction.at)}`
          : ''}
      </Typography>
      <Box sx={{ my: 1 }}>
        <Health item={item} />
      </Box>
      <Stack direction="row" spacing={2} alignItems="center">
        <RolloutActions rollout={r} size="small" onDone={onAction} />
        {item.runbookUrl && (
          <Link href={item.runbookUrl} target="_blank" rel="noopener">
            Runbook
          </Link>
        )}
      </Stack>
    </Paper>
  );
}

/** What needs a person now: the on-call view. */
export function OnCallPage() {
  const api = useApi(rolloutsApiRef);
  const identity = useApi(identityApiRef);
  const [notice, setNotice] = useState<ActionNoticeValue>();
  const ownership = useAsync(
    async () =>
      new Set((await identity.getBackstageIdentity()).ownershipEntityRefs),
    [identity],
  );
  const attention = useLiveData(() => api.getAttention(), [api], {
    signalThrottleMs: 2_000,
  });
  const onAction = useCallback(
    (o: ActionOutcome) => {
      setNotice({ severity: o.severity, message: o.message });
      attention.refresh();
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [attention.refresh],
  );
  const mine = useMemo(
    () => ownership.value ?? new Set<string>(),
    [ownership.value],
  );
  const items = useMemo(
    () => ownFirst(attention.value?.items ?? [], mine),
    [attention.value, mine],
  );
  return (
    <Page themeId="tool">
      <Header
        title="On call"
        subtitle="Rollouts that need a person now, your teams' first"
      />
      <Content>
        {attention.loading && <Progress />}
        {!attention.loading && attention.error && !attention.value && (
          <ResponseErrorPanel error={attention.error} />
        )}
        {attention.value && items.length === 0 && (
          <EmptyState
            missing="data"
            title="Nothing needs a person"
            description="No holds, failed rollbacks, approvals, burning canaries, stale telemetry or watches that fired."
          />
        )}
        <Stack spacing={2}>
          {items.map(item => (
            <AttentionCard
              key={item.rollout.id}
              item={item}
              mine={Boolean(item.owner && mine.has(item.owner))}
              onAction={onAction}
            />
          ))}
        </Stack>
        <ActionNotice notice={notice} onClose={() => setNotice(undefined)} />
      </Content>
    </Page>
  );
}
