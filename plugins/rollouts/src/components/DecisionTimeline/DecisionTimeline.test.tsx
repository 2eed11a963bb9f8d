// @vitest-environment jsdom
// material-ui-popup-state (used by plugin-catalog-react's peek-ahead popover) does not load as native ESM under vitest
vi.mock('material-ui-popup-state/HoverPopover', () => ({
  default: () => null,
}));
import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import {
  createMockApi,
  makeDecision,
  makeListedDecision,
} from '../../__testUtils__/fixtures';
import { renderWithApis } from '../../__testUtils__/render';
import { DecisionTimeline } from './DecisionTimeline';

describe('DecisionTimeline', () => {
  it('says when there are no decisions', async () => {
    await renderWithApis(
      <DecisionTimeline rolloutId="ro-1" page={{ items: [] }} />,
      { api: createMockApi() },
    );
    expect(screen.getByTestId('decisions-empty')).toBeInTheDocument();
  });

  it('shows actor, verdict, kind and reasons, and pages to older decisions', async () => {
    const user = userEvent.setup();
    const api = createMockApi();
    api.listDecisions.mockResolvedValue({
      items: [makeDecision(1, { reasons: ['first look'] })],
    });
    await renderWithApis(
      <DecisionTimeline
        rolloutId="ro-1"
        page={{
          items: [
            makeDecision(3, {
              verdict: 'pause',
              kind: 'manual',
              actor: 'user:default/jane',
              reasons: ['reason given: investigating'],
            }),
            makeDecision(2, {
              verdict: 'hold',
              reasons: ['canary telemetry is stale'],
              evidence: null,
            }),
          ],
          nextCursor: 2,
        }}
      />,
      { api },
    );
    const row3 = screen.getByTestId('decision-3');
    expect(within(row3).getByTestId('verdict-chip')).toHaveTextContent('pause');
    expect(row3).toHaveTextContent('manual');
    expect(row3).toHaveTextContent('jane');
    expect(row3).toHaveTextContent('reason given: investigating');
    expect(
      within(screen.getByTestId('decision-2')).getByTestId('verdict-chip'),
    ).toHaveTextContent('hold');

    await user.click(
      screen.getByRole('button', { name: 'Load older decisions' }),
    );
    expect(await screen.findByTestId('decision-1')).toHaveTextContent(
      'first look',
    );
    expect(api.listDecisions).toHaveBeenCalledWith('ro-1', {
      limit: 50,
      before: 2,
    });
    expect(
      screen.queryByRole('button', { name: 'Load older decisions' }),
    ).not.toBeInTheDocument();

    // a decision without evidence still opens
    await user.click(screen.getByTestId('decision-2'));
    expect(
      await screen.findByText('No evidence was recorded with this decision.'),
    ).toBeInTheDocument();
  });

  it("lists decisions without evidence and fetches an entry's evidence when it is opened", async () => {
    const user = userEvent.setup();
    const api = createMockApi();
    let answer: (v: {
      seq: number;
      evidence: Record<string, unknown>;
    }) => void = () => {};
    api.getDecisionEvidence.mockImplementation(
      () =>
        new Promise(resolve => {
          answer = resolve;
        }),
    );
    await renderWithApis(
      <DecisionTimeline
        rolloutId="ro-1"
        page={{
          items: [
            makeListedDecision(5),
            makeListedDecision(4, { evidence: null }),
          ],
        }}
      />,
      { api },
    );
    expect(api.getDecisionEvidence).not.toHaveBeenCalled();

    await user.click(screen.getByTestId('decision-5'));
    const dialog = await screen.findByRole('dialog');
    expect(
      within(dialog).getByTestId('decision-evidence-loading'),
    ).toBeInTheDocument();
    expect(api.getDecisionEvidence).toHaveBeenCalledWith('ro-1', 5);
    answer({ seq: 5, evidence: { rubric: 'fetched on demand', score: 0.9 } });
    expect(
      await within(dialog).findByTestId('decision-evidence'),
    ).toHaveTextContent('fetched on demand');
    expect(
      within(dialog).getByTestId('decision-key-numbers'),
    ).toHaveTextContent('Score 0.9');
    await user.click(within(dialog).getByRole('button', { name: 'Close' }));

    // an entry listed without evidence opens without asking for it
    await user.click(screen.getByTestId('decision-4'));
    expect(
      await screen.findByText('No evidence was recorded with this decision.'),
    ).toBeInTheDocument();
    expect(api.getDecisionEvidence).toHaveBeenCalledTimes(1);
  });

  it('says so when the evidence cannot be loaded', async () => {
    const user = userEvent.setup();
    const api = createMockApi();
    api.getDecisionEvidence.mockRejectedValue(new Error('backend down'));
    await renderWithApis(
      <DecisionTimeline
        rolloutId="ro-1"
        page={{ items: [makeListedDecision(7)] }}
      />,
      { api },
    );
    await user.click(screen.getByTestId('decision-7'));
    expect(
      await screen.findByTestId('decision-evidence-error'),
    ).toHaveTextContent('backend down');
  });
});
