// @vitest-environment jsdom
// material-ui-popup-state (used by plugin-catalog-react's peek-ahead popover) does not load as native ESM under vitest
vi.mock('material-ui-popup-state/HoverPopover', () => ({
  default: () => null,
}));
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { ResponseError } from '@backstage/errors';
import { createMockApi, makeRollout } from '../../__testUtils__/fixtures';
import { renderWithApis } from '../../__testUtils__/render';
import { RolloutActions } from './RolloutActions';

function httpError(status: number, statusText: string, message: string) {
  const response = new Response(
    JSON.stringify({
      error: { name: 'Error', message },
      response: { statusCode: status },
    }),
    {
      status,
      statusText,
      headers: { 'Content-Type': 'application/json' },
    },
  );
  return ResponseError.fromResponse(response);
}

describe('RolloutActions', () => {
  it('shows only the actions that make sense for the status', async () => {
    const api = createMockApi();
    const { unmount } = await renderWithApis(
      <RolloutActions
        rollout={makeRollout({ status: 'paused' })}
        onDone={vi.fn()}
      />,
      { api },
    );
    expect(
      await screen.findByRole('button', { name: 'Resume' }),
    ).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Promote' })).toBeInTheDocument();
    expect(
      screen.getByRole('button', { name: 'Roll back' }),
    ).toBeInTheDocument();
    expect(
      screen.queryByRole('button', { name: 'Pause' }),
    ).not.toBeInTheDocument();
    expect(
      screen.queryByRole('button', { name: 'Approve' }),
    ).not.toBeInTheDocument();
    unmount();

    await renderWithApis(
      <RolloutActions
        rollout={makeRollout({ status: 'awaiting-approval' })}
        onDone={vi.fn()}
      />,
      { api },
    );
    expect(
      await screen.findByRole('button', { name: 'Approve' }),
    ).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Pause' })).toBeInTheDocument();
    expect(
      screen.queryByRole('button', { name: 'Resume' }),
    ).not.toBeInTheDocument();
  });

  it('offers a retry when the last rollback could not reach the deploy system', async () => {
    const api = createMockApi();
    const rollout = makeRollout({
      lastError: {
        message: 'simulator did not accept the rollback: connection reset',
        at: '2026-11-21T03:00:00Z',
        action: 'rollback',
      },
    });
    await renderWithApis(
      <RolloutActions rollout={rollout} onDone={vi.fn()} />,
      { api },
    );
    expect(
      await screen.findByRole('button', { name: 'Retry roll back' }),
    ).toBeInTheDocument();
    expect(
      screen.queryByRole('button', { name: 'Roll back' }),
    ).not.toBeInTheDocument();
  });

  it('shows nothing for a finished rollout', async () => {
    const api = createMockApi();
    await renderWithApis(
      <RolloutActions
        rollout={makeRollout({ status: 'promoted' })}
        onDone={vi.fn()}
      />,
      { api },
    );
    expect(screen.queryByTestId('rollout-actions')).not.toBeInTheDocument();
  });

  it('requires a reason and sends exactly one request with one key on a double click', async () => {
    const user = userEvent.setup();
    const api = createMockApi();
    let resolve: (v: unknown) => void = () => {};
    api.performAction.mockImplementation(
      () =>
        new Promise(r => {
          resolve = r;
        }),
    );
    const onDone = vi.fn();
    await renderWithApis(
      <RolloutActions rollout={makeRollout()} onDone={onDone} />,
      { api },
    );

    await user.click(await screen.findByRole('button', { name: 'Roll back' }));
    const dialog = await screen.findByRole('dialog');
    expect(within(dialog).getByTestId('action-description')).toHaveTextContent(
      'Roll back checkout-api 2.31.4: all traffic returns to 2.31.3.',
    );
    const confirm = within(dialog).getByRole('button', {
      name: 'Confirm roll back',
    });
    expect(confirm).toBeDisabled();
    await user.type(within(dialog).getByLabelText(/Reason/), '   ');
    expect(confirm).toBeDisabled();
    await user.type(
      within(dialog).getByLabelText(/Reason/),
      'error rate spike',
    );
    expect(confirm).toBeEnabled();

    await user.dblClick(confirm);
    expect(confirm).toBeDisabled();
    expect(api.performAction).toHaveBeenCalledTimes(1);
    const [id, action, body] = api.performAction.mock.calls[0];
    expect(id).toBe('ro-1');
    expect(action).toBe('rollback');
    expect(body.reason).toBe('error rate spike');
    expect(body.idempotencyKey).toMatch(/^[A-Za-z0-9_.:-]{8,128}$/);

    resolve({
      rollout: makeRollout({ status: 'rolled-back', currentWeight: 0 }),
    });
    await waitFor(() => expect(onDone).toHaveBeenCalledTimes(1));
    expect(onDone.mock.calls[0][0].message).toContain(
      'Rolled back checkout-api 2.31.4',
    );
    expect(onDone.mock.calls[0][0].severity).toBe('success');
    await waitFor(() =>
      expect(screen.queryByRole('dialog')).not.toBeInTheDocument(),
    );
  });

  it('uses a new key per dialog opening', async () => {
    const user = userEvent.setup();
    const api = createMockApi();
    await renderWithApis(
      <RolloutActions rollout={makeRollout()} onDone={vi.fn()} />,
      { api },
    );
    for (let i = 0; i < 2; i++) {
      await user.click(await screen.findByRole('button', { name: 'Pause' }));
      const dialog = await screen.findByRole('dialog');
      expect(within(dialog).getByLabelText(/Reason/)).toHaveValue('');
      await user.type(
        within(dialog).getByLabelText(/Reason/),
        'looking into it',
      );
      await user.click(
        within(dialog).getByRole('button', { name: 'Confirm pause' }),
      );
      await waitFor(() =>
        expect(screen.queryByRole('dialog')).not.toBeInTheDocument(),
      );
    }
    expect(api.performAction).toHaveBeenCalledTimes(2);
    expect(api.performAction.mock.calls[0][2].idempotencyKey).not.toBe(
      api.performAction.mock.calls[1][2].idempotencyKey,
    );
  });

  it("shows the server's message on failure and keeps the dialog open", async () => {
    const user = userEvent.setup();
    const api = createMockApi();
    api.performAction.mockRejectedValueOnce(
      await httpError(
        503,
        'Service Unavailable',
        'simulator did not accept the rollback: deploy system unreachable',
      ),
    );
    const onDone = vi.fn();
    await renderWithApis(
      <RolloutActions rollout={makeRollout()} onDone={onDone} />,
      { api },
    );
    await user.click(await screen.findByRole('button', { name: 'Roll back' }));
    const dialog = await screen.findByRole('dialog');
    await user.type(within(dialog).getByLabelText(/Reason/), 'bad canary');
    await user.click(
      within(dialog).getByRole('button', { name: 'Confirm roll back' }),
    );
    expect(await within(dialog).findByTestId('action-error')).toHaveTextContent(
      /^simulator did not accept the rollback: deploy system unreachable$/,
    );
    expect(onDone).not.toHaveBeenCalled();
    // the server settled that key as failed: a retry uses a new one
    await user.click(
      within(dialog).getByRole('button', { name: 'Confirm roll back' }),
    );
    await waitFor(() => expect(onDone).toHaveBeenCalledTimes(1));
    expect(api.performAction).toHaveBeenCalledTimes(2);
    expect(api.performAction.mock.calls[1][2].idempotencyKey).not.toBe(
      api.performAction.mock.calls[0][2].idempotencyKey,
    );
  });

  it('says when the action is not permitted', async () => {
    const user = userEvent.setup();
    const api = createMockApi();
    api.performAction.mockRejectedValueOnce(
      await httpError(403, 'Forbidden', 'not allowed to rollback'),
    );
    await renderWithApis(
      <RolloutActions rollout={makeRollout()} onDone={vi.fn()} />,
      { api },
    );
    await user.click(await screen.findByRole('button', { name: 'Roll back' }));
    const dialog = await screen.findByRole('dialog');
    await user.type(within(dialog).getByLabelText(/Reason/), 'x');
    await user.click(
      within(dialog).getByRole('button', { name: 'Confirm roll back' }),
    );
    expect(await within(dialog).findByTestId('action-error')).toHaveTextContent(
      'Not allowed: not allowed to rollback',
    );
  });

  it('keeps the key when retrying after a network error', async () => {
    const user = userEvent.setup();
    const api = createMockApi();
    api.performAction.mockRejectedValueOnce(new TypeError('Failed to fetch'));
    await renderWithApis(
      <RolloutActions rollout={makeRollout()} onDone={vi.fn()} />,
      { api },
    );
    await user.click(await screen.findByRole('button', { name: 'Promote' }));
    const dialog = await screen.findByRole('dialog');
    expect(within(dialog).getByTestId('action-description')).toHaveTextContent(
      'Promote checkout-api 2.31.4: traffic moves from 5% to 25%',
    );
    await user.type(within(dialog).getByLabelText(/Reason/), 'looks good');
    await user.click(
      within(dialog).getByRole('button', { name: 'Confirm promote' }),
    );
    expect(await within(dialog).findByTestId('action-error')).toHaveTextContent(
      'Failed to fetch',
    );
    await user.click(
      within(dialog).getByRole('button', { name: 'Confirm promote' }),
    );
    await waitFor(() => expect(api.performAction).toHaveBeenCalledTimes(2));
    expect(api.performAction.mock.calls[1][2].idempotencyKey).toBe(
      api.performAction.mock.calls[0][2].idempotencyKey,
    );
  });

  it('disables a button the user may not use and says which permission is needed', async () => {
    const user = userEvent.setup();
    const api = createMockApi();
    await renderWithApis(
      <RolloutActions
        rollout={makeRollout({ entityRef: 'component:default/locked-api' })}
        onDone={vi.fn()}
      />,
      { api, deny: ['rollouts.rollout.rollback'] },
    );
    const rollback = await screen.findByRole('button', { name: 'Roll back' });
    await waitFor(() =>
      expect(screen.getByTestId('action-rollback-denied')).toBeInTheDocument(),
    );
    expect(screen.getByRole('button', { name: 'Roll back' })).toBeDisabled();
    expect(screen.getByRole('button', { name: 'Pause' })).toBeEnabled();
    await user.hover(screen.getByTestId('action-rollback-denied'));
    expect(await screen.findByRole('tooltip')).toHaveTextContent(
      'You need the rollouts.rollout.rollback permission on component:default/locked-api (owners of the service have it)',
    );
    expect(rollback).toBeDisabled();
    expect(api.performAction).not.toHaveBeenCalled();
  });
});
