import type { JsonObject } from '@backstage/types';
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
 * Segments through the gate loop, against the simulator: the demo's
 * search-web release doubles its canary's mobile users' errors and cuts
 * desktop's to a fifth, so the whole's error rate does not move. The
 * policy's segment dimensions reach the telemetry request, the engine tests
 * each segment, and the loop acts on what the policy says.
 */

const SERVICE = {
  ...DEMO_SERVICES.find(s => s.target === 'search/search-web')!,
  rps: 6000,
};

async function world(segments?: Record<string, unknown>) {
  const { store } = await sqliteStore();
  const clock = { t: Date.UTC(2026, 11, 7, 12, 0, 0) };
  const simulation = new Simulation({
    seed: 3,
    services: [SERVICE],
    historyDays: 0,
    idleSeconds: 86_400,
    now: () => new Date(clock.t),
  });
  const { loop } = setup(store, [SERVICE], clock, simulation, {
    policies: policiesWith({
      slo: { availability: 0.995 },
      gate: {
        promote: { minDurationSeconds: 60, minCanaryRequests: 300 },
        rollout: { minStepSeconds: 60, minStepCanaryRequests: 100 },
        ...(segments ? { segments } : {}),
      },
    } as JsonObject),
  });
  const runFor = async (runs: number) => {
    for (let i = 0; i < runs; i++) {
      clock.t += 10_000;
      await loop.run();
    }
    return theRollout(store, 500);
  };
  return { runFor };
}

const DIMENSIONS = ['device', 'region', 'user_type'];

describe('GateLoop: segments', () => {
  it('rolls back a release that harms only mobile users, naming the segment (the whole does not see it)', async () => {
    const w = await world({ dimensions: DIMENSIONS });
    const { rollout, log } = await w.runFor(60);
    expect(rollout.status).toBe('rolled-back');
    const rollback = log.find(d => d.verdict === 'rollback')!;
    expect(rollback.reasons.join('\n')).toMatch(
      /segment device=mobile: error rate canary [\d.]+% vs baseline [\d.]+%/,
    );
    const ev = rollback.evidence as any;
    expect(ev.checks.segments.harmed).toContain('device=mobile');
    expect(ev.checks.segments.dimensions).toEqual(DIMENSIONS);
    // every dimension was reported by the simulator: none missing
    expect(ev.checks.segments.missingDimensions).toEqual([]);
    expect(ev.signals.find((s: any) => s.kind === 'error-rate').rule).not.toBe(
      'deterioration',
    );
    // the canary is representative: the segment-mix tests held nothing
    expect(ev.checks.representativeness.map((r: any) => r.mismatch)).toEqual([
      false,
      false,
      false,
    ]);
  });

  it('without segments in the policy the same release walks on', async () => {
    const w = await world();
    const { rollout, log } = await w.runFor(60);
    expect(rollout.status).not.toBe('rolled-back');
    expect(rollout.currentStepIndex).toBeGreaterThan(0);
    expect(log.some(d => (d.evidence as any)?.checks?.segments)).toBe(false);
  });

  it('onHarm: hold holds it with the segment named, and does not roll back', async () => {
    const w = await world({ dimensions: DIMENSIONS, onHarm: 'hold' });
    const { rollout, log } = await w.runFor(60);
    expect(rollout.status).not.toBe('rolled-back');
    const hold = log.find(d =>
      d.reasons.some(r => r.startsWith('segment device=mobile:')),
    );
    expect(hold?.verdict).toBe('hold');
    expect(rollout.lastEvaluation?.verdict).toBe('hold');
  });
});
