/**
 * The segments' change detectors and bake watch against scipy (test/fixtures/stats/
 * make_segment_watch.py: brute force over the components on each cell's own counts, not the
 * engine's recursion), with the thresholds the policy's α split gives.
 */
import ref from '../../../test/fixtures/stats/segment_watch.json';
import { bakeLogStatistic } from './bake';
import { changeDetectorLogStatistic } from './changeDetection';
import {
  createBakeWatch,
  createRolloutGate,
  decideBake,
  decideRollout,
  observeBakeTick,
  observeRolloutTick,
} from './index';
import type { CohortCounts, GateContext, TelemetryTick } from './types';

type Cohort = Record<string, number[]>;
const DEVICES = ['desktop', 'mobile', 'tablet'];

const ctx: GateContext = {
  service: 'ref',
  tickSeconds: 60,
  expectedCanaryShare: 0.25,
  slo: { availability: 0.995 },
  kpis: [],
};

function counts(c: Cohort): CohortCounts {
  const device = Object.fromEntries(
    DEVICES.map(d => [d, { requests: c[d][0], errors: c[d][1] }]),
  );
  return {
    requests: DEVICES.reduce((a, d) => a + c[d][0], 0),
    errors: DEVICES.reduce((a, d) => a + c[d][1], 0),
    segments: { device },
  };
}

const statisticLike = (want: number | null) =>
  want === null ? -Infinity : expect.closeTo(want, 7);

describe('segments: change detectors and bake watch match scipy', () => {
  it('each device cell: the e-detector per tick, its threshold, then the bake watch per tick', () => {
    const rs = createRolloutGate(
      ctx,
      {
        alpha: 0.05,
        promote: { minDurationSeconds: 1e9 },
        rollout: { maxStepSeconds: 1e9, bake: { alpha: 0.01 } },
        segments: { dimensions: ['device'], alpha: 0.01 },
      },
      [0.25],
    );
    for (const [i, row] of ref.steps.entries()) {
      const tick: TelemetryTick = {
        tick: row.tick,
        baseline: counts(row.baseline),
        canary: counts(row.canary),
      };
      observeRolloutTick(rs, tick);
      const d = decideRollout(rs, { tick: row.tick });
      for (const sd of rs.segmentDetectors!) {
        const want = (ref.detectors as Record<string, Array<number | null>>)[
          sd.value
        ][i];
        expect(changeDetectorLogStatistic(sd.detectors[0]!)).toEqual(
          statisticLike(want),
        );
        const ev = d.rollout!.changeDetection.find(
          c => c.name === `segment device=${sd.value}: error rate`,
        )!;
        expect(ev.threshold).toBeCloseTo(ref.detectorThreshold, 10);
      }
    }
    expect(rs.segmentDetectors!.map(s => s.value)).toEqual(DEVICES);
    const w = createBakeWatch(rs, 51);
    const cells = w.segments!.cells;
    expect(cells.map(c => c.value)).toEqual(DEVICES);
    for (const c of cells) {
      const want = (ref.bakeCells as Record<string, { limit: number }>)[
        c.value
      ];
      expect(c.signals[0].limit).toBeCloseTo(want.limit, 10);
    }
    for (const [i, row] of ref.bake.entries()) {
      observeBakeTick(w, {
        tick: row.tick,
        canary: counts(row.canary),
        baseline: { requests: 0, errors: 0 },
      });
      const d = decideBake(w, { tick: row.tick });
      for (const c of cells) {
        const want = (
          ref.bakeCells as Record<
            string,
            { logStatistic: Array<number | null> }
          >
        )[c.value].logStatistic[i];
        expect(bakeLogStatistic(c.signals[0])).toEqual(statisticLike(want));
        const ev = d.signals.find(
          s => s.name === `segment device=${c.value}: error rate`,
        )!;
        expect(ev.threshold).toBeCloseTo(ref.bakeThreshold, 10);
      }
    }
  });
});
