import { ConfigReader } from '@backstage/config';
import type {
  CohortCounts,
  TelemetryTick,
} from '@tollgate/plugin-rollouts-common';
import type { StoredRollout } from '../database/RolloutsStore';
import { gateContextFor, gatePolicyFor } from '../evaluation/gateInputs';
import { PolicyResolver } from '../policy/PolicyResolver';
import { GateStateCache } from './gateStates';
import { ladderOf } from './stepLadder';
import { parseStoredGateState } from './storedGateState';

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

function tickAt(tick: number, share: number, revision = 0): TelemetryTick {
  const cohort = (n: number, errors: number): CohortCounts => ({
    requests: n,
    errors,
  });
  const total = 100_000;
  const canary = Math.round(total * share);
  return {
    tick,
    baseline: cohort(total - canary, Math.round((total - canary) * 0.002)),
    canary: cohort(canary, Math.round(canary * 0.002) + (tick % 2) + revision),
  };
}

const STEPS = [{ weight: 1 }, { weight: 5 }, { weight: 25 }, { weight: 100 }];

function rolloutAt(stepIndex: number, stepStartedAt: string): StoredRollout {
  return {
    id: 'ro-1',
    entityRef: 'component:default/svc',
    provider: 'fake',
    target: 'shop/svc',
    externalId: 'shop/svc@2',
    version: '2',
    status: 'progressing',
    steps: STEPS,
    currentStepIndex: stepIndex,
    currentWeight: STEPS[stepIndex].weight,
    startedAt: '2026-11-21T12:00:00.000Z',
    stepStartedAt,
    updatedAt: stepStartedAt,
    rowVersion: 1,
  };
}

describe('GateStateCache', () => {
  it('makes a ladder of the steps, the 100 % step left out', () => {
    expect(ladderOf(STEPS)).toEqual([0.01, 0.05, 0.25]);
    expect(ladderOf([{ weight: 10 }, { weight: 50 }])).toEqual([0.1, 0.5]);
    expect(ladderOf([{ weight: 100 }])).toBeUndefined();
    expect(ladderOf([{ weight: 20 }, { weight: 10 }])).toBeUndefined();
    expect(ladderOf([])).toBeUndefined();
  });

  it('refolds a later step from its start (not from nothing) when an interval is revised or goes missing', async () => {
    const policy = await policies.forAnnotations({});
    const decideAt = (
      cache: GateStateCache,
      r: StoredRollout,
      ticks: TelemetryTick[],
      run: number,
    ) =>
      JSON.parse(
        JSON.stringify(
          cache.decide(
            r,
            policy,
            gateContextFor(r, policy, 60),
            gatePolicyFor(policy),
            ticks,
            run,
          ),
        ),
      );
    // step 1 (1 %) for 12 minutes, then step 2 (5 %) from 12:12
    const first = rolloutAt(0, '2026-11-21T12:00:00.000Z');
    const cache = new GateStateCache();
    decideAt(
      cache,
      first,
      Array.from({ length: 12 }, (_, k) => tickAt(k + 1, 0.01)),
      1,
    );
    const stored = cache.storable(first.id, true)!;
    expect(parseStoredGateState(stored)?.end?.stepIndex).toBe(0);
    const second = rolloutAt(1, '2026-11-21T12:12:00.000Z');
    const ticks = Array.from({ length: 5 }, (_, k) => tickAt(k + 1, 0.05));
    decideAt(cache, second, ticks, 2);

    // a process that reads the stored state and the step's revised telemetry …
    const revised = ticks.map((t, k) => (k === 2 ? tickAt(3, 0.05, 4) : t));
    const fresh = new GateStateCache();
    expect(fresh.needsStored(second)).toBe(true);
    fresh.provide(second.id, stored);
    const expected = decideAt(fresh, second, revised, 1);
    // … decides as the process that kept the state and refolds the revised step
    const refolded = decideAt(cache, second, revised, 3);
    expect(cache.misses).toBe(3);
    expect(refolded).toEqual(expected);
    expect(refolded.signals[0].samples.ticks).toBe(17);
    expect(refolded.rollout).toMatchObject({ step: 2, stepTicks: 5 });

    // fewer intervals than were folded: the step again from its start, the earlier step kept
    const shorter = decideAt(cache, second, revised.slice(0, 4), 4);
    expect(shorter.signals[0].samples.ticks).toBe(16);
  });
});
