// @vitest-environment jsdom
import { screen, within } from '@testing-library/react';
import { renderInTestApp } from '@backstage/test-utils';
import { makeTimeseries } from '../../__testUtils__/fixtures';
import { MetricsOverTime } from './MetricsOverTime';

describe('MetricsOverTime', () => {
  it("charts each signal's canary and baseline per interval and the difference's interval against the margin", async () => {
    await renderInTestApp(<MetricsOverTime series={makeTimeseries()} />);
    const signal = screen.getByTestId('metrics-signal-error rate');
    expect(signal).toHaveTextContent('error rate (guardrail)');
    expect(signal).toHaveTextContent('now +60%, margin +20%, deterioration');

    const cohorts = screen.getByTestId('cohort-chart-error rate');
    expect(cohorts).toHaveAttribute(
      'aria-label',
      'error rate: canary and baseline per interval',
    );
    // one segment per interval on each line
    const canary = within(cohorts)
      .getByTestId('canary-line')
      .getAttribute('d')!;
    expect(canary.match(/[ML] /g)).toHaveLength(20);
    expect(
      within(cohorts).getByTestId('baseline-line').getAttribute('d'),
    ).toMatch(/^M /);
    expect(
      within(cohorts).getByText(
        'interval 11: canary 0.4%, baseline 0.2% (so far: canary 0.32%, baseline 0.2%)',
      ),
    ).toBeInTheDocument();

    const verdicts = screen.getByTestId('verdict-strip');
    expect(
      Array.from(verdicts.querySelectorAll('rect')).map(r =>
        r.getAttribute('data-verdict'),
      ),
    ).toEqual([...Array(14).fill('continue'), ...Array(6).fill('rollback')]);

    const band = screen.getByTestId('band-chart-error rate');
    expect(within(band).getByTestId('ci-band')).toBeInTheDocument();
    expect(within(band).getByTestId('margin-line')).toBeInTheDocument();
    expect(within(band).getByTestId('difference-line')).toBeInTheDocument();
    // an unbounded side (null) is drawn to the edge and said so
    expect(
      within(band).getByText(
        /^interval 1: difference \+2%, interval -90% to \+∞/,
      ),
    ).toBeInTheDocument();
    expect(
      within(band).getByText(
        /^interval 20: difference \+60%, interval \+15\.3% to \+105%, margin \+20%, deterioration$/,
      ),
    ).toBeInTheDocument();
  });

  it("shows the flag's cohort as the provider reports it", async () => {
    await renderInTestApp(<MetricsOverTime series={makeTimeseries()} />);
    const cohort = screen.getByTestId('target-cohort');
    expect(cohort).toHaveTextContent(
      'Cohort at the deploy system now (unleash, feature-flag): new-checkout',
    );
    const rows = within(cohort)
      .getAllByRole('row')
      .map(r => r.textContent);
    expect(rows).toEqual([
      'Flag onyes',
      'StrategyflexibleRollout',
      'Percentage5%',
      'StickinessuserId',
      'Group idnew-checkout',
      'ConstraintsappName IN web',
      'projectdefault',
      'environmentproduction',
    ]);
  });

  it('says what is missing: notes, a failed description, no intervals', async () => {
    await renderInTestApp(
      <MetricsOverTime
        series={makeTimeseries({
          signals: [],
          intervals: [],
          intervalsRead: 4,
          target: undefined,
          targetError: 'unleash could not describe new-checkout: timeout',
          notes: [
            'the telemetry provider answered 4 of the 20 intervals in the window',
          ],
        })}
      />,
    );
    expect(screen.getByTestId('metrics-empty')).toBeInTheDocument();
    expect(
      screen.getByText(
        'the telemetry provider answered 4 of the 20 intervals in the window',
      ),
    ).toBeInTheDocument();
    expect(
      screen.getByText('unleash could not describe new-checkout: timeout'),
    ).toBeInTheDocument();
    expect(screen.queryByTestId('target-cohort')).not.toBeInTheDocument();
    expect(
      screen.getByText(/Step 2: 4 of 20 intervals of 60 s/),
    ).toBeInTheDocument();
  });
});
