import Box from '@mui/material/Box';
import Step from '@mui/material/Step';
import StepLabel from '@mui/material/StepLabel';
import Stepper from '@mui/material/Stepper';
import Typography from '@mui/material/Typography';
import type { Rollout, RolloutStep } from '@tollgate/plugin-rollouts-common';
import { formatDuration, sinceIso } from '../../utils/format';

const DEFAULT_STEPS: RolloutStep[] = [
  { weight: 1 },
  { weight: 5 },
  { weight: 25 },
  { weight: 100 },
];

/** The caption under a step: its approval gate, else its minimum duration. */
function stepCaption(step: RolloutStep): string {
  if (step.requiresApproval) return 'needs approval';
  if (step.minDurationSeconds)
    return `≥ ${formatDuration(step.minDurationSeconds * 1000)}`;
  return '';
}

/** The exposure steps (1% → 5% → 25% → 100%) with the current one highlighted. */
export function StepLadder(props: { rollout: Rollout; now?: number }) {
  const { rollout } = props;
  const steps = rollout.steps?.length ? rollout.steps : DEFAULT_STEPS;
  const finished =
    Boolean(rollout.finishedAt) ||
    ['promoted', 'rolled-back', 'aborted', 'failed'].includes(rollout.status);
  const promoted = rollout.status === 'promoted';
  const active = promoted
    ? steps.length
    : Math.min(Math.max(rollout.currentStepIndex ?? 0, 0), steps.length - 1);
  const inStep = finished ? null : sinceIso(rollout.stepStartedAt, props.now);
  const current = steps[active];
  let summary: string;
  if (promoted) summary = `Completed: ${rollout.version} serves all traffic.`;
  else if (finished)
    summary = `Ended at step ${active + 1} of ${steps.length} (${rollout.currentWeight}% of traffic).`;
  else {
    const since = inStep !== null ? `, for ${formatDuration(inStep)}` : '';
    const minimum = current?.minDurationSeconds
      ? ` (minimum ${formatDuration(current.minDurationSeconds * 1000)})`
      : '';
    summary = `Step ${active + 1} of ${steps.length}: ${rollout.currentWeight ?? current?.weight}% of traffic on ${rollout.version}${since}${minimum}.`;
  }
  return (
    <Box data-testid="step-ladder">
      <Stepper activeStep={active} alternativeLabel>
        {steps.map((step, i) => (
          <Step key={i} completed={promoted || i < active}>
            <StepLabel
              error={
                !promoted &&
                finished &&
                i === active &&
                rollout.status !== 'aborted'
              }
              optional={
                <Typography variant="caption" color="text.secondary">
                  {stepCaption(step)}
                </Typography>
              }
            >
              {`${step.weight}%`}
            </StepLabel>
          </Step>
        ))}
      </Stepper>
      <Typography variant="body2" sx={{ mt: 1 }} data-testid="step-summary">
        {summary}
      </Typography>
    </Box>
  );
}
