import { useState } from 'react';
import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Typography from '@mui/material/Typography';
import {
  InfoCard,
  Progress,
  ResponseErrorPanel,
} from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { rolloutsApiRef } from '../../api';
import { useLiveData } from '../../hooks/useLiveData';
import { PipelineView } from './PipelineView';

/**
 * The service's multi-stage promotion: its latest release's pipeline, live.
 * `declared`: the entity's annotation declares stages (the card shows at
 * once); otherwise it shows only once the backend reports stages from the
 * service's policy, a pipeline or a broken declaration.
 */
export function PipelineCard(props: { entityRef: string; declared?: boolean }) {
  const { entityRef, declared = true } = props;
  const api = useApi(rolloutsApiRef);
  const list = useLiveData(
    () => api.listPipelines(entityRef),
    [api, entityRef],
  );
  const [notice, setNotice] = useState<string>();
  const latest = list.value?.items[0];
  const shown =
    declared ||
    Boolean(
      list.value &&
      (list.value.stages?.length ||
        list.value.items.length ||
        list.value.declarationError),
    );
  if (!shown) return null;
  return (
    <Box sx={{ mb: 3 }}>
      <InfoCard title="Multi-stage promotion">
        {list.loading && <Progress />}
        {!list.loading && list.error && !list.value && (
          <ResponseErrorPanel error={list.error} />
        )}
        {notice && (
          <Alert
            severity="success"
            sx={{ mb: 2 }}
            onClose={() => setNotice(undefined)}
          >
            {notice}
          </Alert>
        )}
        {list.value?.declarationError && (
          <Alert severity="error" data-testid="pipeline-declaration-error">
            {`${list.value.declarationError}. This service's rollouts are held until the declaration is fixed.`}
          </Alert>
        )}
        {list.value && !latest && !list.value.declarationError && (
          <Typography variant="body2">
            {`Stages: ${(list.value.stages ?? []).map(s => s.name).join(' → ')}. No release has started on the first stage yet.`}
          </Typography>
        )}
        {latest && (
          <PipelineView
            pipeline={latest}
            entityRef={entityRef}
            onPromoted={message => {
              setNotice(message);
              list.refresh();
            }}
          />
        )}
      </InfoCard>
    </Box>
  );
}
