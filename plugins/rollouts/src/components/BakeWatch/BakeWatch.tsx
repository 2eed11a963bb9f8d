import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import LinearProgress from '@mui/material/LinearProgress';
import Typography from '@mui/material/Typography';
import type { RolloutWatch } from '@tollgate/plugin-rollouts-common';
import { formatDateTime, formatDuration } from '../../utils/format';

/** Milliseconds left in the bake window at `now` (0 once it has ended). */
export function watchRemainingMs(watch: RolloutWatch, now: Date): number {
  return Math.max(0, new Date(watch.endsAt).getTime() - now.getTime());
}

const HEADLINE: Record<
  RolloutWatch['state'],
  { severity: 'info' | 'success' | 'error' | 'warning'; text: string }
> = {
  watching: {
    severity: 'info',
    text: 'Watching the released version (bake window)',
  },
  passed: { severity: 'success', text: 'Bake window passed: no harm found' },
  'rolled-back': {
    severity: 'error',
    text: 'Rolled back: harm within the bake window',
  },
  ended: { severity: 'warning', text: 'Watch ended before the window closed' },
};

/**
 * The post-promotion watch of a rollout promoted to full: how much of the
 * bake window is left, and the watch's latest verdict and reasons.
 */
export function BakeWatch(props: { watch: RolloutWatch; now?: Date }) {
  const { watch } = props;
  const now = props.now ?? new Date();
  const start = new Date(watch.startedAt).getTime();
  const end = new Date(watch.endsAt).getTime();
  const remaining = watchRemainingMs(watch, now);
  const elapsedShare =
    end > start
      ? Math.min(1, Math.max(0, (now.getTime() - start) / (end - start)))
      : 1;
  const head = HEADLINE[watch.state] ?? HEADLINE.ended;
  return (
    <Box data-testid="bake-watch">
      <Alert
        severity={head.severity}
        sx={{ mb: 1 }}
        data-testid="bake-watch-state"
      >
        {head.text}
        {watch.verdict ? ` (verdict: ${watch.verdict})` : ''}
      </Alert>
      {watch.state === 'watching' && (
        <Box sx={{ mb: 1 }}>
          <LinearProgress
            variant="determinate"
            value={Math.round(elapsedShare * 100)}
            aria-label="Bake window elapsed"
          />
          <Typography
            variant="body2"
            sx={{ mt: 0.5 }}
            data-testid="bake-watch-remaining"
          >
            {remaining > 0
              ? `${formatDuration(remaining)} left of the bake window (ends ${formatDateTime(watch.endsAt)})`
              : 'Bake window over: the next evaluation ends the watch'}
          </Typography>
        </Box>
      )}
      {watch.state !== 'watching' && (
        <Typography variant="body2" color="text.secondary">
          {`Window ${formatDateTime(watch.startedAt)} – ${formatDateTime(watch.endsAt)}`}
        </Typography>
      )}
      {watch.reasons.length > 0 && (
        <ul data-testid="bake-watch-reasons" style={{ margin: '4px 0 0' }}>
          {watch.reasons.map(r => (
            <li key={r}>
              <Typography variant="body2">{r}</Typography>
            </li>
          ))}
        </ul>
      )}
    </Box>
  );
}
