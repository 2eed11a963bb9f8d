import { mockServices } from '@backstage/backend-test-utils';
import type { SignalsService } from '@backstage/plugin-signals-node';
import type { Rollout } from '@tollgate/plugin-rollouts-common';
import {
  ROLLOUTS_CHANGED_HINT,
  ROLLOUTS_SIGNAL_CHANNEL,
  RolloutEvents,
} from './RolloutEvents';

const rollout = {
  id: '6d7b1d9e-0d1c-4a55-8f43-1b0f2f1f5c11',
  entityRef: 'component:default/payments-gateway',
  version: '3.4.1',
  status: 'rolled-back',
} as unknown as Rollout;

describe('RolloutEvents', () => {
  it('broadcasts a change hint that names no rollout, service or status (a user who may not read rollouts receives it too)', async () => {
    const published: unknown[] = [];
    const signals: SignalsService = {
      publish: async message => {
        published.push(message);
      },
    };
    new RolloutEvents({ logger: mockServices.logger.mock(), signals }).changed(
      rollout,
    );
    await new Promise(r => setImmediate(r));
    expect(published).toEqual([
      {
        recipients: { type: 'broadcast' },
        channel: ROLLOUTS_SIGNAL_CHANNEL,
        message: ROLLOUTS_CHANGED_HINT,
      },
    ]);
    const text = JSON.stringify(published);
    for (const secret of [
      rollout.id,
      rollout.entityRef,
      'payments-gateway',
      rollout.status,
      rollout.version,
    ])
      expect(text).not.toContain(secret);
  });
});
