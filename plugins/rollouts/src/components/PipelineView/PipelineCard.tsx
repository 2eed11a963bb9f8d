import { useState } from 'react';
import Alert from '@mui/material/Alert';
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

/** The service's multi-stage promotion: its latest release's pipeline, live. */
export function PipelineCard(props: { entityRef: string }) {
  const { entityRef } = props;
  const api = useApi(rolloutsApiRef);
  const list = useLiveData(
    () => api.listPipelines(entityRef),
    [api, entityRef],
  );
  const [notice, setNotice] = useState<string>();
  const latest = list.value?.items[0];
  return (
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
  );
}
