import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import { Link } from '@backstage/core-components';
import {
  readKeyNumbers,
  type Rollout,
  type RolloutDetail,
} from '@tollgate/plugin-rollouts-common';
import { formatDateTime, formatNumber } from '../../utils/format';
import { RolloutActions, type ActionOutcome } from '../RolloutActions';
import { RubricChip, StatusChip, VerdictChip } from '../RolloutChips';
import { StepLadder } from '../StepLadder';

/** The rules of the whole-rollout gate other than the step's own, as the verdict line names them. */
const RULE_TEXT: Record<string, string> = {
  'change-detection':
    'change detection (a regression that started during the rollout)',
  'step-timeout': 'the step maximum (no verdict within it)',
  bake: 'the watch after the promotion to full',
  'blast-radius':
    "the blast radius (a consumer's error-budget burn rose with the step)",
};

/** How fresh the telemetry of the last evaluation was: the provider's lag and the newest data's age. */
function TelemetryFreshness(props: { evidence: unknown }) {
  const key = readKeyNumbers(props.evidence);
  if (
    key.lagSeconds === undefined &&
    key.newestAgeSeconds === undefined &&
    !key.stale
  )
    return null;
  const parts: string[] = [];
  if (key.newestAgeSeconds !== undefined && key.newestAgeSeconds !== null)
    parts.push(`newest data ${Math.round(key.newestAgeSeconds)} s old`);
  if (key.lagSeconds !== undefined && key.lagSeconds !== null)
    parts.push(`provider lag ${Math.round(key.lagSeconds)} s`);
  if (key.missingRecentTicks)
    parts.push(
      `${key.missingRecentTicks} recent interval${key.missingRecentTicks > 1 ? 's' : ''} missing`,
    );
  return (
    <Typography
      variant="body2"
      color={key.stale ? 'warning.main' : 'text.secondary'}
      data-testid="telemetry-freshness"
    >
      {`Telemetry${key.stale ? ' is stale' : ''}: ${parts.join(' · ') || 'no data yet'}`}
    </Typography>
  );
}

/** Version, target, status, verdict with rubric and reasons, step ladder and on-call controls. */
export function RolloutSummary(props: {
  rollout: Rollout;
  entityRef: string;
  runbookUrl?: string;
  onAction?: (outcome: ActionOutcome) => void;
  compact?: boolean;
}) {
  const { rollout, entityRef, runbookUrl, onAction, compact } = props;
  const ev = rollout.lastEvaluation;
  return (
    <Box data-testid="rollout-summary">
      <Stack
        direction="row"
        spacing={1}
        alignItems="center"
        flexWrap="wrap"
        useFlexGap
        sx={{ mb: 1 }}
      >
        <Typography variant="h6" component="h3" data-testid="rollout-version">
          {rollout.previousVersion
            ? `${rollout.previousVersion} → ${rollout.version}`
            : rollout.version}
        </Typography>
        <StatusChip status={rollout.status} />
        <VerdictChip verdict={ev?.verdict} />
        <RubricChip rubric={ev?.rubric} />
      </Stack>
      <Typography variant="body2" color="text.secondary" sx={{ mb: 1 }}>
        {`${rollout.provider}: ${rollout.target}`}
        {rollout.policyName ? ` · policy ${rollout.policyName}` : ''}
        {` · started ${formatDateTime(rollout.startedAt)}`}
        {rollout.finishedAt
          ? ` · finished ${formatDateTime(rollout.finishedAt)}`
          : ''}
      </Typography>
      <StepLadder rollout={rollout} />
      {ev ? (
        <Box sx={{ mt: 2 }} data-testid="verdict">
          <Typography variant="subtitle2">
            {`Gate verdict: ${ev.verdict} — ${ev.rubric} (score ${formatNumber(ev.score, 3)}, ${formatDateTime(ev.evaluatedAt)})`}
            {ev.rule && ev.rule !== 'gate'
              ? ` · decided by ${RULE_TEXT[ev.rule] ?? ev.rule}`
              : ''}
          </Typography>
          {!compact && (
            <TelemetryFreshness
              evidence={(rollout as Partial<RolloutDetail>).evidence}
            />
          )}
          {ev.reasons?.length > 0 && !compact && (
            <ul style={{ marginTop: 4 }} data-testid="verdict-reasons">
              {ev.reasons.map((r, i) => (
                <li key={i}>
                  <Typography variant="body2">{r}</Typography>
                </li>
              ))}
            </ul>
          )}
          {ev.reasons?.length > 0 && compact && (
            <Typography variant="body2" data-testid="verdict-reasons">
              {ev.reasons[0]}
            </Typography>
          )}
        </Box>
      ) : (
        <Typography variant="body2" color="text.secondary" sx={{ mt: 2 }}>
          The gate has not evaluated this rollout yet.
        </Typography>
      )}
      {rollout.lastError && (
        <Alert severity="error" sx={{ mt: 1 }} data-testid="rollout-last-error">
          {rollout.lastError.action
            ? `The ${rollout.lastError.action} failed: ${rollout.lastError.message} (${formatDateTime(rollout.lastError.at)}). Tollgate retries it on its next run; you can retry it now.`
            : `${rollout.lastError.message} (${formatDateTime(rollout.lastError.at)})`}
        </Alert>
      )}
      {(onAction || runbookUrl) && (
        <Stack
          direction="row"
          spacing={2}
          alignItems="center"
          flexWrap="wrap"
          useFlexGap
          sx={{ mt: 2 }}
        >
          {onAction && (
            <RolloutActions
              rollout={rollout}
              entityRef={entityRef}
              onDone={onAction}
            />
          )}
          {runbookUrl && (
            <Link to={runbookUrl} data-testid="runbook-link">
              Runbook
            </Link>
          )}
        </Stack>
      )}
    </Box>
  );
}
