import { resolve } from 'node:path';
import { scoreScenario, summarise, quantile } from './score';
import { mannWhitneyZ } from './peers';
import { runBench } from './detect';
import type { Scenario } from './scenario';

const scen = (n: number): Scenario =>
  ({
    file: 'x',
    header: { name: 'x' },
    maxTicks: n,
    ticks: Array.from({ length: n }, (_, i) => ({
      tick: i + 1,
      canary: { requests: 100 },
      baseline: { requests: 900 },
    })),
  }) as unknown as Scenario;

describe('scoring (FORMAT.md)', () => {
  it('regression: ticks from fromTick to rollback, exposure up to the rollback', () => {
    const r = scoreScenario(scen(20), { verdict: 'rollback', fromTick: 5 }, [
      { tick: 7, verdict: 'continue' },
      { tick: 8, verdict: 'rollback' },
    ]);
    expect(r.caught).toBe(true);
    expect(r.ticksToDetect).toBe(4);
    expect(r.exposure).toBe(400);
  });
  it('regression promoted is a miss with exposure to maxTicks; rollback before onset is false', () => {
    const miss = scoreScenario(
      scen(20),
      { verdict: 'rollback', fromTick: 11 },
      [{ tick: 12, verdict: 'promote' }],
    );
    expect(miss.caught).toBe(false);
    expect(miss.exposure).toBe(1000);
    const early = scoreScenario(
      scen(20),
      { verdict: 'rollback', fromTick: 11 },
      [{ tick: 3, verdict: 'rollback' }],
    );
    expect(early.caught).toBe(false);
    expect(early.falseRollback).toBe(true);
  });
  it('hold: promoted once the problem started is a failure; before is not', () => {
    expect(
      scoreScenario(scen(20), { verdict: 'hold', fromTick: 10 }, [
        { tick: 12, verdict: 'promote' },
      ]).holdPromoted,
    ).toBe(true);
    expect(
      scoreScenario(scen(20), { verdict: 'hold', fromTick: 10 }, [
        { tick: 8, verdict: 'promote' },
      ]).holdPromoted,
    ).toBe(false);
  });
  it('summary medians (A/A that never promotes counts as never)', () => {
    const aa = [5, 9, null].map(t =>
      scoreScenario(
        scen(20),
        { verdict: 'promote' },
        t ? [{ tick: t, verdict: 'promote' }] : [],
      ),
    );
    const s = summarise('m', aa);
    expect(s.aaMedianTicksToPromote).toBe(9);
    expect(s.aaPromoted).toBe(2);
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9)).toBe(9);
  });
});

describe('Mann–Whitney z (Kayenta-style peer)', () => {
  it('is symmetric and detects a shift', () => {
    const x = [5, 6, 7, 8, 9, 10, 11, 12];
    const y = [1, 2, 3, 4, 5, 6, 7, 8];
    expect(mannWhitneyZ(x, y)).toBeGreaterThan(2);
    expect(mannWhitneyZ(y, x)).toBeCloseTo(-mannWhitneyZ(x, y), 12);
    expect(mannWhitneyZ([0, 0, 0], [0, 0, 0])).toBe(0);
  });
});

const dir = resolve(__dirname, '..', 'fixtures', 'scenarios');
describe('detection benchmark on the public scenarios', () => {
  it('meets the targets', () => {
    const { rows } = runBench(dir);
    const engine = rows[0];
    const kayenta = rows.find(r => r.method.startsWith('kayenta'))!;
    expect(engine.caught).toBeGreaterThanOrEqual(28);
    expect(engine.medianTicks!).toBeLessThanOrEqual(10);
    expect(engine.aaFalseRollbacks).toBe(0);
    expect(engine.holdPromoted).toBe(0);
    expect(engine.exposure).toBeLessThanOrEqual(kayenta.exposure);
    expect(engine.aaMedianTicksToPromote!).toBeLessThanOrEqual(30);
  });
});
