import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import {
  actionsRegistryServiceMock,
  actionsServiceMock,
} from '@backstage/backend-test-utils/alpha';
import {
  coreServices,
  createBackendModule,
  createBackendPlugin,
  type SchedulerService,
} from '@backstage/backend-plugin-api';
import {
  actionsServiceRef,
  type ActionsService,
} from '@backstage/backend-plugin-api/alpha';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import {
  rolloutsDeployProvidersExtensionPoint,
  rolloutsTelemetryProvidersExtensionPoint,
} from '@tollgate/plugin-rollouts-node';
import {
  FakeDeployProvider,
  FakeTelemetryProvider,
  rolloutsPermissionsMock,
} from '@tollgate/plugin-rollouts-node/testUtils';
import request from 'supertest';
import { rolloutsPlugin } from '../plugin';

const OWNER = 'user:default/priya';
const STRANGER = 'user:default/mallory';
const CHECKOUT = 'component:default/checkout';

/**
 * The rollouts plugin in a test backend with the real actions registry, and
 * a plugin that calls its actions through the ActionsService, the way the
 * MCP actions backend does (HTTP, the caller's credentials passed on).
 */
async function startBackend() {
  const deploy = new FakeDeployProvider('fake');
  deploy.add({
    target: 'shop/checkout',
    version: '2.1.0',
    previousVersion: '2.0.9',
  });
  const telemetry = new FakeTelemetryProvider('fake', () => []);
  const auditor = mockServices.auditor.mock();
  let scheduler: SchedulerService | undefined;
  const fakeProviders = createBackendModule({
    pluginId: 'rollouts',
    moduleId: 'fake-providers',
    register(env) {
      env.registerInit({
        deps: {
          d: rolloutsDeployProvidersExtensionPoint,
          t: rolloutsTelemetryProvidersExtensionPoint,
          s: coreServices.scheduler,
        },
        async init({ d, t, s }) {
          d.addDeployProvider(deploy);
          t.addTelemetryProvider(telemetry);
          scheduler = s; // the gate loop runs when a test triggers it
        },
      });
    },
  });
  let actions: ActionsService | undefined;
  const agent = createBackendPlugin({
    pluginId: 'agent',
    register(env) {
      env.registerInit({
        deps: { a: actionsServiceRef },
        async init({ a }) {
          actions = a;
        },
      });
    },
  });
  // Owners of component:default/checkout may act; everyone may read.
  const permissions = rolloutsPermissionsMock(
    q =>
      q.permission === 'rollouts.rollout.read' ||
      (q.resourceRef === CHECKOUT && q.userEntityRef === OWNER),
  );
  const { server } = await startTestBackend({
    features: [
      rolloutsPlugin,
      fakeProviders,
      agent,
      actionsRegistryServiceMock.factory(),
      actionsServiceMock.factory(),
      catalogServiceMock.factory({
        entities: [
          {
            apiVersion: 'backstage.io/v1alpha1',
            kind: 'Component',
            metadata: {
              name: 'checkout',
              namespace: 'default',
              annotations: { 'tollgate.dev/rollouts': 'fake:shop/checkout' },
            },
            spec: {
              type: 'service',
              owner: 'group:default/team-checkout',
              lifecycle: 'production',
            },
          },
        ],
      }),
      permissions.factory,
      auditor.factory,
      mockServices.scheduler.factory({ skipTaskRunOnStartup: true }),
      mockServices.rootConfig.factory({
        data: {
          backend: { actions: { pluginSources: ['rollouts'] } },
          rollouts: { schedule: { frequencySeconds: 3600 } },
        },
      }),
    ],
  });
  const invoke = (id: string, input: Record<string, unknown>, user = OWNER) =>
    actions!
      .invoke({
        id,
        input: input as any,
        credentials: mockCredentials.user(user),
      })
      .then(r => r.output as any);
  const decisions = async (rolloutId: string) =>
    (
      await request(server)
        .get(`/api/rollouts/v1/rollouts/${rolloutId}/decisions`)
        .set('Authorization', mockCredentials.user.header(OWNER))
        .expect(200)
    ).body.items as any[];
  return {
    server,
    deploy,
    auditor,
    scheduler: scheduler!,
    actions: actions!,
    invoke,
    decisions,
  };
}

/** The gate loop's first run discovers the fake provider's rollout and evaluates it. */
async function discoveredRollout(
  backend: Awaited<ReturnType<typeof startBackend>>,
) {
  await backend.scheduler.triggerTask('rollouts-gate-loop');
  const { rollout } = await backend.invoke('rollouts:get-status', {
    entityRef: CHECKOUT,
  });
  return rollout.id as string;
}

describe('rollouts actions in the actions registry', () => {
  it('registers each action under rollouts: with its attributes and input', async () => {
    const { actions } = await startBackend();
    const { actions: listed } = await actions.list({
      credentials: mockCredentials.user(OWNER),
    });
    const byId = Object.fromEntries(listed.map(a => [a.id, a]));
    expect(Object.keys(byId).sort()).toEqual([
      'rollouts:approve',
      'rollouts:get-status',
      'rollouts:pause',
      'rollouts:promote',
      'rollouts:resume',
      'rollouts:rollback',
    ]);
    expect(Object.fromEntries(listed.map(a => [a.name, a.attributes]))).toEqual(
      {
        'get-status': { readOnly: true, destructive: false, idempotent: true },
        promote: { readOnly: false, destructive: true, idempotent: false },
        pause: { readOnly: false, destructive: false, idempotent: true },
        resume: { readOnly: false, destructive: false, idempotent: true },
        rollback: { readOnly: false, destructive: true, idempotent: true },
        approve: { readOnly: false, destructive: true, idempotent: false },
      },
    );
    const rollback = byId['rollouts:rollback'];
    expect(rollback.description).toContain('rollouts.rollout.rollback');
    expect(rollback.schema.input).toMatchObject({
      properties: {
        rolloutId: {},
        entityRef: {},
        reason: {},
        idempotencyKey: {},
      },
      required: ['reason'],
    });
    expect(byId['rollouts:get-status'].schema.input.required ?? []).toEqual([]);
  });

  it('rolls back through the same service as the HTTP button: one provider call, logged with the actor, once per key', async () => {
    const backend = await startBackend();
    const id = await discoveredRollout(backend);
    const before = (await backend.decisions(id)).length;
    const input = {
      rolloutId: id,
      reason: 'error rate doubled on canary',
      idempotencyKey: 'agent-rollback-0001',
    };

    const first = await backend.invoke('rollouts:rollback', input);
    expect(first).toMatchObject({
      rollout: { id, status: 'rolled-back' },
      alreadyInState: false,
      replayed: false,
    });
    expect(first.decision).toMatchObject({
      verdict: 'rollback',
      actor: OWNER,
      outcome: 'applied',
    });
    expect(backend.deploy.calls.filter(c => c.method === 'rollback')).toEqual([
      {
        method: 'rollback',
        target: 'shop/checkout',
        arg: 'error rate doubled on canary',
      },
    ]);

    const log = await backend.decisions(id);
    expect(log).toHaveLength(before + 1);
    expect(log[0]).toMatchObject({
      verdict: 'rollback',
      kind: 'manual',
      actor: OWNER,
      outcome: 'applied',
    });
    expect(log[0].reasons.join(' ')).toContain('error rate doubled on canary');
    expect(backend.auditor.createEvent).toHaveBeenCalledWith(
      expect.objectContaining({
        eventId: 'rollout-action',
        severityLevel: 'high',
        meta: expect.objectContaining({
          action: 'rollback',
          rolloutId: id,
          actor: OWNER,
          via: 'actions-registry',
        }),
      }),
    );

    // Same key: the first answer again, and nothing acted on or logged.
    const second = await backend.invoke('rollouts:rollback', input);
    expect(second).toMatchObject({
      rollout: { id, status: 'rolled-back' },
      replayed: true,
    });
    expect(second.decision).toEqual(first.decision);
    expect(
      backend.deploy.calls.filter(c => c.method === 'rollback'),
    ).toHaveLength(1);
    expect(await backend.decisions(id)).toHaveLength(before + 1);
  });

  it('refuses a user without rollouts.rollout.rollback, and acts on nothing', async () => {
    const backend = await startBackend();
    const id = await discoveredRollout(backend);
    const before = await backend.decisions(id);
    const failed = vi.fn(async () => {});
    backend.auditor.createEvent.mockImplementation(async () => ({
      success: async () => {},
      fail: failed,
    }));

    const denied = backend.invoke(
      'rollouts:rollback',
      {
        entityRef: CHECKOUT,
        reason: 'I think it is broken',
        idempotencyKey: 'mallory-0001',
      },
      STRANGER,
    );
    await expect(denied).rejects.toMatchObject({
      body: {
        error: {
          name: 'NotAllowedError',
          message: expect.stringContaining('rollouts.rollout.rollback'),
        },
      },
    });
    expect(failed).toHaveBeenCalled();
    expect(backend.deploy.calls).toHaveLength(0);
    expect(await backend.decisions(id)).toEqual(before);
    const { rollout } = await backend.invoke(
      'rollouts:get-status',
      { rolloutId: id },
      STRANGER,
    );
    expect(rollout.status).toBe('progressing');
  });

  it('answers bad input with an error naming the field', async () => {
    const backend = await startBackend();
    const id = await discoveredRollout(backend);
    const fails = (
      id2: string,
      input: Record<string, unknown>,
      name: string,
      message: RegExp,
    ) =>
      expect(backend.invoke(id2, input)).rejects.toMatchObject({
        body: { error: { name, message: expect.stringMatching(message) } },
      });
    await fails(
      'rollouts:rollback',
      { rolloutId: id, reason: '   ' },
      'InputError',
      /reason: is required/,
    );
    await fails(
      'rollouts:rollback',
      { rolloutId: id, reason: 'x', idempotencyKey: 'short' },
      'InputError',
      /idempotencyKey: must be at least 8/,
    );
    await fails(
      'rollouts:pause',
      { reason: 'x' },
      'InputError',
      /rolloutId: is required/,
    );
    await fails(
      'rollouts:pause',
      { rolloutId: id, entityRef: CHECKOUT, reason: 'x' },
      'InputError',
      /rolloutId, entityRef: give one/,
    );
    await fails(
      'rollouts:get-status',
      { rolloutId: 'not-a-uuid' },
      'InputError',
      /rolloutId: must be a rollout id/,
    );
    await fails(
      'rollouts:get-status',
      { rolloutId: '00000000-0000-4000-8000-000000000000' },
      'NotFoundError',
      /rolloutId: no rollout/,
    );
    await fails(
      'rollouts:get-status',
      { entityRef: 'not a ref' },
      'InputError',
      /entityRef: must be an entity ref/,
    );
    await fails(
      'rollouts:resume',
      { entityRef: 'component:default/cart', reason: 'x' },
      'NotFoundError',
      /entityRef: component:default\/cart has no active rollout/,
    );
    expect(backend.deploy.calls).toHaveLength(0);
  });

  it("get-status gives the rollout's status, step and the gate's last verdict", async () => {
    const backend = await startBackend();
    await backend.scheduler.triggerTask('rollouts-gate-loop');
    const status = await backend.invoke('rollouts:get-status', {
      entityRef: 'component:checkout',
    });
    expect(status.rollout).toMatchObject({
      entityRef: CHECKOUT,
      provider: 'fake',
      target: 'shop/checkout',
      version: '2.1.0',
      previousVersion: '2.0.9',
      status: 'progressing',
      step: { index: 0, count: 4, weight: 1, requiresApproval: false },
    });
    expect(['continue', 'hold', 'promote', 'rollback']).toContain(
      status.rollout.lastEvaluation.verdict,
    );
    expect(status.rollout.lastEvaluation.reasons.length).toBeGreaterThan(0);
    expect(status.lastDecision).toMatchObject({ actor: 'scheduler' });

    // By id, after a pause: the new state and the decision that made it.
    await backend.invoke('rollouts:pause', {
      rolloutId: status.rollout.id,
      reason: 'freeze for the sale',
    });
    const paused = await backend.invoke('rollouts:get-status', {
      rolloutId: status.rollout.id,
    });
    expect(paused.rollout.status).toBe('paused');
    expect(paused.lastDecision).toMatchObject({
      verdict: 'pause',
      actor: OWNER,
      outcome: 'applied',
    });
  });
});
