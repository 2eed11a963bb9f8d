import {
  defaultGatePolicy,
  GatePolicyError,
  parseGatePolicy,
  validateGatePolicy,
} from './policy';

describe('gate policy', () => {
  it('applies defaults to an empty policy', () => {
    const p = defaultGatePolicy();
    expect(p.alpha).toBe(0.05);
    expect(p.errorRate.guardrail).toBe(true);
    expect(p.kpiDefaults.margin).toBe(0.05);
    expect(
      p.burn.windows.map(w => [w.longSeconds, w.shortSeconds, w.factor]),
    ).toEqual([
      [3600, 300, 14.4],
      [21600, 1800, 6],
    ]);
    expect(parseGatePolicy(undefined)).toEqual(p);
  });
  it('keeps given values', () => {
    const p = parseGatePolicy({
      alpha: 0.01,
      kpis: [{ name: 'conversion', margin: 0.02, guardrail: true }],
    });
    expect(p.alpha).toBe(0.01);
    expect(p.kpis[0]).toMatchObject({
      name: 'conversion',
      margin: 0.02,
      guardrail: true,
      weight: 1,
    });
  });
  it('names the wrong field with its path', () => {
    const v = validateGatePolicy({
      kpis: [
        { name: 'a', margin: 0.1 },
        { name: 'b', margin: 1.5 },
      ],
    });
    expect(v.ok).toBe(false);
    expect(v.problems).toContainEqual({
      path: 'kpis[1].margin',
      message: 'must be between 0 and 1',
    });
  });
  it('lists every problem', () => {
    const v = validateGatePolicy({
      alpha: 2,
      promote: { minDurationSeconds: -1 },
      burn: {
        windows: [{ name: 'x', longSeconds: 60, shortSeconds: 600, factor: 2 }],
      },
      bogus: 1,
    });
    const paths = v.problems.map(p => p.path).sort();
    expect(paths).toEqual([
      'alpha',
      'bogus',
      'burn.windows[0].shortSeconds',
      'promote.minDurationSeconds',
    ]);
  });
  it('parseGatePolicy throws an error listing the problems', () => {
    const parse = () =>
      parseGatePolicy({ niAlpha: 'x', kpis: [{ name: 'a' }, { name: 'a' }] });
    expect(parse).toThrow(GatePolicyError);
    expect(parse).toThrow('niAlpha: must be a number');
    expect(() =>
      parseGatePolicy({ kpis: [{ name: 'a' }, { name: 'a' }] }),
    ).toThrow(/kpis\[1\]\.name: duplicate/);
  });
});
