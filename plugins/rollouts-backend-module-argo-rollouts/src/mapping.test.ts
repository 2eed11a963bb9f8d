import type { ArgoRollout } from './argoTypes';
import {
  imageVersion,
  mapCanarySteps,
  mapRollout,
  mapStatus,
  parseArgoDuration,
  type IndefinitePauseMode,
} from './mapping';
import {
  cartService,
  checkoutApi,
  inventory,
  paymentsWorker,
  searchApi,
  storefront,
} from './__testUtils__/fixtures';

const SEEN = new Date('2026-11-20T12:00:00Z');

function map(
  f: { rollout: unknown; replicaSets: unknown[] },
  mode: IndefinitePauseMode = 'approval',
) {
  const ro = f.rollout as ArgoRollout;
  return mapRollout(ro, {
    cluster: 'prod',
    target: `${ro.metadata.namespace}/${ro.metadata.name}`,
    replicaSets: f.replicaSets as never,
    indefinitePause: mode,
    firstSeen: () => SEEN,
  });
}

describe('canary steps → Tollgate steps', () => {
  const docsExample = checkoutApi().rollout.spec.strategy.canary.steps;

  it('makes each setWeight a step and attaches pauses to the weight before them', () => {
    expect(mapCanarySteps(docsExample, 'approval')).toEqual({
      steps: [
        { weight: 20, requiresApproval: true },
        { weight: 40, minDurationSeconds: 10 },
        { weight: 60, minDurationSeconds: 10 },
        { weight: 80, minDurationSeconds: 10 },
        { weight: 100 },
      ],
      tollgateIndexOfArgo: [0, 0, 1, 1, 2, 2, 3, 3, 4],
      argoIndexOfTollgate: [0, 2, 4, 6, 8],
    });
  });

  it('leaves an indefinite pause to the gate in gate mode', () => {
    expect(mapCanarySteps(docsExample, 'gate').steps[0]).toEqual({
      weight: 20,
    });
  });

  it('gives steps before the first setWeight a 0% step, sums pauses and keeps a final 100%', () => {
    const ladder = mapCanarySteps(
      [
        { pause: { duration: '30s' } },
        { analysis: { templates: [] } },
        { setWeight: 50 },
        { pause: { duration: '1m' } },
        { pause: { duration: 90 } },
        { setWeight: 100 },
      ],
      'approval',
    );
    expect(ladder.steps).toEqual([
      { weight: 0, minDurationSeconds: 30 },
      { weight: 50, minDurationSeconds: 150 },
      { weight: 100 },
    ]);
    expect(ladder.tollgateIndexOfArgo).toEqual([0, 0, 1, 1, 1, 2, 2]);
    expect(ladder.argoIndexOfTollgate).toEqual([0, 2, 5]);
  });

  it('maps a canary without steps to one 100% step', () => {
    expect(mapCanarySteps([], 'approval')).toEqual({
      steps: [{ weight: 100 }],
      tollgateIndexOfArgo: [0],
      argoIndexOfTollgate: [0],
    });
  });

  it('reads Argo durations: integer seconds and Go duration strings', () => {
    expect(parseArgoDuration(10)).toBe(10);
    expect(parseArgoDuration('45')).toBe(45);
    expect(parseArgoDuration('30s')).toBe(30);
    expect(parseArgoDuration('1h30m')).toBe(5400);
    expect(parseArgoDuration('1.5m')).toBe(90);
    expect(parseArgoDuration('500ms')).toBe(0.5);
    expect(parseArgoDuration(undefined)).toBeUndefined();
    expect(parseArgoDuration('soon')).toBeUndefined();
    expect(parseArgoDuration('10 s')).toBeUndefined();
  });
});

describe('versions', () => {
  it('takes the image tag, a short digest, or latest', () => {
    expect(imageVersion('ghcr.io/acme/cart-service:2.4.1')).toBe('2.4.1');
    expect(imageVersion('registry.example.com:5000/search/api:3.12.0')).toBe(
      '3.12.0',
    );
    expect(imageVersion('registry.example.com:5000/search/api')).toBe('latest');
    expect(
      imageVersion('ghcr.io/acme/api@sha256:0123456789abcdef0123456789abcdef'),
    ).toBe('sha256:0123456789ab');
    expect(imageVersion('ghcr.io/acme/api:1.0@sha256:0123456789abcdef')).toBe(
      '1.0',
    );
  });
});

describe('a Rollout → a Tollgate rollout', () => {
  it('maps the docs canary paused at its indefinite pause: 20%, awaiting approval, yellow after blue', () => {
    expect(map(checkoutApi())).toEqual({
      externalId: 'prod/payments/checkout-api@6c9f8d7b5c',
      target: 'payments/checkout-api',
      version: 'yellow',
      previousVersion: 'blue',
      status: 'awaiting-approval',
      steps: [
        { weight: 20, requiresApproval: true },
        { weight: 40, minDurationSeconds: 10 },
        { weight: 60, minDurationSeconds: 10 },
        { weight: 80, minDurationSeconds: 10 },
        { weight: 100 },
      ],
      currentStepIndex: 0,
      currentWeight: 20,
      startedAt: new Date('2026-11-20T09:00:00Z'),
      stepStartedAt: new Date('2026-11-20T09:01:00Z'),
      finishedAt: undefined,
    });
  });

  it('lets the gate decide at an indefinite pause in gate mode', () => {
    expect(map(checkoutApi(), 'gate')?.status).toBe('progressing');
  });

  it('takes the traffic weight from status.canary.weights while Argo runs the step analysis', () => {
    expect(map(searchApi())).toMatchObject({
      status: 'progressing',
      currentStepIndex: 0,
      currentWeight: 10,
      version: '3.12.0',
      previousVersion: '3.11.4',
      steps: [
        { weight: 10, minDurationSeconds: 60 },
        { weight: 50, minDurationSeconds: 300 },
        { weight: 100 },
      ],
    });
  });

  it('reports a fully promoted rollout as promoted at 100%, with the previous revision and the completion time', () => {
    expect(map(cartService())).toMatchObject({
      externalId: 'prod/shop/cart-service@9a8b7c6d5e',
      status: 'promoted',
      currentStepIndex: 2, // 25%, 50%, 100%
      currentWeight: 100,
      version: '2.4.1',
      previousVersion: '2.4.0',
      finishedAt: new Date('2026-11-20T07:00:00Z'),
    });
  });

  it('reports an aborted rollout as rolled back at 0%, finished when Argo aborted it', () => {
    expect(map(inventory())).toMatchObject({
      status: 'rolled-back',
      currentWeight: 0,
      version: 'yellow',
      previousVersion: 'blue',
      finishedAt: new Date('2026-11-20T09:05:00Z'),
    });
  });

  it('reports a Degraded rollout (progress deadline exceeded) as failed', () => {
    expect(map(paymentsWorker())).toMatchObject({
      status: 'failed',
      currentWeight: 20,
      finishedAt: new Date('2026-11-20T09:08:00Z'),
    });
  });

  it('leaves blue-green rollouts out', () => {
    expect(map(storefront())).toBeUndefined();
  });

  it('falls back to first-seen times and the stable hash without ReplicaSets', () => {
    const mapped = map({ rollout: checkoutApi().rollout, replicaSets: [] });
    expect(mapped).toMatchObject({
      version: 'yellow',
      previousVersion: '5d8f9c6b4d',
      startedAt: SEEN,
    });
  });

  it('counts a released pause (controllerPause, no pauseConditions) as done: the controller moves on', () => {
    const { rollout } = checkoutApi();
    Object.assign(rollout.status, {
      pauseConditions: null,
      phase: 'Progressing',
    });
    expect(map({ rollout, replicaSets: [] })).toMatchObject({
      status: 'progressing',
      currentStepIndex: 1,
      currentWeight: 40,
      stepStartedAt: SEEN,
    });
  });

  it('maps promoteFull in flight to the last step', () => {
    const { rollout } = checkoutApi();
    Object.assign(rollout.status, {
      promoteFull: true,
      pauseConditions: null,
      phase: 'Progressing',
    });
    expect(map({ rollout, replicaSets: [] })).toMatchObject({
      status: 'progressing',
      currentStepIndex: 4,
      currentWeight: 100,
    });
  });
});

describe('statuses', () => {
  const status = (
    mutate: (ro: any) => void,
    mode: IndefinitePauseMode = 'approval',
  ) => {
    const { rollout } = checkoutApi();
    mutate(rollout);
    return mapStatus(rollout as ArgoRollout, mode);
  };

  it('pending before the controller saw the rollout', () => {
    expect(status(ro => delete ro.status)).toBe('pending');
  });
  it('paused when paused by a person (spec.paused)', () => {
    expect(status(ro => (ro.spec.paused = true))).toBe('paused');
  });
  it('awaiting approval on an inconclusive analysis, whatever the mode', () => {
    expect(
      status(
        ro =>
          (ro.status.pauseConditions = [
            {
              reason: 'InconclusiveAnalysisRun',
              startTime: '2026-11-20T09:03:00Z',
            },
          ]),
        'gate',
      ),
    ).toBe('awaiting-approval');
  });
  it('progressing at a timed pause (Argo moves on by itself)', () => {
    expect(status(ro => (ro.status.currentStepIndex = 3))).toBe('progressing');
  });
  it('failed on InvalidSpec', () => {
    expect(
      status(ro =>
        ro.status.conditions.push({
          type: 'InvalidSpec',
          status: 'True',
          reason: 'InvalidSpec',
          message: 'The Rollout "checkout-api" is invalid',
        }),
      ),
    ).toBe('failed');
  });
  it('rolled back before anything else once aborted', () => {
    expect(
      status(ro =>
        Object.assign(ro.status, { abort: true, phase: 'Degraded' }),
      ),
    ).toBe('rolled-back');
  });
});
