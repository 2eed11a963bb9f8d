// @vitest-environment jsdom
import { fireEvent, screen, within } from '@testing-library/react';
import type { ShadowSummary } from '@tollgate/plugin-rollouts-common';
import { createMockApi } from '../../__testUtils__/fixtures';
import { renderWithApis } from '../../__testUtils__/render';
import { ShadowPoliciesPanel } from './ShadowPoliciesPanel';

const SUMMARY: ShadowSummary = {
  days: 30,
  generatedAt: '2026-12-07T10:00:00Z',
  policies: [
    {
      policy: 'strict',
      rolloutsShadowed: 4,
      rolloutsDisagreeing: 2,
      byKind: {
        'would-rollback': 1,
        'promote-earlier': 0,
        'promote-later': 1,
        'would-not-rollback': 0,
        'hold-vs-continue': 0,
      },
      latest: [
        {
          seq: 412,
          rolloutId: 'ro-1',
          entityRef: 'component:default/checkout-api',
          version: '2.31.4',
          stepIndex: 1,
          at: '2026-12-07T09:40:00Z',
          kind: 'would-rollback',
          shadowVerdict: 'rollback',
          enforcedVerdict: 'continue',
          reason: 'error rate: canary 0.8% vs baseline 0.2%',
          rolloutStatus: 'promoted',
        },
      ],
    },
  ],
};

describe('ShadowPoliciesPanel', () => {
  it('shows per shadow policy how often it disagreed, and opens a would-have entry', async () => {
    const api = createMockApi();
    api.getShadowSummary.mockResolvedValue(SUMMARY);
    api.getDecisionEvidence.mockResolvedValue({
      seq: 412,
      evidence: {
        verdict: 'rollback',
        reasons: ['error rate: canary worse than baseline (e-value 2e9)'],
      },
    });
    await renderWithApis(<ShadowPoliciesPanel days={30} />, { api });
    const panel = await screen.findByTestId('shadow-policy-strict');
    expect(api.getShadowSummary).toHaveBeenCalledWith({ days: 30 });
    expect(panel).toHaveTextContent(
      'Ran beside the enforced policy on 4 rollouts; disagreed on 2',
    );
    expect(
      within(panel).getByTestId('shadow-strict-would-rollback'),
    ).toHaveTextContent('would have rolled back: 1');
    expect(
      within(panel).getByTestId('shadow-strict-promote-later'),
    ).toHaveTextContent('would have promoted later: 1');
    // the row links to the rollout on the service's tab
    const link = within(panel).getByRole('link', {
      name: /checkout-api 2.31.4/,
    });
    expect(link.getAttribute('href')).toBe(
      '/catalog/default/component/checkout-api/rollouts?rollout=ro-1',
    );
    fireEvent.click(
      within(panel).getByRole('button', { name: 'Open would-have entry 412' }),
    );
    expect(
      await screen.findByText(/canary worse than baseline \(e-value 2e9\)/),
    ).toBeInTheDocument();
    expect(api.getDecisionEvidence).toHaveBeenCalledWith('ro-1', 412);
    expect(
      screen.getByText(
        /Would-have entry #412: rollback \(enforced: continue\)/,
      ),
    ).toBeInTheDocument();
  });

  it('says how to name a shadow policy when none ran', async () => {
    const api = createMockApi();
    await renderWithApis(<ShadowPoliciesPanel days={7} />, { api });
    expect(
      await screen.findByText(/No shadow policy ran in this period/),
    ).toBeInTheDocument();
  });
});
