// @vitest-environment jsdom
// material-ui-popup-state (used by plugin-catalog-react's peek-ahead popover) does not load as native ESM under vitest
vi.mock('material-ui-popup-state/HoverPopover', () => ({
  default: () => null,
}));
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import {
  ENTITY_REF,
  createMockApi,
  entity,
  entityWithoutAnnotation,
  makeDecision,
  makeRollout,
} from '../../__testUtils__/fixtures';
import { renderWithApis } from '../../__testUtils__/render';
import { EntityRolloutsContent } from './EntityRolloutsContent';

describe('EntityRolloutsContent', () => {
  it('asks for the annotation when the entity lacks it', async () => {
    const api = createMockApi();
    await renderWithApis(<EntityRolloutsContent />, {
      api,
      entity: entityWithoutAnnotation,
    });
    expect(screen.getByText(/tollgate\.dev\/rollouts/)).toBeInTheDocument();
    expect(api.listRollouts).not.toHaveBeenCalled();
  });

  it('shows progress while loading', async () => {
    const api = createMockApi();
    api.listRollouts.mockReturnValue(new Promise(() => {}));
    await renderWithApis(<EntityRolloutsContent />, { api, entity });
    expect(screen.getByTestId('progress')).toBeInTheDocument();
  });

  it('shows the error when the backend fails', async () => {
    const api = createMockApi();
    api.listRollouts.mockRejectedValue(new Error('backend exploded'));
    await renderWithApis(<EntityRolloutsContent />, { api, entity });
    expect(
      (await screen.findAllByText(/backend exploded/)).length,
    ).toBeGreaterThan(0);
    expect(screen.queryByTestId('rollout-summary')).not.toBeInTheDocument();
  });

  it('says so when nothing is rolling out, and lists past rollouts', async () => {
    const api = createMockApi();
    const active = api.listRollouts.getMockImplementation()! as (
      req: unknown,
    ) => Promise<unknown>;
    api.listRollouts.mockImplementation(async (req: any) =>
      req?.status === 'active' ? { items: [] } : active(req),
    );
    await renderWithApis(<EntityRolloutsContent />, { api, entity });
    expect(await screen.findByText('No active rollout')).toBeInTheDocument();
    expect(await screen.findByText('2.31.3 (from 2.31.2)')).toBeInTheDocument();
    expect(screen.getByText('1h 30m')).toBeInTheDocument();
    expect(api.listRollouts).toHaveBeenCalledWith({
      entityRef: ENTITY_REF,
      status: 'finished',
      limit: 200,
    });
  });

  it('with nothing rolling out, shows the rollout still watched after its promotion to full, with its bake window', async () => {
    const api = createMockApi();
    const watched = makeRollout({
      id: 'ro-watched',
      status: 'promoted',
      currentStepIndex: 3,
      currentWeight: 100,
      finishedAt: new Date(Date.now() - 10 * 60_000).toISOString(),
      watch: {
        state: 'watching',
        startedAt: new Date(Date.now() - 10 * 60_000).toISOString(),
        endsAt: new Date(Date.now() + 50 * 60_000).toISOString(),
        verdict: 'continue',
        reasons: [
          'watching the released version: 10 min of the 60 min bake window',
        ],
      },
    });
    api.listRollouts.mockImplementation(async (req: any) =>
      req?.status === 'active' ? { items: [] } : { items: [watched] },
    );
    api.getRollout.mockImplementation(async () => watched);
    await renderWithApis(<EntityRolloutsContent />, { api, entity });
    expect(await screen.findByTestId('bake-watch')).toBeInTheDocument();
    expect(api.getRollout).toHaveBeenCalledWith('ro-watched');
    expect(screen.getByTestId('bake-watch-remaining')).toHaveTextContent(
      /^(49|50)m \d+s left of the bake window/,
    );
    expect(screen.queryByText('No active rollout')).not.toBeInTheDocument();
  });

  it('shows the active rollout: verdict, rubric, reasons, steps, burn, KPI numbers and decisions', async () => {
    const api = createMockApi();
    await renderWithApis(<EntityRolloutsContent />, { api, entity });
    expect(await screen.findByTestId('rollout-version')).toHaveTextContent(
      '2.31.3 → 2.31.4',
    );
    expect(api.listRollouts).toHaveBeenCalledWith({
      entityRef: ENTITY_REF,
      status: 'active',
      limit: 20,
    });
    expect(api.getRollout).toHaveBeenCalledWith('ro-1');

    const summary = screen.getByTestId('rollout-summary');
    expect(within(summary).getByTestId('verdict-chip')).toHaveTextContent(
      'rollback',
    );
    expect(within(summary).getByTestId('rubric-chip')).toHaveTextContent(
      'not ready',
    );
    expect(within(summary).getByTestId('verdict-reasons')).toHaveTextContent(
      'error-rate deteriorated: canary 2.4% vs baseline 0.5%',
    );
    expect(within(summary).getByTestId('step-summary')).toHaveTextContent(
      'Step 2 of 4: 5% of traffic on 2.31.4, for 12m',
    );
    expect(
      within(summary).getByText('simulator: payments/checkout-api', {
        exact: false,
      }),
    ).toBeInTheDocument();
    expect(screen.getByTestId('runbook-link')).toHaveAttribute(
      'href',
      'https://runbooks.example.com/checkout-api',
    );

    // burn windows, with the threshold and partial windows called out
    expect(screen.getByTestId('burn-text-1h')).toHaveTextContent(
      'Canary 20.5× long / 24× short; service 1.5× long / 1.8× short; alert threshold 14.4×. Partial window',
    );
    expect(
      within(screen.getByTestId('burn-window-1h')).getByText('alerting'),
    ).toBeInTheDocument();

    // KPI numbers
    const row = screen.getByTestId('kpi-row-error-rate');
    expect(row).toHaveTextContent('lower is better');
    expect(row).toHaveTextContent('0.005');
    expect(row).toHaveTextContent('0.024');
    expect(row).toHaveTextContent('+380%');
    expect(row).toHaveTextContent('[+190%, +610%]');
    expect(row).toHaveTextContent('+10%');
    expect(row).toHaveTextContent('deterioration');
    const conv = screen.getByTestId('kpi-row-checkout-conversion');
    expect(conv).toHaveTextContent('higher is better');
    expect(conv).toHaveTextContent('-2%'); // the margin lies on the harmful (lower) side
    expect(screen.getByTestId('forest-plot-relative')).toBeInTheDocument();
    expect(screen.getAllByTestId('margin-mark')).toHaveLength(2);

    // decisions
    expect(await screen.findByTestId('decision-3')).toHaveTextContent(
      'error-rate deteriorated',
    );
    expect(screen.getByTestId('decision-2')).toHaveTextContent(
      'gate (automatic)',
    );
  });

  it('opens a decision with its evidence snapshot', async () => {
    const user = userEvent.setup();
    const api = createMockApi();
    await renderWithApis(<EntityRolloutsContent />, { api, entity });
    await user.click(await screen.findByTestId('decision-2'));
    const dialog = await screen.findByRole('dialog');
    expect(
      within(dialog).getByText('Decision #2: continue'),
    ).toBeInTheDocument();
    // the list carries no evidence: opening the row fetches this entry's
    expect(
      await within(dialog).findByTestId('decision-evidence'),
    ).toHaveTextContent('"rubric": "provisionally ready"');
    expect(api.getDecisionEvidence).toHaveBeenCalledWith('ro-1', 2);
    expect(
      within(dialog).getByTestId('decision-key-numbers'),
    ).toHaveTextContent('Score 0.6');
  });

  it('opens the rollout and the decision a dashboard incident links to (?rollout=&decision=)', async () => {
    const api = createMockApi();
    await renderWithApis(<EntityRolloutsContent />, {
      api,
      entity,
      route: '/?rollout=ro-1&decision=3',
    });
    const dialog = await screen.findByRole('dialog');
    expect(
      within(dialog).getByText('Decision #3: rollback'),
    ).toBeInTheDocument();
    expect(api.getRollout).toHaveBeenCalledWith('ro-1');
  });

  it('is defensive about partial evidence', async () => {
    const api = createMockApi();
    api.getRollout.mockResolvedValue(
      makeRollout({
        evidence: { verdict: 'hold', checks: {} },
        lastEvaluation: undefined,
      }),
    );
    await renderWithApis(<EntityRolloutsContent />, { api, entity });
    expect(await screen.findByTestId('burn-empty')).toBeInTheDocument();
    expect(screen.getByTestId('kpi-empty')).toBeInTheDocument();
    expect(
      screen.getByText('The gate has not evaluated this rollout yet.'),
    ).toBeInTheDocument();
  });

  it("shows the blast radius card when the rollout's evidence names consumers, and no card when it has none", async () => {
    const consumer = {
      entityRef: 'component:default/storefront-bff',
      relation: 'dependsOn',
      status: 'harm',
      reason:
        'consumer component:default/storefront-bff error-budget burn rose from 0.2× to 4× with the 1 % step',
      burnBefore: 0.2,
      burnDuring: 4,
      limitBurn: 1.2,
      availability: 0.995,
      before: null,
      during: null,
      statistic: 50,
      threshold: 7,
    };
    const api = createMockApi();
    api.getRollout.mockResolvedValue(
      makeRollout({
        evidence: {
          verdict: 'hold',
          checks: {},
          blastRadius: {
            onConsumerHarm: 'hold',
            alpha: 0.01,
            alphaPerTest: 0.003,
            minBurnRise: 1,
            beforeSeconds: 1800,
            step: 1,
            share: 0.01,
            consumers: [consumer],
            harmed: [consumer.entityRef],
            action: 'hold',
          },
        },
      }),
    );
    const { unmount } = await renderWithApis(<EntityRolloutsContent />, {
      api,
      entity,
    });
    expect(
      await screen.findByText('Blast radius: consumers of this service'),
    ).toBeInTheDocument();
    expect(screen.getByTestId('blast-radius-verdict')).toHaveTextContent(
      'Holding: storefront-bff burns error budget since the 1 % step',
    );
    unmount();
    const plain = createMockApi();
    await renderWithApis(<EntityRolloutsContent />, { api: plain, entity });
    expect(await screen.findByTestId('burn-chart')).toBeInTheDocument();
    expect(
      screen.queryByText('Blast radius: consumers of this service'),
    ).toBeNull();
  });

  it('rolls back with a reason, confirms it, and shows the new decision right away', async () => {
    const user = userEvent.setup();
    const api = createMockApi();
    await renderWithApis(<EntityRolloutsContent />, { api, entity });
    await user.click(await screen.findByRole('button', { name: 'Roll back' }));
    const dialog = await screen.findByRole('dialog');
    await user.type(within(dialog).getByLabelText(/Reason/), 'checkout errors');

    // after the action the backend returns the rolled-back rollout and the new decision
    api.getRollout.mockResolvedValue(
      makeRollout({
        status: 'rolled-back',
        currentWeight: 0,
        finishedAt: new Date().toISOString(),
      }),
    );
    api.listDecisions.mockResolvedValue({
      items: [
        makeDecision(4, {
          verdict: 'rollback',
          kind: 'manual',
          actor: 'user:default/jane',
          reasons: ['reason given: checkout errors'],
        }),
      ],
    });
    api.listRollouts.mockImplementation(async (req: any) => ({
      items: req?.status === 'active' ? [] : [],
    }));

    await user.click(
      within(dialog).getByRole('button', { name: 'Confirm roll back' }),
    );
    expect(await screen.findByTestId('action-notice')).toHaveTextContent(
      'Rolled back checkout-api 2.31.4.',
    );
    expect(api.performAction).toHaveBeenCalledTimes(1);
    expect(api.performAction.mock.calls[0][1]).toBe('rollback');
    expect(await screen.findByTestId('decision-4')).toHaveTextContent(
      'reason given: checkout errors',
    );
    expect(screen.getByTestId('decision-4')).toHaveTextContent('jane');
    await waitFor(() =>
      expect(screen.getByTestId('rollout-summary')).toHaveTextContent(
        'rolled-back',
      ),
    );
    // the rollout is over: no more controls
    expect(
      screen.queryByRole('button', { name: 'Roll back' }),
    ).not.toBeInTheDocument();
  });

  it('charts the metrics over time of the active rollout, and of a past one opened from the history', async () => {
    const user = userEvent.setup();
    const api = createMockApi();
    await renderWithApis(<EntityRolloutsContent />, { api, entity });
    expect(await screen.findByText('Metrics over time')).toBeInTheDocument();
    expect(
      await screen.findByTestId('band-chart-error rate'),
    ).toBeInTheDocument();
    expect(screen.getByTestId('target-cohort')).toHaveTextContent(
      'flexibleRollout',
    );
    const active = (await api.getRollout.mock.results[0].value) as {
      id: string;
    };
    expect(api.getTimeseries).toHaveBeenCalledWith(active.id);

    api.getTimeseries.mockClear();
    await user.click(await screen.findByText('2.31.3 (from 2.31.2)'));
    await waitFor(() => expect(api.getTimeseries).toHaveBeenCalledWith('ro-0'));
  });

  it('shows disabled controls with the reason when the user lacks the permission', async () => {
    const user = userEvent.setup();
    const api = createMockApi();
    await renderWithApis(<EntityRolloutsContent />, {
      api,
      entity,
      deny: ['rollouts.rollout.rollback', 'rollouts.rollout.promote'],
    });
    await waitFor(() =>
      expect(screen.getByRole('button', { name: 'Roll back' })).toBeDisabled(),
    );
    await waitFor(() =>
      expect(screen.getByRole('button', { name: 'Promote' })).toBeDisabled(),
    );
    expect(screen.getByRole('button', { name: 'Pause' })).toBeDisabled();
    await user.hover(screen.getByTestId('action-rollback-denied'));
    expect(await screen.findByRole('tooltip')).toHaveTextContent(
      `You need the rollouts.rollout.rollback permission on ${ENTITY_REF} (owners of the service have it)`,
    );
  });
});
