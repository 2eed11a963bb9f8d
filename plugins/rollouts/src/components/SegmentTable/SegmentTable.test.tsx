// @vitest-environment jsdom
import { screen, within } from '@testing-library/react';
import { renderInTestApp } from '@backstage/test-utils';
import type {
  RepresentativenessEvidence,
  SegmentEvidence,
  SegmentSignalEvidence,
  SrmEvidence,
} from '@tollgate/plugin-rollouts-common';
import { SegmentTable } from './SegmentTable';

const signal = (
  canary: number,
  baseline: number,
  statistic: number,
  rule: SegmentSignalEvidence['rule'],
): SegmentSignalEvidence => ({
  name: 'error rate',
  kind: 'error-rate',
  baseline,
  canary,
  difference: canary / baseline - 1,
  ci: [canary / baseline - 1.6, canary / baseline - 0.4],
  alphaCi: 0.0017,
  statistic,
  threshold: 7.1,
  rule,
  samples: { baseline: 90_000, canary: 4_000, ticks: 30 },
});

const segments: SegmentEvidence = {
  dimensions: ['device'],
  alpha: 0.01,
  cellBudget: 12,
  onHarm: 'rollback',
  minShare: 0.02,
  harmed: ['device=mobile'],
  missingDimensions: [],
  cells: [
    {
      dimension: 'device',
      value: 'desktop',
      baselineShare: 0.52,
      canaryShare: 0.521,
      tested: true,
      missing: false,
      harmed: false,
      signals: [
        {
          ...signal(0.0004, 0.002, -3, 'inconclusive'),
          ci: [-0.9, null as any],
        },
      ],
    },
    {
      dimension: 'device',
      value: 'mobile',
      baselineShare: 0.41,
      canaryShare: 0.409,
      tested: true,
      missing: false,
      harmed: true,
      signals: [signal(0.004, 0.002, 9.2, 'deterioration')],
    },
    {
      dimension: 'device',
      value: 'tablet',
      baselineShare: 0.012,
      canaryShare: 0.011,
      tested: false,
      missing: false,
      harmed: false,
      signals: [signal(0.002, 0.002, 0, 'inconclusive')],
      note: 'below the 2% minimum share: reported, not tested',
    },
  ],
};

const srm: SrmEvidence = {
  enabled: true,
  expectedShare: 0.05,
  observedShare: 0.0502,
  statistic: -2,
  threshold: 7.6,
  ci: [0.049, 0.051],
  mismatch: false,
  requests: { baseline: 95_000, canary: 5_020 },
};

const mix: RepresentativenessEvidence[] = [
  {
    dimension: 'device',
    statistic: 9.5,
    threshold: 6.9,
    alpha: 0.001,
    mismatch: true,
    values: [
      {
        value: 'desktop',
        baseline: 50_000,
        canary: 2_000,
        baselineShare: 0.52,
        canaryShare: 0.4,
        statistic: 5,
      },
      {
        value: 'mobile',
        baseline: 39_000,
        canary: 2_900,
        baselineShare: 0.41,
        canaryShare: 0.58,
        statistic: 4.5,
      },
    ],
  },
];

describe('SegmentTable', () => {
  it('names the harmed segment, shows canary vs baseline per segment with its interval and verdict', async () => {
    await renderInTestApp(
      <SegmentTable
        evidence={{ checks: { segments, srm, representativeness: [] } }}
      />,
    );
    expect(screen.getByTestId('segment-verdict')).toHaveTextContent(
      'Harm confined to device=mobile: rolled back by the policy',
    );
    const rows = screen.getAllByTestId('segment-row');
    expect(rows).toHaveLength(3);
    const mobile = within(rows[1]);
    expect(mobile.getByText('device=mobile')).toBeInTheDocument();
    expect(mobile.getByText('harmed')).toBeInTheDocument();
    expect(rows[1]).toHaveTextContent('0.400%');
    expect(rows[1]).toHaveTextContent('0.200%');
    expect(rows[1]).toHaveTextContent('+100.0%');
    expect(rows[1]).toHaveTextContent('+40.0% to +160.0% (99.83%)');
    expect(within(rows[0]).getByText('no harm seen')).toBeInTheDocument();
    // an interval beyond the grid (null in JSON) reads as infinite
    expect(rows[0]).toHaveTextContent('+∞');
    expect(within(rows[2]).getByText('not tested')).toBeInTheDocument();
    expect(rows[2]).toHaveTextContent('below the 2% minimum share');
  });

  it('shows the segment-mix test beside the SRM check', async () => {
    await renderInTestApp(
      <SegmentTable
        evidence={{
          checks: {
            segments: { ...segments, harmed: [], cells: [] },
            srm,
            representativeness: mix,
          },
        }}
      />,
    );
    expect(screen.getByTestId('srm-row')).toHaveTextContent('ok');
    const row = screen.getByTestId('mix-row');
    expect(row).toHaveTextContent('device mix');
    expect(row).toHaveTextContent('mobile 58% vs 41%');
    expect(row).toHaveTextContent('unrepresentative: hold');
  });

  it('says so when the policy tests no segments', async () => {
    await renderInTestApp(<SegmentTable evidence={{ checks: { srm } }} />);
    expect(screen.getByText(/No segments tested/)).toBeInTheDocument();
  });
});
