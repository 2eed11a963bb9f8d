// @vitest-environment jsdom
import { screen, within } from '@testing-library/react';
import { renderInTestApp } from '@backstage/test-utils';
import type { BlastRadiusEvidence } from '@tollgate/plugin-rollouts-common';
import { BlastRadius } from './BlastRadius';

const harmed: BlastRadiusEvidence = {
  onConsumerHarm: 'hold',
  alpha: 0.01,
  alphaPerTest: 0.0017,
  minBurnRise: 1,
  beforeSeconds: 1800,
  step: 1,
  share: 0.01,
  harmed: ['component:default/storefront-bff'],
  action: 'hold',
  consumers: [
    {
      entityRef: 'component:default/storefront-bff',
      relation: 'dependsOn',
      via: 'api:default/product-catalog-api',
      status: 'harm',
      reason:
        'consumer component:default/storefront-bff error-budget burn rose from 0.17× to 4.3× with the 1 % step',
      burnBefore: 0.17,
      burnDuring: 4.3,
      limitBurn: 1.2,
      availability: 0.995,
      before: { errors: 90, requests: 540_000, ticks: 180, missingTicks: 0 },
      during: { errors: 1300, requests: 60_000, ticks: 20, missingTicks: 0 },
      statistic: 900,
      threshold: 7.1,
    },
    {
      entityRef: 'component:default/reporting-job',
      relation: 'consumesApi',
      via: 'api:default/product-catalog-api',
      status: 'not-measured',
      reason: 'no tollgate.dev/rollouts annotation: no telemetry target',
      burnBefore: null,
      burnDuring: null,
      limitBurn: null,
      availability: null,
      before: null,
      during: null,
      statistic: null,
      threshold: null,
    },
  ],
};

describe('BlastRadius', () => {
  it('shows the hold naming the consumer, each consumer with its relation and burn before and in the step, and the one not measured', async () => {
    await renderInTestApp(<BlastRadius evidence={{ blastRadius: harmed }} />);
    expect(screen.getByTestId('blast-radius-verdict')).toHaveTextContent(
      'Holding: storefront-bff burns error budget since the 1 % step',
    );
    const rows = screen.getAllByTestId('blast-radius-consumer');
    expect(rows).toHaveLength(2);
    const first = within(rows[0]);
    expect(first.getByRole('link')).toHaveAttribute(
      'href',
      '/catalog/default/component/storefront-bff',
    );
    expect(rows[0]).toHaveTextContent(
      'depends on it, consumes product-catalog-api',
    );
    expect(rows[0]).toHaveTextContent('0.17×');
    expect(rows[0]).toHaveTextContent('4.3×');
    expect(rows[0]).toHaveTextContent('burn rose with the step');
    expect(rows[1]).toHaveTextContent('consumes product-catalog-api');
    expect(rows[1]).toHaveTextContent('not measured');
    expect(rows[1]).toHaveTextContent('no tollgate.dev/rollouts annotation');
  });

  it('says so when no consumer burned more, and never calls unmeasured consumers healthy', async () => {
    const { unmount } = await renderInTestApp(
      <BlastRadius
        evidence={{
          blastRadius: {
            ...harmed,
            harmed: [],
            action: 'none',
            consumers: [
              { ...harmed.consumers[0], status: 'no-rise', reason: 'ok' },
              harmed.consumers[1],
            ],
          },
        }}
      />,
    );
    expect(screen.getByTestId('blast-radius-verdict')).toHaveTextContent(
      "No consumer's burn rose with the 1 % step (1 measured, 1 not measured)",
    );
    unmount();
    await renderInTestApp(
      <BlastRadius
        evidence={{
          blastRadius: {
            ...harmed,
            harmed: [],
            action: 'none',
            consumers: [harmed.consumers[1]],
          },
        }}
      />,
    );
    expect(screen.getByTestId('blast-radius-verdict')).toHaveTextContent(
      'No consumer could be measured yet',
    );
  });

  it('explains an empty blast radius', async () => {
    await renderInTestApp(<BlastRadius evidence={{ verdict: 'continue' }} />);
    expect(screen.getByText(/No consumers watched/)).toBeInTheDocument();
  });
});
