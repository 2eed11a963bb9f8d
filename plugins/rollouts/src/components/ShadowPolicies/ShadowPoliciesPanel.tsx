import { useState } from 'react';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Chip from '@mui/material/Chip';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import {
  InfoCard,
  Link,
  Progress,
  ResponseErrorPanel,
  Table,
  type TableColumn,
} from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import type {
  ShadowDisagreement,
  ShadowDisagreementKind,
  ShadowPolicyFigures,
} from '@tollgate/plugin-rollouts-common';
import { rolloutsApiRef } from '../../api';
import { useLiveData } from '../../hooks/useLiveData';
import {
  entityName,
  entityRolloutsPath,
  formatDateTime,
} from '../../utils/format';

/** How each kind of disagreement reads. */
export const DISAGREEMENT_LABELS: Record<ShadowDisagreementKind, string> = {
  'would-rollback': 'would have rolled back',
  'promote-earlier': 'would have promoted earlier',
  'promote-later': 'would have promoted later',
  'would-not-rollback': 'would not have rolled back',
  'hold-vs-continue': 'hold vs continue',
};

const KIND_COLOR: Record<
  ShadowDisagreementKind,
  'error' | 'info' | 'warning' | 'default'
> = {
  'would-rollback': 'error',
  'promote-earlier': 'info',
  'promote-later': 'warning',
  'would-not-rollback': 'warning',
  'hold-vs-continue': 'default',
};

/** The would-have entry: its evidence snapshot, read when opened. */
function EntryDialog(props: {
  entry?: ShadowDisagreement;
  onClose: () => void;
}) {
  const api = useApi(rolloutsApiRef);
  const { entry } = props;
  const evidence = useLiveData(
    () =>
      entry
        ? api.getDecisionEvidence(entry.rolloutId, entry.seq)
        : Promise.resolve(undefined),
    [api, entry?.rolloutId, entry?.seq],
    { live: false },
  );
  const reasons = (
    evidence.value?.evidence as { reasons?: string[] } | null | undefined
  )?.reasons;
  return (
    <Dialog
      open={Boolean(entry)}
      onClose={props.onClose}
      maxWidth="md"
      fullWidth
    >
      <DialogTitle>
        {entry
          ? `Would-have entry #${entry.seq}: ${entry.shadowVerdict} (enforced: ${entry.enforcedVerdict})`
          : ''}
      </DialogTitle>
      <DialogContent>
        {evidence.loading && <Progress />}
        {entry && (
          <Typography variant="body2" gutterBottom>
            {entityName(entry.entityRef)} {entry.version ?? ''}, step{' '}
            {entry.stepIndex + 1}, {formatDateTime(entry.at)}. Never acted on:
            the shadow only logs.
          </Typography>
        )}
        <ul data-testid="shadow-entry-reasons">
          {(reasons ?? (entry?.reason ? [entry.reason] : [])).map(r => (
            <li key={r}>
              <Typography variant="body2">{r}</Typography>
            </li>
          ))}
        </ul>
      </DialogContent>
      <DialogActions>
        {entry && (
          <Link
            to={`${entityRolloutsPath(entry.entityRef)}?rollout=${encodeURIComponent(entry.rolloutId)}`}
          >
            Open the rollout
          </Link>
        )}
        <Button onClick={props.onClose}>Close</Button>
      </DialogActions>
    </Dialog>
  );
}

function PolicyFigures(props: {
  figures: ShadowPolicyFigures;
  onOpen: (d: ShadowDisagreement) => void;
}) {
  const f = props.figures;
  const columns: TableColumn<ShadowDisagreement>[] = [
    { title: 'When', render: d => formatDateTime(d.at) },
    {
      title: 'Service',
      render: d => (
        <Link
          to={`${entityRolloutsPath(d.entityRef)}?rollout=${encodeURIComponent(d.rolloutId)}`}
        >
          {entityName(d.entityRef)} {d.version ?? ''}
        </Link>
      ),
    },
    { title: 'Step', render: d => d.stepIndex + 1 },
    {
      title: 'Disagreement',
      render: d => (
        <Chip
          size="small"
          color={KIND_COLOR[d.kind]}
          label={DISAGREEMENT_LABELS[d.kind]}
        />
      ),
    },
    {
      title: 'Shadow / enforced',
      render: d => `${d.shadowVerdict} / ${d.enforcedVerdict}`,
    },
    { title: 'Why (shadow)', render: d => d.reason ?? '—' },
    {
      title: 'Entry',
      render: d => (
        <Button
          size="small"
          onClick={() => props.onOpen(d)}
          aria-label={`Open would-have entry ${d.seq}`}
        >
          #{d.seq}
        </Button>
      ),
    },
  ];
  return (
    <Box data-testid={`shadow-policy-${f.policy}`} sx={{ mb: 2 }}>
      <Typography variant="h6">Shadow policy “{f.policy}”</Typography>
      <Typography variant="body2" gutterBottom>
        Ran beside the enforced policy on {f.rolloutsShadowed} rollout
        {f.rolloutsShadowed === 1 ? '' : 's'}; disagreed on{' '}
        {f.rolloutsDisagreeing}.
      </Typography>
      <Stack
        direction="row"
        spacing={1}
        sx={{ mb: 1, flexWrap: 'wrap' }}
        useFlexGap
      >
        {(Object.keys(DISAGREEMENT_LABELS) as ShadowDisagreementKind[]).map(
          k => (
            <Chip
              key={k}
              size="small"
              variant={f.byKind[k] ? 'filled' : 'outlined'}
              color={f.byKind[k] ? KIND_COLOR[k] : 'default'}
              label={`${DISAGREEMENT_LABELS[k]}: ${f.byKind[k]}`}
              data-testid={`shadow-${f.policy}-${k}`}
            />
          ),
        )}
      </Stack>
      {f.latest.length > 0 && (
        <Table
          options={{
            paging: false,
            search: false,
            toolbar: false,
            padding: 'dense',
          }}
          columns={columns}
          data={f.latest}
        />
      )}
    </Box>
  );
}

/**
 * The dashboard's shadow policies: per policy run in shadow beside the
 * enforced one, how often it disagreed (would have rolled back, promoted
 * earlier or later) and the latest disagreements, each with its would-have
 * entry and a link to the rollout (`GET /v1/shadow`).
 */
export function ShadowPoliciesPanel(props: { days: number }) {
  const api = useApi(rolloutsApiRef);
  const [open, setOpen] = useState<ShadowDisagreement>();
  const shadow = useLiveData(
    () => api.getShadowSummary({ days: props.days }),
    [api, props.days],
    {
      signalThrottleMs: 10_000,
    },
  );
  return (
    <InfoCard title={`Shadow policies (last ${props.days} days)`}>
      <Box data-testid="shadow-policies">
        {shadow.loading && <Progress />}
        {!shadow.loading && shadow.error && !shadow.value && (
          <ResponseErrorPanel error={shadow.error} />
        )}
        {shadow.value && shadow.value.policies.length === 0 && (
          <Typography variant="body2">
            No shadow policy ran in this period. Name one for a service with the{' '}
            <code>tollgate.dev/shadow-policy</code> annotation or in{' '}
            <code>rollouts.shadowPolicies</code>: it is evaluated beside the
            enforced policy and never acts.
          </Typography>
        )}
        {shadow.value?.policies.map(f => (
          <PolicyFigures key={f.policy} figures={f} onOpen={setOpen} />
        ))}
        <EntryDialog entry={open} onClose={() => setOpen(undefined)} />
      </Box>
    </InfoCard>
  );
}
