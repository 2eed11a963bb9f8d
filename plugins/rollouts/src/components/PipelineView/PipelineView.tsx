import { useEffect, useRef, useState } from 'react';
import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Chip from '@mui/material/Chip';
import CircularProgress from '@mui/material/CircularProgress';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogContentText from '@mui/material/DialogContentText';
import DialogTitle from '@mui/material/DialogTitle';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import Tooltip from '@mui/material/Tooltip';
import Typography from '@mui/material/Typography';
import { useApi } from '@backstage/core-plugin-api';
import { usePermission } from '@backstage/plugin-permission-react';
import {
  rolloutStagePromotePermission,
  type PipelineStage,
  type PipelineStageState,
  type RolloutPipeline,
} from '@tollgate/plugin-rollouts-common';
import { rolloutsApiRef } from '../../api';
import { serverMessage, statusOf } from '../../utils/errors';

const STATE_LABELS: Record<PipelineStageState, string> = {
  waiting: 'waiting',
  held: 'held',
  starting: 'starting',
  running: 'running',
  completed: 'completed',
  'rolled-back': 'rolled back',
  stopped: 'stopped',
};

const STATE_COLORS: Record<
  PipelineStageState,
  'default' | 'info' | 'success' | 'error' | 'warning'
> = {
  waiting: 'default',
  held: 'warning',
  starting: 'info',
  running: 'info',
  completed: 'success',
  'rolled-back': 'error',
  stopped: 'error',
};

/** `1m 05s` until `until`, or undefined once it passed. */
export function countdown(until: string | undefined, now: number) {
  if (!until) return undefined;
  const s = Math.ceil((Date.parse(until) - now) / 1000);
  if (s <= 0) return undefined;
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m ${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

function StageBox(props: { stage: PipelineStage; current: boolean }) {
  const { stage, current } = props;
  return (
    <Box
      data-testid={`stage-${stage.name}`}
      aria-current={current ? 'step' : undefined}
      sx={{
        border: 2,
        borderColor: current ? 'primary.main' : 'divider',
        borderRadius: 1,
        p: 1.5,
        minWidth: 180,
        flex: 1,
      }}
    >
      <Stack direction="row" spacing={1} alignItems="center">
        <Typography variant="subtitle1" component="span">
          {stage.name}
        </Typography>
        <Chip
          size="small"
          label={STATE_LABELS[stage.state]}
          color={STATE_COLORS[stage.state]}
          data-testid={`stage-${stage.name}-state`}
        />
      </Stack>
      <Typography variant="caption" color="text.secondary" component="div">
        {`${stage.provider}:${stage.target}`}
      </Typography>
      {stage.startedBy === 'early-promotion' && (
        <Typography variant="caption" component="div">
          promoted early
        </Typography>
      )}
      {stage.note && (
        <Typography variant="body2" component="div" sx={{ mt: 0.5 }}>
          {stage.note}
        </Typography>
      )}
    </Box>
  );
}

/** The confirmation of an early promotion: a reason is required and logged with the actor. */
function PromoteDialog(props: {
  pipeline: RolloutPipeline;
  stage: PipelineStage;
  onClose: () => void;
  onDone: (message: string) => void;
}) {
  const { pipeline, stage, onClose, onDone } = props;
  const api = useApi(rolloutsApiRef);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const inFlight = useRef(false);
  const confirm = async () => {
    if (inFlight.current || reason.trim() === '') return;
    inFlight.current = true;
    setBusy(true);
    setError(undefined);
    try {
      const result = await api.promoteStage(pipeline.id, {
        stage: stage.name,
        reason: reason.trim(),
      });
      onDone(
        result.started
          ? `Started ${pipeline.version} in ${stage.name} early.`
          : `${stage.name} had already started: nothing to do.`,
      );
    } catch (e) {
      const status = statusOf(e);
      const prefix = status === 403 ? 'Not allowed: ' : '';
      setError(`${status === 409 ? 'Conflict: ' : prefix}${serverMessage(e)}`);
    } finally {
      inFlight.current = false;
      setBusy(false);
    }
  };
  return (
    <Dialog
      open
      onClose={busy ? undefined : onClose}
      fullWidth
      maxWidth="sm"
      aria-labelledby="promote-stage-title"
    >
      <DialogTitle id="promote-stage-title">{`Promote ${stage.name} early?`}</DialogTitle>
      <DialogContent>
        <DialogContentText sx={{ mb: 2 }}>
          {`Starts ${pipeline.version} on ${stage.provider}:${stage.target} now, before the stage before it completed its ladder and soaked. A rollback in any stage still stops the pipeline.`}
        </DialogContentText>
        <TextField
          label="Reason"
          required
          fullWidth
          multiline
          minRows={2}
          // eslint-disable-next-line jsx-a11y/no-autofocus -- a modal dialog moves focus to its first field on open (WAI-ARIA dialog pattern)
          autoFocus
          value={reason}
          onChange={e => setReason(e.target.value)}
          helperText="Recorded in the decision log with your name."
          inputProps={{ maxLength: 2000 }}
        />
        {error && (
          <Alert severity="error" sx={{ mt: 2 }} data-testid="promote-error">
            {error}
          </Alert>
        )}
      </DialogContent>
      <DialogActions>
        <Button onClick={onClose} disabled={busy}>
          Cancel
        </Button>
        <Button
          variant="contained"
          disabled={busy || reason.trim() === ''}
          onClick={confirm}
          aria-busy={busy}
          startIcon={
            busy ? <CircularProgress size={16} aria-hidden /> : undefined
          }
        >
          Confirm early promotion
        </Button>
      </DialogActions>
    </Dialog>
  );
}

function PromoteButton(props: {
  entityRef: string;
  stage: PipelineStage;
  onClick: () => void;
}) {
  const { entityRef, stage, onClick } = props;
  const { allowed, loading } = usePermission({
    permission: rolloutStagePromotePermission,
    resourceRef: entityRef,
  });
  const button = (
    <Button
      variant="outlined"
      size="small"
      disabled={loading || !allowed}
      onClick={onClick}
      data-testid="promote-stage"
    >
      {`Promote ${stage.name} early`}
    </Button>
  );
  if (loading || allowed) return button;
  return (
    <Tooltip
      title={`You need the ${rolloutStagePromotePermission.name} permission on ${entityRef}`}
      describeChild
    >
      <span data-testid="promote-stage-denied">{button}</span>
    </Tooltip>
  );
}

/**
 * One release's way through the stages (`tollgate.dev/stages`): each
 * stage's state in order, the current one marked, the soak countdown,
 * why the pipeline stopped, and the early promotion of the next stage.
 */
export function PipelineView(props: {
  pipeline: RolloutPipeline;
  entityRef: string;
  onPromoted: (message: string) => void;
}) {
  const { pipeline, entityRef, onPromoted } = props;
  const [now, setNow] = useState(() => Date.now());
  const [dialog, setDialog] = useState(false);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  const { stages, nextStage } = pipeline;
  const next = pipeline.status === 'running' ? stages[nextStage] : undefined;
  const current = stages.findIndex(
    s => s.state === 'running' || s.state === 'starting',
  );
  const soak = next ? countdown(pipeline.soakUntil, now) : undefined;
  return (
    <Stack spacing={2} data-testid="pipeline">
      <Typography variant="body2">
        {`Release ${pipeline.version}: ${pipeline.status}`}
      </Typography>
      {pipeline.stoppedReason && (
        <Alert severity="error" data-testid="pipeline-stopped">
          {`Stopped: ${pipeline.stoppedReason}`}
        </Alert>
      )}
      <Stack
        direction="row"
        spacing={1}
        alignItems="stretch"
        useFlexGap
        flexWrap="wrap"
      >
        {stages.map((s, i) => (
          <StageBox key={s.name} stage={s} current={i === current} />
        ))}
      </Stack>
      {soak && next && (
        <Typography variant="body2" data-testid="pipeline-soak">
          {`${next.name} starts in ${soak} (soak after ${stages[nextStage - 1].name})`}
        </Typography>
      )}
      {next && (
        <Box>
          <PromoteButton
            entityRef={entityRef}
            stage={next}
            onClick={() => setDialog(true)}
          />
        </Box>
      )}
      {dialog && next && (
        <PromoteDialog
          pipeline={pipeline}
          stage={next}
          onClose={() => setDialog(false)}
          onDone={message => {
            setDialog(false);
            onPromoted(message);
          }}
        />
      )}
    </Stack>
  );
}
