// @vitest-environment jsdom
// material-ui-popup-state (used by plugin-catalog-react's peek-ahead popover) does not load as native ESM under vitest
vi.mock('material-ui-popup-state/HoverPopover', () => ({
  default: () => null,
}));
import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { ServiceSummary } from '@tollgate/plugin-rollouts-common';
import {
  createMockApi,
  servicePager,
  summary,
} from '../../__testUtils__/fixtures';
import { renderWithApis } from '../../__testUtils__/render';
import { RolloutsPage } from './RolloutsPage';

const name = (i: number) => `svc-${String(i).padStart(2, '0')}`;

/**
 * 45 services: burn rate and budget share grow with the number; every
 * third has an active rollout with KPI evidence; every fifth has no
 * budget share known.
 */
const SERVICES: ServiceSummary[] = Array.from({ length: 45 }, (_, i) => ({
  entityRef: `component:default/${name(i)}`,
  activeRollouts: 1,
  finishedRollouts: 3,
  rolledBack: i % 4,
  budgetBurnRate: i / 10,
  kpiImpact: {},
  budgetSpent: i % 5 ? i / 100 : null,
  budgetSpentByRollouts: i % 5 ? i / 1000 : null,
  ...(i % 3 === 0
    ? {
        activeCohorts: [
          {
            rolloutId: `ro-${i}`,
            version: `1.${i}.0`,
            kpis: [
              {
                name: `kpi of ${name(i)}`,
                difference: 0.01,
                ci: [-0.01, 0.03] as [number, number],
                scale: 'relative' as const,
                direction: 'increase' as const,
              },
            ],
          },
        ],
      }
    : {}),
}));

function portfolio() {
  const api = createMockApi();
  // the summary carries a first slice of the rows only, as the backend answers it
  api.getSummary.mockResolvedValue({
    ...summary,
    services: SERVICES.slice(0, 20),
    servicesTotal: 45,
  });
  api.listSummaryServices.mockImplementation(servicePager(SERVICES));
  api.listRollouts.mockResolvedValue({ items: [], total: 0 });
  return api;
}

const called = (api: ReturnType<typeof portfolio>, request: object) =>
  waitFor(
    () =>
      expect(api.listSummaryServices).toHaveBeenCalledWith(
        expect.objectContaining(request),
      ),
    { timeout: 15_000 },
  );

describe('dashboard panels over services', () => {
  it('the services table pages, searches and sorts on the backend', async () => {
    const user = userEvent.setup();
    const api = portfolio();
    await renderWithApis(<RolloutsPage />, { api, catalogApi: undefined });
    const table = await screen.findByTestId('services-table');
    expect(
      await within(table).findByText(
        'Error-budget burn and KPI impact by service (45)',
        {},
        { timeout: 15_000 },
      ),
    ).toBeInTheDocument();
    // worst burn first, 20 rows
    expect(api.listSummaryServices).toHaveBeenCalledWith(
      expect.objectContaining({
        sort: 'budgetBurnRate',
        order: 'desc',
        offset: 0,
        limit: 20,
        days: 30,
      }),
    );
    expect(within(table).getByRole('link', { name: 'svc-44' })).toBeVisible();
    expect(
      within(table).queryByRole('link', { name: 'svc-00' }),
    ).not.toBeInTheDocument();

    await user.click(within(table).getByRole('button', { name: /next page/i }));
    await called(api, { sort: 'budgetBurnRate', offset: 20, limit: 20 });
    expect(
      await within(table).findByRole('link', { name: 'svc-24' }),
    ).toBeInTheDocument();

    // a search goes to the backend and starts at the first page
    fireEvent.change(within(table).getByPlaceholderText('Filter'), {
      target: { value: 'svc-1' },
    });
    await called(api, { q: 'svc-1', offset: 0 });
    expect(
      await within(table).findByText(
        'Error-budget burn and KPI impact by service (10)',
        {},
        { timeout: 15_000 },
      ),
    ).toBeInTheDocument();

    // a column's sort is the backend's
    await user.click(
      within(table).getAllByRole('button', { name: 'Rolled back' })[0],
    );
    await called(api, { q: 'svc-1', sort: 'rolledBack', offset: 0 });
  }, 60_000);

  it('the KPI panel shows the KPIs of a page of services with KPI evidence, and pages over them', async () => {
    const user = userEvent.setup();
    const api = portfolio();
    await renderWithApis(<RolloutsPage />, { api, catalogApi: undefined });
    const panel = await screen.findByTestId('panel-kpis');
    // the worst burn rate first: services 42, 39, 36, 33, 30
    expect(
      await within(panel).findByText('kpi of svc-42', {}, { timeout: 15_000 }),
    ).toBeInTheDocument();
    expect(within(panel).getByText('kpi of svc-30')).toBeInTheDocument();
    expect(within(panel).queryByText('kpi of svc-27')).not.toBeInTheDocument();
    expect(api.listSummaryServices).toHaveBeenCalledWith(
      expect.objectContaining({ active: true, offset: 0, limit: 5 }),
    );
    expect(within(panel).getByText('1–5 of 15')).toBeInTheDocument();
    await user.click(within(panel).getByRole('button', { name: /next page/i }));
    await called(api, { active: true, offset: 5, limit: 5 });
    expect(await within(panel).findByText('kpi of svc-27')).toBeInTheDocument();
    expect(within(panel).queryByText('kpi of svc-42')).not.toBeInTheDocument();
  }, 60_000);

  it('the budget panel lists the services with a budget share, most spent first, ten at a time', async () => {
    const user = userEvent.setup();
    const api = portfolio();
    await renderWithApis(<RolloutsPage />, { api, catalogApi: undefined });
    const panel = await screen.findByTestId('panel-budget');
    const spent = await within(panel).findAllByTestId(
      'budget-spent',
      {},
      { timeout: 15_000 },
    );
    expect(spent.map(e => e.textContent)).toEqual(
      [44, 43, 42, 41, 39, 38, 37, 36, 34, 33].map(i => `${i}%`),
    );
    expect(api.listSummaryServices).toHaveBeenCalledWith(
      expect.objectContaining({
        budgeted: true,
        sort: 'budgetSpent',
        order: 'desc',
        offset: 0,
        limit: 10,
      }),
    );
    await user.click(within(panel).getByRole('button', { name: /next page/i }));
    await called(api, { budgeted: true, offset: 10, limit: 10 });
    await waitFor(() =>
      expect(
        within(panel)
          .getAllByTestId('budget-spent')
          .map(e => e.textContent),
      ).toEqual([32, 31, 29, 28, 27, 26, 24, 23, 22, 21].map(i => `${i}%`)),
    );
  }, 60_000);
});
