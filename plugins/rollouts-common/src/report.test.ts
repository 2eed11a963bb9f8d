import { ladderOf, rolloutReport } from './report';
import type { DecisionEntry, Rollout } from './types';

const rollout: Rollout = {
  id: 'r1',
  entityRef: 'component:default/checkout',
  provider: 'simulator',
  target: 'shop/checkout',
  version: '2.0.0',
  previousVersion: '1.9.0',
  status: 'rolled-back',
  steps: [{ weight: 5 }, { weight: 25 }, { weight: 100 }],
  currentStepIndex: 1,
  currentWeight: 0,
  startedAt: '2026-12-06T10:00:00.000Z',
  stepStartedAt: '2026-12-06T10:12:00.000Z',
  finishedAt: '2026-12-06T10:30:00.000Z',
  updatedAt: '2026-12-06T10:30:00.000Z',
  policyName: 'standard',
  policyHash: 'abc',
};

let seq = 0;
function entry(
  at: string,
  stepIndex: number,
  verdict: DecisionEntry['verdict'],
  more: Partial<DecisionEntry> = {},
): DecisionEntry {
  seq++;
  return {
    seq,
    id: `d${seq}`,
    rolloutId: 'r1',
    entityRef: rollout.entityRef,
    stepIndex,
    verdict,
    kind: 'automatic',
    actor: 'scheduler',
    reasons: [`${verdict} at ${at}`],
    evidence: null,
    policyHash: 'abc',
    outcome: 'none',
    createdAt: `2026-12-06T${at}:00.000Z`,
    prevHash: 'p',
    hash: `h${seq}`,
    ...more,
  };
}

describe('the post-rollout report', () => {
  const log = [
    entry('10:00', 0, 'register'),
    entry('10:06', 0, 'continue'),
    entry('10:12', 0, 'promote', { outcome: 'applied' }),
    entry('10:20', 1, 'pause', {
      kind: 'manual',
      actor: 'user:default/priya',
      outcome: 'applied',
      reasons: ['reason given: a | pipe, checking the dashboard'],
    }),
    entry('10:30', 1, 'rollback', {
      kind: 'manual',
      actor: 'user:default/priya',
      outcome: 'applied',
      reasons: ['reason given: checkout errors'],
    }),
  ];

  it('walks the ladder from the log: when each step was entered and left, and by whom', () => {
    const ladder = ladderOf(rollout, log);
    expect(ladder.map(s => [s.enteredAt, s.leftAt, s.leftBy])).toEqual([
      [
        '2026-12-06T10:00:00.000Z',
        '2026-12-06T10:12:00.000Z',
        'promote by the gate',
      ],
      [
        '2026-12-06T10:12:00.000Z',
        '2026-12-06T10:30:00.000Z',
        'rollback by user:default/priya',
      ],
      [undefined, undefined, undefined],
    ]);
  });

  it('writes the release, the ladder with time per step, people, and every decision', () => {
    const md = rolloutReport(rollout, log, {
      generatedAt: '2026-12-06T11:00:00.000Z',
    });
    expect(md).toContain(
      '# Rollout report: component:default/checkout 1.9.0 → 2.0.0',
    );
    expect(md).toContain('| Policy | standard (abc) |');
    expect(md).toContain(
      '| 1 | 5 % | 2026-12-06T10:00:00.000Z | 2026-12-06T10:12:00.000Z | 12m 0s | promote by the gate |',
    );
    expect(md).toContain(
      '| 2 | 25 % | 2026-12-06T10:12:00.000Z | 2026-12-06T10:30:00.000Z | 18m 0s | rollback by user:default/priya |',
    );
    // A pipe in a reason does not break the table.
    expect(md).toContain('reason given: a \\| pipe, checking the dashboard');
    expect(md.match(/^### #\d+ /gm)).toHaveLength(5);
    expect(md).toContain('last hash h5');
  });
});
