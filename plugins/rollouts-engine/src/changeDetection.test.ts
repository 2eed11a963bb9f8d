import ref from '../../../test/fixtures/stats/change_detection.json';
import { poissonRateUpperBound } from './bake';
import {
  changeDetectorLogStatistic,
  createChangeDetector,
  restartWeight,
  updateChangeDetector,
} from './changeDetection';
import { poissonAboveLogMixture } from './sequential';

type Row = [number, number | null, number?, number?, number?];

/** scipy's statistic: -Infinity where it has none, else the value to 7 digits */
const statisticLike = (want: number | null) =>
  want === null ? -Infinity : expect.closeTo(want, 7);

describe('e-detector', () => {
  it('restart weights sum to 1', () => {
    let s = 0;
    for (let m = 1; m <= 1e6; m++) s += restartWeight(m);
    expect(s).toBeCloseTo(1, 5);
  });

  for (const c of ref.detector) {
    it(`matches scipy (brute force over components): ${c.name}`, () => {
      const d = createChangeDetector({
        firstTick: c.first,
        every: c.every,
        u0: c.u0,
        side: c.side as 1 | -1,
        sigma: c.sigma,
      });
      (c.ticks as Row[]).forEach((row, i) => {
        const data =
          row[1] === null
            ? null
            : { xc: row[1], nc: row[2]!, xb: row[3]!, nb: row[4]! };
        updateChangeDetector(d, row[0], data);
        expect(changeDetectorLogStatistic(d)).toEqual(
          statisticLike(c.logStatistic[i]),
        );
      });
      // plain JSON: a round trip gives the same statistic
      const back = JSON.parse(JSON.stringify(d));
      expect(changeDetectorLogStatistic(back)).toBe(
        changeDetectorLogStatistic(d),
      );
    });
  }
});

describe('post-promotion watch maths', () => {
  it('exact Poisson upper bound matches scipy gammaincinv', () => {
    for (const [x, n, a, want] of ref.poissonRateUpperBound) {
      expect(poissonRateUpperBound(x, n, a)).toBeCloseTo(want, 9);
    }
  });
  it('one-sample mixture above a rate matches scipy', () => {
    for (const [x, n, l, s, want] of ref.poissonAboveLogMixture) {
      expect(poissonAboveLogMixture(x, n, l, s)).toBeCloseTo(want, 8);
    }
  });
});
