// @vitest-environment jsdom
// material-ui-popup-state (used by plugin-catalog-react's peek-ahead popover) does not load as native ESM under vitest
vi.mock('material-ui-popup-state/HoverPopover', () => ({
  default: () => null,
}));
import { screen } from '@testing-library/react';
import {
  createMockApi,
  entity,
  entityWithoutAnnotation,
} from '../../__testUtils__/fixtures';
import { renderWithApis } from '../../__testUtils__/render';
import { EntityRolloutsCard } from './EntityRolloutsCard';

describe('EntityRolloutsCard', () => {
  it('shows the active rollout at a glance', async () => {
    const api = createMockApi();
    await renderWithApis(<EntityRolloutsCard />, { api, entity });
    expect(await screen.findByTestId('rollout-version')).toHaveTextContent(
      '2.31.3 → 2.31.4',
    );
    expect(screen.getByTestId('verdict-chip')).toHaveTextContent('rollback');
    expect(screen.getByTestId('verdict-reasons')).toHaveTextContent(
      'error-rate deteriorated',
    );
    expect(screen.getByRole('link', { name: /View rollouts/ })).toHaveAttribute(
      'href',
      '/catalog/default/component/checkout-api/rollouts',
    );
  });

  it('shows the last rollout when none is active', async () => {
    const api = createMockApi();
    const impl = api.listRollouts.getMockImplementation()! as (
      req: unknown,
    ) => Promise<unknown>;
    api.listRollouts.mockImplementation(async (req: any) =>
      req?.status === 'active' ? { items: [] } : impl(req),
    );
    await renderWithApis(<EntityRolloutsCard />, { api, entity });
    expect(await screen.findByTestId('no-active-rollout')).toHaveTextContent(
      'No active rollout. Last: 2.31.3',
    );
  });

  it('shows errors and the missing annotation', async () => {
    const api = createMockApi();
    api.listRollouts.mockRejectedValue(new Error('nope'));
    const { unmount } = await renderWithApis(<EntityRolloutsCard />, {
      api,
      entity,
    });
    expect((await screen.findAllByText(/nope/)).length).toBeGreaterThan(0);
    unmount();
    await renderWithApis(<EntityRolloutsCard />, {
      api,
      entity: entityWithoutAnnotation,
    });
    expect(screen.getByText(/tollgate\.dev\/rollouts/)).toBeInTheDocument();
  });
});
