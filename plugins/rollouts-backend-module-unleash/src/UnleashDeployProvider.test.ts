/**
 * The provider against a real Unleash 8 (the `unleash-server` dev
 * dependency) on a private PostgreSQL: one server for the whole file.
 */
import { createBackendPlugin } from '@backstage/backend-plugin-api';
import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import {
  rolloutsDeployProvidersExtensionPoint,
  type ProviderRollout,
} from '@tollgate/plugin-rollouts-node';
import {
  assertPostgresOrSkip,
  startUnleash,
  type UnleashServer,
} from '@tollgate/test-support';
import { rolloutsModuleUnleash } from './module';
import { UnleashApiError } from './UnleashClient';
import { UnleashDeployProvider } from './UnleashDeployProvider';
import type { UnleashDeployProviderOptions } from './config';

const runs = assertPostgresOrSkip('unleash provider against a real Unleash');

interface Strategy {
  id: string;
  name: string;
  title?: string | null;
  disabled?: boolean;
  parameters: Record<string, string>;
}

describe.skipIf(!runs)('UnleashDeployProvider against Unleash 8', () => {
  let unleash: UnleashServer;

  beforeAll(async () => {
    unleash = await startUnleash();
    // eslint-disable-next-line no-console
    console.info(`unleash-server ready in ${unleash.startMs} ms`);
    await unleash.admin('POST', '/api/admin/tag-types', {
      name: 'tollgate',
      description: 'Tollgate',
    });
  }, 180_000);

  afterAll(async () => {
    await unleash?.stop();
  });

  const provider = (options: Partial<UnleashDeployProviderOptions> = {}) =>
    UnleashDeployProvider.create({
      baseUrl: unleash.url,
      apiToken: unleash.adminToken,
      discovery: { enabled: false },
      ...options,
    });

  /** Creates a flag; with `rollout`, a flexibleRollout strategy at that percentage, switched on. */
  async function createFlag(
    name: string,
    options: {
      rollout?: number;
      title?: string | null;
      environment?: string;
      tag?: boolean;
      enable?: boolean;
    } = {},
  ) {
    const environment = options.environment ?? 'production';
    await unleash.admin('POST', '/api/admin/projects/default/features', {
      name,
      type: 'release',
    });
    let strategy: Strategy | undefined;
    if (options.rollout !== undefined) {
      strategy = await unleash.admin<Strategy>(
        'POST',
        `/api/admin/projects/default/features/${name}/environments/${environment}/strategies`,
        {
          name: 'flexibleRollout',
          ...(options.title === null
            ? {}
            : { title: options.title ?? 'tollgate' }),
          parameters: { rollout: String(options.rollout) },
        },
      );
      if (options.enable !== false) {
        await unleash.admin(
          'POST',
          `/api/admin/projects/default/features/${name}/environments/${environment}/on`,
        );
      }
    }
    if (options.tag) {
      await unleash.admin('POST', `/api/admin/features/${name}/tags`, {
        type: 'tollgate',
        value: 'managed',
      });
    }
    return strategy;
  }

  /** What Unleash itself says about the flag in an environment. */
  async function inUnleash(name: string, environment = 'production') {
    const feature = await unleash.admin<any>(
      'GET',
      `/api/admin/projects/default/features/${name}`,
    );
    const env = feature.environments.find((e: any) => e.name === environment);
    const strategies: Strategy[] = env.strategies;
    const flexible = strategies.filter(s => s.name === 'flexibleRollout');
    return {
      enabled: env.enabled as boolean,
      strategies,
      rollout: flexible[0] ? Number(flexible[0].parameters.rollout) : undefined,
      title: flexible[0]?.title,
    };
  }

  async function eventCount(name: string) {
    const res = await unleash.admin<{ total: number }>(
      'GET',
      `/api/admin/search/events?feature=IS:${name}&limit=1`,
    );
    return res.total;
  }

  it('lists a tagged flag and ramps it 1 → 5 → 25 → 100, each step read back from Unleash', async () => {
    const strategy = (await createFlag('new-checkout', {
      rollout: 1,
      tag: true,
    }))!;
    const p = provider({ discovery: { enabled: true } });

    const listed = await p.listRollouts();
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({
      externalId: `default/new-checkout@production#${strategy.id}`,
      target: 'new-checkout',
      version: `new-checkout#${strategy.id.slice(0, 8)}`,
      status: 'progressing',
      currentStepIndex: 0,
      currentWeight: 1,
      steps: [{ weight: 1 }, { weight: 5 }, { weight: 25 }, { weight: 100 }],
    });
    expect(listed[0].startedAt.getTime()).toBeLessThanOrEqual(
      listed[0].stepStartedAt.getTime(),
    );

    let previous: ProviderRollout = listed[0];
    for (const [index, weight] of [
      [1, 5],
      [2, 25],
    ]) {
      const after = await p.setStep('new-checkout', index);
      expect(await inUnleash('new-checkout')).toMatchObject({
        enabled: true,
        rollout: weight,
        title: 'tollgate',
      });
      expect(after).toMatchObject({
        externalId: previous.externalId,
        status: 'progressing',
        currentStepIndex: index,
        currentWeight: weight,
      });
      expect(after.stepStartedAt.getTime()).toBeGreaterThan(
        previous.stepStartedAt.getTime(),
      );
      expect(after.startedAt).toEqual(previous.startedAt);
      previous = after;
    }

    const promoted = await p.setStep('new-checkout', 3);
    expect(await inUnleash('new-checkout')).toMatchObject({
      enabled: true,
      rollout: 100,
    });
    expect(promoted).toMatchObject({
      status: 'promoted',
      currentStepIndex: 3,
      currentWeight: 100,
    });
    expect(promoted.finishedAt).toEqual(promoted.stepStartedAt);
    // A new instance (a restart) reads the same state from Unleash.
    expect(await provider().getRollout('new-checkout')).toEqual(promoted);
  });

  it("describes the flag's cohort as Unleash reports it: on, strategy, percentage, stickiness, group, constraints", async () => {
    await unleash.admin('POST', '/api/admin/projects/default/features', {
      name: 'cohort-flag',
      type: 'release',
    });
    await unleash.admin<Strategy>(
      'POST',
      '/api/admin/projects/default/features/cohort-flag/environments/production/strategies',
      {
        name: 'flexibleRollout',
        title: 'tollgate',
        parameters: {
          rollout: '25',
          stickiness: 'userId',
          groupId: 'checkout-cohort',
        },
        constraints: [
          { contextName: 'appName', operator: 'IN', values: ['web'] },
        ],
      },
    );
    await unleash.admin(
      'POST',
      '/api/admin/projects/default/features/cohort-flag/environments/production/on',
    );
    const p = provider();
    const before = await eventCount('cohort-flag');
    expect(await p.describeTarget('cohort-flag')).toEqual({
      provider: 'unleash',
      target: 'cohort-flag',
      kind: 'feature-flag',
      enabled: true,
      strategy: 'flexibleRollout',
      strategyTitle: 'tollgate',
      strategyDisabled: false,
      percentage: 25,
      stickiness: 'userId',
      groupId: 'checkout-cohort',
      constraints: ['appName IN web'],
      details: {
        project: 'default',
        flag: 'cohort-flag',
        environment: 'production',
        strategies: 1,
        rampStatus: 'progressing',
      },
    });
    // describing reads only
    expect(await eventCount('cohort-flag')).toBe(before);
    // a rollback reads back: off, at 0 %
    await p.rollback('cohort-flag', 'test');
    expect(await p.describeTarget('cohort-flag')).toMatchObject({
      enabled: false,
      percentage: 0,
      details: { rampStatus: 'rolled-back' },
    });
  });

  it('holds: reading changes nothing in Unleash', async () => {
    await createFlag('hold-me', { rollout: 5, tag: true });
    const p = provider({ discovery: { enabled: true } });
    const before = await eventCount('hold-me');
    const first = await p.getRollout('hold-me');
    await p.listRollouts();
    await p.getRollout('default/hold-me@production');
    expect(await p.getRollout('hold-me')).toEqual(first);
    expect(first).toMatchObject({
      status: 'progressing',
      currentWeight: 5,
      currentStepIndex: 1,
    });
    expect(await eventCount('hold-me')).toBe(before);
    expect(await inUnleash('hold-me')).toMatchObject({
      enabled: true,
      rollout: 5,
      title: 'tollgate',
    });
  });

  it('rolls back to 0% and off (default), reads rolled-back after a restart, and a rollback twice is one', async () => {
    const strategy = (await createFlag('search-v2', { rollout: 1 }))!;
    const p = provider({ flags: [{ target: 'search-v2' }] });
    await p.setStep('search-v2', 2);
    expect((await inUnleash('search-v2')).rollout).toBe(25);

    const rolledBack = await p.rollback(
      'search-v2',
      'error rate doubled on the canary cohort',
    );
    const state = await inUnleash('search-v2');
    expect(state).toMatchObject({ enabled: false, rollout: 0 });
    expect(state.title).toMatch(
      /^tollgate: rolled back from 25% at \d{4}-\d\d-\d\dT/,
    );
    expect(rolledBack).toMatchObject({
      externalId: `default/search-v2@production#${strategy.id}`,
      status: 'rolled-back',
      currentWeight: 0,
      currentStepIndex: 2,
    });
    expect(rolledBack.finishedAt).toBeInstanceOf(Date);

    const restarted = provider({ flags: [{ target: 'search-v2' }] });
    expect(await restarted.getRollout('search-v2')).toEqual(rolledBack);
    expect(await restarted.listRollouts()).toEqual([rolledBack]);

    const events = await eventCount('search-v2');
    expect(await restarted.rollback('search-v2', 'again')).toEqual(rolledBack);
    expect(await eventCount('search-v2')).toBe(events);
  });

  it('rollbackMode zero keeps the flag on at 0%; disable switches it off and keeps the percentage', async () => {
    await createFlag('zero-mode', { rollout: 5 });
    await createFlag('disable-mode', { rollout: 5 });

    const zero = await provider({ rollbackMode: 'zero' }).rollback(
      'zero-mode',
      'kpi drop',
    );
    expect(await inUnleash('zero-mode')).toMatchObject({
      enabled: true,
      rollout: 0,
    });
    expect(zero).toMatchObject({
      status: 'rolled-back',
      currentWeight: 0,
      currentStepIndex: 1,
    });

    const disable = await provider({ rollbackMode: 'disable' }).rollback(
      'disable-mode',
      'kpi drop',
    );
    expect(await inUnleash('disable-mode')).toMatchObject({
      enabled: false,
      rollout: 5,
    });
    expect(disable).toMatchObject({ status: 'rolled-back', currentWeight: 0 });
    // Any instance, whatever its own mode, reads both back as rolled back.
    expect((await provider().getRollout('zero-mode'))?.status).toBe(
      'rolled-back',
    );
    expect((await provider().getRollout('disable-mode'))?.status).toBe(
      'rolled-back',
    );
  });

  it('a ramp restarted after a rollback is a new rollout (a new externalId)', async () => {
    const strategy = (await createFlag('retry-me', { rollout: 1 }))!;
    const p = provider();
    await p.rollback('retry-me', 'bad');
    const again = await p.setStep('retry-me', 0);
    expect(await inUnleash('retry-me')).toMatchObject({
      enabled: true,
      rollout: 1,
      title: 'tollgate#2',
    });
    expect(again).toMatchObject({
      externalId: `default/retry-me@production#${strategy.id}#r2`,
      version: `retry-me#${strategy.id.slice(0, 8)}#r2`,
      status: 'progressing',
      currentWeight: 1,
    });

    // Exposed again by hand in Unleash after a second rollback: ramp 3, not the rolled-back ramp 2.
    await p.rollback('retry-me', 'bad again');
    await unleash.admin(
      'PATCH',
      `/api/admin/projects/default/features/retry-me/environments/production/strategies/${strategy.id}`,
      [{ op: 'replace', path: '/parameters/rollout', value: '5' }],
    );
    await unleash.admin(
      'POST',
      '/api/admin/projects/default/features/retry-me/environments/production/on',
    );
    expect(await p.getRollout('retry-me')).toMatchObject({
      externalId: `default/retry-me@production#${strategy.id}#r3`,
      status: 'progressing',
      currentWeight: 5,
    });
  });

  it('adopts an untitled flexibleRollout, starts a ramp where there is none, and uses per-flag steps', async () => {
    await createFlag('untitled', { rollout: 10, title: null });
    const p = provider({
      flags: [
        { target: 'untitled' },
        {
          target: 'default/fresh@development',
          steps: [{ weight: 10 }, { weight: 50 }, { weight: 100 }],
        },
      ],
    });
    expect(await p.getRollout('untitled')).toMatchObject({
      status: 'progressing',
      currentWeight: 10,
      currentStepIndex: 1,
    });
    await p.setStep('untitled', 2);
    expect(await inUnleash('untitled')).toMatchObject({
      rollout: 25,
      title: 'tollgate',
    });

    await createFlag('fresh');
    expect(await p.getRollout('default/fresh@development')).toBeUndefined();
    expect((await p.listRollouts()).map(r => r.target)).toEqual(['untitled']);
    const started = await p.setStep('default/fresh@development', 1);
    expect(await inUnleash('fresh', 'development')).toMatchObject({
      enabled: true,
      rollout: 50,
      title: 'tollgate',
    });
    expect(started).toMatchObject({
      target: 'default/fresh@development',
      status: 'progressing',
      currentStepIndex: 1,
      currentWeight: 50,
      steps: [{ weight: 10 }, { weight: 50 }, { weight: 100 }],
    });
    expect((await p.listRollouts()).map(r => r.target)).toEqual([
      'untitled',
      'default/fresh@development',
    ]);
    await expect(p.setStep('default/fresh@development', 3)).rejects.toThrow(
      /there is no step 3; the ramp has 3 steps \(10% → 50% → 100%\)/,
    );
  });

  it('says which of flag, project or environment is missing (404)', async () => {
    await createFlag('known', { rollout: 1 });
    const p = provider();
    const unknownFlag = await p.getRollout('no-such-flag').catch(e => e);
    expect(unknownFlag).toBeInstanceOf(UnleashApiError);
    expect(unknownFlag.status).toBe(404);
    expect(unknownFlag.message).toMatch(
      /^Unleash: flag "no-such-flag" not found in project "default" \(GET \/api\/admin\/projects\/default\/features\/no-such-flag: HTTP 404/,
    );
    await expect(p.setStep('nowhere/known', 0)).rejects.toThrow(
      /^Unleash: project "nowhere" not found/,
    );
    await expect(p.rollback('known@staging', 'x')).rejects.toThrow(
      /^Unleash: environment "staging" not found for flag "known" in project "default" \(it has development, production/,
    );
    // A configured flag that is gone is left out of the list, not an error for the others.
    const listed = await provider({
      flags: [{ target: 'no-such-flag' }, { target: 'known' }],
    }).listRollouts();
    expect(listed.map(r => r.target)).toEqual(['known']);
  });

  it('says the token lacks admin access on 401 (bad token) and 403 (a client token)', async () => {
    await createFlag('guarded', { rollout: 1 });
    await expect(
      provider({ apiToken: '*:*.not-a-real-token' }).getRollout('guarded'),
    ).rejects.toThrow(
      /^Unleash refused GET \/api\/admin\/projects\/default\/features\/guarded \(HTTP 401.*\)\. The token in rollouts\.providers\.unleash\.apiToken lacks admin access/,
    );
    const client = await unleash.admin<{ secret: string }>(
      'POST',
      '/api/admin/api-tokens',
      {
        tokenName: 'sdk',
        type: 'client',
        environment: 'production',
        projects: ['default'],
      },
    );
    const error = await provider({ apiToken: client.secret })
      .setStep('guarded', 1)
      .catch(e => e);
    expect(error).toBeInstanceOf(UnleashApiError);
    expect(error.status).toBe(403);
    expect(error.message).toMatch(
      /\(HTTP 403: .*\)\. The token in rollouts\.providers\.unleash\.apiToken lacks admin access/,
    );
    expect((await inUnleash('guarded')).rollout).toBe(1);
  });

  it('the module registers a working provider from app-config', async () => {
    await createFlag('via-module', { rollout: 5, tag: true });
    const seen: ProviderRollout[][] = [];
    const capture = createBackendPlugin({
      pluginId: 'rollouts',
      register(env) {
        const providers: Array<{
          listRollouts(): Promise<ProviderRollout[]>;
          id: string;
        }> = [];
        env.registerExtensionPoint(rolloutsDeployProvidersExtensionPoint, {
          addDeployProvider(...items) {
            providers.push(...items);
          },
        });
        env.registerInit({
          deps: {},
          async init() {
            expect(providers.map(p => p.id)).toEqual(['unleash']);
            seen.push(await providers[0].listRollouts());
          },
        });
      },
    });
    await startTestBackend({
      features: [
        capture,
        rolloutsModuleUnleash,
        mockServices.rootConfig.factory({
          data: {
            rollouts: {
              providers: {
                unleash: {
                  baseUrl: unleash.url,
                  apiToken: unleash.adminToken,
                  steps: [5, 50, 100],
                },
              },
            },
          },
        }),
      ],
    });
    const viaModule = seen[0].find(r => r.target === 'via-module');
    expect(viaModule).toMatchObject({
      status: 'progressing',
      currentWeight: 5,
      currentStepIndex: 0,
      steps: [{ weight: 5 }, { weight: 50 }, { weight: 100 }],
    });
  });
});
