// @vitest-environment jsdom
import { screen } from '@testing-library/react';
import { renderInTestApp } from '@backstage/test-utils';
import { RubricChip, StatusChip, VerdictChip } from './RolloutChips';

describe('RolloutChips', () => {
  it('labels chips with the verdict, status and rubric', async () => {
    await renderInTestApp(
      <>
        <VerdictChip verdict="hold" />
        <StatusChip status="paused" />
        <RubricChip rubric="provisionally ready" />
      </>,
    );
    expect(screen.getByTestId('verdict-chip')).toHaveTextContent('hold');
    expect(screen.getByTestId('status-chip')).toHaveTextContent('paused');
    expect(screen.getByTestId('rubric-chip')).toHaveTextContent(
      'provisionally ready',
    );
  });
});
