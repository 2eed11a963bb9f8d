import {
  findManagedStrategy,
  formatMarker,
  parseMarker,
  rampState,
  rampTimes,
  stepIndexFor,
  type UnleashStrategy,
} from './state';

const steps = [{ weight: 1 }, { weight: 5 }, { weight: 25 }, { weight: 100 }];
const flexible = (
  rollout: string,
  extra: Partial<UnleashStrategy> = {},
): UnleashStrategy => ({
  id: 's1',
  name: 'flexibleRollout',
  parameters: { rollout, stickiness: 'default', groupId: 'f' },
  ...extra,
});

describe('Tollgate marker in the strategy title', () => {
  it('round-trips every form', () => {
    const at = new Date('2026-11-21T10:00:00.000Z');
    for (const marker of [
      { generation: 1 },
      { generation: 3 },
      { generation: 1, rolledBack: { at, fromWeight: 25 } },
      { generation: 2, rolledBack: { at, fromWeight: 5 } },
    ]) {
      expect(parseMarker(formatMarker('tollgate', marker), 'tollgate')).toEqual(
        marker,
      );
    }
    expect(
      formatMarker('tollgate', {
        generation: 2,
        rolledBack: { at, fromWeight: 5 },
      }),
    ).toBe('tollgate#2: rolled back from 5% at 2026-11-21T10:00:00.000Z');
  });

  it('carries the version a release ramp was started for, also through a rollback', () => {
    const at = new Date('2026-11-21T10:00:00.000Z');
    for (const marker of [
      { generation: 1, release: '1.4.0' },
      { generation: 3, release: 'sha256:0123456789ab' },
      {
        generation: 2,
        release: '2.0.0-rc.1+build.7',
        rolledBack: { at, fromWeight: 5 },
      },
    ]) {
      expect(parseMarker(formatMarker('tollgate', marker), 'tollgate')).toEqual(
        marker,
      );
    }
    expect(
      formatMarker('tollgate', {
        generation: 3,
        release: '1.4.0',
        rolledBack: { at, fromWeight: 25 },
      }),
    ).toBe(
      'tollgate#3 release 1.4.0: rolled back from 25% at 2026-11-21T10:00:00.000Z',
    );
    expect(parseMarker('tollgate release', 'tollgate')).toBeUndefined();
  });

  it("ignores titles that are not Tollgate's", () => {
    expect(parseMarker(undefined, 'tollgate')).toBeUndefined();
    expect(parseMarker('Gradual rollout 25%', 'tollgate')).toBeUndefined();
    expect(parseMarker('tollgates', 'tollgate')).toBeUndefined();
  });

  it('prefers a marked strategy, else the first flexibleRollout by sort order', () => {
    const a = flexible('10', { id: 'a', sortOrder: 1 });
    const b = flexible('20', { id: 'b', sortOrder: 2, title: 'tollgate#2' });
    const c: UnleashStrategy = { id: 'c', name: 'default', sortOrder: 0 };
    expect(findManagedStrategy([c, a, b], 'tollgate')).toEqual({
      strategy: b,
      marker: { generation: 2 },
    });
    expect(
      findManagedStrategy(
        [c, b, a].map(s => ({ ...s, title: null })),
        'tollgate',
      )?.strategy.id,
    ).toBe('a');
    expect(findManagedStrategy([c], 'tollgate')).toBeUndefined();
  });
});

describe('state mapping', () => {
  it('maps the percentage to the highest step at or below it', () => {
    expect(stepIndexFor(steps, 0)).toBe(0);
    expect(stepIndexFor(steps, 5)).toBe(1);
    expect(stepIndexFor(steps, 10)).toBe(1);
    expect(stepIndexFor(steps, 100)).toBe(3);
  });

  it('enabled between 0 and 100 is progressing, 100 is promoted, nothing exposed is pending', () => {
    expect(
      rampState({ environmentEnabled: true, strategy: flexible('25'), steps }),
    ).toMatchObject({
      status: 'progressing',
      currentWeight: 25,
      currentStepIndex: 2,
      generation: 1,
    });
    expect(
      rampState({ environmentEnabled: true, strategy: flexible('100'), steps }),
    ).toMatchObject({
      status: 'promoted',
      currentWeight: 100,
      currentStepIndex: 3,
    });
    expect(
      rampState({ environmentEnabled: false, strategy: flexible('25'), steps }),
    ).toMatchObject({
      status: 'pending',
      currentWeight: 0,
    });
    expect(
      rampState({
        environmentEnabled: true,
        strategy: flexible('25', { disabled: true }),
        steps,
      }).status,
    ).toBe('pending');
  });

  it('reads a rollback from the marker, and a re-exposed rolled-back flag as the next ramp', () => {
    const at = new Date('2026-11-21T10:00:00.000Z');
    const marker = { generation: 1, rolledBack: { at, fromWeight: 25 } };
    expect(
      rampState({
        environmentEnabled: false,
        strategy: flexible('25'),
        marker,
        steps,
      }),
    ).toEqual({
      status: 'rolled-back',
      currentWeight: 0,
      currentStepIndex: 2,
      generation: 1,
      reexposed: false,
      rolledBackAt: at,
    });
    expect(
      rampState({
        environmentEnabled: true,
        strategy: flexible('0'),
        marker,
        steps,
      }).status,
    ).toBe('rolled-back');
    expect(
      rampState({
        environmentEnabled: true,
        strategy: flexible('5'),
        marker,
        steps,
      }),
    ).toMatchObject({
      status: 'progressing',
      currentWeight: 5,
      generation: 2,
      reexposed: true,
    });
  });

  it("dates the step by the last exposure change and the ramp by its strategy's creation", () => {
    const events = [
      {
        id: 3,
        type: 'feature-strategy-update',
        createdAt: '2026-11-21T10:03:00Z',
        data: { id: 's1', title: 'tollgate', parameters: { rollout: '5' } },
        preData: { id: 's1', title: 'tollgate', parameters: { rollout: '5' } },
      },
      {
        id: 2,
        type: 'feature-strategy-update',
        createdAt: '2026-11-21T10:02:00Z',
        data: { id: 's1', parameters: { rollout: '5' } },
        preData: { id: 's1', parameters: { rollout: '1' } },
      },
      {
        id: 1,
        type: 'feature-strategy-add',
        createdAt: '2026-11-21T10:01:00Z',
        data: { id: 's1', parameters: { rollout: '1' } },
      },
      {
        id: 0,
        type: 'feature-strategy-add',
        createdAt: '2026-11-21T10:00:00Z',
        data: { id: 'other' },
      },
    ];
    const state = rampState({
      environmentEnabled: true,
      strategy: flexible('5'),
      steps,
    });
    expect(rampTimes(events, 's1', state, 'tollgate')).toEqual({
      startedAt: new Date('2026-11-21T10:01:00Z'),
      stepStartedAt: new Date('2026-11-21T10:02:00Z'),
    });
    expect(rampTimes([], 's1', state, 'tollgate')).toEqual({
      startedAt: undefined,
      stepStartedAt: undefined,
    });
  });
});
