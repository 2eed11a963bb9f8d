// @vitest-environment jsdom
// material-ui-popup-state (used by plugin-catalog-react's peek-ahead popover) does not load as native ESM under vitest
vi.mock('material-ui-popup-state/HoverPopover', () => ({
  default: () => null,
}));
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type {
  PipelineList,
  RolloutPipeline,
} from '@tollgate/plugin-rollouts-common';
import { createMockApi, entity } from '../../__testUtils__/fixtures';
import { EntityRolloutsContent } from '../EntityRolloutsContent';
import { renderWithApis } from '../../__testUtils__/render';
import { PipelineCard } from './PipelineCard';
import { countdown, PipelineView } from './PipelineView';

const ENTITY = 'component:default/shipping-api';

function pipeline(over: Partial<RolloutPipeline> = {}): RolloutPipeline {
  const now = Date.now();
  return {
    id: 'p1',
    entityRef: ENTITY,
    version: '2.4.0',
    status: 'running',
    nextStage: 1,
    soakSeconds: 120,
    soakUntil: new Date(now + 95_000).toISOString(),
    createdAt: new Date(now - 600_000).toISOString(),
    updatedAt: new Date(now).toISOString(),
    stages: [
      {
        name: 'staging',
        provider: 'simulator',
        target: 'staging/ship',
        state: 'completed',
        rolloutId: 'r1',
      },
      {
        name: 'prod-eu',
        provider: 'simulator',
        target: 'eu/ship',
        state: 'waiting',
      },
      {
        name: 'prod-us',
        provider: 'simulator',
        target: 'us/ship',
        state: 'waiting',
      },
    ],
    ...over,
  };
}

function apiWith(list: PipelineList) {
  const api = createMockApi() as any;
  api.listPipelines = vi.fn(async () => list);
  api.promoteStage = vi.fn(async () => ({
    pipeline: pipeline({ nextStage: 2 }),
    started: true,
  }));
  return api;
}

describe('PipelineView', () => {
  it('shows the stages in order with their state, the soak countdown, and promotes the next stage early after a reason', async () => {
    const api = apiWith({ items: [] });
    const onPromoted = vi.fn();
    await renderWithApis(
      <PipelineView
        pipeline={pipeline()}
        entityRef={ENTITY}
        onPromoted={onPromoted}
      />,
      { api },
    );
    const boxes = screen.getAllByTestId(/^stage-(?!.*-state$)[a-z-]+$/);
    expect(boxes.map(b => b.dataset.testid)).toEqual([
      'stage-staging',
      'stage-prod-eu',
      'stage-prod-us',
    ]);
    expect(screen.getByTestId('stage-staging-state')).toHaveTextContent(
      'completed',
    );
    expect(screen.getByTestId('stage-prod-eu-state')).toHaveTextContent(
      'waiting',
    );
    expect(screen.getByTestId('pipeline-soak')).toHaveTextContent(
      /^prod-eu starts in 1m 3[45]s \(soak after staging\)$/,
    );
    const button = await screen.findByRole('button', {
      name: 'Promote prod-eu early',
    });
    await waitFor(() => expect(button).toBeEnabled());
    await userEvent.click(button);
    const dialog = await screen.findByRole('dialog');
    const confirm = within(dialog).getByRole('button', {
      name: 'Confirm early promotion',
    });
    expect(confirm).toBeDisabled();
    await userEvent.type(within(dialog).getByLabelText(/reason/i), 'EU hotfix');
    await userEvent.click(confirm);
    await waitFor(() =>
      expect(onPromoted).toHaveBeenCalledWith(
        'Started 2.4.0 in prod-eu early.',
      ),
    );
    expect(api.promoteStage).toHaveBeenCalledWith('p1', {
      stage: 'prod-eu',
      reason: 'EU hotfix',
    });
  });

  it('disables the early promotion without rollouts.stage.promote and says why', async () => {
    const api = apiWith({ items: [] });
    await renderWithApis(
      <PipelineView
        pipeline={pipeline()}
        entityRef={ENTITY}
        onPromoted={vi.fn()}
      />,
      { api, deny: ['rollouts.stage.promote'] },
    );
    const denied = await screen.findByTestId('promote-stage-denied');
    expect(within(denied).getByRole('button')).toBeDisabled();
    expect(denied).toHaveAccessibleDescription(
      `You need the rollouts.stage.promote permission on ${ENTITY}`,
    );
  });

  it('says why a stopped pipeline stopped, in the pipeline and in each later stage, and offers no promotion', async () => {
    const reason =
      'rolled back in staging (error rate: canary worse than baseline)';
    const api = apiWith({ items: [] });
    await renderWithApis(
      <PipelineView
        pipeline={pipeline({
          status: 'stopped',
          stoppedReason: reason,
          stages: [
            {
              name: 'staging',
              provider: 'simulator',
              target: 'staging/ship',
              state: 'rolled-back',
            },
            {
              name: 'prod-eu',
              provider: 'simulator',
              target: 'eu/ship',
              state: 'stopped',
              note: `stopped: ${reason}`,
            },
            {
              name: 'prod-us',
              provider: 'simulator',
              target: 'us/ship',
              state: 'stopped',
              note: `stopped: ${reason}`,
            },
          ],
        })}
        entityRef={ENTITY}
        onPromoted={vi.fn()}
      />,
      { api },
    );
    expect(screen.getByTestId('pipeline-stopped')).toHaveTextContent(
      `Stopped: ${reason}`,
    );
    expect(screen.getByTestId('stage-prod-us')).toHaveTextContent(
      `stopped: ${reason}`,
    );
    expect(screen.queryByTestId('promote-stage')).not.toBeInTheDocument();
    expect(screen.queryByTestId('pipeline-soak')).not.toBeInTheDocument();
  });

  it('marks the running stage as the current one', async () => {
    const api = apiWith({ items: [] });
    await renderWithApis(
      <PipelineView
        pipeline={pipeline({
          nextStage: 2,
          soakUntil: undefined,
          stages: [
            {
              name: 'staging',
              provider: 'simulator',
              target: 'staging/ship',
              state: 'completed',
            },
            {
              name: 'prod-eu',
              provider: 'simulator',
              target: 'eu/ship',
              state: 'running',
              startedBy: 'early-promotion',
            },
            {
              name: 'prod-us',
              provider: 'simulator',
              target: 'us/ship',
              state: 'waiting',
            },
          ],
        })}
        entityRef={ENTITY}
        onPromoted={vi.fn()}
      />,
      { api },
    );
    expect(screen.getByTestId('stage-prod-eu')).toHaveAttribute(
      'aria-current',
      'step',
    );
    expect(screen.getByTestId('stage-staging')).not.toHaveAttribute(
      'aria-current',
    );
    expect(screen.getByTestId('stage-prod-eu')).toHaveTextContent(
      'promoted early',
    );
  });
});

describe('PipelineCard', () => {
  it('shows a broken stages declaration and that the rollouts are held', async () => {
    const api = apiWith({
      items: [],
      declarationError:
        'annotation tollgate.dev/stages: a pipeline needs at least two stages (got 1)',
    });
    await renderWithApis(<PipelineCard entityRef={ENTITY} />, { api });
    expect(
      await screen.findByTestId('pipeline-declaration-error'),
    ).toHaveTextContent(
      "annotation tollgate.dev/stages: a pipeline needs at least two stages (got 1). This service's rollouts are held until the declaration is fixed.",
    );
    expect(api.listPipelines).toHaveBeenCalledWith(ENTITY);
  });
});

describe('the Rollouts tab', () => {
  it('shows the pipeline first for a service that declares stages, and not for one that does not', async () => {
    const api = apiWith({ items: [pipeline()] });
    const staged = {
      ...entity,
      metadata: {
        ...entity.metadata,
        annotations: {
          ...entity.metadata.annotations,
          'tollgate.dev/stages':
            'staging=simulator:staging/ship, prod-eu=simulator:eu/ship, prod-us=simulator:us/ship',
        },
      },
    };
    const { unmount } = await renderWithApis(<EntityRolloutsContent />, {
      api,
      entity: staged,
    });
    expect(
      await screen.findByText('Multi-stage promotion'),
    ).toBeInTheDocument();
    expect(await screen.findByTestId('stage-prod-eu')).toBeInTheDocument();
    unmount();
    // no annotation, and the backend reports no stages (none in its policy either): no card
    const plain = apiWith({ items: [] });
    const second = await renderWithApis(<EntityRolloutsContent />, {
      api: plain,
      entity,
    });
    expect(await screen.findByText('Past rollouts')).toBeInTheDocument();
    await waitFor(() => expect(plain.listPipelines).toHaveBeenCalled());
    expect(screen.queryByText('Multi-stage promotion')).not.toBeInTheDocument();
    second.unmount();
  });

  it('shows the pipeline of a service whose policy declares the stages (no annotation)', async () => {
    const api = apiWith({
      stages: pipeline().stages,
      soakSeconds: 120,
      items: [],
    });
    await renderWithApis(<EntityRolloutsContent />, { api, entity });
    expect(
      await screen.findByText(
        'Stages: staging → prod-eu → prod-us. No release has started on the first stage yet.',
      ),
    ).toBeInTheDocument();
    expect(screen.getByText('Multi-stage promotion')).toBeInTheDocument();
  });
});

describe('countdown', () => {
  it('counts down in minutes and seconds and ends at zero', () => {
    const t = Date.parse('2026-12-07T12:00:00Z');
    expect(countdown('2026-12-07T12:01:05Z', t)).toBe('1m 05s');
    expect(countdown('2026-12-07T12:00:09Z', t)).toBe('9s');
    expect(countdown('2026-12-07T12:00:00Z', t)).toBeUndefined();
    expect(countdown(undefined, t)).toBeUndefined();
  });
});
