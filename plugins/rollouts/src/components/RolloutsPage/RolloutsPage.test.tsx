// @vitest-environment jsdom
// material-ui-popup-state (used by plugin-catalog-react's peek-ahead popover) does not load as native ESM under vitest
vi.mock('material-ui-popup-state/HoverPopover', () => ({
  default: () => null,
}));
import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import {
  ENTITY_REF,
  createMockApi,
  makeRollout,
  servicePager,
  summary,
} from '../../__testUtils__/fixtures';
import { renderWithApis } from '../../__testUtils__/render';
import type { RolloutsSummary } from '@tollgate/plugin-rollouts-common';
import { RolloutsPage } from './RolloutsPage';

/** The summary with every panel's figures. */
const dashboard: RolloutsSummary = {
  ...summary,
  failedPer100: 15,
  reachedFull: 12,
  changeFailures: 1,
  changeFailureRate: 1 / 12,
  timedRollbacks: 2,
  detections: 2,
  automatedSteps: 45,
  allSteps: 50,
  automationSuccessRate: 0.9,
  sloWindowDays: 30,
  services: [
    {
      ...summary.services[0],
      budgetSpent: 0.12,
      budgetSpentByRollouts: 0.03,
      activeCohorts: [
        {
          rolloutId: 'ro-1',
          version: '1.3.0',
          kpis: [
            {
              name: 'conversion',
              difference: -0.02,
              ci: [-0.035, -0.005],
              scale: 'relative',
              direction: 'increase',
            },
            {
              name: 'refunds',
              difference: null,
              ci: null,
              scale: 'relative',
              direction: 'decrease',
            },
            {
              name: 'order value',
              difference: 1.5,
              ci: [-2, 5],
              scale: 'absolute',
              direction: 'increase',
            },
          ],
        },
      ],
    },
    {
      ...summary.services[1],
      budgetSpent: 0.00001,
      budgetSpentByRollouts: 0,
    },
    {
      ...summary.services[1],
      entityRef: 'component:default/ledger',
      budgetSpent: null,
      budgetSpentByRollouts: null,
    },
  ],
  incidents: [
    {
      kind: 'rollback-failed',
      at: '2025-01-02T10:00:00.000Z',
      entityRef: ENTITY_REF,
      rolloutId: 'ro-9',
      version: '1.2.9',
      seq: 42,
      reason: 'deploy system refused the rollback',
    },
    {
      kind: 'hold-stale',
      at: '2025-01-02T09:00:00.000Z',
      entityRef: 'component:default/search-api',
      rolloutId: 'ro-2',
      version: '9.1.0',
      seq: 40,
      reason: 'canary telemetry stale for 3 ticks',
    },
  ],
};

const catalogApi = {
  getEntities: vi.fn(async ({ filter }: { filter: { kind: string } }) => ({
    items:
      filter.kind === 'Group'
        ? [
            {
              apiVersion: 'backstage.io/v1alpha1',
              kind: 'Group',
              metadata: { name: 'team-payments', namespace: 'default' },
            },
            {
              apiVersion: 'backstage.io/v1alpha1',
              kind: 'Group',
              metadata: { name: 'team-search', namespace: 'default' },
            },
          ]
        : [
            {
              apiVersion: 'backstage.io/v1alpha1',
              kind: 'System',
              metadata: { name: 'shop', namespace: 'default' },
            },
          ],
  })),
};

function portfolioApi() {
  const api = createMockApi();
  api.listRollouts.mockResolvedValue({
    items: [
      makeRollout(),
      makeRollout({
        id: 'ro-2',
        entityRef: 'component:default/search-api',
        version: '9.1.0',
        status: 'awaiting-approval',
        lastEvaluation: undefined,
      }),
      makeRollout({
        id: 'ro-3',
        entityRef: 'component:default/ledger',
        version: '1.0.1',
        status: 'paused',
      }),
    ],
  });
  return api;
}

describe('RolloutsPage', () => {
  it('shows progress, then the KPI tiles with plain-words help', async () => {
    const user = userEvent.setup();
    const api = portfolioApi();
    let resolve: (v: unknown) => void = () => {};
    api.getSummary.mockReturnValueOnce(new Promise(r => (resolve = r)));
    await renderWithApis(<RolloutsPage />, { api, catalogApi });
    expect(
      screen.getByRole('heading', { name: 'Rollouts' }),
    ).toBeInTheDocument();
    expect(screen.getAllByTestId('progress').length).toBeGreaterThan(0);
    resolve(summary);
    expect(await screen.findByTestId('tile-active-value')).toHaveTextContent(
      '3',
    );
    expect(screen.getByTestId('tile-success-value')).toHaveTextContent('85%');
    expect(screen.getByTestId('tile-success')).toHaveTextContent(
      '17 of 20 finished in the last 30 days',
    );
    expect(screen.getByTestId('tile-mttr-value')).toHaveTextContent('12.5 min');
    expect(screen.getByTestId('tile-cfr-value')).toHaveTextContent('15%');
    expect(screen.getByTestId('tile-detection-value')).toHaveTextContent(
      '3.2 min',
    );
    await user.hover(screen.getByTestId('tile-detection'));
    expect(await screen.findByRole('tooltip')).toHaveTextContent(
      "the mean time from the deploy of the new version (the rollout's start) to that first harmful verdict",
    );
    expect(api.getSummary).toHaveBeenCalledWith({
      owner: undefined,
      system: undefined,
      days: 30,
    });
  });

  it('shows the error when the summary fails', async () => {
    const api = portfolioApi();
    api.getSummary.mockRejectedValue(new Error('summary unavailable'));
    await renderWithApis(<RolloutsPage />, { api, catalogApi });
    expect(
      (await screen.findAllByText(/summary unavailable/)).length,
    ).toBeGreaterThan(0);
  });

  it('lists active rollouts with links, verdicts and per-row controls', async () => {
    const api = portfolioApi();
    await renderWithApis(<RolloutsPage />, { api, catalogApi });
    // the active table comes first; the services table links the service too
    const link = (
      await screen.findAllByRole('link', { name: 'checkout-api' })
    )[0];
    expect(link).toHaveAttribute(
      'href',
      '/catalog/default/component/checkout-api/rollouts',
    );
    const row = link.closest('tr')!;
    expect(within(row).getByTestId('verdict-chip')).toHaveTextContent(
      'rollback',
    );
    expect(within(row).getByText('2/4 · 5%')).toBeInTheDocument();
    expect(
      within(row).getByRole('button', { name: 'Roll back' }),
    ).toBeInTheDocument();
    const search = screen
      .getAllByRole('link', { name: 'search-api' })[0]
      .closest('tr')!;
    expect(
      within(search).getByRole('button', { name: 'Approve' }),
    ).toBeInTheDocument();
    const ledger = screen.getByRole('link', { name: 'ledger' }).closest('tr')!;
    expect(
      within(ledger).getByRole('button', { name: 'Resume' }),
    ).toBeInTheDocument();
    // one page of the active rollouts, as the table shows it
    expect(api.listRollouts).toHaveBeenCalledWith({
      status: 'active',
      limit: 20,
      offset: 0,
      owner: undefined,
      system: undefined,
      q: undefined,
    });
    // one list call for the whole portfolio, no per-row fetches
    expect(api.getRollout).not.toHaveBeenCalled();
    expect(api.listDecisions).not.toHaveBeenCalled();
  });

  it('filters by owner: the summary is asked for the owner and the table narrows to its services', async () => {
    const user = userEvent.setup();
    const api = portfolioApi();
    await renderWithApis(<RolloutsPage />, { api, catalogApi });
    await screen.findByRole('link', { name: 'ledger' });
    await waitFor(() =>
      expect(
        screen.getByRole('option', { name: 'team-payments' }),
      ).toBeInTheDocument(),
    );

    api.getSummary.mockResolvedValue({
      ...summary,
      activeRollouts: 1,
      services: [summary.services[0]],
    });
    api.listSummaryServices.mockImplementation(async (request = {}) =>
      servicePager(request.owner ? [summary.services[0]] : summary.services)(
        request,
      ),
    );
    // the backend narrows the list to the owner's services
    const all = (await api.listRollouts()).items;
    api.listRollouts.mockImplementation(async (request = {}) =>
      request.owner
        ? {
            items: all.filter(r => r.entityRef.endsWith('/checkout-api')),
            total: 1,
          }
        : { items: all, total: all.length },
    );
    await user.selectOptions(
      screen.getByLabelText('Owner'),
      'group:default/team-payments',
    );
    await waitFor(() =>
      expect(api.getSummary).toHaveBeenLastCalledWith({
        owner: 'group:default/team-payments',
        system: undefined,
        days: 30,
      }),
    );
    await waitFor(() =>
      expect(
        screen.queryByRole('link', { name: 'ledger' }),
      ).not.toBeInTheDocument(),
    );
    expect(
      screen.queryByRole('link', { name: 'search-api' }),
    ).not.toBeInTheDocument();
    expect(
      screen.getAllByRole('link', { name: 'checkout-api' }).length,
    ).toBeGreaterThan(0);
    expect(api.listRollouts).toHaveBeenLastCalledWith(
      expect.objectContaining({
        owner: 'group:default/team-payments',
        offset: 0,
      }),
    );
    expect(screen.getByText('Active rollouts (1)')).toBeInTheDocument();
    expect(api.listSummaryServices).toHaveBeenLastCalledWith(
      expect.objectContaining({
        owner: 'group:default/team-payments',
        offset: 0,
      }),
    );
    expect(await screen.findByTestId('tile-active-value')).toHaveTextContent(
      '1',
    );
    expect(catalogApi.getEntities).toHaveBeenCalledWith(
      expect.objectContaining({ filter: { kind: 'Group' } }),
    );
  });

  it('pages the active rollouts on the backend: the next page asks for rows 20–39 and the title counts them all', async () => {
    const user = userEvent.setup();
    const api = portfolioApi();
    const rows = Array.from({ length: 45 }, (_, i) =>
      makeRollout({
        id: `ro-${i}`,
        entityRef: `component:default/svc-${String(i).padStart(2, '0')}`,
      }),
    );
    api.listRollouts.mockImplementation(async (request = {}) => ({
      items: rows
        .filter(r => !request.q || r.entityRef.includes(request.q))
        .slice(
          request.offset ?? 0,
          (request.offset ?? 0) + (request.limit ?? 20),
        ),
      total: request.q
        ? rows.filter(r => r.entityRef.includes(request.q!)).length
        : 45,
    }));
    await renderWithApis(<RolloutsPage />, { api, catalogApi });
    expect(
      await screen.findByText('Active rollouts (45)', {}, { timeout: 15_000 }),
    ).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'svc-00' })).toBeInTheDocument();
    await user.click(screen.getAllByRole('button', { name: /next page/i })[0]);
    await waitFor(
      () =>
        expect(api.listRollouts).toHaveBeenCalledWith(
          expect.objectContaining({ limit: 20, offset: 20 }),
        ),
      { timeout: 15_000 },
    );
    expect(
      await screen.findByRole('link', { name: 'svc-20' }, { timeout: 15_000 }),
    ).toBeInTheDocument();
    expect(
      screen.queryByRole('link', { name: 'svc-00' }),
    ).not.toBeInTheDocument();

    // a search goes to the backend and starts at the first page
    const table = screen.getByTestId('active-rollouts');
    // one change event: a keystroke at a time races the live refreshes' re-renders on a loaded machine
    fireEvent.change(within(table).getByPlaceholderText('Filter'), {
      target: { value: 'svc-4' },
    });
    await waitFor(
      () =>
        expect(api.listRollouts).toHaveBeenCalledWith(
          expect.objectContaining({ q: 'svc-4', offset: 0 }),
        ),
      { timeout: 15_000 },
    );
    expect(
      await screen.findByText('Active rollouts (5)', {}, { timeout: 15_000 }),
    ).toBeInTheDocument();
  }, 60_000);

  it('switches the period', async () => {
    const user = userEvent.setup();
    const api = portfolioApi();
    await renderWithApis(<RolloutsPage />, { api, catalogApi });
    await screen.findByTestId('tile-active-value');
    await user.click(screen.getByRole('button', { name: '90 days' }));
    await waitFor(() =>
      expect(api.getSummary).toHaveBeenLastCalledWith({
        owner: undefined,
        system: undefined,
        days: 90,
      }),
    );
  });

  it('shows error-budget burn and KPI impact per service', async () => {
    const api = portfolioApi();
    await renderWithApis(<RolloutsPage />, { api, catalogApi });
    expect(await screen.findByText('2.5×')).toBeInTheDocument();
    expect(screen.getByText('conversion -1.2%')).toBeInTheDocument();
    expect(
      screen.getAllByRole('link', { name: 'checkout-api' })[0],
    ).toHaveAttribute(
      'href',
      '/catalog/default/component/checkout-api/rollouts',
    );
    expect(ENTITY_REF).toBe(summary.services[0].entityRef);
  });

  it('takes an action from a row and reports it', async () => {
    const user = userEvent.setup();
    const api = portfolioApi();
    await renderWithApis(<RolloutsPage />, { api, catalogApi });
    const row = (await screen.findByRole('link', { name: 'ledger' })).closest(
      'tr',
    )!;
    await user.click(within(row).getByRole('button', { name: 'Resume' }));
    const dialog = await screen.findByRole('dialog');
    await user.type(within(dialog).getByLabelText(/Reason/), 'fixed upstream');
    const before = api.listRollouts.mock.calls.length;
    await user.click(
      within(dialog).getByRole('button', { name: 'Confirm resume' }),
    );
    expect(await screen.findByTestId('action-notice')).toHaveTextContent(
      'Resumed ledger 1.0.1.',
    );
    expect(api.performAction).toHaveBeenCalledWith(
      'ro-3',
      'resume',
      expect.objectContaining({ reason: 'fixed upstream' }),
    );
    await waitFor(() =>
      expect(api.listRollouts.mock.calls.length).toBeGreaterThan(before),
    );
  });

  it('shows the delivery metrics, each with its definition', async () => {
    const user = userEvent.setup();
    const api = portfolioApi();
    api.getSummary.mockResolvedValue(dashboard);
    await renderWithApis(<RolloutsPage />, { api, catalogApi });
    expect(await screen.findByTestId('tile-failed-value')).toHaveTextContent(
      '15',
    );
    expect(screen.getByTestId('tile-cfr-value')).toHaveTextContent('8%');
    expect(screen.getByTestId('tile-cfr')).toHaveTextContent(
      '1 of 12 that reached full',
    );
    expect(screen.getByTestId('tile-automation-value')).toHaveTextContent(
      '90%',
    );
    expect(screen.getByTestId('tile-automation')).toHaveTextContent(
      '45 of 50 steps',
    );
    expect(screen.getByTestId('tile-mttr')).toHaveTextContent('2 rollbacks');
    await user.hover(screen.getByTestId('tile-cfr'));
    expect(await screen.findByRole('tooltip')).toHaveTextContent(
      'the share that needed a rollback afterwards',
    );
    await user.unhover(screen.getByTestId('tile-cfr'));
    await user.hover(screen.getByTestId('tile-automation'));
    await waitFor(() =>
      expect(screen.getByRole('tooltip')).toHaveTextContent(
        'Steps completed by the automation / all steps',
      ),
    );
  });

  it("shows the active cohorts' KPI deltas with their always-valid intervals", async () => {
    const user = userEvent.setup();
    const api = portfolioApi();
    api.getSummary.mockResolvedValue(dashboard);
    api.listSummaryServices.mockImplementation(
      servicePager(dashboard.services),
    );
    await renderWithApis(<RolloutsPage />, { api, catalogApi });
    const panel = await screen.findByTestId('panel-kpis');
    await within(panel).findByText('conversion');
    const row = within(panel).getByText('conversion').closest('tr')!;
    expect(row).toHaveTextContent('checkout-api');
    expect(row).toHaveTextContent('1.3.0');
    expect(row).toHaveTextContent('-2%');
    expect(row).toHaveTextContent('[-3.5%, -0.5%]');
    expect(within(row).getByTestId('kpi-reading')).toHaveTextContent('harm');
    const aov = within(panel).getByText('order value').closest('tr')!;
    expect(within(aov).getByTestId('kpi-reading')).toHaveTextContent(
      'not conclusive',
    );
    const refunds = within(panel).getByText('refunds').closest('tr')!;
    expect(within(refunds).getByTestId('kpi-reading')).toHaveTextContent(
      'no data yet',
    );
    await user.hover(screen.getByTestId('panel-kpis-help'));
    expect(await screen.findByRole('tooltip')).toHaveTextContent(
      'always-valid confidence interval',
    );
  });

  it("shows each service's error-budget consumption and the part the new versions spent", async () => {
    const user = userEvent.setup();
    const api = portfolioApi();
    api.getSummary.mockResolvedValue(dashboard);
    api.listSummaryServices.mockImplementation(
      servicePager(dashboard.services),
    );
    await renderWithApis(<RolloutsPage />, { api, catalogApi });
    const panel = await screen.findByTestId('panel-budget');
    const spent = await within(panel).findAllByTestId('budget-spent');
    // most spent first; a service with nothing logged is left out
    expect(spent.map(e => e.textContent)).toEqual(['12%', '<0.1%']);
    expect(
      within(panel).getAllByTestId('budget-by-rollouts')[0],
    ).toHaveTextContent('3%');
    await user.hover(screen.getByTestId('panel-budget-help'));
    expect(await screen.findByRole('tooltip')).toHaveTextContent(
      'Σ burn rate × time / 30 days',
    );
  });

  it('lists the top incidents with the reason, the time, the service and a link to the decision', async () => {
    const api = portfolioApi();
    api.getSummary.mockResolvedValue(dashboard);
    await renderWithApis(<RolloutsPage />, { api, catalogApi });
    const items = await within(
      await screen.findByTestId('panel-incidents'),
    ).findAllByTestId('incident');
    expect(items).toHaveLength(2);
    expect(items[0]).toHaveTextContent('rollback failed');
    expect(items[0]).toHaveTextContent('deploy system refused the rollback');
    expect(within(items[0]).getByRole('link')).toHaveAttribute(
      'href',
      '/catalog/default/component/checkout-api/rollouts?rollout=ro-9&decision=42',
    );
    expect(items[1]).toHaveTextContent('hold: stale telemetry');
    expect(items[1]).toHaveTextContent('search-api 9.1.0');
  });

  it('says so when a panel has nothing to show', async () => {
    const api = portfolioApi();
    api.getSummary.mockResolvedValue({ ...summary, incidents: [] });
    await renderWithApis(<RolloutsPage />, { api, catalogApi });
    expect(
      await screen.findByText(
        'No rollback or hold on burn or stale telemetry in this period.',
      ),
    ).toBeInTheDocument();
    expect(
      screen.getByText('No active rollout has KPI evidence yet.'),
    ).toBeInTheDocument();
  });
});
