import { useRef, useState } from 'react';
import Alert from '@mui/material/Alert';
import Button from '@mui/material/Button';
import CircularProgress from '@mui/material/CircularProgress';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogContentText from '@mui/material/DialogContentText';
import DialogTitle from '@mui/material/DialogTitle';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import Tooltip from '@mui/material/Tooltip';
import { useApi } from '@backstage/core-plugin-api';
import { usePermission } from '@backstage/plugin-permission-react';
import type { Rollout, RolloutAction } from '@tollgate/plugin-rollouts-common';
import { rolloutsApiRef, type RolloutActionResult } from '../../api';
import {
  ACTION_LABELS,
  ACTION_PAST,
  availableActions,
  describeAction,
  newIdempotencyKey,
  permissionFor,
} from '../../utils/actions';
import { serverMessage, statusOf } from '../../utils/errors';
import { entityName } from '../../utils/format';

/** What the parent shows after an action. */
export interface ActionOutcome {
  severity: 'success' | 'info';
  message: string;
  result: RolloutActionResult;
}

/** The text shown when the user lacks the permission for an action. */
export function permissionHint(
  action: RolloutAction,
  entityRef: string,
): string {
  return `You need the ${permissionFor(action).name} permission on ${entityRef} (owners of the service have it)`;
}

/** Rollback is the red button, promote and approve the green ones. */
function buttonColor(action: RolloutAction): 'error' | 'success' | 'primary' {
  if (action === 'rollback') return 'error';
  if (action === 'promote' || action === 'approve') return 'success';
  return 'primary';
}

function ActionButton(props: {
  action: RolloutAction;
  entityRef: string;
  size: 'small' | 'medium';
  /** The last attempt of this action failed: the button offers a retry. */
  failed?: boolean;
  onClick: () => void;
}) {
  const { action, entityRef, size, failed, onClick } = props;
  const { allowed, loading } = usePermission({
    permission: permissionFor(action),
    resourceRef: entityRef,
  });
  const button = (
    <Button
      size={size}
      variant={action === 'rollback' ? 'contained' : 'outlined'}
      color={buttonColor(action)}
      disabled={loading || !allowed}
      onClick={onClick}
      data-testid={`action-${action}`}
    >
      {failed
        ? `Retry ${ACTION_LABELS[action].toLocaleLowerCase('en-US')}`
        : ACTION_LABELS[action]}
    </Button>
  );
  if (!loading && !allowed) {
    return (
      <Tooltip title={permissionHint(action, entityRef)} describeChild>
        <span data-testid={`action-${action}-denied`}>{button}</span>
      </Tooltip>
    );
  }
  return button;
}

/** The confirmation dialog of one action: reason required, one idempotency key per opening. */
export function ActionDialog(props: {
  rollout: Rollout;
  action: RolloutAction;
  open: boolean;
  onClose: () => void;
  onDone: (outcome: ActionOutcome) => void;
}) {
  const { rollout, action, open, onClose, onDone } = props;
  const api = useApi(rolloutsApiRef);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  // One key per opening: a double click (or a retry after a network error)
  // reuses it, so the backend applies the action at most once.
  const key = useRef<string>(newIdempotencyKey());
  const inFlight = useRef(false);
  const label = ACTION_LABELS[action];
  const confirmLabel = `Confirm ${label.toLocaleLowerCase('en-US')}`;
  const name = entityName(rollout.entityRef);

  const confirm = async () => {
    if (inFlight.current || reason.trim() === '') return;
    inFlight.current = true;
    setBusy(true);
    setError(undefined);
    try {
      const result = await api.performAction(rollout.id, action, {
        reason: reason.trim(),
        idempotencyKey: key.current,
      });
      const message = result.alreadyInState
        ? `${name} ${rollout.version} was already ${result.rollout?.status ?? 'in that state'}: nothing to do.`
        : `${ACTION_PAST[action]} ${name} ${rollout.version}.${
            result.rollout
              ? ` It is now ${result.rollout.status} at ${result.rollout.currentWeight}% of traffic.`
              : ''
          }${result.replayed ? ' (This request had already been applied.)' : ''}`;
      onDone({
        severity: result.alreadyInState ? 'info' : 'success',
        message,
        result,
      });
    } catch (e) {
      const status = statusOf(e);
      const msg = serverMessage(e);
      if (status === 403) {
        setError(`Not allowed: ${msg}`);
      } else if (status === 409) {
        setError(`Conflict: ${msg}`);
      } else {
        setError(msg);
      }
      // The server answered: the action with this key is settled (a failed
      // one is recorded as failed), so a retry needs a new key. Without an
      // answer (network error) the same key makes a retry safe.
      if (status !== undefined) key.current = newIdempotencyKey();
    } finally {
      inFlight.current = false;
      setBusy(false);
    }
  };

  return (
    <Dialog
      open={open}
      onClose={busy ? undefined : onClose}
      fullWidth
      maxWidth="sm"
      aria-labelledby={`rollout-action-${action}-title`}
    >
      <DialogTitle
        id={`rollout-action-${action}-title`}
      >{`${label} ${name} ${rollout.version}?`}</DialogTitle>
      <DialogContent>
        <DialogContentText data-testid="action-description" sx={{ mb: 2 }}>
          {describeAction(action, rollout)}
        </DialogContentText>
        <TextField
          label="Reason"
          required
          fullWidth
          multiline
          minRows={2}
          // eslint-disable-next-line jsx-a11y/no-autofocus -- a modal dialog moves focus to its first field on open (WAI-ARIA dialog pattern); the reason is the one thing to type
          autoFocus
          value={reason}
          onChange={e => setReason(e.target.value)}
          helperText="Recorded in the decision log with your name."
          inputProps={{ maxLength: 2000 }}
        />
        {error && (
          <Alert severity="error" sx={{ mt: 2 }} data-testid="action-error">
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
          color={action === 'rollback' ? 'error' : 'primary'}
          disabled={busy || reason.trim() === ''}
          onClick={confirm}
          aria-busy={busy}
          startIcon={
            busy ? <CircularProgress size={16} aria-hidden /> : undefined
          }
        >
          {confirmLabel}
        </Button>
      </DialogActions>
    </Dialog>
  );
}

/**
 * On-call controls for one rollout: the actions that make sense for its
 * status, each behind its permission and a confirmation dialog.
 */
export function RolloutActions(props: {
  rollout: Rollout;
  /** the entity the permission is checked on; defaults to the rollout's entity */
  entityRef?: string;
  size?: 'small' | 'medium';
  onDone: (outcome: ActionOutcome) => void;
}) {
  const { rollout, size = 'medium', onDone } = props;
  const entityRef = props.entityRef ?? rollout.entityRef;
  const [dialog, setDialog] = useState<{ action: RolloutAction; n: number }>();
  const actions = availableActions(rollout);
  const opened = useRef(0);
  if (actions.length === 0) return null;
  return (
    <>
      <Stack
        direction="row"
        spacing={1}
        flexWrap={size === 'small' ? 'nowrap' : 'wrap'}
        useFlexGap
        data-testid="rollout-actions"
      >
        {actions.map(action => (
          <ActionButton
            key={action}
            action={action}
            entityRef={entityRef}
            size={size}
            failed={rollout.lastError?.action === action}
            onClick={() => setDialog({ action, n: ++opened.current })}
          />
        ))}
      </Stack>
      {dialog && (
        <ActionDialog
          // a new opening is a new component instance: new key, empty reason
          key={dialog.n}
          rollout={rollout}
          action={dialog.action}
          open
          onClose={() => setDialog(undefined)}
          onDone={outcome => {
            setDialog(undefined);
            onDone(outcome);
          }}
        />
      )}
    </>
  );
}
