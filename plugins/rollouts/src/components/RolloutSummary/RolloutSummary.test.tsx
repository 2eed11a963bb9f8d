// @vitest-environment jsdom
// material-ui-popup-state (used by plugin-catalog-react's peek-ahead popover) does not load as native ESM under vitest
vi.mock('material-ui-popup-state/HoverPopover', () => ({
  default: () => null,
}));
import { screen } from '@testing-library/react';
import { createMockApi, makeRollout } from '../../__testUtils__/fixtures';
import { renderWithApis } from '../../__testUtils__/render';
import { RolloutSummary } from './RolloutSummary';

describe('RolloutSummary', () => {
  it('names the rule that decided when it is not the step gate (a step maximum, say)', async () => {
    const base = makeRollout();
    const rollout = makeRollout({
      lastEvaluation: {
        ...base.lastEvaluation!,
        verdict: 'hold',
        rule: 'step-timeout',
        reasons: [
          'step maximum reached (1 h) without a verdict: holding at 5%',
        ],
      },
    });
    await renderWithApis(
      <RolloutSummary
        rollout={rollout}
        entityRef={rollout.entityRef}
        onAction={vi.fn()}
      />,
      { api: createMockApi() },
    );
    expect(await screen.findByTestId('verdict')).toHaveTextContent(
      'decided by the step maximum (no verdict within it)',
    );
  });

  it("shows how far behind the telemetry is: the newest data's age, the provider's lag, intervals missing", async () => {
    const base = makeRollout();
    const rollout = makeRollout({
      evidence: {
        ...base.evidence,
        checks: {
          ...(base.evidence as any).checks,
          freshness: {
            stale: true,
            lagSeconds: 185.2,
            newestAgeSeconds: 190,
            unreportedTicks: 1,
            incompleteTicks: 2,
          },
        },
      },
    });
    await renderWithApis(
      <RolloutSummary rollout={rollout} entityRef={rollout.entityRef} />,
      { api: createMockApi() },
    );
    expect(await screen.findByTestId('telemetry-freshness')).toHaveTextContent(
      'Telemetry is stale: newest data 190 s old · provider lag 185 s · 3 recent intervals missing',
    );
  });

  it('says that a rollback failed, that Tollgate retries it, and offers the retry now', async () => {
    const rollout = makeRollout({
      lastError: {
        message: 'simulator did not accept the rollback: read ECONNRESET',
        at: '2026-11-21T03:00:00Z',
        action: 'rollback',
      },
    });
    await renderWithApis(
      <RolloutSummary
        rollout={rollout}
        entityRef={rollout.entityRef}
        onAction={vi.fn()}
      />,
      { api: createMockApi() },
    );
    const alert = await screen.findByTestId('rollout-last-error');
    expect(alert).toHaveTextContent(
      'The rollback failed: simulator did not accept the rollback: read ECONNRESET',
    );
    expect(alert).toHaveTextContent('Tollgate retries it on its next run');
    expect(
      await screen.findByRole('button', { name: 'Retry roll back' }),
    ).toBeInTheDocument();
  });

  it('shows a telemetry failure as it is, without a retry button', async () => {
    const rollout = makeRollout({
      lastError: {
        message:
          'telemetry unavailable: no answer within 30 s; holding (never promote on missing data)',
        at: '2026-11-21T03:00:00Z',
      },
    });
    await renderWithApis(
      <RolloutSummary
        rollout={rollout}
        entityRef={rollout.entityRef}
        onAction={vi.fn()}
      />,
      { api: createMockApi() },
    );
    expect(await screen.findByTestId('rollout-last-error')).toHaveTextContent(
      /^telemetry unavailable: no answer within 30 s/,
    );
    expect(
      screen.queryByRole('button', { name: /^Retry/ }),
    ).not.toBeInTheDocument();
  });
});
