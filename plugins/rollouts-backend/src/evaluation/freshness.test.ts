import { DEMO_SERVICES } from '@tollgate/plugin-rollouts-backend-module-simulator';
import type { TelemetryTick } from '@tollgate/plugin-rollouts-common';
import { setup, sqliteStore } from '../loop/__testUtils__/simulatorLoop';
import { freshTicks, stalenessReason } from './freshness';

const NOW = new Date('2026-12-06T12:00:00.000Z');
const nowSec = NOW.getTime() / 1000;
const full = (tick: number, time: number): TelemetryTick => ({
  tick,
  time,
  baseline: { requests: 1000, errors: 1 },
  canary: { requests: 50, errors: 0 },
});

describe('telemetry freshness', () => {
  it('adds the complete intervals up to now that the provider did not report, as missing data', () => {
    const ticks = [1, 2, 3].map(t => full(t, nowSec - 300 + t * 60)); // newest ends 120 s ago
    const { ticks: seen, freshness } = freshTicks(ticks, {
      now: NOW,
      stepSeconds: 60,
      lagSeconds: 5,
    });
    expect(seen.map(t => [t.tick, t.canary !== undefined])).toEqual([
      [1, true],
      [2, true],
      [3, true],
      [4, false],
      [5, false],
    ]);
    expect(freshness).toEqual({
      lagSeconds: 5,
      newestAgeSeconds: 120,
      unreportedTicks: 2,
      incompleteTicks: 0,
    });
    expect(stalenessReason(freshness)).toMatch(
      /telemetry is behind: 2 intervals up to now not reported; newest data 120 s old/,
    );
  });

  it("leaves out the counts of intervals the provider's lag says are still filling", () => {
    const ticks = [1, 2, 3, 4, 5].map(t => full(t, nowSec - 300 + t * 60));
    const { ticks: seen, freshness } = freshTicks(ticks, {
      now: NOW,
      stepSeconds: 60,
      lagSeconds: 130, // e.g. a remote-write pipeline two minutes behind
    });
    // ends 240, 180, 120, 60, 0 s ago: the last three end less than 130 s ago
    expect(seen.map(t => t.canary !== undefined)).toEqual([
      true,
      true,
      false,
      false,
      false,
    ]);
    expect(freshness).toMatchObject({ incompleteTicks: 3, unreportedTicks: 0 });
  });

  it('keeps fresh telemetry, and telemetry without interval times, as it is', () => {
    const fresh = [1, 2].map(t => full(t, nowSec - 120 + t * 60));
    expect(
      freshTicks(fresh, { now: NOW, stepSeconds: 60, lagSeconds: 5 }),
    ).toEqual({
      ticks: fresh,
      freshness: {
        lagSeconds: 5,
        newestAgeSeconds: 0,
        unreportedTicks: 0,
        incompleteTicks: 0,
      },
    });
    const untimed = [{ tick: 1, canary: { requests: 5 } }];
    expect(freshTicks(untimed, { now: NOW, stepSeconds: 60 }).ticks).toBe(
      untimed,
    );
    expect(
      stalenessReason(
        freshTicks(fresh, { now: NOW, stepSeconds: 60 }).freshness,
      ),
    ).toBeUndefined();
  });

  it('holds a rollout whose provider stops reporting trailing intervals, and never promotes it', async () => {
    const { knex, store } = await sqliteStore();
    const services = DEMO_SERVICES.filter(
      s => s.target === 'checkout/cart-service',
    ).map(s => ({ ...s, rps: s.rps * 4 }));
    const clock = { t: Date.UTC(2026, 10, 21, 12, 0, 0) };
    const { loop, simulation } = setup(store, services, clock);
    // A healthy release whose telemetry stops after its first 30 s (before a step's minimum).
    const reportUntil = clock.t + 30_000;
    const real = simulation.telemetry.getCohortTelemetry.bind(
      simulation.telemetry,
    );
    simulation.telemetry.getCohortTelemetry = async request => {
      const result = await real(request);
      return {
        ...result,
        ticks: result.ticks.filter(t => (t.time ?? 0) * 1000 <= reportUntil),
      };
    };
    for (let i = 0; i < 60; i++) {
      clock.t += 10_000;
      await loop.run();
    }
    const [listed] = await store.listRollouts({});
    const rollout = (await store.getRollout(listed.id))!;
    expect(rollout.status).toBe('progressing');
    expect(rollout.currentStepIndex).toBe(0);
    expect(rollout.lastEvaluation?.verdict).toBe('hold');
    expect(rollout.lastEvaluation?.reasons.join(' ')).toMatch(
      /telemetry is behind: \d+ intervals up to now not reported/,
    );
    const freshness = (rollout.evidence as any).checks.freshness;
    expect(freshness.unreportedTicks).toBeGreaterThan(30);
    expect(freshness.newestAgeSeconds).toBeGreaterThan(400);
    expect(freshness.stale).toBe(true);
    await knex.destroy();
  });
});
