import Grid from '@mui/material/Grid';
import Typography from '@mui/material/Typography';
import { InfoCard, Table, type TableColumn } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import type {
  DecisionListEntry,
  RolloutShadow,
} from '@tollgate/plugin-rollouts-common';
import { rolloutsApiRef } from '../../api';
import { useLiveData } from '../../hooks/useLiveData';
import { formatDateTime } from '../../utils/format';

const columns: TableColumn<DecisionListEntry>[] = [
  { title: 'When', render: d => formatDateTime(d.createdAt) },
  { title: 'Step', render: d => d.stepIndex + 1 },
  { title: 'Would have', render: d => d.verdict },
  {
    title: 'Why',
    render: d => (
      <>
        <Typography variant="body2">{d.reasons[0]}</Typography>
        {d.reasons[1] && (
          <Typography variant="caption" color="text.secondary">
            {d.reasons[1]}
          </Typography>
        )}
      </>
    ),
  },
  { title: 'Entry', render: d => `#${d.seq}` },
];

/** The shadow against the enforced verdict, as last logged (any disagreement is logged as it changes). */
function pairText(p: RolloutShadow['policies'][number]): string {
  if (!p.shadow) return 'evaluated beside the enforced policy';
  if (p.shadow === p.enforced)
    return `agrees with the enforced policy (${p.enforced})`;
  return `would ${p.shadow} where the enforced policy says ${p.enforced}`;
}

/**
 * A rollout's shadow policies on its Rollouts tab: what each would do now
 * beside the enforced verdict, and its would-have entries. Nothing shows
 * for a rollout without a shadow policy.
 */
export function ShadowVerdicts(props: { rolloutId: string; live: boolean }) {
  const api = useApi(rolloutsApiRef);
  const shadow = useLiveData(
    () => api.getRolloutShadow(props.rolloutId),
    [api, props.rolloutId],
    { live: props.live },
  );
  const value = shadow.value;
  if (!value || value.policies.length === 0) return null;
  return (
    <Grid item xs={12}>
      <InfoCard title="Shadow policy: what it would have done (never acted on)">
        <div data-testid="shadow-verdicts">
          {value.policies.map(p => (
            <Typography key={p.policy} variant="body2" gutterBottom>
              <strong>{p.policy}</strong>: {pairText(p)} (since{' '}
              {formatDateTime(p.updatedAt)})
            </Typography>
          ))}
          {value.items.length > 0 ? (
            <Table
              options={{
                paging: false,
                search: false,
                toolbar: false,
                padding: 'dense',
              }}
              columns={columns}
              data={value.items}
            />
          ) : (
            <Typography variant="body2">
              It has agreed with the enforced policy so far.
            </Typography>
          )}
        </div>
      </InfoCard>
    </Grid>
  );
}
