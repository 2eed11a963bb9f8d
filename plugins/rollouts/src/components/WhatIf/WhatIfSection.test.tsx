// @vitest-environment jsdom
import { fireEvent, screen, within } from '@testing-library/react';
import type { WhatIfResult } from '@tollgate/plugin-rollouts-common';
import { createMockApi } from '../../__testUtils__/fixtures';
import { renderWithApis } from '../../__testUtils__/render';
import { WhatIfSection } from './WhatIfSection';

const RESULT: WhatIfResult = {
  policy: { name: 'unnamed', hash: 'abcdef0123456789' },
  truncated: true,
  limit: 2,
  rollouts: [
    {
      rolloutId: 'ro-1',
      entityRef: 'component:default/checkout-api',
      version: '2.31.4',
      startedAt: '2026-12-07T09:00:00Z',
      replayable: true,
      actual: { outcome: 'full', minute: 24 },
      whatIf: {
        outcome: 'rollback',
        stepIndex: 0,
        minute: 6,
        reasons: ['error rate: canary worse than baseline'],
      },
      comparison: 'would-rollback',
    },
    {
      rolloutId: 'ro-2',
      entityRef: 'component:default/cart-service',
      version: '1.2.0',
      startedAt: '2026-12-06T09:00:00Z',
      replayable: false,
      notReplayable: 'no kept telemetry',
      actual: { outcome: 'full', minute: 30 },
    },
  ],
  totals: {
    replayed: 1,
    notReplayable: 1,
    whatIf: { rollbacks: 1, promotionsToFull: 0, undecided: 0 },
    actual: {
      rollbacks: 0,
      promotionsToFull: 1,
      undecided: 0,
      meanMinutesToFull: 24,
    },
  },
};

describe('WhatIfSection', () => {
  it('runs the candidate over the chosen services and shows each verdict against what happened', async () => {
    const api = createMockApi();
    api.runWhatIf.mockResolvedValue(RESULT);
    await renderWithApis(<WhatIfSection />, { api });
    fireEvent.change(screen.getByTestId('whatif-services'), {
      target: { value: 'checkout-api, component:default/cart-service' },
    });
    fireEvent.change(screen.getByTestId('whatif-from'), {
      target: { value: '2026-12-01' },
    });
    fireEvent.click(screen.getByRole('button', { name: 'Run what-if' }));
    const results = await screen.findByTestId('whatif-results');
    expect(api.runWhatIf).toHaveBeenCalledWith({
      yaml: expect.stringContaining('minDurationSeconds: 240'),
      selection: {
        services: [
          'component:default/checkout-api',
          'component:default/cart-service',
        ],
        from: new Date('2026-12-01').toISOString(),
      },
    });
    expect(
      within(results).getByTestId('whatif-totals-candidate'),
    ).toHaveTextContent(
      '1 rollbacks · 0 promotions to full · 0 undecided · mean time to full —',
    );
    expect(
      within(results).getByTestId('whatif-totals-actual'),
    ).toHaveTextContent(
      '0 rollbacks · 1 promotions to full · 0 undecided · mean time to full 24 min',
    );
    expect(
      within(results).getByText('rollback (step 1, minute 6)'),
    ).toBeInTheDocument();
    expect(within(results).getByText('would-rollback')).toBeInTheDocument();
    expect(within(results).getByText('not replayable')).toBeInTheDocument();
    expect(within(results).getByText('no kept telemetry')).toBeInTheDocument();
    expect(
      within(results).getByText(/More rollouts matched than the limit of 2/),
    ).toBeInTheDocument();
  });

  it('shows the field the backend names when the policy is wrong', async () => {
    const api = createMockApi();
    api.runWhatIf.mockRejectedValue(
      new Error('invalid body: yaml.kpis[0].type: Invalid enum value'),
    );
    await renderWithApis(<WhatIfSection />, { api });
    fireEvent.click(screen.getByRole('button', { name: 'Run what-if' }));
    expect(await screen.findByTestId('whatif-error')).toHaveTextContent(
      'yaml.kpis[0].type',
    );
  });
});
