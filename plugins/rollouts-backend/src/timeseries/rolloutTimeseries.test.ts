import { ConfigReader } from '@backstage/config';
import type {
  CohortCounts,
  TelemetryTick,
} from '@tollgate/plugin-rollouts-common';
import type { StoredRollout } from '../database/RolloutsStore';
import { gateContextFor, gatePolicyFor } from '../evaluation/gateInputs';
import { GateStateCache } from '../loop/gateStates';
import { PolicyResolver } from '../policy/PolicyResolver';
import { foldTimeseries } from './foldTimeseries';
import { timeseriesWindow } from './rolloutTimeseries';

const policies = PolicyResolver.fromConfig(
  new ConfigReader({
    rollouts: {
      policies: {
        standard: {
          slo: { availability: 0.995 },
          gate: { promote: { minDurationSeconds: 600 } },
        },
      },
    },
  }),
);

const STEPS = [{ weight: 1 }, { weight: 5 }, { weight: 25 }, { weight: 100 }];

function rolloutAt(
  stepIndex: number,
  steps = STEPS,
  weight = steps[stepIndex].weight,
): StoredRollout {
  return {
    id: 'ro-1',
    entityRef: 'component:default/svc',
    provider: 'fake',
    target: 'shop/svc',
    externalId: 'shop/svc@2',
    version: '2',
    status: 'progressing',
    steps,
    currentStepIndex: stepIndex,
    currentWeight: weight,
    startedAt: '2026-11-21T12:00:00.000Z',
    stepStartedAt: '2026-11-21T12:10:00.000Z',
    updatedAt: '2026-11-21T12:10:00.000Z',
    rowVersion: 1,
  };
}

/** A canary whose error rate doubles from interval 20 on. */
function tickAt(tick: number, share: number): TelemetryTick {
  const cohort = (n: number, errors: number): CohortCounts => ({
    requests: n,
    errors,
  });
  const total = 20_000;
  const canary = Math.round(total * share);
  const canaryRate = tick >= 20 ? 0.004 : 0.002;
  return {
    tick,
    baseline: cohort(total - canary, Math.round((total - canary) * 0.002)),
    canary: cohort(canary, Math.round(canary * canaryRate)),
  };
}

const ticks = (n: number, share: number) =>
  Array.from({ length: n }, (_, i) => tickAt(i + 1, share));

/** The gate loop's own verdict on the same ticks (its cache, as the loop calls it). */
function loopDecision(rollout: StoredRollout, policyTicks: TelemetryTick[]) {
  return policies.forAnnotations({}).then(policy => {
    const context = gateContextFor(rollout, policy, 60);
    const cache = new GateStateCache();
    if (cache.needsStored(rollout))
      cache.provide(rollout.id, rollout.gateState);
    return cache.decide(
      rollout,
      policy,
      context,
      gatePolicyFor(policy),
      policyTicks,
      1,
    );
  });
}

describe('foldTimeseries', () => {
  it('records each interval and ends on the verdict the gate loop reaches (whole-rollout gate)', async () => {
    const policy = await policies.forAnnotations({});
    const rollout = rolloutAt(1);
    const data = ticks(40, 0.05);
    const folded = foldTimeseries(
      rollout,
      policy,
      gateContextFor(rollout, policy, 60),
      data,
    );
    const loop = await loopDecision(rollout, data);
    expect(folded.intervals).toHaveLength(40);
    expect(folded.intervals[39].verdict).toBe(loop.verdict);
    const errors = folded.signals.find(s => s.name === 'error rate')!;
    expect(errors.points).toHaveLength(40);
    const last = errors.points[39];
    const gate = loop.signals.find(s => s.name === 'error rate')!;
    expect(last.ci).toEqual(gate.ci);
    expect(last.difference).toBe(gate.difference);
    expect(last.runningCanary).toBe(gate.canary);
    expect(last.margin).toBe(gate.margin);
    expect(last.rule).toBe(gate.rule);
    // each interval's own estimates: the canary's rate doubles at interval 20
    expect(errors.points[0].canary).toBeCloseTo(0.002, 4);
    expect(errors.points[30].canary).toBeCloseTo(0.004, 4);
    expect(errors.points[30].baseline).toBeCloseTo(0.002, 4);
  });

  it('folds every interval but lists only the last ones, still ending on the full verdict (single-step gate)', async () => {
    const policy = await policies.forAnnotations({});
    // no ladder (one step at 10 %): the loop runs a step gate
    const rollout = rolloutAt(0, [{ weight: 10 }, { weight: 100 }], 10);
    const data = ticks(50, 0.1);
    const folded = foldTimeseries(
      rollout,
      policy,
      gateContextFor(rollout, policy, 60),
      data,
      12,
    );
    const loop = await loopDecision(rollout, data);
    expect(folded.intervals.map(i => i.tick)).toEqual(
      Array.from({ length: 12 }, (_, i) => 39 + i),
    );
    const errors = folded.signals.find(s => s.name === 'error rate')!;
    expect(errors.points).toHaveLength(12);
    expect(errors.points[11].ci).toEqual(
      loop.signals.find(s => s.name === 'error rate')!.ci,
    );
    expect(folded.intervals[11].verdict).toBe(loop.verdict);
  });

  it("reads a finished rollout's last step up to its end, and an active one's up to now", () => {
    const now = new Date('2026-11-21T13:00:00.000Z');
    const finished = {
      ...rolloutAt(1),
      status: 'rolled-back' as const,
      finishedAt: '2026-11-21T12:25:00.000Z',
    };
    expect(timeseriesWindow(finished, now)).toEqual({
      start: new Date('2026-11-21T12:10:00.000Z'),
      end: new Date('2026-11-21T12:25:00.000Z'),
    });
    expect(timeseriesWindow(rolloutAt(1), now).end).toEqual(now);
  });
});
