/**
 * `startRelease` (a multi-stage promotion's next stage) against a real
 * Unleash 8 (the `unleash-server` dev dependency) on a private PostgreSQL.
 */
import {
  assertPostgresOrSkip,
  startUnleash,
  type UnleashServer,
} from '@tollgate/test-support';
import { UnleashApiError } from './UnleashClient';
import { UnleashDeployProvider } from './UnleashDeployProvider';

const runs = assertPostgresOrSkip(
  'unleash startRelease against a real Unleash',
);

interface Strategy {
  id: string;
  name: string;
  title?: string | null;
  parameters: Record<string, string>;
}

describe.skipIf(!runs)(
  'UnleashDeployProvider.startRelease against Unleash 8',
  () => {
    let unleash: UnleashServer;

    beforeAll(async () => {
      unleash = await startUnleash();
      await unleash.admin('POST', '/api/admin/tag-types', {
        name: 'tollgate',
        description: 'Tollgate',
      });
    }, 180_000);

    afterAll(async () => {
      await unleash?.stop();
    });

    const provider = () =>
      UnleashDeployProvider.create({
        baseUrl: unleash.url,
        apiToken: unleash.adminToken,
        discovery: { enabled: false },
      });

    const flagPath = (name: string) =>
      `/api/admin/projects/default/features/${name}`;

    async function createFlag(name: string, rollout?: number) {
      await unleash.admin('POST', '/api/admin/projects/default/features', {
        name,
        type: 'release',
      });
      if (rollout === undefined) return undefined;
      const strategy = await unleash.admin<Strategy>(
        'POST',
        `${flagPath(name)}/environments/production/strategies`,
        {
          name: 'flexibleRollout',
          title: 'tollgate',
          parameters: { rollout: String(rollout) },
        },
      );
      await unleash.admin(
        'POST',
        `${flagPath(name)}/environments/production/on`,
      );
      return strategy;
    }

    /** What Unleash itself says about the flag in production. */
    async function inUnleash(name: string) {
      const feature = await unleash.admin<any>('GET', flagPath(name));
      const env = feature.environments.find(
        (e: any) => e.name === 'production',
      );
      const strategies: Strategy[] = env.strategies;
      return {
        enabled: env.enabled as boolean,
        strategies: strategies.map(s => ({
          name: s.name,
          title: s.title,
          rollout: s.parameters.rollout,
        })),
      };
    }

    async function eventCount(name: string) {
      const res = await unleash.admin<{ total: number }>(
        'GET',
        `/api/admin/search/events?feature=IS:${name}&limit=1`,
      );
      return res.total;
    }

    it('on a flag with no ramp: creates the strategy at the first step labelled with the version, switches the flag on, reports the version', async () => {
      await createFlag('stage-two');
      expect(await inUnleash('stage-two')).toEqual({
        enabled: false,
        strategies: [],
      });
      const p = provider();
      expect(await p.getRollout('stage-two')).toBeUndefined();

      const started = await p.startRelease('stage-two', '1.4.0', '1.3.0');

      expect(await inUnleash('stage-two')).toEqual({
        enabled: true,
        strategies: [
          {
            name: 'flexibleRollout',
            title: 'tollgate release 1.4.0',
            rollout: '1',
          },
        ],
      });
      const { id } = (
        await unleash.admin<any>('GET', flagPath('stage-two'))
      ).environments.find((e: any) => e.name === 'production').strategies[0];
      expect(started).toMatchObject({
        externalId: `default/stage-two@production#${id}`,
        target: 'stage-two',
        version: '1.4.0',
        status: 'progressing',
        currentStepIndex: 0,
        currentWeight: 1,
      });

      // Read back by a new instance (a restart), and kept through the ladder's steps.
      const restarted = provider();
      expect(await restarted.getRollout('stage-two')).toMatchObject({
        externalId: started.externalId,
        version: '1.4.0',
      });
      expect(await restarted.setStep('stage-two', 2)).toMatchObject({
        version: '1.4.0',
        currentWeight: 25,
      });

      // Idempotent: the ramp already is 1.4.0's; nothing is written to Unleash.
      const events = await eventCount('stage-two');
      expect(await restarted.startRelease('stage-two', '1.4.0')).toMatchObject({
        externalId: started.externalId,
        currentWeight: 25,
      });
      expect(await eventCount('stage-two')).toBe(events);
    });

    it('a flag promoted for an earlier ramp ramps again from the first step as a new ramp; refuses while one is under way; a rolled-back release can be followed by the next', async () => {
      const strategy = (await createFlag('staged', 100))!;
      const p = provider();
      expect(await p.getRollout('staged')).toMatchObject({
        status: 'promoted',
        version: `staged#${strategy.id.slice(0, 8)}`,
      });

      expect(await p.startRelease('staged', '2.0.0')).toMatchObject({
        externalId: `default/staged@production#${strategy.id}#r2`,
        version: '2.0.0',
        status: 'progressing',
        currentWeight: 1,
      });
      expect((await inUnleash('staged')).strategies).toEqual([
        {
          name: 'flexibleRollout',
          title: 'tollgate#2 release 2.0.0',
          rollout: '1',
        },
      ]);

      const events = await eventCount('staged');
      await expect(p.startRelease('staged', '2.1.0')).rejects.toThrow(
        'unleash staged: 2.0.0 is still ramping at 1%; 2.1.0 cannot start before it is promoted or rolled back',
      );
      expect(await eventCount('staged')).toBe(events);

      expect(await p.rollback('staged', 'errors')).toMatchObject({
        version: '2.0.0',
        status: 'rolled-back',
      });
      expect((await inUnleash('staged')).strategies[0].title).toMatch(
        /^tollgate#2 release 2\.0\.0: rolled back from 1% at /,
      );
      expect(await p.startRelease('staged', '2.0.1')).toMatchObject({
        externalId: `default/staged@production#${strategy.id}#r3`,
        version: '2.0.1',
        status: 'progressing',
        currentWeight: 1,
      });
      expect(await inUnleash('staged')).toMatchObject({
        enabled: true,
        strategies: [{ title: 'tollgate#3 release 2.0.1', rollout: '1' }],
      });
    });

    it('a started ramp in another environment of a tagged flag is listed with its version, so the sync follows the stage', async () => {
      await createFlag('tagged-stage');
      await unleash.admin('POST', '/api/admin/features/tagged-stage/tags', {
        type: 'tollgate',
        value: 'managed',
      });
      const p = UnleashDeployProvider.create({
        baseUrl: unleash.url,
        apiToken: unleash.adminToken,
      });
      const started = await p.startRelease('tagged-stage@development', '3.1.0');
      const listed = await p.listRollouts();
      expect(
        listed
          .filter(r => r.target.startsWith('tagged-stage'))
          .map(r => [r.target, r.externalId, r.version, r.status]),
      ).toEqual([
        [
          'tagged-stage@development',
          started.externalId,
          '3.1.0',
          'progressing',
        ],
      ]);
    });

    it('refuses a version that cannot label a ramp, and says when the flag is missing', async () => {
      await createFlag('labelled');
      const p = provider();
      await expect(p.startRelease('labelled', '1.0 beta')).rejects.toThrow(
        'unleash labelled: version "1.0 beta" cannot label a ramp (1 to 128 characters, no spaces)',
      );
      expect(await inUnleash('labelled')).toEqual({
        enabled: false,
        strategies: [],
      });
      const missing = await p
        .startRelease('no-such-flag', '1.0.0')
        .catch(e => e);
      expect(missing).toBeInstanceOf(UnleashApiError);
      expect(missing.message).toMatch(
        /flag "no-such-flag" not found in project "default"/,
      );
    });
  },
);
