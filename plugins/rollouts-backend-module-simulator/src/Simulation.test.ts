import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Simulation } from './Simulation';
import { DEMO_SERVICES } from './demoServices';

const T0 = Date.UTC(2026, 10, 21, 9, 0, 0);

function simAt(clock: { t: number }, seed = 42) {
  return new Simulation({
    seed,
    services: DEMO_SERVICES,
    now: () => new Date(clock.t),
  });
}

const request = (target: string, start: number, end: number) => ({
  provider: 'simulator',
  target,
  entityRef: 'component:default/x',
  start: new Date(start),
  end: new Date(end),
  stepSeconds: 10,
  kpis: ['conversion', 'order_value'],
});

describe('Simulation', () => {
  it('reports the same telemetry for the same seed, however it is asked', async () => {
    const clock = { t: T0 };
    const a = simAt(clock);
    const b = simAt(clock);
    const c = simAt(clock, 43);
    clock.t += 120_000;
    const whole = a.cohortTelemetry(
      request('checkout/cart-service', T0, T0 + 120_000),
    );
    const firstHalf = b.cohortTelemetry(
      request('checkout/cart-service', T0, T0 + 60_000),
    );
    const secondHalf = b.cohortTelemetry(
      request('checkout/cart-service', T0 + 60_000, T0 + 120_000),
    );
    expect(whole.ticks).toHaveLength(12);
    expect(firstHalf.ticks.map(t => t.canary)).toEqual(
      whole.ticks.slice(0, 6).map(t => t.canary),
    );
    expect(secondHalf.ticks.map(t => t.baseline)).toEqual(
      whole.ticks.slice(6).map(t => t.baseline),
    );
    const other = c.cohortTelemetry(
      request('checkout/cart-service', T0, T0 + 120_000),
    );
    expect(other.ticks.map(t => t.baseline?.requests)).not.toEqual(
      whole.ticks.map(t => t.baseline?.requests),
    );
  });

  it("describes a target's simulated cohort: the current weight, drawn per request", async () => {
    const clock = { t: T0 };
    const sim = simAt(clock);
    const [first] = await sim.deploy.listRollouts();
    await sim.deploy.setStep(first.target, 1);
    expect(await sim.deploy.describeTarget!(first.target)).toMatchObject({
      provider: 'simulator',
      target: first.target,
      kind: 'simulated-cohort',
      enabled: true,
      strategy: 'traffic split',
      percentage: 5,
      stickiness: 'random',
      details: { version: first.version },
    });
    await expect(sim.deploy.describeTarget!('nowhere/none')).rejects.toThrow(
      /no rollout for target nowhere\/none/,
    );
  });

  it('splits traffic by the current weight and keeps histograms consistent', async () => {
    const clock = { t: T0 };
    const sim = simAt(clock);
    await sim.deploy.listRollouts();
    clock.t += 600_000;
    const { ticks } = sim.cohortTelemetry(
      request('search/search-api', T0, clock.t),
    );
    const canary = ticks.reduce((s, t) => s + (t.canary?.requests ?? 0), 0);
    const baseline = ticks.reduce((s, t) => s + (t.baseline?.requests ?? 0), 0);
    expect(canary / (canary + baseline)).toBeGreaterThan(0.007);
    expect(canary / (canary + baseline)).toBeLessThan(0.013);
    for (const t of ticks) {
      const h = t.baseline!.latency!;
      expect(h.counts[h.counts.length - 1]).toBe(t.baseline!.requests);
      expect([...h.counts].sort((x, y) => x - y)).toEqual(h.counts);
    }
  });

  it('regresses checkout-api, drops search-indexer canary telemetry, and keeps others healthy', async () => {
    const clock = { t: T0 };
    const sim = simAt(clock);
    await sim.deploy.listRollouts();
    await sim.deploy.setStep('checkout/checkout-api', 2);
    await sim.deploy.setStep('checkout/cart-service', 2);
    clock.t += 1_800_000;
    const rate = (target: string, cohort: 'canary' | 'baseline') => {
      const { ticks } = sim.cohortTelemetry(request(target, T0, clock.t));
      const req = ticks.reduce((s, t) => s + (t[cohort]?.requests ?? 0), 0);
      const err = ticks.reduce((s, t) => s + (t[cohort]?.errors ?? 0), 0);
      return err / req;
    };
    expect(
      rate('checkout/checkout-api', 'canary') /
        rate('checkout/checkout-api', 'baseline'),
    ).toBeGreaterThan(2.5);
    expect(
      rate('checkout/cart-service', 'canary') /
        rate('checkout/cart-service', 'baseline'),
    ).toBeLessThan(1.6);
    const gaps = sim
      .cohortTelemetry(request('search/search-indexer', T0, clock.t))
      .ticks.filter(t => !t.canary);
    expect(gaps.length).toBeGreaterThan(10);
  });

  it("refuses a service's first rollbacks as configured, then accepts (a failed rollback for the demo)", async () => {
    const clock = { t: T0 };
    const sim = new Simulation({
      seed: 42,
      services: DEMO_SERVICES.map(x => ({
        ...x,
        firstRolloutDelaySeconds: 0,
        rollbackRefusals: x.target === 'payments/fraud-scoring' ? 2 : 0,
      })),
      now: () => new Date(clock.t),
    });
    await sim.deploy.listRollouts();
    await expect(
      sim.deploy.rollback('payments/fraud-scoring', 'test'),
    ).rejects.toThrow('refused the rollback of');
    await expect(
      sim.deploy.rollback('payments/fraud-scoring', 'test'),
    ).rejects.toThrow('demo fault 2 of 2');
    expect(
      await sim.deploy.rollback('payments/fraud-scoring', 'test'),
    ).toMatchObject({ status: 'rolled-back' });
    expect(
      await sim.deploy.rollback('checkout/cart-service', 'test'),
    ).toMatchObject({ status: 'rolled-back' });
  });

  it('moves only when told, and refuses to act on a finished rollout', async () => {
    const clock = { t: T0 };
    const sim = simAt(clock);
    const [first] = await sim.deploy.listRollouts();
    expect(first.currentWeight).toBe(1);
    const rolled = await sim.deploy.rollback(first.target, 'test');
    expect(rolled).toMatchObject({ status: 'rolled-back', currentWeight: 0 });
    await expect(sim.deploy.setStep(first.target, 1)).rejects.toThrow(
      /already ended/,
    );
    clock.t += 121_000;
    const next = await sim.deploy.getRollout(first.target);
    expect(next?.status).toBe('progressing');
    expect(next?.version).not.toBe(first.version);
  });

  it('seeds about a month of finished history, the same for the same day', () => {
    const clock = { t: T0 };
    const h1 = simAt(clock).history();
    const h2 = simAt(clock).history();
    expect(h1).toEqual(h2);
    expect(h1.length).toBeGreaterThan(60);
    const oldest = Math.min(...h1.map(r => r.startedAt.getTime()));
    expect((T0 - oldest) / 86_400_000).toBeGreaterThan(25);
    expect(new Set(h1.map(r => r.status))).toEqual(
      new Set(['promoted', 'rolled-back']),
    );
  });

  it('keeps the deploy state in a state file: it survives a restart and is shared between processes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-sim-'));
    try {
      const clock = { t: T0 };
      const stateFile = join(dir, 'state.json');
      const first = new Simulation({
        seed: 42,
        services: DEMO_SERVICES,
        stateFile,
        now: () => new Date(clock.t),
      });
      const [before] = await first.deploy.listRollouts();
      clock.t += 90_000;
      await first.deploy.setStep(before.target, 1);

      // A second instance (a restarted or a second backend) sees the same rollouts, ids included.
      const second = new Simulation({
        seed: 42,
        services: DEMO_SERVICES,
        stateFile,
        now: () => new Date(clock.t),
      });
      const seen = await second.deploy.getRollout(before.target);
      expect(seen).toMatchObject({
        externalId: before.externalId,
        currentStepIndex: 1,
        currentWeight: 5,
      });
      await second.deploy.rollback(before.target, 'canary errors');
      await first.deploy.rollback(before.target, 'canary errors, again');
      expect((await first.deploy.getRollout(before.target))?.status).toBe(
        'rolled-back',
      );

      // Every mutating call is journaled, with whether it changed anything.
      expect(first.journal().map(c => [c.op, c.stepIndex, c.changed])).toEqual([
        ['setStep', 1, true],
        ['rollback', undefined, true],
        ['rollback', undefined, false],
      ]);
      await expect(first.deploy.setStep(before.target, 2)).rejects.toThrow(
        /already ended/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps its defaults for options given as undefined (unset config keys)', async () => {
    const sim = new Simulation({
      seed: 1,
      services: DEMO_SERVICES,
      steps: undefined,
      idleSeconds: undefined,
      historyDays: undefined,
    });
    const [first] = await sim.deploy.listRollouts();
    expect(first.steps.map(s => s.weight)).toEqual([1, 5, 25, 100]);
    expect(sim.history().length).toBeGreaterThan(0);
  });
});

describe('Simulation: a release that hurts its consumers', () => {
  it("raises the consumer's error rate with the producer canary's weight; the consumer, which releases nothing, reports all its traffic", async () => {
    const producer = DEMO_SERVICES.find(
      s => s.target === 'search/product-catalog',
    )!;
    const consumer = DEMO_SERVICES.find(
      s => s.target === 'checkout/storefront-bff',
    )!;
    const clock = { t: T0 };
    const sim = new Simulation({
      seed: 3,
      services: [producer, { ...consumer, rps: 3000 }],
      now: () => new Date(clock.t),
    });
    const rate = (from: number, to: number) => {
      const ticks = sim.cohortTelemetry(
        request(consumer.target, from, to),
      ).ticks;
      let x = 0;
      let n = 0;
      for (const t of ticks) {
        n += (t.baseline?.requests ?? 0) + (t.canary?.requests ?? 0);
        x += (t.baseline?.errors ?? 0) + (t.canary?.errors ?? 0);
      }
      return { rate: x / n, ticks: ticks.length };
    };
    const [release] = await sim.deploy.listRollouts();
    expect(release.target).toBe(producer.target);
    clock.t += 120_000; // two minutes at 1 %
    await sim.deploy.setStep(producer.target, 1);
    clock.t += 120_000; // two minutes at 5 %
    // before the release: telemetry from before anything started, at the consumer's own rate
    const before = rate(T0 - 600_000, T0);
    const at1 = rate(T0, T0 + 120_000);
    const at5 = rate(T0 + 120_000, T0 + 240_000);
    expect(before.ticks).toBe(60);
    expect(before.rate).toBeCloseTo(consumer.errorRate, 3);
    // + consumerHarmErrorRate (2) × weight: 0.02 at 1 %, 0.1 at 5 %
    expect(at1.rate).toBeCloseTo(consumer.errorRate + 0.02, 2);
    expect(at5.rate).toBeCloseTo(consumer.errorRate + 0.1, 2);
    // the producer's own canary is healthy
    const own = sim.cohortTelemetry(
      request(producer.target, T0 + 120_000, T0 + 240_000),
    ).ticks;
    const canaryErrors = own.reduce((a, t) => a + (t.canary?.errors ?? 0), 0);
    const canaryRequests = own.reduce(
      (a, t) => a + (t.canary?.requests ?? 0),
      0,
    );
    expect(canaryErrors / canaryRequests).toBeLessThan(
      producer.errorRate * 2.5,
    );
  });
});
