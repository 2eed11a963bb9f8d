import { mockServices } from '@backstage/backend-test-utils';
import {
  ArgoRolloutsDeployProvider,
  type ArgoRolloutsDeployProviderOptions,
} from './ArgoRolloutsDeployProvider';
import { ArgoRolloutsError } from './errors';
import { FakeKubeApi, type RecordedRequest } from './__testUtils__/FakeKubeApi';
import {
  allFixtures,
  checkoutApi,
  inventory,
  TOKENS,
} from './__testUtils__/fixtures';

const NOW = new Date('2026-11-20T10:00:00Z');
const BASE = '/apis/argoproj.io/v1alpha1/namespaces';
const CHECKOUT = `${BASE}/payments/rollouts/checkout-api`;

interface ClusterUnderTest {
  name: string;
  api: FakeKubeApi;
  token?: string;
  namespaces?: string[];
}

function provider(
  clusters: ClusterUnderTest[],
  options: Partial<ArgoRolloutsDeployProviderOptions> = {},
) {
  return ArgoRolloutsDeployProvider.create({
    clusters: clusters.map(c => ({
      name: c.name,
      url: c.api.url,
      serviceAccountToken: c.token ?? 'tollgate-token',
      skipTLSVerify: true, // the fake speaks plain http
      namespaces: c.namespaces,
    })),
    logger: mockServices.logger.mock(),
    now: () => NOW,
    ...options,
  });
}

async function startApi(fixtures = allFixtures()) {
  return FakeKubeApi.start({ identities: TOKENS, ...fixtures, now: () => NOW });
}

/** What the fake recorded for the writes, as a reviewer would check them. */
function writes(api: FakeKubeApi) {
  return api.writes.map(
    ({ method, path, query, contentType, body, status }: RecordedRequest) => ({
      method,
      path,
      query,
      contentType,
      body,
      status,
    }),
  );
}

async function rejection(
  promise: Promise<unknown>,
): Promise<ArgoRolloutsError> {
  const e = await promise.then(
    () => undefined,
    err => err,
  );
  expect(e).toBeInstanceOf(ArgoRolloutsError);
  return e as ArgoRolloutsError;
}

describe('ArgoRolloutsDeployProvider', () => {
  let api: FakeKubeApi;
  let other: FakeKubeApi | undefined;
  beforeEach(async () => {
    api = await startApi();
  });
  afterEach(async () => {
    await api.close();
    await other?.close();
    other = undefined;
  });

  describe('listing', () => {
    it('lists canary Rollouts of one cluster with <namespace>/<name> targets, mapped to Tollgate', async () => {
      const rollouts = await provider([
        { name: 'prod-eu', api },
      ]).listRollouts();
      const byTarget = Object.fromEntries(rollouts.map(r => [r.target, r]));
      expect(Object.keys(byTarget).sort()).toEqual([
        'payments/checkout-api',
        'payments/payments-worker',
        'search/search-api',
        'shop/cart-service',
        'shop/inventory',
      ]);
      expect(byTarget['payments/checkout-api']).toMatchObject({
        externalId: 'prod-eu/payments/checkout-api@6c9f8d7b5c',
        version: 'yellow',
        previousVersion: 'blue',
        status: 'awaiting-approval',
        currentStepIndex: 0,
        currentWeight: 20,
        startedAt: new Date('2026-11-20T09:00:00Z'),
      });
      expect(byTarget['search/search-api']).toMatchObject({
        status: 'progressing',
        currentWeight: 10,
        version: '3.12.0',
        previousVersion: '3.11.4',
      });
      expect(byTarget['shop/cart-service']).toMatchObject({
        status: 'promoted',
        currentWeight: 100,
        previousVersion: '2.4.0',
      });
      expect(byTarget['shop/inventory']).toMatchObject({
        status: 'rolled-back',
        currentWeight: 0,
      });
      expect(byTarget['payments/payments-worker']).toMatchObject({
        status: 'failed',
      });
      // One cluster-wide list of Rollouts and one of Argo's ReplicaSets: what the ClusterRole allows.
      expect(
        api.requests.map(
          r => `${r.method} ${r.path}?${new URLSearchParams(r.query)}`,
        ),
      ).toEqual([
        'GET /apis/argoproj.io/v1alpha1/rollouts?',
        'GET /apis/apps/v1/replicasets?labelSelector=rollouts-pod-template-hash',
      ]);
    });

    it('names the cluster in targets when several are configured, and finds each target in its cluster', async () => {
      other = await startApi({
        rollouts: [checkoutApi().rollout],
        replicaSets: checkoutApi().replicaSets,
      });
      const p = provider([
        { name: 'prod-eu', api },
        { name: 'prod-us', api: other },
      ]);
      const targets = (await p.listRollouts()).map(r => r.target);
      expect(targets).toContain('prod-eu/shop/cart-service');
      expect(targets).toContain('prod-us/payments/checkout-api');
      expect(targets).not.toContain('payments/checkout-api');
      expect(await p.getRollout('prod-us/payments/checkout-api')).toMatchObject(
        { externalId: 'prod-us/payments/checkout-api@6c9f8d7b5c' },
      );
      expect(
        (await rejection(p.getRollout('payments/checkout-api'))).message,
      ).toMatch(/names no cluster; with several clusters \(prod-eu, prod-us\)/);
      expect(
        (await rejection(p.getRollout('staging/payments/checkout-api')))
          .message,
      ).toMatch(/no cluster "staging" is configured/);
    });

    it('accepts the long target form with one cluster too', async () => {
      expect(
        await provider([{ name: 'prod-eu', api }]).getRollout(
          'prod-eu/shop/cart-service',
        ),
      ).toMatchObject({ status: 'promoted' });
    });

    it('normalizes any accepted spelling of a target to the one it reports, so annotations in either form match', async () => {
      const one = provider([{ name: 'prod-eu', api }]);
      expect(one.normalizeTarget('prod-eu/shop/cart-service')).toBe(
        'shop/cart-service',
      );
      expect(one.normalizeTarget(' shop/cart-service ')).toBe(
        'shop/cart-service',
      );
      other = await startApi({ rollouts: [], replicaSets: [] });
      const two = provider([
        { name: 'prod-eu', api },
        { name: 'prod-us', api: other },
      ]);
      expect(two.normalizeTarget('prod-us/payments/checkout-api')).toBe(
        'prod-us/payments/checkout-api',
      );
      // Ambiguous or unknown: an error naming why (the registry then compares the text as written).
      expect(() => two.normalizeTarget('payments/checkout-api')).toThrow(
        /names no cluster/,
      );
      expect(() => one.normalizeTarget('staging/shop/cart-service')).toThrow(
        /no cluster "staging"/,
      );
      expect(api.requests).toEqual([]); // no API call to normalize
    });

    it('lists only the configured namespaces, which a namespaced Role is enough for', async () => {
      const p = provider([
        {
          name: 'prod-eu',
          api,
          token: 'payments-only-token',
          namespaces: ['payments'],
        },
      ]);
      expect((await p.listRollouts()).map(r => r.target).sort()).toEqual([
        'payments/checkout-api',
        'payments/payments-worker',
      ]);
      expect(api.requests.map(r => r.path)).toEqual([
        `${BASE}/payments/rollouts`,
        '/apis/apps/v1/namespaces/payments/replicasets',
      ]);
    });

    it('returns undefined for a rollout that does not exist', async () => {
      expect(
        await provider([{ name: 'prod-eu', api }]).getRollout('payments/nope'),
      ).toBeUndefined();
    });
  });

  describe('describing the canary for the debug view', () => {
    it("reports the traffic router, the canary's weight, the step and the running analysis, and only reads", async () => {
      const p = provider([{ name: 'prod-eu', api }]);
      await expect(p.describeTarget('search/search-api')).resolves.toEqual({
        provider: 'argo-rollouts',
        target: 'search/search-api',
        kind: 'argo-rollout',
        strategy: 'canary',
        enabled: true,
        percentage: 10,
        details: {
          phase: 'Progressing',
          message: 'more replicas need to be updated',
          trafficRouting: 'nginx',
          canaryService: 'search-api-canary',
          stableService: 'search-api-stable',
          step: '3/5',
          stepKind: 'analysis',
          paused: false,
          aborted: false,
          stableHash: '6f7d8c9b5a',
          canaryHash: '84b9f6d7c5',
          image: 'registry.example.com/search/search-api:3.12.0',
          analysis: 'search-api-84b9f6d7c5-9-2: Running',
        },
      });
      const checkout = await p.describeTarget('payments/checkout-api');
      expect(checkout).toMatchObject({
        percentage: 20,
        details: { pauseConditions: 'CanaryPauseStep', stepKind: 'pause' },
      });
      expect(api.writes).toEqual([]);
    });

    it('names the target in the error when the rollout does not exist', async () => {
      await expect(
        provider([{ name: 'prod-eu', api }]).describeTarget('search/nope'),
      ).rejects.toThrow(/nope/);
    });
  });

  describe('acting as kubectl argo rollouts does', () => {
    it('moves to the next step by clearing the pause on the status subresource (promote), then Argo advances', async () => {
      const p = provider([{ name: 'prod-eu', api }]);
      const rv = api.rollout('payments', 'checkout-api').metadata
        .resourceVersion;
      const after = await p.setStep('payments/checkout-api', 1);
      expect(writes(api)).toEqual([
        {
          method: 'PATCH',
          path: `${CHECKOUT}/status`,
          query: { fieldValidation: 'Strict' },
          contentType: 'application/merge-patch+json',
          body: {
            status: { pauseConditions: null },
            metadata: { resourceVersion: rv },
          },
          status: 200,
        },
      ]);
      // Released pause: the controller will complete it, so Tollgate already sees step 1 (40%).
      expect(after).toMatchObject({
        status: 'progressing',
        currentStepIndex: 1,
        currentWeight: 40,
      });

      api.reconcile('payments', 'checkout-api'); // Argo: setWeight 40, then pause 10s
      expect(await p.getRollout('payments/checkout-api')).toMatchObject({
        status: 'progressing',
        currentStepIndex: 1,
        currentWeight: 40,
        stepStartedAt: NOW,
        steps: expect.arrayContaining([{ weight: 40, minDurationSeconds: 10 }]),
      });

      // Next: the timed pause is cleared the same way; 60% follows.
      await p.setStep('payments/checkout-api', 2);
      expect(writes(api)[1]).toMatchObject({
        path: `${CHECKOUT}/status`,
        body: { status: { pauseConditions: null } },
      });
      api.reconcile('payments', 'checkout-api');
      expect(await p.getRollout('payments/checkout-api')).toMatchObject({
        currentStepIndex: 2,
        currentWeight: 60,
      });
    });

    it('jumps over the remaining pauses with status.currentStepIndex when the rollout is not at its last pause', async () => {
      api.touchRollout('payments', 'checkout-api', ro =>
        Object.assign(ro.status, {
          currentStepIndex: 0,
          pauseConditions: null,
          controllerPause: false,
        }),
      );
      const after = await provider([{ name: 'prod-eu', api }]).setStep(
        'payments/checkout-api',
        1,
      );
      expect(writes(api)[0]).toMatchObject({
        path: `${CHECKOUT}/status`,
        contentType: 'application/merge-patch+json',
        body: { status: { pauseConditions: null, currentStepIndex: 2 } },
      });
      expect(after).toMatchObject({ currentStepIndex: 1, currentWeight: 40 });
    });

    it('does nothing when the rollout is already at the step', async () => {
      const after = await provider([{ name: 'prod-eu', api }]).setStep(
        'payments/checkout-api',
        0,
      );
      expect(writes(api)).toEqual([]);
      expect(after.currentStepIndex).toBe(0);
    });

    it("never skips Argo's own analysis step", async () => {
      const error = await rejection(
        provider([{ name: 'prod-eu', api }]).setStep('search/search-api', 1),
      );
      expect(error.reason).toBe('InvalidState');
      expect(error.message).toMatch(
        /running the analysis of step 3\/5 of search\/search-api; Tollgate does not skip Argo's analysis/,
      );
      expect(writes(api)).toEqual([]);
    });

    it('promotes fully with status.promoteFull (promote --full)', async () => {
      const p = provider([{ name: 'prod-eu', api }]);
      const after = await p.promote('payments/checkout-api');
      expect(writes(api)).toEqual([
        expect.objectContaining({
          path: `${CHECKOUT}/status`,
          contentType: 'application/merge-patch+json',
          body: {
            status: { promoteFull: true },
            metadata: { resourceVersion: expect.any(String) },
          },
          status: 200,
        }),
      ]);
      expect(after).toMatchObject({
        status: 'progressing',
        currentStepIndex: 4,
        currentWeight: 100,
      });
      api.reconcile('payments', 'checkout-api');
      expect(await p.getRollout('payments/checkout-api')).toMatchObject({
        status: 'promoted',
        currentWeight: 100,
        finishedAt: NOW,
      });
      // Promoting again is a no-op.
      await p.promote('payments/checkout-api');
      expect(writes(api)).toHaveLength(1);
    });

    it('also moves to the final 100% step with promoteFull', async () => {
      api.touchRollout('payments', 'checkout-api', ro =>
        Object.assign(ro.status, {
          currentStepIndex: 7,
          pauseConditions: [
            { reason: 'CanaryPauseStep', startTime: '2026-11-20T09:30:00Z' },
          ],
        }),
      );
      await provider([{ name: 'prod-eu', api }]).setStep(
        'payments/checkout-api',
        4,
      );
      expect(writes(api)[0].body).toMatchObject({
        status: { promoteFull: true },
      });
    });

    it('rolls back with status.abort (abort), without a resourceVersion so it cannot lose a race', async () => {
      const p = provider([{ name: 'prod-eu', api }]);
      const after = await p.rollback(
        'payments/checkout-api',
        'error rate doubled on the canary',
      );
      expect(writes(api)).toEqual([
        {
          method: 'PATCH',
          path: `${CHECKOUT}/status`,
          query: { fieldValidation: 'Strict' },
          contentType: 'application/merge-patch+json',
          body: { status: { abort: true } },
          status: 200,
        },
      ]);
      expect(after).toMatchObject({ status: 'rolled-back', currentWeight: 0 });
      api.reconcile('payments', 'checkout-api');
      expect(await p.getRollout('payments/checkout-api')).toMatchObject({
        status: 'rolled-back',
        finishedAt: NOW,
      });
      await p.rollback('payments/checkout-api', 'again');
      expect(writes(api)).toHaveLength(1); // already aborted
    });

    it('retries an aborted rollout with status.abort: false (retry rollout)', async () => {
      const p = provider([{ name: 'prod-eu', api }]);
      const after = await p.retry('shop/inventory');
      expect(writes(api)).toEqual([
        expect.objectContaining({
          path: `${BASE}/shop/rollouts/inventory/status`,
          contentType: 'application/merge-patch+json',
          body: { status: { abort: false } },
        }),
      ]);
      expect(after.status).not.toBe('rolled-back');
      api.reconcile('shop', 'inventory');
      expect(await p.getRollout('shop/inventory')).toMatchObject({
        status: 'awaiting-approval',
        currentStepIndex: 0,
        currentWeight: 10,
      });
    });

    it('undoes to the stable revision with a JSON patch of spec.template taken from the stable ReplicaSet', async () => {
      const p = provider([{ name: 'prod-eu', api }]);
      await p.rollback('shop/inventory', 'x').catch(() => undefined); // already aborted: no write
      const rv = api.rollout('shop', 'inventory').metadata.resourceVersion;
      await p.undo('shop/inventory');
      const [patch] = writes(api);
      expect(patch).toMatchObject({
        method: 'PATCH',
        path: `${BASE}/shop/rollouts/inventory`,
        contentType: 'application/json-patch+json',
        status: 200,
      });
      const ops = patch.body as Array<{ op: string; path: string; value: any }>;
      expect(patch.query).toEqual({}); // the server's default field validation, as kubectl's undo
      expect(ops[0]).toEqual({
        op: 'replace',
        path: '/metadata/resourceVersion',
        value: rv,
      });
      expect(ops[1]).toMatchObject({ op: 'replace', path: '/spec/template' });
      expect(ops[1].value.spec.containers[0].image).toBe(
        'argoproj/rollouts-demo:blue',
      );
      expect(ops[1].value.metadata.labels).toEqual({ app: 'inventory' }); // without Argo's hash label
      expect(
        api.requests.filter(r => r.path.includes('replicasets'))[0].query,
      ).toEqual({ labelSelector: 'app=inventory' });

      api.reconcile('shop', 'inventory'); // Argo: back on the stable ReplicaSet, no steps
      expect(await p.getRollout('shop/inventory')).toMatchObject({
        externalId: 'prod-eu/shop/inventory@7d84d44bb8',
        status: 'promoted',
        version: 'blue',
      });
      await p.undo('shop/inventory');
      expect(writes(api)).toHaveLength(1); // the template already is the stable one
    });

    it('aborts and undoes on rollback when undoOnRollback is set', async () => {
      await provider([{ name: 'prod-eu', api }], {
        undoOnRollback: true,
      }).rollback('payments/checkout-api', 'latency SLO burn');
      expect(
        writes(api).map(w => `${w.path.slice(BASE.length)} ${w.contentType}`),
      ).toEqual([
        '/payments/rollouts/checkout-api/status application/merge-patch+json',
        '/payments/rollouts/checkout-api application/json-patch+json',
      ]);
    });

    it('pauses and resumes with spec.paused on the main resource', async () => {
      const p = provider([{ name: 'prod-eu', api }]);
      expect(await p.pause('search/search-api')).toMatchObject({
        status: 'paused',
      });
      expect(await p.resume('search/search-api')).toMatchObject({
        status: 'progressing',
      });
      expect(writes(api).map(w => [w.path, w.contentType, w.body])).toEqual([
        [
          `${BASE}/search/rollouts/search-api`,
          'application/merge-patch+json',
          { spec: { paused: true } },
        ],
        [
          `${BASE}/search/rollouts/search-api`,
          'application/merge-patch+json',
          { spec: { paused: false } },
        ],
      ]);
    });

    it('refuses to act on a finished or unknown rollout with a clear message', async () => {
      const p = provider([{ name: 'prod-eu', api }]);
      expect((await rejection(p.setStep('shop/inventory', 1))).message).toMatch(
        /the rollout is aborted; retry it first/,
      );
      expect(
        (await rejection(p.rollback('shop/cart-service', 'x'))).message,
      ).toMatch(/it is fully promoted; undo it/);
      const missing = await rejection(p.setStep('payments/nope', 1));
      expect(missing).toMatchObject({ statusCode: 404, reason: 'NotFound' });
      expect(missing.message).toMatch(
        /^rollout not found: payments\/nope in cluster "prod-eu"/,
      );
      expect((await rejection(p.setStep('just-a-name', 1))).reason).toBe(
        'InvalidTarget',
      );
    });
  });

  describe('Kubernetes API errors', () => {
    it('403: names the service account, the missing verb and resource', async () => {
      const readOnly = await rejection(
        provider([{ name: 'prod-eu', api, token: 'read-only-token' }]).setStep(
          'payments/checkout-api',
          1,
        ),
      );
      expect(readOnly).toMatchObject({
        statusCode: 403,
        reason: 'Forbidden',
        cluster: 'prod-eu',
      });
      expect(readOnly.message).toMatch(
        /^cluster "prod-eu": service account tollgate\/tollgate-viewer lacks the "patch" permission on "rollouts\/status" \(API group argoproj.io\) in namespace "payments" \(403 Forbidden\)/,
      );
      // Patching the main resource is not enough: Argo's status lives in a subresource.
      const noStatus = await rejection(
        provider([{ name: 'prod-eu', api, token: 'no-status-token' }]).rollback(
          'payments/checkout-api',
          'x',
        ),
      );
      expect(noStatus.message).toMatch(
        /tollgate-half lacks the "patch" permission on "rollouts\/status"/,
      );
      const clusterScope = await rejection(
        provider([
          { name: 'prod-eu', api, token: 'payments-only-token' },
        ]).listRollouts(),
      );
      expect(clusterScope.message).toMatch(
        /lacks the "list" permission on "rollouts" \(API group argoproj.io\) at the cluster scope \(a ClusterRole\)/,
      );
      expect(writes(api).every(w => w.status === 403)).toBe(true);
    });

    it('lists without versions, and says so once, when ReplicaSets may not be listed', async () => {
      const logger = mockServices.logger.mock();
      const p = provider(
        [
          {
            name: 'prod-eu',
            api,
            token: 'payments-only-token',
            namespaces: ['payments', 'shop'],
          },
        ],
        { logger },
      );
      const error = await rejection(p.listRollouts());
      expect(error.message).toMatch(
        /"list" permission on "rollouts" .* in namespace "shop"/,
      );

      const noReplicaSets = {
        ...TOKENS['tollgate-token'],
        rules: TOKENS['tollgate-token'].rules.filter(
          r => !r.resources.includes('replicasets'),
        ),
      };
      other = await FakeKubeApi.start({
        identities: { t: noReplicaSets },
        ...allFixtures(),
      });
      const q = provider([{ name: 'prod-eu', api: other, token: 't' }], {
        logger,
      });
      const listed = await q.listRollouts();
      await q.listRollouts();
      expect(
        listed.find(r => r.target === 'payments/checkout-api'),
      ).toMatchObject({
        version: 'yellow',
        previousVersion: '5d8f9c6b4d',
        startedAt: NOW,
      });
      expect(logger.warn).toHaveBeenCalledTimes(1);
      expect(logger.warn.mock.calls[0][0]).toMatch(
        /versions and start times of cluster "prod-eu" are partial: .*"list" permission on "replicasets"/,
      );
    });

    it('409: reads the rollout again and retries once with the fresh resourceVersion', async () => {
      let raced = false;
      api.beforeHandle = r => {
        if (r.method === 'PATCH' && !raced) {
          raced = true; // Argo's controller writes between Tollgate's read and its patch
          api.touchRollout(
            'payments',
            'checkout-api',
            ro => (ro.status.readyReplicas = 4),
          );
        }
      };
      const after = await provider([{ name: 'prod-eu', api }]).setStep(
        'payments/checkout-api',
        1,
      );
      const [first, second] = writes(api);
      expect(first.status).toBe(409);
      expect(second.status).toBe(200);
      expect((second.body as any).metadata.resourceVersion).not.toBe(
        (first.body as any).metadata.resourceVersion,
      );
      expect(api.requests.map(r => r.method)).toEqual([
        'GET',
        'PATCH',
        'GET',
        'PATCH',
      ]);
      expect(after.currentStepIndex).toBe(1);
    });

    it('409 twice: gives up with a clear error', async () => {
      api.beforeHandle = r => {
        if (r.method === 'PATCH')
          api.touchRollout(
            'payments',
            'checkout-api',
            ro =>
              (ro.status.observedGeneration = String(
                Number(ro.status.observedGeneration) + 1,
              )),
          );
      };
      const error = await rejection(
        provider([{ name: 'prod-eu', api }]).promote('payments/checkout-api'),
      );
      expect(error).toMatchObject({ statusCode: 409, reason: 'Conflict' });
      expect(error.message).toMatch(
        /could not promote payments\/checkout-api: the rollout changed again .* \(409 Conflict twice\)/,
      );
      expect(writes(api).map(w => w.status)).toEqual([409, 409]);
    });

    it('400 (fieldValidation=Strict): a field an older Argo CRD lacks is refused, not silently dropped', async () => {
      other = await FakeKubeApi.start({
        identities: TOKENS,
        ...allFixtures(),
        crdLacks: ['status.promoteFull'],
      });
      const error = await rejection(
        provider([{ name: 'prod-eu', api: other }]).promote(
          'payments/checkout-api',
        ),
      );
      expect(error).toMatchObject({ statusCode: 400, reason: 'BadRequest' });
      expect(error.message).toMatch(
        /its Rollout CRD does not know a field Tollgate sets .* upgrade Argo Rollouts/,
      );
      expect(error.message).toContain(
        'strict decoding error: unknown field "status.promoteFull"',
      );
      expect(
        other.rollout('payments', 'checkout-api').status.promoteFull,
      ).toBeUndefined();
    });

    it('401: says the credentials were rejected', async () => {
      const error = await rejection(
        provider([
          { name: 'prod-eu', api, token: 'expired-token' },
        ]).listRollouts(),
      );
      expect(error).toMatchObject({ statusCode: 401, reason: 'Unauthorized' });
      expect(error.message).toMatch(
        /cluster "prod-eu" rejected the credentials of the configured serviceAccountToken \(401 Unauthorized\)/,
      );
    });

    it('a failing API (503) or a slow one (timeout) throws, so the gate loop holds and retries', async () => {
      api.fault = { code: 503, times: 1 };
      const failing = await rejection(
        provider([{ name: 'prod-eu', api }]).listRollouts(),
      );
      expect(failing).toMatchObject({
        statusCode: 503,
        reason: 'ServiceUnavailable',
      });
      expect(failing.message).toMatch(
        /the server is currently unable to handle the request/,
      );

      api.latencyMs = 400;
      const slow = await rejection(
        provider([{ name: 'prod-eu', api }], {
          requestTimeoutMs: 100,
        }).getRollout('payments/checkout-api'),
      );
      expect(slow).toMatchObject({ reason: 'Timeout' });
      expect(slow.message).toMatch(
        /did not answer get rollouts payments\/checkout-api within 0.1 s/,
      );
    });

    it('never returns a partial list when one of several clusters fails', async () => {
      other = await startApi({
        rollouts: [inventory().rollout],
        replicaSets: inventory().replicaSets,
      });
      other.fault = { code: 500, times: 5 };
      const error = await rejection(
        provider([
          { name: 'prod-eu', api },
          { name: 'prod-us', api: other },
        ]).listRollouts(),
      );
      expect(error.cluster).toBe('prod-us');
    });

    it('cannot reach a cluster: says where it tried', async () => {
      const url = api.url;
      await api.close();
      const error = await rejection(
        ArgoRolloutsDeployProvider.create({
          clusters: [
            {
              name: 'gone',
              url,
              serviceAccountToken: 'tollgate-token',
              skipTLSVerify: true,
            },
          ],
          logger: mockServices.logger.mock(),
        }).listRollouts(),
      );
      expect(error.reason).toBe('Unreachable');
      expect(error.message).toContain(`cannot reach cluster "gone" at ${url}`);
      api = await startApi(); // for afterEach
    });
  });

  describe('configuration', () => {
    it('refuses a cluster with no or two auth methods, a missing url or a bad name', () => {
      const logger = mockServices.logger.mock();
      expect(() =>
        ArgoRolloutsDeployProvider.create({
          clusters: [{ name: 'a' }],
          logger,
        }),
      ).toThrow(
        /set exactly one of kubeconfig, inCluster or serviceAccountToken \(found none\)/,
      );
      expect(() =>
        ArgoRolloutsDeployProvider.create({
          clusters: [
            {
              name: 'a',
              serviceAccountToken: 't',
              inCluster: true,
              url: 'https://k',
            },
          ],
          logger,
        }),
      ).toThrow(/found inCluster, serviceAccountToken/);
      expect(() =>
        ArgoRolloutsDeployProvider.create({
          clusters: [{ name: 'a', serviceAccountToken: 't' }],
          logger,
        }),
      ).toThrow(/url is required/);
      expect(() =>
        ArgoRolloutsDeployProvider.create({
          clusters: [
            { name: 'eu/1', serviceAccountToken: 't', url: 'https://k' },
          ],
          logger,
        }),
      ).toThrow(/contain no "\/"/);
    });

    it('reads an inline kubeconfig', async () => {
      const kubeconfig = [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- name: fake\n  cluster:\n    server: ${api.url}\n    insecure-skip-tls-verify: true`,
        'users:',
        '- name: tollgate\n  user:\n    token: tollgate-token',
        'contexts:',
        '- name: fake\n  context:\n    cluster: fake\n    user: tollgate',
        'current-context: fake',
      ].join('\n');
      const p = ArgoRolloutsDeployProvider.create({
        clusters: [{ name: 'prod-eu', kubeconfig }],
        logger: mockServices.logger.mock(),
      });
      expect(await p.getRollout('shop/cart-service')).toMatchObject({
        status: 'promoted',
      });
    });
  });
});
