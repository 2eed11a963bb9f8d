// @vitest-environment jsdom
import { screen } from '@testing-library/react';
import { renderInTestApp } from '@backstage/test-utils';
import type { RolloutWatch } from '@tollgate/plugin-rollouts-common';
import { BakeWatch, watchRemainingMs } from './BakeWatch';

const watching: RolloutWatch = {
  state: 'watching',
  startedAt: '2026-11-21T12:00:00.000Z',
  endsAt: '2026-11-21T13:00:00.000Z',
  verdict: 'continue',
  reasons: ['watching the released version: 20 min of the 60 min bake window'],
};

describe('BakeWatch', () => {
  it('shows the time left in the bake window and the watch verdict', async () => {
    await renderInTestApp(
      <BakeWatch watch={watching} now={new Date('2026-11-21T12:20:00.000Z')} />,
    );
    expect(screen.getByTestId('bake-watch-state')).toHaveTextContent(
      'Watching the released version (bake window) (verdict: continue)',
    );
    expect(screen.getByTestId('bake-watch-remaining')).toHaveTextContent(
      '40m 0s left of the bake window',
    );
    expect(screen.getByRole('progressbar')).toHaveAttribute(
      'aria-valuenow',
      '33',
    );
    expect(screen.getByTestId('bake-watch-reasons')).toHaveTextContent(
      '20 min of the 60 min bake window',
    );
  });

  it('shows a rollback within the window and its reason', async () => {
    await renderInTestApp(
      <BakeWatch
        watch={{
          ...watching,
          state: 'rolled-back',
          verdict: 'rollback',
          reasons: ['error-rate after full promotion: 1.2% vs 0.3% before'],
        }}
        now={new Date('2026-11-21T12:30:00.000Z')}
      />,
    );
    expect(screen.getByTestId('bake-watch-state')).toHaveTextContent(
      'Rolled back: harm within the bake window (verdict: rollback)',
    );
    expect(screen.queryByTestId('bake-watch-remaining')).toBeNull();
    expect(screen.getByTestId('bake-watch-reasons')).toHaveTextContent(
      'error-rate after full promotion',
    );
  });

  it('counts the time left down to zero', () => {
    expect(
      watchRemainingMs(watching, new Date('2026-11-21T12:59:00.000Z')),
    ).toBe(60_000);
    expect(
      watchRemainingMs(watching, new Date('2026-11-21T14:00:00.000Z')),
    ).toBe(0);
  });
});
