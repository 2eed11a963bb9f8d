import { DEMO_SERVICES } from '@tollgate/plugin-rollouts-backend-module-simulator';
import { ProviderRegistry } from '../providers/ProviderRegistry';
import {
  entityIndexFor,
  policies,
  setup,
  sqliteStore,
} from '../loop/__testUtils__/simulatorLoop';
import { RolloutTimeseriesService } from './rolloutTimeseries';

/**
 * The series against the gate loop itself: the loop runs against the
 * simulator, and after each run the series' last interval must say what
 * the loop's evaluation stored on the rollout (the same step, the same
 * estimates, the same always-valid intervals), through the ladder's steps
 * (the whole-rollout gate's state carried from step to step).
 */
describe('the timeseries against the gate loop', () => {
  it("ends, after every run, on the gate's own evidence of the step", async () => {
    const { knex, store } = await sqliteStore();
    const clock = { t: Date.UTC(2026, 10, 21, 12, 0, 0) };
    const services = DEMO_SERVICES.filter(
      s => s.target === 'checkout/cart-service',
    ).map(s => ({ ...s, rps: s.rps * 4 }));
    const { loop, simulation } = setup(store, services, clock);
    const providers = new ProviderRegistry();
    providers.addDeploy(simulation.deploy);
    providers.addTelemetry(simulation.telemetry);
    const series = new RolloutTimeseriesService({
      providers,
      policies,
      entities: entityIndexFor(services),
      telemetryStepSeconds: 10,
      now: () => new Date(clock.t),
    });

    const compared: Array<{ step: number; gate: unknown; series: unknown }> =
      [];
    for (let i = 0; i < 120; i++) {
      clock.t += 10_000;
      await loop.run();
      const [listed] = await store.listRollouts();
      // as the route reads it: getRollout carries the stored gate state
      const rollout = listed && (await store.getRollout(listed.id));
      const evaluated = rollout?.lastEvaluation?.evaluatedAt;
      // only when the row's evidence is of the step it is in now (no step moved since)
      if (
        !rollout?.evidence ||
        evaluated !== new Date(clock.t).toISOString() ||
        rollout.lastEvaluation?.verdict !== 'continue'
      )
        continue;
      const answer = await series.forRollout(rollout);
      const gateSignals = (rollout.evidence as any).signals as Array<any>;
      compared.push({
        step: rollout.currentStepIndex,
        gate: gateSignals.map(s => ({
          name: s.name,
          canary: s.canary,
          baseline: s.baseline,
          difference: s.difference,
          ci: s.ci,
          margin: s.margin,
          rule: s.rule,
        })),
        series: answer.signals.map(s => {
          const last = s.points[s.points.length - 1];
          return {
            name: s.name,
            canary: last.runningCanary,
            baseline: last.runningBaseline,
            difference: last.difference,
            ci: last.ci,
            margin: last.margin,
            rule: last.rule,
          };
        }),
      });
    }
    await knex.destroy();
    expect(compared.length).toBeGreaterThan(5);
    // the ladder's later steps too (state carried across steps)
    expect(Math.max(...compared.map(c => c.step))).toBeGreaterThan(0);
    for (const c of compared) expect(c.series).toEqual(c.gate);
  }, 60_000);

  it("shows a rolled-back rollout's last step up to the rollback, ending on the evidence it was rolled back on", async () => {
    const { knex, store } = await sqliteStore();
    const clock = { t: Date.UTC(2026, 10, 21, 12, 0, 0) };
    const services = DEMO_SERVICES.filter(
      s => s.target === 'checkout/checkout-api',
    ).map(s => ({ ...s, rps: s.rps * 4 }));
    const { loop, simulation } = setup(store, services, clock);
    const providers = new ProviderRegistry();
    providers.addDeploy(simulation.deploy);
    providers.addTelemetry(simulation.telemetry);
    const series = new RolloutTimeseriesService({
      providers,
      policies,
      entities: entityIndexFor(services),
      telemetryStepSeconds: 10,
      now: () => new Date(clock.t),
    });
    let rolledBack;
    for (let i = 0; i < 200 && !rolledBack; i++) {
      clock.t += 10_000;
      await loop.run();
      [rolledBack] = await store.listRollouts({ status: ['rolled-back'] });
    }
    const rollout = (await store.getRollout(rolledBack!.id))!;
    // read later: the window still ends at the rollback
    clock.t += 30_000;
    const answer = await series.forRollout(rollout);
    // much later the simulator serves the next release and no longer has this one's data
    clock.t += 600_000;
    const later = await series.forRollout(rollout);
    await knex.destroy();
    expect(later.intervals).toEqual([]);
    expect(later.notes).toEqual([
      `the telemetry provider answered 0 of the ${answer.intervalsExpected} intervals in the window (it may no longer keep data this old): the series shows what it has`,
    ]);
    expect(rollout.currentWeight).toBe(0);
    expect(answer.window).toEqual({
      start: rollout.stepStartedAt,
      end: rollout.finishedAt,
      tickSeconds: 10,
    });
    expect(answer.intervals[answer.intervals.length - 1].verdict).toBe(
      'rollback',
    );
    const gate = (rollout.evidence as any).signals as Array<any>;
    expect(
      answer.signals.map(s => {
        const last = s.points[s.points.length - 1];
        return [s.name, last.difference, last.ci, last.rule];
      }),
    ).toEqual(gate.map(s => [s.name, s.difference, s.ci, s.rule]));
  }, 60_000);

  it('shows a release promoted to full at its last compared step, up to the promotion, ending on the evidence it was promoted on', async () => {
    const { knex, store } = await sqliteStore();
    const clock = { t: Date.UTC(2026, 10, 21, 12, 0, 0) };
    const services = DEMO_SERVICES.filter(
      s => s.target === 'checkout/cart-service',
    ).map(s => ({ ...s, rps: s.rps * 4 }));
    const { loop, simulation } = setup(store, services, clock);
    const providers = new ProviderRegistry();
    providers.addDeploy(simulation.deploy);
    providers.addTelemetry(simulation.telemetry);
    const series = new RolloutTimeseriesService({
      providers,
      policies,
      entities: entityIndexFor(services),
      telemetryStepSeconds: 10,
      now: () => new Date(clock.t),
    });
    let promoted;
    for (let i = 0; i < 400 && !promoted; i++) {
      clock.t += 10_000;
      await loop.run();
      [promoted] = await store.listRollouts({ status: ['promoted'] });
    }
    const rollout = (await store.getRollout(promoted!.id))!;
    clock.t += 30_000;
    const answer = await series.forRollout(rollout);
    const { items } = await store.listDecisions({
      rolloutId: rollout.id,
      limit: 50,
    });
    const promotion = items.find(
      d => d.verdict === 'promote' && d.stepIndex === answer.stepIndex,
    )!;
    const evidence = (await store.getDecisionEvidence(
      rollout.id,
      promotion.seq,
    ))!.evidence as any;
    await knex.destroy();
    expect(rollout.currentWeight).toBe(100);
    expect(answer.stepIndex).toBe(2);
    expect(answer.notes[0]).toBe(
      'the release took all traffic at step 4, where there is no baseline: shown is step 3 (25%), the last step the gate compared, up to the promotion',
    );
    expect(answer.window.end).toBe(promotion.createdAt);
    expect(answer.intervals[answer.intervals.length - 1].verdict).toBe(
      'promote',
    );
    expect(
      answer.signals.map(s => {
        const last = s.points[s.points.length - 1];
        return [s.name, last.difference, last.ci, last.rule];
      }),
    ).toEqual(
      (evidence.signals as Array<any>).map(s => [
        s.name,
        s.difference,
        s.ci,
        s.rule,
      ]),
    );
  }, 60_000);
});
