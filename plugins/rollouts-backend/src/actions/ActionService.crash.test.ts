import { ConfigReader } from '@backstage/config';
import { mockServices } from '@backstage/backend-test-utils';
import type { RolloutAction } from '@tollgate/plugin-rollouts-common';
import {
  FakeDeployProvider,
  FakeTelemetryProvider,
} from '@tollgate/plugin-rollouts-node/testUtils';
import knexFactory from 'knex';
import {
  DatabaseRolloutsStore,
  migrateRolloutsDatabase,
} from '../database/DatabaseRolloutsStore';
import { DecisionWriter } from '../decisions/DecisionWriter';
import { PolicyResolver } from '../policy/PolicyResolver';
import { ActionService } from './ActionService';
import { Actuator } from '../actuator/Actuator';
import type { EntityLookup } from '../catalog/EntityIndex';
import { GateLoop } from '../loop/GateLoop';
import { ProviderRegistry } from '../providers/ProviderRegistry';
import { RolloutEvents } from '../events/RolloutEvents';

const ENTITY = 'component:default/checkout';

/**
 * Issue 13, item 1: a person's action and its log entry are written in one
 * transaction. The process "dies" at the log write (the decisions insert
 * fails, as a kill between the two statements would leave it); whatever
 * the deploy system received must then be in the log, or still claimed on
 * the row so that the gate loop's reconciliation logs it.
 */
describe("a crash at the log write of a person's action", () => {
  it.each<[RolloutAction, string]>([
    ['rollback', 'rollback'],
    ['promote', 'setStep'],
    ['pause', 'pause'],
  ])(
    'never leaves the %s the deploy system took without its log entry',
    async (action, providerMethod) => {
      const knex = knexFactory({
        client: 'better-sqlite3',
        connection: ':memory:',
        useNullAsDefault: true,
      });
      await migrateRolloutsDatabase(knex);
      const store = DatabaseRolloutsStore.fromKnex(knex);
      const deploy = new FakeDeployProvider('fake');
      deploy.add({ target: 'shop/checkout', version: '2.1.0' });
      const providers = new ProviderRegistry();
      providers.addDeploy(deploy);
      providers.addTelemetry(new FakeTelemetryProvider('fake', () => []));
      const events = new RolloutEvents({ logger: mockServices.logger.mock() });
      const entities: EntityLookup = {
        byTarget: async () => ({ entityRef: ENTITY, annotations: {} }),
        byRef: async () => ({ entityRef: ENTITY, annotations: {} }),
        all: async () => [],
      };
      const loop = new GateLoop({
        store,
        providers,
        entities,
        policies: PolicyResolver.fromConfig(new ConfigReader({})),
        events,
        logger: mockServices.logger.mock(),
        telemetryStepSeconds: 10,
        retry: { attempts: 1, initialBackoffMs: 1 },
      });
      const retry = { attempts: 1, initialBackoffMs: 1 };
      const actions = new ActionService({
        store,
        providers,
        actuator: new Actuator({
          store,
          providers,
          events,
          decisions: new DecisionWriter(),
        }),
        retry,
      });

      await loop.sync();
      const [rollout] = await store.listRollouts({});
      expect(rollout.status).toBe('progressing');

      // The process dies when it writes the log entry.
      await knex.raw(
        `create trigger crash before insert on decisions begin select raise(abort, 'process killed'); end`,
      );
      await expect(
        actions.act({
          rolloutId: rollout.id,
          action,
          reason: 'pager went off',
          idempotencyKey: `crash-${action}`,
          actor: 'user:default/priya',
        }),
      ).rejects.toThrow();
      await knex.raw('drop trigger crash');
      expect(deploy.calls.map(c => c.method)).toEqual([providerMethod]);

      // The next process: the gate loop reconciles what was in flight.
      await loop.run();
      const log = (await store.listDecisions({ rolloutId: rollout.id })).items;
      const logged = log.filter(
        d =>
          d.verdict === action ||
          (d.verdict === 'observe' &&
            d.reasons[0].startsWith(`an interrupted ${action} was reconciled`)),
      );
      expect(
        logged,
        `the ${action} the deploy system took is in the log: ${JSON.stringify(
          log.map(d => [d.verdict, d.reasons[0]]),
        )}`,
      ).toHaveLength(1);
      const after = await store.getRollout(rollout.id);
      expect(after?.pendingAction ?? null).toBeNull();
      expect((await store.verifyDecisions()).ok).toBe(true);
      await knex.destroy();
    },
  );
});
