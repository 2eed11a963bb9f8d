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
  makeRollout,
  summary,
} from '../../__testUtils__/fixtures';
import { renderWithApis } from '../../__testUtils__/render';
import { RolloutsPage } from './RolloutsPage';

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
      'the average time between the first warning from the automatic checks and the rollback',
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
    expect(api.listRollouts).toHaveBeenCalledWith({
      status: 'active',
      limit: 1000,
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
    expect(await screen.findByTestId('tile-active-value')).toHaveTextContent(
      '1',
    );
    expect(catalogApi.getEntities).toHaveBeenCalledWith(
      expect.objectContaining({ filter: { kind: 'Group' } }),
    );
  });

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
});
