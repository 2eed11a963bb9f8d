import Typography from '@mui/material/Typography';
import {
  InfoCard,
  MissingAnnotationEmptyState,
  Progress,
  ResponseErrorPanel,
} from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { stringifyEntityRef } from '@backstage/catalog-model';
import { useEntity } from '@backstage/plugin-catalog-react';
import {
  ROLLOUTS_ANNOTATION,
  hasRolloutsAnnotation,
} from '@tollgate/plugin-rollouts-common';
import { rolloutsApiRef } from '../../api';
import { useLiveData } from '../../hooks/useLiveData';
import { entityRolloutsPath, formatDateTime } from '../../utils/format';
import { RolloutSummary } from '../RolloutSummary';
import { StatusChip } from '../RolloutChips';

/** Overview card: the active rollout at a glance, or the last one. */
export function EntityRolloutsCard() {
  const { entity } = useEntity();
  if (!hasRolloutsAnnotation(entity)) {
    return (
      <InfoCard title="Rollouts">
        <MissingAnnotationEmptyState annotation={ROLLOUTS_ANNOTATION} />
      </InfoCard>
    );
  }
  return <Card entityRef={stringifyEntityRef(entity)} />;
}

function Card(props: { entityRef: string }) {
  const { entityRef } = props;
  const api = useApi(rolloutsApiRef);
  const data = useLiveData(async () => {
    const [active, finished] = await Promise.all([
      api.listRollouts({ entityRef, status: 'active', limit: 5 }),
      api.listRollouts({ entityRef, status: 'finished', limit: 1 }),
    ]);
    return { active: active.items, last: finished.items[0] };
  }, [api, entityRef]);
  const link = { title: 'View rollouts', link: entityRolloutsPath(entityRef) };
  if (data.loading) {
    return (
      <InfoCard title="Rollouts">
        <Progress />
      </InfoCard>
    );
  }
  if (!data.value) {
    return (
      <InfoCard title="Rollouts">
        <ResponseErrorPanel error={data.error ?? new Error('no data')} />
      </InfoCard>
    );
  }
  const { active, last } = data.value;
  return (
    <InfoCard title="Rollouts" deepLink={link} noPadding={false}>
      {active[0] ? (
        <>
          <RolloutSummary rollout={active[0]} entityRef={entityRef} compact />
          {active.length > 1 && (
            <Typography
              variant="body2"
              sx={{ mt: 1 }}
            >{`${active.length - 1} more active rollout(s).`}</Typography>
          )}
        </>
      ) : (
        <Typography
          variant="body2"
          component="div"
          data-testid="no-active-rollout"
        >
          No active rollout.{' '}
          {last && (
            <>
              {`Last: ${last.version}, `}
              <StatusChip status={last.status} />
              {` ${formatDateTime(last.finishedAt ?? last.updatedAt)}.`}
            </>
          )}
        </Typography>
      )}
    </InfoCard>
  );
}
