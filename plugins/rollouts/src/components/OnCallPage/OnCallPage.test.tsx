// @vitest-environment jsdom
import { screen, within } from '@testing-library/react';
import type { AttentionItem } from '@tollgate/plugin-rollouts-common';
import {
  createMockApi,
  evidence,
  makeRollout,
} from '../../__testUtils__/fixtures';
import { renderWithApis } from '../../__testUtils__/render';
import { OnCallPage } from './OnCallPage';

function item(
  name: string,
  owner: string,
  needs: AttentionItem['needs'],
): AttentionItem {
  return {
    rollout: makeRollout({
      id: `ro-${name}`,
      entityRef: `component:default/${name}`,
      target: `shop/${name}`,
      status:
        needs[0].kind === 'awaiting-approval'
          ? 'awaiting-approval'
          : 'progressing',
    }),
    needs,
    owner,
    runbookUrl: `https://runbooks.example/${name}`,
    lastAction: {
      actor: 'user:default/priya',
      verdict: 'pause',
      at: '2026-12-06T10:00:00.000Z',
    },
    health: evidence.signals.slice(0, 1) as AttentionItem['health'],
  };
}

describe('OnCallPage', () => {
  it("lists what needs a person, the user's teams first, with reasons, SLIs, runbook and actions", async () => {
    const api = createMockApi();
    api.getAttention.mockResolvedValue({
      generatedAt: '2026-12-06T12:00:00.000Z',
      items: [
        item('payments', 'group:default/team-payments', [
          {
            kind: 'failed-rollback',
            text: 'the rollback failed at simulator: HTTP 503',
          },
        ]),
        item('cart', 'group:default/team-shop', [
          { kind: 'hold', text: 'the gate holds: sample ratio mismatch' },
        ]),
      ],
    });
    await renderWithApis(<OnCallPage />, {
      api,
      ownership: ['user:default/sam', 'group:default/team-shop'],
    });
    const cards = await screen.findAllByTestId(/^attention-/);
    expect(cards.map(c => c.dataset.testid)).toEqual([
      'attention-cart',
      'attention-payments',
    ]);
    const cart = within(cards[0]);
    expect(cart.getByText('your team')).toBeInTheDocument();
    expect(cart.getByText('held')).toBeInTheDocument();
    expect(
      cart.getByText('the gate holds: sample ratio mismatch'),
    ).toBeInTheDocument();
    expect(cart.getByRole('link', { name: 'Runbook' })).toHaveAttribute(
      'href',
      'https://runbooks.example/cart',
    );
    expect(cart.getByRole('link', { name: 'cart' })).toHaveAttribute(
      'href',
      '/catalog/default/component/cart/rollouts',
    );
    expect(cards[0]).toHaveTextContent('last: pause by user:default/priya');
    expect(cards[0]).toHaveTextContent(evidence.signals[0].name);
    expect(cart.getByTestId('rollout-actions')).toBeInTheDocument();
    expect(within(cards[1]).getByText('rollback failed')).toBeInTheDocument();
  });

  it('says when nothing needs a person', async () => {
    const api = createMockApi();
    await renderWithApis(<OnCallPage />, {
      api,
      ownership: ['user:default/sam'],
    });
    expect(
      await screen.findByText('Nothing needs a person'),
    ).toBeInTheDocument();
  });
});
