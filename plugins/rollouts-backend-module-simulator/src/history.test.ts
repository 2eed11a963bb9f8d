import type {
  CohortCounts,
  TelemetryTick,
} from '@tollgate/plugin-rollouts-common';
import type { HistoricalRollout } from '@tollgate/plugin-rollouts-node';
import { Simulation } from './Simulation';
import { DEMO_SERVICES } from './demoServices';

const T0 = Date.UTC(2026, 10, 21, 9, 0, 0);

const historyAt = (t: number, seed = 42) =>
  new Simulation({
    seed,
    services: DEMO_SERVICES,
    now: () => new Date(t),
  }).history();

/** The last decision's step: where a rolled-back release failed. */
const lastStep = (h: HistoricalRollout) =>
  h.decisions[h.decisions.length - 1].stepIndex;

const sum = (ticks: TelemetryTick[], pick: (t: TelemetryTick) => number) =>
  ticks.reduce((a, t) => a + pick(t), 0);
const rate = (ticks: TelemetryTick[], cohort: 'baseline' | 'canary') =>
  sum(ticks, t => t[cohort]?.errors ?? 0) /
  sum(ticks, t => t[cohort]?.requests ?? 0);
/** Share of requests slower than 300 ms. */
const slow = (ticks: TelemetryTick[], cohort: 'baseline' | 'canary') => {
  const over = (c?: CohortCounts) => {
    if (!c?.latency) return 0;
    const i = c.latency.le.indexOf(300);
    return (c.requests ?? 0) - c.latency.counts[i];
  };
  return (
    sum(ticks, t => over(t[cohort])) / sum(ticks, t => t[cohort]?.requests ?? 0)
  );
};

describe('Simulation.history: telemetry for what-if replay', () => {
  const history = historyAt(T0);

  it('gives every historical rollout the intervals of each canary step it ran, the same for the same seed and day', () => {
    const started = performance.now();
    const heapBefore = process.memoryUsage().heapUsed;
    const again = historyAt(T0);
    const ms = performance.now() - started;
    const heapMb = (process.memoryUsage().heapUsed - heapBefore) / 1e6;
    const ticks = again.reduce(
      (a, h) => a + h.telemetry!.reduce((b, s) => b + s.ticks.length, 0),
      0,
    );
    // eslint-disable-next-line no-console
    console.log(
      `history(): ${again.length} rollouts, ${ticks} intervals, ${ms.toFixed(0)} ms, ~${heapMb.toFixed(1)} MB heap`,
    );
    // 0.15–0.5 s measured on the shared 2-core machine; the bound leaves room for a loaded one
    expect(ms).toBeLessThan(2000);
    expect(again).toEqual(history);
    expect(historyAt(T0, 43)).not.toEqual(history);

    for (const h of history) {
      const steps = h.telemetry!;
      // steps 0… in order, up to the step the release ended on (100 % has no baseline)
      const reached = Math.min(lastStep(h), 2);
      expect(steps.map(s => s.stepIndex)).toEqual(
        Array.from({ length: reached + 1 }, (_, i) => i),
      );
      for (const s of steps) {
        expect(s.weight).toBe(h.steps[s.stepIndex].weight);
        expect(s.tickSeconds).toBe(60);
        expect(s.ticks.length).toBeGreaterThan(3);
        expect(s.ticks.map(t => t.tick)).toEqual(s.ticks.map((_, i) => i + 1));
        // the step's intervals lie within the step
        expect(s.ticks[0].time! * 1000).toBeGreaterThan(
          s.stepStartedAt.getTime(),
        );
      }
      expect(steps[0].stepStartedAt).toEqual(h.startedAt);
    }
  });

  it("shows a regression in the canary's counts of the step it was rolled back at, and from its first step", () => {
    const failed = (reason: RegExp) =>
      history.filter(
        h =>
          h.status === 'rolled-back' &&
          reason.test(h.decisions[h.decisions.length - 1].reasons[0]),
      );
    const errors = failed(/^error rate/);
    const latency = failed(/^latency SLI/);
    expect(errors.length).toBeGreaterThan(0);
    expect(latency.length).toBeGreaterThan(0);
    for (const h of errors) {
      const step = h.telemetry![lastStep(h)].ticks;
      expect(rate(step, 'canary')).toBeGreaterThan(2 * rate(step, 'baseline'));
      const first = h.telemetry!.flatMap(s => s.ticks);
      expect(rate(first, 'canary')).toBeGreaterThan(
        2 * rate(first, 'baseline'),
      );
    }
    for (const h of latency) {
      const step = h.telemetry![lastStep(h)].ticks;
      expect(slow(step, 'canary')).toBeGreaterThan(
        1.5 * slow(step, 'baseline'),
      );
    }
    // a healthy promotion's canary errs like its baseline
    const healthy = history.filter(
      h =>
        h.status === 'promoted' &&
        h.decisions.every(d => d.verdict === 'promote'),
    );
    const all = healthy.flatMap(h => h.telemetry!.flatMap(s => s.ticks));
    expect(rate(all, 'canary') / rate(all, 'baseline')).toBeGreaterThan(0.7);
    expect(rate(all, 'canary') / rate(all, 'baseline')).toBeLessThan(1.3);
  });

  it('leaves a missing interval missing, never zero counts', () => {
    const ticks = history.flatMap(h => h.telemetry!.flatMap(s => s.ticks));
    const gaps = history.filter(h =>
      h.decisions.some(d => /telemetry missing/.test(d.reasons[0])),
    );
    expect(gaps.length).toBeGreaterThan(0);
    const gapTicks = gaps.flatMap(h => h.telemetry!.flatMap(s => s.ticks));
    expect(gapTicks.filter(t => !('canary' in t)).length).toBeGreaterThan(0);
    expect(ticks.filter(t => !t.baseline)).toEqual([]);
    expect(
      ticks.flatMap(t =>
        [t.baseline, t.canary].filter(c => c && !((c.requests ?? 0) > 0)),
      ),
    ).toEqual([]);
  });
});
