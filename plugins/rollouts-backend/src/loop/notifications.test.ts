import { mockServices } from '@backstage/backend-test-utils';
import type { NotificationService } from '@backstage/plugin-notifications-node';
import { DEMO_SERVICES } from '@tollgate/plugin-rollouts-backend-module-simulator';
import { RolloutEvents } from '../events/RolloutEvents';
import {
  policiesWith,
  setup,
  sqliteStore,
  STANDARD_POLICY,
} from './__testUtils__/simulatorLoop';

/**
 * The owners hear of what needs them, once: each kind of notification the
 * gate loop sends, its recipients (the service's entity, whose owners the
 * notifications backend resolves), the reason in the text and the link to
 * the service's Rollouts tab.
 */

interface Sent {
  recipients: { type: string; entityRef?: string };
  payload: {
    title: string;
    description?: string;
    link?: string;
    severity?: string;
    scope?: string;
  };
}

function notifications() {
  const sent: Sent[] = [];
  const service = {
    send: async (n: Sent) => {
      sent.push(n);
    },
  } as unknown as NotificationService;
  const events = new RolloutEvents({
    logger: mockServices.logger.mock(),
    notifications: service,
  });
  return { sent, events };
}

const only = (target: string) =>
  DEMO_SERVICES.filter(s => s.target === target).map(s => ({
    ...s,
    rps: s.rps * 4,
  }));

async function run(
  loop: { run(): Promise<unknown> },
  clock: { t: number },
  ticks: number,
) {
  for (let i = 0; i < ticks; i++) {
    clock.t += 10_000;
    await loop.run();
  }
}

const start = () => ({ t: Date.UTC(2026, 10, 21, 12, 0, 0) });

describe('notifications to the owners', () => {
  it('a rollback: to the service, with the reason and a link to its tab', async () => {
    const { knex, store } = await sqliteStore();
    const { sent, events } = notifications();
    const clock = start();
    const { loop } = setup(
      store,
      only('checkout/checkout-api'),
      clock,
      undefined,
      { events },
    );
    for (let i = 0; i < 200; i++) {
      await run(loop, clock, 1);
      if (sent.some(n => n.payload.title.startsWith('Rolled back'))) break;
    }
    // and a while after it: one notification per rollback, not one per run
    await run(loop, clock, 5);
    const rollbacks = sent.filter(n =>
      n.payload.title.startsWith('Rolled back'),
    );
    expect(rollbacks).toHaveLength(1);
    expect(rollbacks[0]).toMatchObject({
      recipients: {
        type: 'entity',
        entityRef: 'component:default/checkout-api',
      },
      payload: {
        severity: 'high',
        link: '/catalog/default/component/checkout-api/rollouts',
      },
    });
    expect(rollbacks[0].payload.description).toMatch(/error/i);
    await knex.destroy();
  });

  it('a completion: when the gate promotes the release to everyone', async () => {
    const { knex, store } = await sqliteStore();
    const { sent, events } = notifications();
    const clock = start();
    const { loop } = setup(
      store,
      only('checkout/cart-service'),
      clock,
      undefined,
      { events },
    );
    for (let i = 0; i < 400; i++) {
      await run(loop, clock, 1);
      if (sent.some(n => n.payload.title.startsWith('Rolled out'))) break;
    }
    const done = sent.filter(n => n.payload.title.startsWith('Rolled out'));
    expect(done).toHaveLength(1);
    expect(done[0]).toMatchObject({
      recipients: {
        type: 'entity',
        entityRef: 'component:default/cart-service',
      },
      payload: {
        link: '/catalog/default/component/cart-service/rollouts',
        severity: 'normal',
      },
    });
    expect(sent.filter(n => n.payload.title.startsWith('Rolled back'))).toEqual(
      [],
    );
    await knex.destroy();
  });

  it('a hold: once per hold, not once per tick', async () => {
    const { knex, store } = await sqliteStore();
    const { sent, events } = notifications();
    const clock = start();
    const { loop, simulation } = setup(
      store,
      only('checkout/cart-service'),
      clock,
      undefined,
      { events },
    );
    simulation.telemetry.getCohortTelemetry = async () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:9090');
    };
    await run(loop, clock, 30);
    const holds = sent.filter(n => n.payload.title.includes('on hold'));
    expect(holds).toHaveLength(1);
    expect(holds[0].recipients).toEqual({
      type: 'entity',
      entityRef: 'component:default/cart-service',
    });
    expect(holds[0].payload.description).toMatch(/ECONNREFUSED/);
    await knex.destroy();
  });

  it('a failed rollback: critical, with the deploy system’s error', async () => {
    const { knex, store } = await sqliteStore();
    const { sent, events } = notifications();
    const clock = start();
    const { loop, simulation } = setup(
      store,
      only('checkout/checkout-api'),
      clock,
      undefined,
      { events },
    );
    simulation.deploy.rollback = async () => {
      throw new Error('admission webhook denied the request');
    };
    await run(loop, clock, 200);
    const failed = sent.filter(n => n.payload.title.includes('FAILED'));
    expect(failed.length).toBeGreaterThanOrEqual(1);
    expect(failed[0]).toMatchObject({
      recipients: {
        type: 'entity',
        entityRef: 'component:default/checkout-api',
      },
      payload: { severity: 'critical' },
    });
    await knex.destroy();
  });

  it('an approval needed: once, when the step is ready and waits for a person', async () => {
    const { knex, store } = await sqliteStore();
    const { sent, events } = notifications();
    const clock = start();
    const policies = policiesWith({
      ...STANDARD_POLICY,
      steps: [
        { weight: 1, requiresApproval: true },
        { weight: 5 },
        { weight: 25 },
        { weight: 100 },
      ],
    });
    const { loop } = setup(
      store,
      only('checkout/cart-service'),
      clock,
      undefined,
      { events, policies },
    );
    await run(loop, clock, 120);
    const approvals = sent.filter(n => n.payload.title.includes('approval'));
    expect(approvals).toHaveLength(1);
    expect(approvals[0]).toMatchObject({
      recipients: {
        type: 'entity',
        entityRef: 'component:default/cart-service',
      },
      payload: { link: '/catalog/default/component/cart-service/rollouts' },
    });
    await knex.destroy();
  });
});
