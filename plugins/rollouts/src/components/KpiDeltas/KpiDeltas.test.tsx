// @vitest-environment jsdom
import { screen, within } from '@testing-library/react';
import { renderInTestApp } from '@backstage/test-utils';
import { evidence } from '../../__testUtils__/fixtures';
import { KpiDeltas, forestDomain, niceTicks } from './KpiDeltas';

describe('KpiDeltas', () => {
  it('plots relative and absolute signals separately and tabulates the numbers', async () => {
    const latency = {
      ...evidence.signals[0],
      name: 'latency-p99',
      kind: 'latency',
      scale: 'absolute',
      baseline: 120,
      canary: 118,
      difference: -2,
      ci: [-6, 3],
      margin: 10,
      rule: 'non-inferiority',
    };
    const missing = {
      ...evidence.signals[1],
      name: 'basket-size',
      difference: null,
      ci: null,
      baseline: null,
      canary: null,
      rule: 'missing',
    };
    await renderInTestApp(
      <KpiDeltas
        evidence={{
          ...evidence,
          signals: [...evidence.signals, latency, missing],
        }}
      />,
    );
    expect(screen.getByTestId('forest-plot-relative')).toBeInTheDocument();
    const abs = screen.getByTestId('forest-plot-absolute');
    expect(
      within(abs).getByTestId('forest-row-latency-p99'),
    ).toBeInTheDocument();
    const row = screen.getByTestId('kpi-row-latency-p99');
    expect(row).toHaveTextContent('120');
    expect(row).toHaveTextContent('118');
    expect(row).toHaveTextContent('[-6, +3]');
    expect(row).toHaveTextContent('+10'); // lower is better: harm lies above 0
    expect(row).toHaveTextContent('non-inferiority');
    expect(screen.getByTestId('kpi-row-basket-size')).toHaveTextContent(
      'missing',
    );
    expect(
      within(screen.getByTestId('forest-plot-relative')).getByText('no data'),
    ).toBeInTheDocument();
  });

  it('copes with missing evidence', async () => {
    await renderInTestApp(<KpiDeltas evidence={undefined} />);
    expect(screen.getByTestId('kpi-empty')).toBeInTheDocument();
  });

  it('keeps the margins in view and clips far-off differences', () => {
    const [errorRate, conversion] = evidence.signals as any[];
    const { lo, hi } = forestDomain([errorRate, conversion]);
    expect(lo).toBeLessThan(-0.05);
    expect(hi).toBeGreaterThan(0.1);
    expect(hi).toBeLessThan(1); // +380% is drawn as an arrow at the edge instead
    expect(niceTicks(-0.1, 0.5)).toEqual([0, 0.2, 0.4]);
    expect(niceTicks(-3, 10)).toEqual([0, 5, 10]);
    expect(niceTicks(-0.06, 0.06)).toEqual([-0.05, 0, 0.05]);
  });
});
