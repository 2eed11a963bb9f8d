import { ActionNotice, type ActionNoticeValue } from '../ActionNotice';
import { useRef, useState } from 'react';
import { useSearchParams } from 'react-router-dom';
import Alert from '@mui/material/Alert';
import Button from '@mui/material/Button';
import Grid from '@mui/material/Grid';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import {
  EmptyState,
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
  RUNBOOK_ANNOTATION,
  STAGES_ANNOTATION,
  hasRolloutsAnnotation,
  isActiveStatus,
  type Rollout,
} from '@tollgate/plugin-rollouts-common';
import { rolloutsApiRef } from '../../api';
import { useLiveData } from '../../hooks/useLiveData';
import { BakeWatch } from '../BakeWatch';
import { BlastRadius, readBlastRadius } from '../BlastRadius';
import { readSegments, SegmentTable } from '../SegmentTable';
import { ShadowVerdicts } from '../ShadowPolicies';
import { BurnChart } from '../BurnChart';
import { DecisionTimeline } from '../DecisionTimeline';
import { KpiDeltas } from '../KpiDeltas';
import { MetricsOverTime } from '../MetricsOverTime';
import { PipelineCard } from '../PipelineView';
import type { ActionOutcome } from '../RolloutActions';
import { ReportDownload } from '../ReportDownload';
import { RolloutHistory } from '../RolloutHistory';
import { RolloutSummary } from '../RolloutSummary';

/** Reading a step's telemetry costs the backend more than a rollout's row: refresh at most this often on signals. */
const TIMESERIES_THROTTLE_MS = 30_000;

/** The step interval by interval (the gate's view), and the flag's cohort. */
function MetricsOverTimeCard(props: { rolloutId: string; live: boolean }) {
  const { rolloutId, live } = props;
  const api = useApi(rolloutsApiRef);
  const series = useLiveData(
    () => api.getTimeseries(rolloutId),
    [api, rolloutId],
    { live, signalThrottleMs: TIMESERIES_THROTTLE_MS },
  );
  return (
    <InfoCard title="Metrics over time">
      {series.loading && <Progress />}
      {!series.loading && series.error && !series.value && (
        <ResponseErrorPanel error={series.error} />
      )}
      {series.value && <MetricsOverTime series={series.value} />}
    </InfoCard>
  );
}

function RolloutDetailView(props: {
  rolloutId: string;
  /** A decision to open at once (a link from the dashboard). */
  openSeq?: number;
  entityRef: string;
  runbookAnnotation?: string;
  onAction: (outcome: ActionOutcome) => void;
  register: (refresh: () => Promise<void>) => void;
}) {
  const {
    rolloutId,
    openSeq,
    entityRef,
    runbookAnnotation,
    onAction,
    register,
  } = props;
  const api = useApi(rolloutsApiRef);
  const detail = useLiveData(() => api.getRollout(rolloutId), [api, rolloutId]);
  const decisions = useLiveData(
    () => api.listDecisions(rolloutId, { limit: 50 }),
    [api, rolloutId],
  );
  register(async () => {
    await Promise.all([detail.refresh(), decisions.refresh()]);
  });

  if (detail.loading) return <Progress />;
  if (!detail.value)
    return (
      <ResponseErrorPanel
        error={detail.error ?? new Error('Rollout not found')}
      />
    );
  const rollout = detail.value;
  const runbookUrl = rollout.runbookUrl ?? runbookAnnotation;
  return (
    <Grid container spacing={3}>
      <Grid item xs={12}>
        <InfoCard
          title={
            isActiveStatus(rollout.status)
              ? 'Active rollout'
              : 'Rollout (finished)'
          }
          action={<ReportDownload rollout={rollout} />}
        >
          {detail.error && (
            <Alert severity="warning" sx={{ mb: 1 }}>
              {`Could not refresh: ${detail.error.message}. Showing the last data received.`}
            </Alert>
          )}
          <RolloutSummary
            rollout={rollout}
            entityRef={entityRef}
            runbookUrl={runbookUrl}
            onAction={onAction}
          />
        </InfoCard>
      </Grid>
      {rollout.watch && (
        <Grid item xs={12}>
          <InfoCard title="After the promotion: bake window">
            <BakeWatch watch={rollout.watch} />
          </InfoCard>
        </Grid>
      )}
      {readBlastRadius(rollout.evidence) && (
        <Grid item xs={12}>
          <InfoCard title="Blast radius: consumers of this service">
            <BlastRadius evidence={rollout.evidence} />
          </InfoCard>
        </Grid>
      )}
      {readSegments(rollout.evidence) && (
        <Grid item xs={12}>
          <InfoCard title="Segments: canary vs baseline per segment">
            <SegmentTable evidence={rollout.evidence} />
          </InfoCard>
        </Grid>
      )}
      <Grid item xs={12}>
        <InfoCard title="SLO error-budget burn">
          <BurnChart evidence={rollout.evidence} />
        </InfoCard>
      </Grid>
      <Grid item xs={12}>
        <InfoCard title="Cohort KPI deltas (canary vs baseline)">
          <KpiDeltas evidence={rollout.evidence} />
        </InfoCard>
      </Grid>
      <Grid item xs={12}>
        <MetricsOverTimeCard
          rolloutId={rolloutId}
          live={isActiveStatus(rollout.status)}
        />
      </Grid>
      <ShadowVerdicts
        rolloutId={rollout.id}
        live={isActiveStatus(rollout.status)}
      />
      <Grid item xs={12}>
        <InfoCard title="Decision timeline">
          {decisions.loading && <Progress />}
          {!decisions.loading && decisions.error && !decisions.value && (
            <ResponseErrorPanel error={decisions.error} />
          )}
          {decisions.value && (
            <DecisionTimeline
              rolloutId={rollout.id}
              page={decisions.value}
              openSeq={openSeq}
            />
          )}
        </InfoCard>
      </Grid>
    </Grid>
  );
}

/** The service's Rollouts tab. */
export function EntityRolloutsContent() {
  const { entity } = useEntity();
  if (!hasRolloutsAnnotation(entity)) {
    return <MissingAnnotationEmptyState annotation={ROLLOUTS_ANNOTATION} />;
  }
  return (
    <RolloutsTab
      entityRef={stringifyEntityRef(entity)}
      runbook={entity.metadata.annotations?.[RUNBOOK_ANNOTATION]}
      stages={Boolean(entity.metadata.annotations?.[STAGES_ANNOTATION])}
    />
  );
}

function RolloutsTab(props: {
  entityRef: string;
  runbook?: string;
  /** The service's annotation declares stages (`tollgate.dev/stages`): its pipeline card shows at once (a policy's stages show once the backend reports them). */
  stages?: boolean;
}) {
  const { entityRef, runbook, stages } = props;
  const api = useApi(rolloutsApiRef);
  const active = useLiveData(
    () => api.listRollouts({ entityRef, status: 'active', limit: 20 }),
    [api, entityRef],
  );
  const history = useLiveData(
    () => api.listRollouts({ entityRef, status: 'finished', limit: 200 }),
    [api, entityRef],
  );
  // `?rollout=<id>&decision=<seq>`: a link from the dashboard's incidents
  const [searchParams] = useSearchParams();
  const linkedId = searchParams.get('rollout') ?? undefined;
  const linkedSeq = Number(searchParams.get('decision')) || undefined;
  const [pickedId, setPickedId] = useState<string | undefined>(linkedId);
  const [notice, setNotice] = useState<ActionNoticeValue>();
  const detailRefresh = useRef<() => Promise<void>>();

  if (active.loading || history.loading) return <Progress />;
  if (active.error && !active.value)
    return <ResponseErrorPanel error={active.error} />;

  const activeItems = active.value?.items ?? [];
  const finished = history.value?.items ?? [];
  // no active rollout: the one still watched after its promotion to full (bake window)
  const currentId =
    pickedId ??
    activeItems[0]?.id ??
    finished.find(r => r.watch?.state === 'watching')?.id;

  const onAction = (outcome: ActionOutcome) => {
    setNotice({ severity: outcome.severity, message: outcome.message });
    // keep the rollout on screen even when the action ended it
    setPickedId(outcome.result.rollout?.id ?? currentId);
    detailRefresh.current?.();
    active.refresh();
    history.refresh();
  };

  const pick = (r: Rollout) => setPickedId(r.id);

  return (
    <>
      <PipelineCard entityRef={entityRef} declared={stages} />
      {activeItems.length > 1 && (
        <Stack
          direction="row"
          spacing={1}
          sx={{ mb: 2 }}
          alignItems="center"
          flexWrap="wrap"
          useFlexGap
        >
          <Typography variant="body2">Active rollouts:</Typography>
          {activeItems.map(r => (
            <Button
              key={r.id}
              size="small"
              variant={r.id === currentId ? 'contained' : 'outlined'}
              onClick={() => pick(r)}
            >
              {`${r.version} (${r.target})`}
            </Button>
          ))}
        </Stack>
      )}
      {pickedId &&
        !activeItems.some(r => r.id === pickedId) &&
        activeItems.length > 0 && (
          <Button
            size="small"
            sx={{ mb: 2 }}
            onClick={() => setPickedId(undefined)}
          >
            Back to the active rollout
          </Button>
        )}
      {currentId ? (
        <RolloutDetailView
          key={currentId}
          rolloutId={currentId}
          openSeq={currentId === linkedId ? linkedSeq : undefined}
          entityRef={entityRef}
          runbookAnnotation={runbook}
          onAction={onAction}
          register={fn => {
            detailRefresh.current = fn;
          }}
        />
      ) : (
        <EmptyState
          missing="data"
          title="No active rollout"
          description="Nothing is rolling out for this service right now. Past rollouts are listed below; pick one to see its decisions and evidence."
        />
      )}
      <div style={{ marginTop: 24 }}>
        {history.error && !history.value ? (
          <ResponseErrorPanel error={history.error} />
        ) : (
          <RolloutHistory rollouts={finished} onSelect={pick} />
        )}
      </div>
      <ActionNotice notice={notice} onClose={() => setNotice(undefined)} />
    </>
  );
}
