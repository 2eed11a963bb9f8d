import type { JsonObject } from '@backstage/types';
import type { TelemetryTick } from '@tollgate/plugin-rollouts-common';
import {
  DEMO_SERVICES,
  Simulation,
} from '@tollgate/plugin-rollouts-backend-module-simulator';
import {
  policiesWith,
  setup,
  sqliteStore,
  theRollout,
} from './__testUtils__/simulatorLoop';

/**
 * Segments in the post-promotion watch, through the gate loop against the
 * simulator: a healthy search-web release walks the ladder to full; once it
 * serves everyone, its mobile users' errors triple (the telemetry provider
 * below multiplies the simulator's mobile errors, and the whole's by the
 * same count, in the intervals where the release has all the traffic). The
 * watch reads the segments the policy names (the same telemetry request as
 * the canary steps) and rolls the release back naming device=mobile.
 */

const SERVICE = {
  ...DEMO_SERVICES.find(s => s.target === 'search/search-web')!,
  rps: 6000,
  firstScenario: 'healthy' as const,
};

/** mobile errors ×3 in the intervals at full (no baseline traffic left) */
function mobileTripledAtFull(tick: TelemetryTick): TelemetryTick {
  const c = tick.canary;
  const mobile = c?.segments?.device?.mobile;
  if (
    !c ||
    !mobile ||
    (tick.baseline?.requests ?? 0) > 0 ||
    typeof mobile.errors !== 'number' ||
    typeof mobile.requests !== 'number'
  )
    return tick;
  const errors = Math.min(mobile.requests, mobile.errors * 3);
  const added = errors - mobile.errors;
  return {
    ...tick,
    canary: {
      ...c,
      errors: (c.errors as number) + added,
      segments: {
        ...c.segments,
        device: { ...c.segments!.device, mobile: { ...mobile, errors } },
      },
    },
  };
}

async function world(segments?: Record<string, unknown>) {
  const { store } = await sqliteStore();
  const clock = { t: Date.UTC(2026, 11, 7, 12, 0, 0) };
  const simulation = new Simulation({
    seed: 5,
    services: [SERVICE],
    historyDays: 0,
    // no next rollout during the test: the watch is not superseded
    idleSeconds: 86_400,
    now: () => new Date(clock.t),
  });
  const { loop } = setup(store, [SERVICE], clock, simulation, {
    telemetry: simulated => ({
      id: simulated.id,
      getCohortTelemetry: async request => {
        const r = await simulated.getCohortTelemetry(request);
        return { ...r, ticks: r.ticks.map(mobileTripledAtFull) };
      },
    }),
    policies: policiesWith({
      slo: { availability: 0.995 },
      gate: {
        promote: { minDurationSeconds: 120, minCanaryRequests: 300 },
        rollout: {
          minStepSeconds: 60,
          minStepCanaryRequests: 100,
          bake: { durationSeconds: 1200 },
        },
        ...(segments ? { segments } : {}),
      },
    } as JsonObject),
  });
  /** run the loop every 10 s until the watch is over (or `runs` runs) */
  const runUntilWatched = async (runs: number) => {
    for (let i = 0; i < runs; i++) {
      clock.t += 10_000;
      await loop.run();
      const [r] = await store.listRollouts({});
      if (r?.watch && r.watch.state !== 'watching') break;
    }
    return theRollout(store);
  };
  return { runUntilWatched };
}

const DIMENSIONS = ['device', 'region', 'user_type'];

describe('GateLoop: segments in the post-promotion watch', () => {
  it('rolls back a promoted release whose mobile errors triple after promotion, naming device=mobile', async () => {
    const w = await world({ dimensions: DIMENSIONS });
    const { rollout, log } = await w.runUntilWatched(600);
    const verdicts = log.map(d => d.verdict);
    // promoted to full first (the canary steps saw a healthy release), then rolled back by the watch
    expect(verdicts).toContain('promote');
    expect(rollout.watch?.state).toBe('rolled-back');
    expect(rollout.status).toBe('rolled-back');
    const rollback = log.find(d => d.verdict === 'rollback')!;
    expect(verdicts.lastIndexOf('promote')).toBeLessThan(
      verdicts.indexOf('rollback'),
    );
    expect(rollback.reasons[0]).toMatch(/^rule: bake/);
    expect(rollback.reasons.join('\n')).toMatch(
      /segment device=mobile: error rate after full promotion [\d.]+% vs [\d.]+% before in this segment/,
    );
    const bake = (rollback.evidence as any).bake;
    expect(bake.verdict).toBe('rollback');
    const mobile = bake.signals.find(
      (s: any) => s.name === 'segment device=mobile: error rate',
    );
    expect(mobile.statistic).toBeGreaterThanOrEqual(mobile.threshold);
    // no other device is named
    expect(rollback.reasons.join('\n')).not.toMatch(
      /segment device=(desktop|tablet)/,
    );
  });

  it('without segments in the policy the same release passes its bake window (the whole watch does not see it)', async () => {
    const w = await world();
    const { rollout, log } = await w.runUntilWatched(600);
    expect(rollout.watch?.state).toBe('passed');
    expect(rollout.status).not.toBe('rolled-back');
    expect(log.some(d => d.verdict === 'rollback')).toBe(false);
  });
});
