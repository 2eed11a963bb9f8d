import { mockServices } from '@backstage/backend-test-utils';
import { FakeDeployProvider } from '@tollgate/plugin-rollouts-node/testUtils';
import knexFactory from 'knex';
import { randomUUID } from 'node:crypto';
import {
  DatabaseRolloutsStore,
  migrateRolloutsDatabase,
} from '../database/DatabaseRolloutsStore';
import { DecisionWriter } from '../decisions/DecisionWriter';
import { RolloutEvents } from '../events/RolloutEvents';
import { ProviderRegistry } from '../providers/ProviderRegistry';
import { Actuator } from './Actuator';

describe('Actuator', () => {
  it('does not send an action when the deploy system runs a newer release on the target, and logs why', async () => {
    const knex = knexFactory({
      client: 'better-sqlite3',
      connection: ':memory:',
      useNullAsDefault: true,
    });
    await migrateRolloutsDatabase(knex);
    const store = DatabaseRolloutsStore.fromKnex(knex);
    const deploy = new FakeDeployProvider('fake');
    // the deploy system has moved on to 2.1.0; Tollgate's row still shows 2.0.0
    deploy.add({ target: 'shop/checkout', version: '2.1.0' });
    const providers = new ProviderRegistry();
    providers.addDeploy(deploy);
    const { rollout } = await store.upsertDiscovered({
      id: randomUUID(),
      entityRef: 'component:default/checkout',
      provider: 'fake',
      target: 'shop/checkout',
      externalId: 'shop/checkout@2.0.0',
      version: '2.0.0',
      status: 'progressing',
      steps: [{ weight: 5 }, { weight: 100 }],
      currentStepIndex: 0,
      currentWeight: 5,
      startedAt: new Date().toISOString(),
      stepStartedAt: new Date().toISOString(),
    });
    const actuator = new Actuator({
      store,
      providers,
      events: new RolloutEvents({ logger: mockServices.logger.mock() }),
      decisions: new DecisionWriter(),
    });
    const result = await actuator.act({
      rollout,
      action: 'rollback',
      retry: { attempts: 1, initialBackoffMs: 1 },
      call: provider => provider.rollback(rollout.target, 'on-call'),
      applied: () => ({
        patch: { status: 'rolled-back' },
        decision: {
          verdict: 'rollback',
          kind: 'manual',
          actor: 'user:default/sam',
          reasons: ['reason given: errors'],
          outcome: 'applied',
        },
      }),
      failed: message => ({
        decision: {
          verdict: 'rollback',
          kind: 'manual',
          actor: 'user:default/sam',
          reasons: [message],
          outcome: 'failed',
        },
      }),
    });
    expect(result.outcome).toBe('failed');
    expect(deploy.calls.filter(c => c.method === 'rollback')).toEqual([]);
    const [logged] = (await store.listDecisions({ rolloutId: rollout.id }))
      .items;
    expect(logged).toMatchObject({ verdict: 'rollback', outcome: 'failed' });
    expect(logged.reasons[0]).toBe(
      'fake now runs 2.1.0 on shop/checkout, not 2.0.0: the rollback was not sent (it would act on that newer release; act on its own rollout)',
    );
    const row = await store.getRollout(rollout.id);
    expect(row?.pendingAction).toBeUndefined();
    expect(row?.lastError?.action).toBe('rollback');
    await knex.destroy();
  });
});
