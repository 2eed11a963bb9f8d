import {
  ApiException,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { FakeKubeApi } from './FakeKubeApi';
import { checkoutApi, TOKENS } from './fixtures';

const ROLLOUT =
  '/apis/argoproj.io/v1alpha1/namespaces/payments/rollouts/checkout-api';

describe('the fake Kubernetes API is as strict as the real one', () => {
  let api: FakeKubeApi;
  const call = (
    path: string,
    init: {
      method?: string;
      token?: string | null;
      contentType?: string;
      body?: unknown;
    } = {},
  ) =>
    fetch(`${api.url}${path}`, {
      method: init.method ?? 'GET',
      headers: {
        ...(init.token === null
          ? {}
          : { authorization: `Bearer ${init.token ?? 'tollgate-token'}` }),
        ...(init.contentType ? { 'content-type': init.contentType } : {}),
      },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });

  beforeEach(async () => {
    const f = checkoutApi();
    api = await FakeKubeApi.start({
      identities: TOKENS,
      rollouts: [f.rollout],
      replicaSets: f.replicaSets,
      now: () => new Date('2026-11-20T10:00:00Z'),
    });
  });
  afterEach(() => api.close());

  it('answers 401 with a Status without a known bearer token', async () => {
    for (const token of [null, 'stolen']) {
      const res = await call(ROLLOUT, { token });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'Unauthorized',
        reason: 'Unauthorized',
        code: 401,
      });
    }
  });

  it('answers 403 naming user, verb, resource and namespace when RBAC does not allow the call', async () => {
    const res = await call(`${ROLLOUT}/status`, {
      method: 'PATCH',
      token: 'read-only-token',
      contentType: PatchStrategy.MergePatch,
      body: { status: { abort: true } },
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({
      kind: 'Status',
      reason: 'Forbidden',
      code: 403,
      message:
        'rollouts.argoproj.io "checkout-api" is forbidden: User "system:serviceaccount:tollgate:tollgate-viewer" cannot patch resource "rollouts/status" in API group "argoproj.io" in the namespace "payments"',
      details: { name: 'checkout-api', group: 'argoproj.io', kind: 'rollouts' },
    });
    const clusterList = await call('/apis/argoproj.io/v1alpha1/rollouts', {
      token: 'payments-only-token',
    });
    expect(clusterList.status).toBe(403);
    expect((await clusterList.json()).message).toMatch(
      /cannot list resource "rollouts" in API group "argoproj.io" at the cluster scope$/,
    );
  });

  it('rejects a strategic merge patch on the custom resource with 415, also through client-node', async () => {
    const res = await call(`${ROLLOUT}/status`, {
      method: 'PATCH',
      contentType: PatchStrategy.StrategicMergePatch,
      body: { status: { abort: true } },
    });
    expect(res.status).toBe(415);
    expect(await res.json()).toMatchObject({
      reason: 'UnsupportedMediaType',
      code: 415,
    });

    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: api.url, skipTLSVerify: true }],
      users: [{ name: 'u', token: 'tollgate-token' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'u' }],
      currentContext: 'fake',
    });
    const custom = kc.makeApiClient(CustomObjectsApi);
    const request = {
      group: 'argoproj.io',
      version: 'v1alpha1',
      namespace: 'payments',
      plural: 'rollouts',
      name: 'checkout-api',
      body: { status: { abort: true } },
    };
    const error = await custom
      .patchNamespacedCustomObjectStatus(
        request,
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      )
      .catch(e => e);
    expect(error).toBeInstanceOf(ApiException);
    expect(error.code).toBe(415);
    expect(
      api.rollout('payments', 'checkout-api').status.abort,
    ).toBeUndefined();
  });

  it('refuses an unknown field with fieldValidation=Strict (400) and prunes it with a warning otherwise', async () => {
    const strict = await call(`${ROLLOUT}/status?fieldValidation=Strict`, {
      method: 'PATCH',
      contentType: PatchStrategy.MergePatch,
      body: { status: { promoteFul: true } },
    });
    expect(strict.status).toBe(400);
    expect(await strict.json()).toMatchObject({
      reason: 'BadRequest',
      message: 'strict decoding error: unknown field "status.promoteFul"',
    });

    const rv = api.resourceVersion;
    const warn = await call(ROLLOUT, {
      method: 'PATCH',
      contentType: PatchStrategy.MergePatch,
      body: { spec: { pasued: true } },
    });
    expect(warn.status).toBe(200);
    expect(warn.headers.get('warning')).toBe(
      '299 - "unknown field \\"spec.pasued\\""',
    );
    expect((await warn.json()).spec.pasued).toBeUndefined();
    expect(api.resourceVersion).toBe(rv); // nothing changed, nothing written
  });

  it('answers 422 with the schema error when the patched Rollout is invalid', async () => {
    const res = await call(`${ROLLOUT}/status`, {
      method: 'PATCH',
      contentType: PatchStrategy.MergePatch,
      body: { status: { abort: 'yes' } },
    });
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({
      kind: 'Status',
      reason: 'Invalid',
      code: 422,
      message:
        'Rollout.argoproj.io "checkout-api" is invalid: status.abort: Invalid value: "string": status.abort in body must be of type boolean: "string"',
      details: {
        name: 'checkout-api',
        kind: 'Rollout',
        causes: [{ reason: 'FieldValueTypeInvalid', field: 'status.abort' }],
      },
    });
  });

  it('answers 409 to a patch with a stale resourceVersion, and increments resourceVersion on every write', async () => {
    const list = await (
      await call('/apis/argoproj.io/v1alpha1/namespaces/payments/rollouts')
    ).json();
    expect(list).toMatchObject({
      kind: 'RolloutList',
      metadata: { resourceVersion: api.resourceVersion },
    });
    const rv = list.items[0].metadata.resourceVersion;

    const first = await call(`${ROLLOUT}/status`, {
      method: 'PATCH',
      contentType: PatchStrategy.MergePatch,
      body: {
        metadata: { resourceVersion: rv },
        status: { pauseConditions: null },
      },
    });
    expect(first.status).toBe(200);
    const written = await first.json();
    expect(Number(written.metadata.resourceVersion)).toBeGreaterThan(
      Number(rv),
    );
    expect(written.status.pauseConditions).toBeUndefined();

    const stale = await call(`${ROLLOUT}/status`, {
      method: 'PATCH',
      contentType: PatchStrategy.MergePatch,
      body: { metadata: { resourceVersion: rv }, status: { abort: true } },
    });
    expect(stale.status).toBe(409);
    expect(await stale.json()).toMatchObject({
      reason: 'Conflict',
      message:
        'Operation cannot be fulfilled on rollouts.argoproj.io "checkout-api": the object has been modified; please apply your changes to the latest version and try again',
    });
  });

  it('drops status changes sent to the main resource and spec changes sent to the status subresource', async () => {
    await call(ROLLOUT, {
      method: 'PATCH',
      contentType: PatchStrategy.MergePatch,
      body: { status: { abort: true } },
    });
    await call(`${ROLLOUT}/status`, {
      method: 'PATCH',
      contentType: PatchStrategy.MergePatch,
      body: { spec: { paused: true } },
    });
    const ro = api.rollout('payments', 'checkout-api');
    expect(ro.status.abort).toBeUndefined();
    expect(ro.spec.paused).toBeUndefined();
  });

  it('applies JSON patches and answers 404 for a missing rollout', async () => {
    const res = await call(ROLLOUT, {
      method: 'PATCH',
      contentType: PatchStrategy.JsonPatch,
      body: [
        {
          op: 'replace',
          path: '/spec/template/spec/containers/0/image',
          value: 'argoproj/rollouts-demo:blue',
        },
      ],
    });
    expect(res.status).toBe(200);
    expect((await res.json()).metadata.generation).toBe(5);
    const missing = await call(
      '/apis/argoproj.io/v1alpha1/namespaces/payments/rollouts/nope',
    );
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({
      reason: 'NotFound',
      message: 'rollouts.argoproj.io "nope" not found',
    });
  });

  it('refuses an image change the real API refuses: strategic merge (415), a missing rollout (404), a non-string image or a failed test (422)', async () => {
    const image = (value: unknown) => [
      {
        op: 'test',
        path: '/spec/template/spec/containers/0/name',
        value: 'checkout-api',
      },
      { op: 'add', path: '/spec/template/spec/containers/0/image', value },
    ];
    const strategic = await call(ROLLOUT, {
      method: 'PATCH',
      contentType: 'application/strategic-merge-patch+json',
      body: {
        spec: {
          template: {
            spec: { containers: [{ name: 'checkout-api', image: 'x:1' }] },
          },
        },
      },
    });
    expect(strategic.status).toBe(415);
    const missing = await call(
      '/apis/argoproj.io/v1alpha1/namespaces/payments/rollouts/nope',
      {
        method: 'PATCH',
        contentType: PatchStrategy.JsonPatch,
        body: image('x:1'),
      },
    );
    expect(missing.status).toBe(404);
    const number = await call(ROLLOUT, {
      method: 'PATCH',
      contentType: PatchStrategy.JsonPatch,
      body: image(42),
    });
    expect(number.status).toBe(422);
    expect((await number.json()).message).toBe(
      'Rollout.argoproj.io "checkout-api" is invalid: spec.template.spec.containers[0].image: Invalid value: "number": spec.template.spec.containers[0].image in body must be of type string: "number"',
    );
    const moved = await call(ROLLOUT, {
      method: 'PATCH',
      contentType: PatchStrategy.JsonPatch,
      body: [{ ...image('x:1')[0], value: 'sidecar' }, image('x:1')[1]],
    });
    expect(moved.status).toBe(422);
    expect(api.rollout('payments', 'checkout-api').spec.template).toEqual(
      checkoutApi().rollout.spec.template,
    );
  });

  it("plays the controller's part: a released pause advances to the next weight and pause", () => {
    api.touchRollout(
      'payments',
      'checkout-api',
      ro => (ro.status.pauseConditions = null),
    );
    const ro = api.reconcile('payments', 'checkout-api');
    expect(ro.status).toMatchObject({
      currentStepIndex: 3,
      controllerPause: true,
      pauseConditions: [
        { reason: 'CanaryPauseStep', startTime: '2026-11-20T10:00:00.000Z' },
      ],
      phase: 'Paused',
    });
  });
});
