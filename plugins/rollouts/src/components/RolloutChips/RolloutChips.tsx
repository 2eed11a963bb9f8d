import Chip from '@mui/material/Chip';
import Tooltip from '@mui/material/Tooltip';
import type {
  GateEvaluationSummary,
  RolloutStatus,
} from '@tollgate/plugin-rollouts-common';

type ChipColor =
  | 'default'
  | 'primary'
  | 'secondary'
  | 'error'
  | 'info'
  | 'success'
  | 'warning';

const STATUS_COLORS: Record<RolloutStatus, ChipColor> = {
  pending: 'default',
  progressing: 'info',
  paused: 'warning',
  'awaiting-approval': 'secondary',
  promoted: 'success',
  'rolled-back': 'error',
  aborted: 'default',
  failed: 'error',
};

const STATUS_HELP: Record<RolloutStatus, string> = {
  pending: 'Registered; the first step has not started yet.',
  progressing:
    'The gate is watching the new version and moves traffic on when the evidence allows.',
  paused: 'Someone paused it: traffic stays where it is until it is resumed.',
  'awaiting-approval':
    'The step waits for a person to approve before traffic moves on.',
  promoted: 'Finished: the new version serves all traffic.',
  'rolled-back': 'Finished: traffic returned to the previous version.',
  aborted: 'Finished: stopped before completion.',
  failed: 'Finished: the deploy system reported a failure.',
};

/** A rollout's lifecycle status. */
export function StatusChip(props: {
  status: RolloutStatus | string;
  size?: 'small' | 'medium';
}) {
  const status = props.status as RolloutStatus;
  return (
    <Tooltip title={STATUS_HELP[status] ?? ''}>
      <Chip
        data-testid="status-chip"
        label={props.status}
        size={props.size ?? 'small'}
        color={STATUS_COLORS[status] ?? 'default'}
        variant={STATUS_COLORS[status] ? 'filled' : 'outlined'}
      />
    </Tooltip>
  );
}

const VERDICT_COLORS: Record<string, ChipColor> = {
  rollback: 'error',
  promote: 'success',
  hold: 'warning',
  continue: 'info',
  approve: 'success',
  pause: 'warning',
  resume: 'info',
};

const VERDICT_HELP: Record<string, string> = {
  rollback:
    'The gate found the new version worse than the old one and wants it rolled back.',
  promote:
    'The evidence says the new version is at least as good: it may move to the next step.',
  hold: 'Something needs attention (e.g. missing data or an unbalanced split): traffic stays where it is.',
  continue: 'No problem so far, but not enough evidence yet to move on.',
};

/** A gate verdict (or the action a person took). The label is the verdict itself. */
export function VerdictChip(props: {
  verdict?: GateEvaluationSummary['verdict'] | string;
  size?: 'small' | 'medium';
}) {
  if (!props.verdict) {
    return (
      <Chip
        data-testid="verdict-chip"
        size={props.size ?? 'small'}
        label="no verdict yet"
        variant="outlined"
      />
    );
  }
  return (
    <Tooltip title={VERDICT_HELP[props.verdict] ?? ''}>
      <Chip
        data-testid="verdict-chip"
        label={props.verdict}
        size={props.size ?? 'small'}
        color={VERDICT_COLORS[props.verdict] ?? 'default'}
      />
    </Tooltip>
  );
}

const RUBRIC_COLORS: Record<string, ChipColor> = {
  ready: 'success',
  'provisionally ready': 'warning',
  'not ready': 'error',
};

/** The gate's rubric: ready, provisionally ready, not ready. */
export function RubricChip(props: { rubric?: string }) {
  if (!props.rubric) return null;
  return (
    <Chip
      data-testid="rubric-chip"
      size="small"
      variant="outlined"
      label={props.rubric}
      color={RUBRIC_COLORS[props.rubric] ?? 'default'}
    />
  );
}
