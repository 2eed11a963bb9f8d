/**
 * Rollouts and ReplicaSets shaped like Argo Rollouts' own examples and
 * testdata (docs/getting-started canary `rollouts-demo`, and
 * pkg/kubectl-argo-rollouts/info/testdata), with status blocks as the
 * controller writes them. Each call returns fresh objects.
 */
import type { FakeIdentity, FakeRbacRule } from './FakeKubeApi';

/** The rules the module README documents: exactly what the provider needs. */
export const LEAST_PRIVILEGE_RULES: FakeRbacRule[] = [
  { verbs: ['get', 'list', 'patch'], resources: ['rollouts'] },
  { verbs: ['patch'], resources: ['rollouts/status'] },
  { verbs: ['list'], resources: ['replicasets'] },
];

export const TOKENS: Record<string, FakeIdentity> = {
  'tollgate-token': {
    user: 'system:serviceaccount:tollgate:tollgate-argo-rollouts',
    rules: LEAST_PRIVILEGE_RULES,
  },
  'read-only-token': {
    user: 'system:serviceaccount:tollgate:tollgate-viewer',
    rules: [
      { verbs: ['get', 'list'], resources: ['rollouts'] },
      { verbs: ['list'], resources: ['replicasets'] },
    ],
  },
  'no-status-token': {
    user: 'system:serviceaccount:tollgate:tollgate-half',
    rules: [
      { verbs: ['get', 'list', 'patch'], resources: ['rollouts'] },
      { verbs: ['list'], resources: ['replicasets'] },
    ],
  },
  'payments-only-token': {
    user: 'system:serviceaccount:tollgate:tollgate-payments',
    rules: LEAST_PRIVILEGE_RULES.map(r => ({ ...r, namespaces: ['payments'] })),
  },
};

const T0 = '2026-11-20T09:00:00Z';
const at = (minutes: number) =>
  new Date(Date.parse(T0) + minutes * 60_000)
    .toISOString()
    .replace('.000Z', 'Z');

function template(app: string, image: string) {
  return {
    metadata: { labels: { app } },
    spec: {
      containers: [
        {
          name: app,
          image,
          ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
          resources: { requests: { memory: '32Mi', cpu: '5m' } },
        },
      ],
    },
  };
}

function replicaSet(o: {
  rollout: { name: string; namespace: string; uid: string };
  hash: string;
  revision: number;
  image: string;
  replicas: number;
  createdAt: string;
}) {
  const t = template(o.rollout.name, o.image);
  // The API server fills defaults into a ReplicaSet's pod template.
  Object.assign(t.spec.containers[0], {
    imagePullPolicy: 'IfNotPresent',
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
  });
  Object.assign(t.spec, {
    restartPolicy: 'Always',
    dnsPolicy: 'ClusterFirst',
    schedulerName: 'default-scheduler',
    terminationGracePeriodSeconds: 30,
  });
  return {
    metadata: {
      name: `${o.rollout.name}-${o.hash}`,
      namespace: o.rollout.namespace,
      uid: `rs-${o.rollout.name}-${o.hash}`,
      creationTimestamp: o.createdAt,
      labels: { app: o.rollout.name, 'rollouts-pod-template-hash': o.hash },
      annotations: {
        'rollout.argoproj.io/desired-replicas': '5',
        'rollout.argoproj.io/revision': String(o.revision),
      },
      ownerReferences: [
        {
          apiVersion: 'argoproj.io/v1alpha1',
          kind: 'Rollout',
          name: o.rollout.name,
          uid: o.rollout.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      replicas: o.replicas,
      selector: {
        matchLabels: {
          app: o.rollout.name,
          'rollouts-pod-template-hash': o.hash,
        },
      },
      template: {
        ...t,
        metadata: {
          labels: {
            ...t.metadata.labels,
            'rollouts-pod-template-hash': o.hash,
          },
        },
      },
    },
    status: {
      replicas: o.replicas,
      readyReplicas: o.replicas,
      availableReplicas: o.replicas,
      observedGeneration: 1,
    },
  };
}

/**
 * The getting-started canary (`rollouts-demo`), as `payments/checkout-api`:
 * steps setWeight 20, pause {}, setWeight 40, pause 10s, 60, pause 10s, 80,
 * pause 10s; updated from blue to yellow and paused at the first
 * (indefinite) pause, 20% on the canary.
 */
export function checkoutApi() {
  const meta = {
    name: 'checkout-api',
    namespace: 'payments',
    uid: '8d3b1f9e-2c4a-4e8b-9a51-0f6c2d7e1a34',
  };
  const rollout = {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: {
      ...meta,
      generation: 4,
      creationTimestamp: '2026-10-02T14:21:07Z',
      annotations: { 'rollout.argoproj.io/revision': '4' },
      labels: { app: 'checkout-api', 'app.kubernetes.io/part-of': 'checkout' },
    },
    spec: {
      replicas: 5,
      revisionHistoryLimit: 3,
      selector: { matchLabels: { app: 'checkout-api' } },
      template: template('checkout-api', 'argoproj/rollouts-demo:yellow'),
      strategy: {
        canary: {
          steps: [
            { setWeight: 20 },
            { pause: {} },
            { setWeight: 40 },
            { pause: { duration: 10 } },
            { setWeight: 60 },
            { pause: { duration: 10 } },
            { setWeight: 80 },
            { pause: { duration: 10 } },
          ],
        },
      },
    },
    status: {
      HPAReplicas: 5,
      availableReplicas: 5,
      blueGreen: {},
      canary: {},
      conditions: [
        {
          type: 'Available',
          status: 'True',
          reason: 'AvailableReason',
          message: 'Rollout has minimum availability',
          lastTransitionTime: '2026-10-02T14:21:19Z',
          lastUpdateTime: '2026-10-02T14:21:19Z',
        },
        {
          type: 'Completed',
          status: 'False',
          reason: 'RolloutCompleted',
          message:
            'Rollout not completed, started update to revision 4 (6c9f8d7b5c)',
          lastTransitionTime: at(0),
          lastUpdateTime: at(0),
        },
        {
          type: 'Healthy',
          status: 'False',
          reason: 'RolloutHealthy',
          message: 'Rollout is not healthy',
          lastTransitionTime: at(0),
          lastUpdateTime: at(0),
        },
        {
          type: 'Progressing',
          status: 'True',
          reason: 'RolloutPaused',
          message: 'Rollout is paused',
          lastTransitionTime: '2026-10-02T14:21:07Z',
          lastUpdateTime: at(1),
        },
        {
          type: 'Paused',
          status: 'True',
          reason: 'RolloutPaused',
          message: 'Rollout is paused',
          lastTransitionTime: at(1),
          lastUpdateTime: at(1),
        },
      ],
      controllerPause: true,
      currentPodHash: '6c9f8d7b5c',
      currentStepHash: '5f8fbd6c9d',
      currentStepIndex: 1,
      message: 'CanaryPauseStep',
      observedGeneration: '4',
      pauseConditions: [{ reason: 'CanaryPauseStep', startTime: at(1) }],
      phase: 'Paused',
      readyReplicas: 5,
      replicas: 5,
      selector: 'app=checkout-api',
      stableRS: '5d8f9c6b4d',
      updatedReplicas: 1,
    },
  };
  const replicaSets = [
    replicaSet({
      rollout: meta,
      hash: '7b6c5d4e3f',
      revision: 2,
      image: 'argoproj/rollouts-demo:red',
      replicas: 0,
      createdAt: '2026-10-20T08:00:00Z',
    }),
    replicaSet({
      rollout: meta,
      hash: '5d8f9c6b4d',
      revision: 3,
      image: 'argoproj/rollouts-demo:blue',
      replicas: 4,
      createdAt: '2026-11-01T10:00:00Z',
    }),
    replicaSet({
      rollout: meta,
      hash: '6c9f8d7b5c',
      revision: 4,
      image: 'argoproj/rollouts-demo:yellow',
      replicas: 1,
      createdAt: at(0),
    }),
  ];
  return { rollout, replicaSets };
}

/**
 * `search/search-api` with NGINX traffic routing and a step analysis:
 * setWeight 10, pause 1m, analysis success-rate, setWeight 50, pause 5m;
 * running the analysis at 10%.
 */
export function searchApi() {
  const meta = {
    name: 'search-api',
    namespace: 'search',
    uid: 'c1e7a0d2-5b3f-4c9e-8d1a-7f2e4b6c8a90',
  };
  const rollout = {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: {
      ...meta,
      generation: 9,
      creationTimestamp: '2026-09-14T07:30:00Z',
      annotations: { 'rollout.argoproj.io/revision': '9' },
    },
    spec: {
      replicas: 4,
      selector: { matchLabels: { app: 'search-api' } },
      template: template(
        'search-api',
        'registry.example.com/search/search-api:3.12.0',
      ),
      strategy: {
        canary: {
          canaryService: 'search-api-canary',
          stableService: 'search-api-stable',
          trafficRouting: { nginx: { stableIngress: 'search-api' } },
          steps: [
            { setWeight: 10 },
            { pause: { duration: '1m' } },
            {
              analysis: {
                templates: [{ templateName: 'success-rate' }],
                args: [{ name: 'service-name', value: 'search-api-canary' }],
              },
            },
            { setWeight: 50 },
            { pause: { duration: '5m' } },
          ],
        },
      },
    },
    status: {
      HPAReplicas: 5,
      availableReplicas: 5,
      blueGreen: {},
      canary: {
        currentStepAnalysisRun: 'search-api-84b9f6d7c5-9-2',
        currentStepAnalysisRunStatus: {
          name: 'search-api-84b9f6d7c5-9-2',
          status: 'Running',
          message: '',
        },
        weights: {
          canary: {
            podTemplateHash: '84b9f6d7c5',
            weight: 10,
            serviceName: 'search-api-canary',
          },
          stable: {
            podTemplateHash: '6f7d8c9b5a',
            weight: 90,
            serviceName: 'search-api-stable',
          },
        },
      },
      conditions: [
        {
          type: 'Available',
          status: 'True',
          reason: 'AvailableReason',
          message: 'Rollout has minimum availability',
          lastTransitionTime: '2026-09-14T07:31:00Z',
          lastUpdateTime: '2026-09-14T07:31:00Z',
        },
        {
          type: 'Progressing',
          status: 'True',
          reason: 'ReplicaSetUpdated',
          message: 'ReplicaSet "search-api-84b9f6d7c5" is progressing.',
          lastTransitionTime: '2026-09-14T07:30:00Z',
          lastUpdateTime: at(3),
        },
      ],
      currentPodHash: '84b9f6d7c5',
      currentStepHash: '7d9c5b8f6',
      currentStepIndex: 2,
      observedGeneration: '9',
      phase: 'Progressing',
      message: 'more replicas need to be updated',
      readyReplicas: 5,
      replicas: 5,
      selector: 'app=search-api',
      stableRS: '6f7d8c9b5a',
      updatedReplicas: 1,
    },
  };
  const replicaSets = [
    replicaSet({
      rollout: meta,
      hash: '6f7d8c9b5a',
      revision: 8,
      image: 'registry.example.com/search/search-api:3.11.4',
      replicas: 4,
      createdAt: '2026-11-10T12:00:00Z',
    }),
    replicaSet({
      rollout: meta,
      hash: '84b9f6d7c5',
      revision: 9,
      image: 'registry.example.com/search/search-api:3.12.0',
      replicas: 1,
      createdAt: at(0),
    }),
  ];
  return { rollout, replicaSets };
}

/** `shop/cart-service`, fully promoted (stable == current) two hours ago. */
export function cartService() {
  const meta = {
    name: 'cart-service',
    namespace: 'shop',
    uid: '3f9a7c1e-8b2d-4f6a-9c0e-1d5b7a3e9f21',
  };
  const rollout = {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: {
      ...meta,
      generation: 12,
      creationTimestamp: '2026-06-01T09:00:00Z',
      annotations: { 'rollout.argoproj.io/revision': '12' },
    },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'cart-service' } },
      template: template('cart-service', 'ghcr.io/acme/cart-service:2.4.1'),
      strategy: {
        canary: {
          steps: [
            { setWeight: 25 },
            { pause: { duration: '2m' } },
            { setWeight: 50 },
            { pause: {} },
          ],
        },
      },
    },
    status: {
      HPAReplicas: 3,
      availableReplicas: 3,
      blueGreen: {},
      canary: {},
      conditions: [
        {
          type: 'Available',
          status: 'True',
          reason: 'AvailableReason',
          message: 'Rollout has minimum availability',
          lastTransitionTime: '2026-06-01T09:00:40Z',
          lastUpdateTime: '2026-06-01T09:00:40Z',
        },
        {
          type: 'Completed',
          status: 'True',
          reason: 'RolloutCompleted',
          message:
            'Rollout completed update to revision 12 (9a8b7c6d5e): Rollout is Completed',
          lastTransitionTime: at(-120),
          lastUpdateTime: at(-120),
        },
        {
          type: 'Healthy',
          status: 'True',
          reason: 'RolloutHealthy',
          message: 'Rollout is healthy',
          lastTransitionTime: at(-120),
          lastUpdateTime: at(-120),
        },
        {
          type: 'Progressing',
          status: 'True',
          reason: 'NewReplicaSetAvailable',
          message:
            'ReplicaSet "cart-service-9a8b7c6d5e" has successfully progressed.',
          lastTransitionTime: '2026-06-01T09:00:00Z',
          lastUpdateTime: at(-120),
        },
      ],
      currentPodHash: '9a8b7c6d5e',
      currentStepHash: '6b7f9d8c5',
      currentStepIndex: 4,
      observedGeneration: '12',
      phase: 'Healthy',
      readyReplicas: 3,
      replicas: 3,
      selector: 'app=cart-service',
      stableRS: '9a8b7c6d5e',
      updatedReplicas: 3,
    },
  };
  const replicaSets = [
    replicaSet({
      rollout: meta,
      hash: '4e5f6a7b8c',
      revision: 11,
      image: 'ghcr.io/acme/cart-service:2.4.0',
      replicas: 0,
      createdAt: '2026-11-12T10:00:00Z',
    }),
    replicaSet({
      rollout: meta,
      hash: '9a8b7c6d5e',
      revision: 12,
      image: 'ghcr.io/acme/cart-service:2.4.1',
      replicas: 3,
      createdAt: at(-150),
    }),
  ];
  return { rollout, replicaSets };
}

/** `shop/inventory`, aborted by a failed background analysis (after Argo's rollout-aborted testdata). */
export function inventory() {
  const meta = {
    name: 'inventory',
    namespace: 'shop',
    uid: 'aeddde25-f8bd-4a68-a4a1-523a559bdb83',
  };
  const rollout = {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: {
      ...meta,
      generation: 15,
      creationTimestamp: '2026-09-22T09:09:46Z',
      annotations: { 'rollout.argoproj.io/revision': '2' },
    },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'inventory' } },
      template: template('inventory', 'argoproj/rollouts-demo:yellow'),
      strategy: {
        canary: {
          analysis: { templates: [{ templateName: 'web-background' }] },
          steps: [{ setWeight: 10 }, { pause: {} }],
        },
      },
    },
    status: {
      HPAReplicas: 1,
      abort: true,
      abortedAt: at(5),
      availableReplicas: 1,
      blueGreen: {},
      canary: {
        currentBackgroundAnalysisRun: 'inventory-db976bc44-2',
        currentBackgroundAnalysisRunStatus: {
          name: 'inventory-db976bc44-2',
          status: 'Failed',
          message:
            'metric "web" assessed Failed due to failed (1) > failureLimit (0)',
        },
      },
      conditions: [
        {
          type: 'Available',
          status: 'True',
          reason: 'AvailableReason',
          message: 'Rollout has minimum availability',
          lastTransitionTime: '2026-09-22T09:09:47Z',
          lastUpdateTime: '2026-09-22T09:09:47Z',
        },
        {
          type: 'Progressing',
          status: 'False',
          reason: 'RolloutAborted',
          message:
            'metric "web" assessed Failed due to failed (1) > failureLimit (0)',
          lastTransitionTime: at(5),
          lastUpdateTime: at(5),
        },
      ],
      currentPodHash: 'db976bc44',
      currentStepHash: '849b756fd4',
      currentStepIndex: 0,
      message:
        'RolloutAborted: metric "web" assessed Failed due to failed (1) > failureLimit (0)',
      observedGeneration: '15',
      phase: 'Degraded',
      readyReplicas: 1,
      replicas: 1,
      selector: 'app=inventory',
      stableRS: '7d84d44bb8',
    },
  };
  const replicaSets = [
    replicaSet({
      rollout: meta,
      hash: '7d84d44bb8',
      revision: 1,
      image: 'argoproj/rollouts-demo:blue',
      replicas: 1,
      createdAt: '2026-09-22T09:09:46Z',
    }),
    replicaSet({
      rollout: meta,
      hash: 'db976bc44',
      revision: 2,
      image: 'argoproj/rollouts-demo:yellow',
      replicas: 0,
      createdAt: at(0),
    }),
  ];
  return { rollout, replicaSets };
}

/** `payments/payments-worker`, Degraded: the canary never became ready (ProgressDeadlineExceeded). */
export function paymentsWorker() {
  const meta = {
    name: 'payments-worker',
    namespace: 'payments',
    uid: 'b350ba76-f6ed-11e9-a15b-42010aa80033',
  };
  const rollout = {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: {
      ...meta,
      generation: 7,
      creationTimestamp: '2026-08-25T06:07:18Z',
      annotations: { 'rollout.argoproj.io/revision': '7' },
    },
    spec: {
      progressDeadlineSeconds: 30,
      replicas: 5,
      selector: { matchLabels: { app: 'payments-worker' } },
      template: template(
        'payments-worker',
        'argoproj/rollouts-demo:does-not-exist',
      ),
      strategy: {
        canary: {
          steps: [
            { setWeight: 20 },
            { pause: {} },
            { setWeight: 60 },
            { pause: { duration: '30s' } },
          ],
        },
      },
    },
    status: {
      HPAReplicas: 6,
      availableReplicas: 5,
      blueGreen: {},
      canary: {},
      conditions: [
        {
          type: 'Available',
          status: 'True',
          reason: 'AvailableReason',
          message: 'Rollout has minimum availability',
          lastTransitionTime: '2026-08-25T06:07:29Z',
          lastUpdateTime: '2026-08-25T06:07:29Z',
        },
        {
          type: 'Progressing',
          status: 'False',
          reason: 'ProgressDeadlineExceeded',
          message:
            'ReplicaSet "payments-worker-65fb5ffc84" has timed out progressing.',
          lastTransitionTime: at(8),
          lastUpdateTime: at(8),
        },
      ],
      currentPodHash: '65fb5ffc84',
      currentStepHash: 'f64cdc9d',
      currentStepIndex: 0,
      message:
        'ProgressDeadlineExceeded: ReplicaSet "payments-worker-65fb5ffc84" has timed out progressing.',
      observedGeneration: '7',
      phase: 'Degraded',
      readyReplicas: 5,
      replicas: 6,
      selector: 'app=payments-worker',
      stableRS: '877894d5b',
      updatedReplicas: 1,
    },
  };
  const replicaSets = [
    replicaSet({
      rollout: meta,
      hash: '877894d5b',
      revision: 6,
      image: 'argoproj/rollouts-demo:green',
      replicas: 5,
      createdAt: '2026-11-02T06:00:00Z',
    }),
    replicaSet({
      rollout: meta,
      hash: '65fb5ffc84',
      revision: 7,
      image: 'argoproj/rollouts-demo:does-not-exist',
      replicas: 1,
      createdAt: at(0),
    }),
  ];
  return { rollout, replicaSets };
}

/** `shop/storefront`, blue-green: not a canary, so not reported. */
export function storefront() {
  return {
    rollout: {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Rollout',
      metadata: {
        name: 'storefront',
        namespace: 'shop',
        uid: '5a1f0c3e-7d2b-4e9f-a8c6-2b4d6f8e0a13',
        generation: 3,
        creationTimestamp: '2026-07-01T00:00:00Z',
      },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'storefront' } },
        template: template('storefront', 'argoproj/rollouts-demo:blue'),
        strategy: {
          blueGreen: {
            activeService: 'storefront-active',
            previewService: 'storefront-preview',
            autoPromotionEnabled: false,
          },
        },
      },
      status: {
        currentPodHash: '5c6d7e8f9a',
        stableRS: '5c6d7e8f9a',
        phase: 'Healthy',
        blueGreen: { activeSelector: '5c6d7e8f9a' },
        canary: {},
        replicas: 2,
        availableReplicas: 2,
      },
    },
    replicaSets: [],
  };
}

/** Every fixture, for a cluster holding all of them. */
export function allFixtures() {
  const all = [
    checkoutApi(),
    searchApi(),
    cartService(),
    inventory(),
    paymentsWorker(),
    storefront(),
  ];
  return {
    rollouts: all.map(f => f.rollout),
    replicaSets: all.flatMap(f => f.replicaSets),
  };
}
