// @vitest-environment jsdom
import { screen } from '@testing-library/react';
import {
  createMockApi,
  makeListedDecision,
} from '../../__testUtils__/fixtures';
import { renderWithApis } from '../../__testUtils__/render';
import { ShadowVerdicts } from './ShadowVerdicts';

describe('ShadowVerdicts', () => {
  it("shows what the rollout's shadow policy would do beside the enforced verdict, with its would-have entries", async () => {
    const api = createMockApi();
    api.getRolloutShadow.mockResolvedValue({
      policies: [
        {
          policy: 'strict',
          enforced: 'continue',
          shadow: 'rollback',
          updatedAt: '2026-12-07T09:40:00Z',
        },
      ],
      items: [
        makeListedDecision(412, {
          verdict: 'rollback',
          kind: 'shadow',
          actor: 'shadow:strict',
          reasons: [
            'would have: rollback under shadow policy strict (enforced: continue)',
            'error rate: canary worse than baseline',
          ],
        }),
      ],
    });
    await renderWithApis(<ShadowVerdicts rolloutId="ro-1" live={false} />, {
      api,
    });
    const card = await screen.findByTestId('shadow-verdicts');
    expect(api.getRolloutShadow).toHaveBeenCalledWith('ro-1');
    expect(card).toHaveTextContent(
      'strict: would rollback where the enforced policy says continue',
    );
    expect(card).toHaveTextContent(
      'would have: rollback under shadow policy strict (enforced: continue)',
    );
    expect(card).toHaveTextContent('#412');
  });

  it('shows nothing for a rollout without a shadow policy', async () => {
    const api = createMockApi();
    await renderWithApis(
      <div data-testid="host">
        <ShadowVerdicts rolloutId="ro-1" live={false} />
      </div>,
      { api },
    );
    await screen.findByTestId('host');
    expect(api.getRolloutShadow).toHaveBeenCalled();
    expect(screen.queryByTestId('shadow-verdicts')).toBeNull();
  });
});
