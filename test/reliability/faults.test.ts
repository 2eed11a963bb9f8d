/**
 * Faults at the providers: the real rollouts backend runs its gate loop
 * every second against the simulator wrapped in a fault injector. One
 * service's telemetry never answers, one flaps with 503s, one sends data
 * that cannot be right, one is slow, and the deploy system refuses one
 * rollback. The loop keeps going for everyone else, never promotes on a
 * failed or wrong telemetry read, shows each failure in the API, and the
 * refused rollback stays visible as failed until a later run gets it
 * through.
 */
import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import { schedulerServiceFactory } from '@backstage/backend-defaults/scheduler';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import {
  DEMO_SERVICES,
  Simulation,
  type SimulatedService,
} from '@tollgate/plugin-rollouts-backend-module-simulator';
import {
  fakeProvidersModule,
  FaultInjector,
  type Fault,
  type ProviderCall,
} from '@tollgate/plugin-rollouts-node/testUtils';
import request from 'supertest';
import rolloutsPlugin from '@tollgate/plugin-rollouts-backend';

const HANGS = 'checkout/cart-service';
const FLAPS = 'checkout/pricing-service';
const WRONG = 'search/search-api';
const SLOW = 'payments/payments-gateway';
const REFUSES_ROLLBACK = 'checkout/checkout-api';
const HEALTHY = [
  'payments/fraud-scoring',
  'payments/ledger-service',
  'search/recommendations',
];

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

function services(): SimulatedService[] {
  return DEMO_SERVICES.map(s => ({
    ...s,
    rps: s.rps * 100,
    firstRolloutDelaySeconds: 0,
    firstScenario:
      s.target === REFUSES_ROLLBACK ? 'error-regression' : 'healthy',
  }));
}

describe('faults at the providers', () => {
  it('keeps the loop going, never promotes on failed telemetry, and shows every failure', async () => {
    const simulation = new Simulation({
      seed: 5,
      services: services(),
      historyDays: 0,
      idleSeconds: 3600,
      steps: [
        { weight: 10, minDurationSeconds: 1 },
        { weight: 25, minDurationSeconds: 1 },
        { weight: 50, minDurationSeconds: 1 },
        { weight: 100 },
      ],
    });
    let rollbackRefused = true;
    const faults = new FaultInjector(
      (call: ProviderCall): Fault | undefined => {
        if (call.provider === 'telemetry') {
          if (call.target === HANGS) return { kind: 'hang', ms: 30_000 };
          if (call.target === FLAPS)
            return (call.n - 1) % 8 < 4
              ? { kind: 'http-5xx', status: 503 }
              : undefined;
          if (call.target === WRONG) return { kind: 'wrong-data' };
          if (call.target === SLOW) return { kind: 'latency', ms: 300 };
        }
        if (
          call.provider === 'deploy' &&
          call.method === 'rollback' &&
          call.target === REFUSES_ROLLBACK &&
          rollbackRefused
        ) {
          return { kind: 'reset' };
        }
        return undefined;
      },
    );
    const providers = fakeProvidersModule({
      moduleId: 'faulty-simulator',
      deploy: [faults.deploy(simulation.deploy)],
      telemetry: [faults.telemetry(simulation.telemetry)],
    });
    const entities = DEMO_SERVICES.map(s => ({
      apiVersion: 'backstage.io/v1alpha1',
      kind: 'Component',
      metadata: {
        name: s.entityRef.split('/')[1],
        namespace: 'default',
        annotations: { 'tollgate.dev/rollouts': `simulator:${s.target}` },
      },
      spec: {
        type: 'service',
        owner: 'group:default/team',
        lifecycle: 'production',
      },
    }));
    const { server } = await startTestBackend({
      features: [
        rolloutsPlugin,
        providers,
        // The real scheduler: the loop runs every second, as in production.
        schedulerServiceFactory,
        catalogServiceMock.factory({ entities }),
        mockServices.rootConfig.factory({
          data: {
            rollouts: {
              schedule: { frequencySeconds: 1 },
              telemetry: { stepSeconds: 1 },
              notifications: { enabled: false },
              retries: {
                attempts: 2,
                initialBackoffMs: 20,
                timeoutSeconds: 1,
                budgetPerRun: 20,
              },
              policies: {
                standard: {
                  slo: {
                    availability: 0.995,
                    latency: { thresholdMs: 500, objective: 0.99 },
                  },
                  // α = 0.001: this suite is about faults, not statistics. At the default 0.05 a
                  // healthy service is occasionally (and correctly, within α) rolled back at one of
                  // its steps, and three services × four steps made that a coin toss per run.
                  gate: {
                    alpha: 0.001,
                    promote: { minDurationSeconds: 2, minCanaryRequests: 300 },
                  },
                },
              },
            },
          },
        }),
      ],
    });
    const get = async (path: string) =>
      (
        await request(server)
          .get(`/api/rollouts${path}`)
          .set('Authorization', mockCredentials.user.header())
          .expect(200)
      ).body;
    const byTarget = async () => {
      const list = await get('/v1/rollouts?limit=100');
      return new Map<string, any>(
        (list.items as any[]).map(r => [r.target, r]),
      );
    };

    // Phase 1: faults on. Watch until the healthy services are promoted (each
    // run waits out the hanging provider's timeouts, so a loaded machine takes
    // longer; 21 s here on a quiet one), at most 120 s.
    const phase1Start = Date.now();
    const deadline = phase1Start + 120_000;
    let seenRefused = false;
    while (Date.now() < deadline) {
      await sleep(1000);
      const now = await byTarget();
      const checkout = now.get(REFUSES_ROLLBACK);
      if (checkout?.lastError?.action === 'rollback') seenRefused = true;
      const healthyDone = HEALTHY.every(t => now.get(t)?.status === 'promoted');
      if (seenRefused && healthyDone && now.get(SLOW)?.currentStepIndex > 0)
        break;
    }
    const phase1 = await byTarget();
    const phase1Seconds = Math.round((Date.now() - phase1Start) / 1000);

    // The loop kept going for everyone else: the healthy and the slow services progressed.
    for (const t of HEALTHY) {
      const r = phase1.get(t);
      expect(
        r?.status,
        `${t} promoted despite the others' faults (after ${phase1Seconds} s: step ${r?.currentStepIndex}, ${r?.lastEvaluation?.verdict}: ${r?.lastEvaluation?.reasons?.join('; ')})`,
      ).toBe('promoted');
    }
    const slow = phase1.get(SLOW);
    expect(
      slow?.currentStepIndex,
      `the slow service progressed (after ${phase1Seconds} s: ${slow?.status}, ${slow?.lastEvaluation?.verdict}: ${slow?.lastEvaluation?.reasons?.join('; ')}; error ${slow?.lastError?.message})`,
    ).toBeGreaterThan(0);

    // Failed and wrong telemetry never promoted, and the failure shows in the API.
    const hangs = phase1.get(HANGS);
    expect(hangs).toMatchObject({ status: 'progressing', currentStepIndex: 0 });
    expect(hangs.lastEvaluation.verdict).toBe('hold');
    expect(hangs.lastError.message).toMatch(
      /telemetry unavailable: .*no answer within 1 s/,
    );
    const wrong = phase1.get(WRONG);
    expect(wrong).toMatchObject({ status: 'progressing', currentStepIndex: 0 });
    expect(wrong.lastError.message).toMatch(
      /cannot be right: ticks\[\d+\]\.canary\.errors: \d+ errors of \d+ requests/,
    );
    const flapsLog = await get(
      `/v1/rollouts/${phase1.get(FLAPS).id}/decisions?limit=200`,
    );
    expect(
      (flapsLog.items as any[]).some(
        d => d.verdict === 'hold' && /503/.test(d.reasons[0]),
      ),
    ).toBe(true);

    // No promotion of a service in a run whose telemetry read failed: every setStep/promote
    // of the flapping service follows a telemetry call that succeeded.
    const promotedAfterFailure = faults.calls.filter((c, i) => {
      if (
        c.provider !== 'deploy' ||
        c.target !== FLAPS ||
        (c.method !== 'setStep' && c.method !== 'promote')
      )
        return false;
      const lastRead = [...faults.calls.slice(0, i)]
        .reverse()
        .find(r => r.provider === 'telemetry' && r.target === FLAPS);
      return !lastRead || (lastRead.n - 1) % 8 < 4;
    });
    expect(
      promotedAfterFailure,
      'promotions right after a failed telemetry read',
    ).toEqual([]);
    for (const t of [HANGS, WRONG]) {
      expect(
        faults.calls.filter(
          c =>
            c.provider === 'deploy' &&
            c.target === t &&
            c.method !== 'getRollout',
        ),
      ).toEqual([]);
    }

    // The refused rollback stays visible as failed, with its decision.
    const checkout = phase1.get(REFUSES_ROLLBACK);
    expect(checkout.status).toBe('progressing');
    expect(checkout.lastError).toMatchObject({ action: 'rollback' });
    expect(checkout.lastError.message).toMatch(
      /did not accept the rollback: .*ECONNRESET/,
    );
    const checkoutLog = await get(
      `/v1/rollouts/${checkout.id}/decisions?limit=200`,
    );
    expect(
      (checkoutLog.items as any[]).some(
        d => d.verdict === 'rollback' && d.outcome === 'failed',
      ),
    ).toBe(true);

    // Phase 2: the deploy system answers again; a later run gets the rollback through.
    rollbackRefused = false;
    let after: any;
    for (let i = 0; i < 20; i++) {
      await sleep(1000);
      after = (await byTarget()).get(REFUSES_ROLLBACK);
      if (after.status === 'rolled-back') break;
    }
    expect(after.status).toBe('rolled-back');
    expect(after.lastError).toBeUndefined();

    const verify = await get('/v1/decisions/verify');
    expect(verify.ok).toBe(true);
    // eslint-disable-next-line no-console
    console.log(
      `[reliability] faults: injected ${Object.entries(faults.injected)
        .map(([k, n]) => `${n} ${k}`)
        .join(
          ', ',
        )} over ${faults.calls.length} provider calls; ${HEALTHY.length} healthy services promoted meanwhile (${phase1Seconds} s), 0 promotions on failed telemetry, refused rollback retried and applied`,
    );
  });
});
