import ref from '../../../test/fixtures/stats/reference.json';
import { histogramProblem, histogramQuantile, slowCount } from './histogram';

const le = ref.histogramQuantile.le.map(x =>
  x === '+Inf' ? Infinity : (x as number),
);

describe('histogram_quantile (PromQL semantics)', () => {
  it('matches the reference re-implementation', () => {
    for (const c of ref.histogramQuantile.cases) {
      expect(histogramQuantile(c.q, { le, counts: c.counts })).toBeCloseTo(
        c.value,
        9,
      );
    }
  });
  it('returns null for an empty histogram and the last finite bound for the +Inf bucket', () => {
    expect(histogramQuantile(0.5, { le, counts: le.map(() => 0) })).toBeNull();
    expect(
      histogramQuantile(0.99, { le: [100, Infinity], counts: [1, 100] }),
    ).toBe(100);
  });
});

describe('slowCount', () => {
  it('counts requests above the first boundary at or over the threshold', () => {
    const h = { le, counts: ref.histogramQuantile.cases[0].counts };
    expect(slowCount(h, 500)).toEqual({
      slow: 19063 - 19043,
      total: 19063,
      boundary: 500,
    });
    expect(slowCount(h, 400)?.boundary).toBe(500);
  });
  it('flags malformed histograms', () => {
    expect(histogramProblem({ le: [1, 2], counts: [1] })).toMatch(/length/);
    expect(histogramProblem({ le: [1, Infinity], counts: [5, 3] })).toMatch(
      /cumulative/,
    );
    expect(histogramProblem({ le: [1, 2], counts: [1, 2] })).toMatch(/\+Inf/);
    expect(histogramProblem({ le: [1, Infinity], counts: [1, 2] })).toBeNull();
  });
});
