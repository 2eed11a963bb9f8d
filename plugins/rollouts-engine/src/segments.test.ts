import ref from '../../../test/fixtures/stats/segments.json';
import { createGateState, decide, evaluateGate, observeTick } from './gate';
import { validateGatePolicy } from './policy';
import {
  createRolloutGate,
  decideRollout,
  advanceRolloutStep,
  observeRolloutTick,
} from './rollout';
import type { GateContext, TelemetryTick } from './types';
import { simCtx } from './__testkit__/sim';
import { simulateSegments } from './__testkit__/segmentSim';

const refCtx: GateContext = {
  tickSeconds: 60,
  expectedCanaryShare: ref.expectedCanaryShare,
  slo: { availability: 0.995 },
  kpis: [],
};

describe('segment statistics against scipy (test/fixtures/stats/segments.json)', () => {
  for (const c of ref.cases) {
    it(`${c.name}: each segment's harm e-value and the segment-mix e-value`, () => {
      const d = evaluateGate(refCtx, c.ticks as TelemetryTick[], ref.policy);
      const seg = d.checks.segments!;
      expect(seg.cellBudget).toBe(4);
      for (const [value, want] of Object.entries(c.harm)) {
        const cell = seg.cells.find(x => x.value === value)!;
        expect(cell.signals[0].statistic).toBeCloseTo(want, 6);
        expect(cell.signals[0].threshold).toBeCloseTo(ref.harmThreshold, 9);
      }
      const mix = d.checks.representativeness![0];
      expect(mix.threshold).toBeCloseTo(ref.mixThreshold, 9);
      expect(mix.statistic).toBeCloseTo(c.mix, 6);
      for (const v of mix.values)
        expect(v.statistic).toBeCloseTo(
          c.mixValues[v.value as keyof typeof c.mixValues],
          6,
        );
      // the whole keeps its own test, untouched by the segments
      expect(d.signals[0].statistic).toBeCloseTo(c.wholeHarm, 6);
    });
  }
});

describe('segment verdicts', () => {
  const ctx = simCtx(0.05, false);
  const harmOnMobile = simulateSegments(
    {
      ticks: 60,
      traffic: 20000,
      share: 0.05,
      errRate: 0.003,
      slow: 0.002,
      conv: 0.05,
      harm: { device: 'mobile', errMult: 2.5 },
    },
    3,
  );
  /** the first 12 minutes: the mobile segment's test has fired, the whole's has not */
  const early = harmOnMobile.slice(0, 12);

  it('a harm confined to one segment rolls back and the reason names the segment', () => {
    const d = evaluateGate(ctx, harmOnMobile, {
      segments: { dimensions: ['device', 'region'] },
    });
    expect(d.verdict).toBe('rollback');
    expect(d.checks.segments!.harmed).toContain('device=mobile');
    expect(
      d.reasons.some(r => r.startsWith('segment device=mobile: error rate')),
    ).toBe(true);
    const mobile = d.checks.segments!.cells.find(c => c.value === 'mobile')!;
    expect(mobile.harmed).toBe(true);
    expect(mobile.signals[0].ci![0]).toBeGreaterThan(0);
    // no other device is blamed (regions may be: every region has its mobile users)
    const devices = d.checks.segments!.cells.filter(
      c => c.dimension === 'device',
    );
    expect(devices.filter(c => c.harmed).map(c => c.value)).toEqual(['mobile']);
  });

  it('the same data without segments does not see it (the harm is diluted in the whole)', () => {
    const d = evaluateGate(ctx, early, {});
    const withSeg = evaluateGate(ctx, early, {
      segments: { dimensions: ['device'] },
    });
    expect(d.verdict).not.toBe('rollback');
    expect(d.checks.segments).toBeUndefined();
    expect(withSeg.checks.segments!.harmed).toEqual(['device=mobile']);
  });

  it('onHarm: hold holds with the segment named instead of rolling back', () => {
    const d = evaluateGate(ctx, early, {
      segments: { dimensions: ['device'], onHarm: 'hold' },
    });
    expect(d.verdict).toBe('hold');
    expect(d.reasons[0]).toMatch(/^segment device=mobile: error rate canary/);
  });

  it('an unrepresentative canary (over-samples mobile) holds, beside a clean SRM check', () => {
    const ticks = simulateSegments(
      {
        ticks: 30,
        traffic: 20000,
        share: 0.05,
        errRate: 0.003,
        slow: 0.002,
        conv: 0.05,
        overSample: { device: 'mobile', factor: 1.3 },
      },
      9,
    );
    const d = evaluateGate(ctx, ticks, {
      segments: { dimensions: ['device', 'region'] },
    });
    expect(d.verdict).toBe('hold');
    expect(d.checks.srm.mismatch).toBe(false);
    const rep = d.checks.representativeness!;
    expect(rep.find(r => r.dimension === 'device')!.mismatch).toBe(true);
    expect(rep.find(r => r.dimension === 'region')!.mismatch).toBe(false);
    expect(d.reasons.join('\n')).toMatch(
      /unrepresentative canary: device=mobile is over-sampled/,
    );
  });

  it('a segment missing from the latest tick is missing, never zero: no promotion', () => {
    const ticks = simulateSegments(
      {
        ticks: 40,
        traffic: 20000,
        share: 0.05,
        errRate: 0.003,
        slow: 0.002,
        conv: 0.05,
      },
      3,
    );
    const policy = {
      segments: { dimensions: ['device'] },
      promote: { minDurationSeconds: 60, minCanaryRequests: 100 },
    };
    const full = evaluateGate(ctx, ticks, policy);
    expect(full.verdict).toBe('promote');
    const last = structuredClone(ticks[ticks.length - 1]);
    delete last.canary!.segments;
    const d = evaluateGate(ctx, [...ticks.slice(0, -1), last], policy);
    expect(d.verdict).toBe('continue');
    expect(d.checks.segments!.missingDimensions).toEqual(['device']);
    expect(d.reasons[0]).toMatch(
      /segment telemetry missing in the latest tick: device/,
    );
    // the absent tick added nothing to the segments' counts
    const n = (x: typeof d) =>
      x.checks.segments!.cells.reduce(
        (a, c) => a + c.signals[0].samples.canary,
        0,
      );
    expect(n(d)).toBeLessThan(n(full));
  });

  it('segments off: no segment state, no segment evidence', () => {
    const s = createGateState(ctx, {});
    expect(s.segments).toBeUndefined();
    const d = decide(observeTick(s, harmOnMobile[0]));
    expect(d.checks).not.toHaveProperty('segments');
    expect(d.checks).not.toHaveProperty('representativeness');
  });

  it('the whole-rollout gate carries the segment tests across steps', () => {
    const rs = createRolloutGate(
      ctx,
      { segments: { dimensions: ['device'] } },
      [0.05, 0.25],
    );
    for (const t of harmOnMobile.slice(0, 5)) observeRolloutTick(rs, t);
    const before = rs.gate.segments!.cells.find(c => c.value === 'mobile')!
      .rates[0]!.ticks;
    advanceRolloutStep(rs);
    expect(
      rs.gate.segments!.cells.find(c => c.value === 'mobile')!.rates[0]!.ticks,
    ).toBe(before);
    expect(rs.gate.segments!.mix[0].tests).toHaveLength(0);
    const d = decideRollout(rs);
    expect(d.checks.segments!.cells.length).toBe(3);
  });
});

describe('segments policy', () => {
  it('names the field of each problem', () => {
    const v = validateGatePolicy({
      segments: {
        dimensions: ['device', '', 'device'],
        onHarm: 'page',
        maxValues: 0,
        alpha: 2,
        minShare: -1,
        representativeness: { alpha: 0, extra: 1 },
      },
    });
    expect(v.ok).toBe(false);
    const paths = v.ok ? [] : v.problems.map(p => p.path).sort();
    expect(paths).toEqual(
      [
        'segments.alpha',
        'segments.dimensions[1]',
        'segments.maxValues',
        'segments.minShare',
        'segments.onHarm',
        'segments.representativeness.alpha',
        'segments.representativeness.extra',
      ].sort(),
    );
  });

  it("takes the segment tests' α out of alpha when segment harm rolls back, so alpha still bounds false rollbacks", () => {
    const on = { dimensions: ['device'], alpha: 0.01 };
    const ticks = ref.cases[0].ticks as TelemetryTick[];
    // each deterioration test fires at e-value 1/α_i: the α the whole spends is Σ exp(−threshold)
    const wholeAlpha = (policy: object) =>
      evaluateGate(refCtx, ticks, policy).signals.reduce(
        (a, x) => a + Math.exp(-x.threshold!),
        0,
      );
    expect(wholeAlpha({ alpha: 0.05 })).toBeCloseTo(0.05, 12);
    expect(wholeAlpha({ alpha: 0.05, segments: on })).toBeCloseTo(0.04, 12);
    expect(
      wholeAlpha({ alpha: 0.05, segments: { ...on, onHarm: 'hold' } }),
    ).toBeCloseTo(0.05, 12);
    expect(
      validateGatePolicy({ alpha: 0.01, segments: { ...on, alpha: 0.02 } })
        .problems,
    ).toEqual([
      expect.objectContaining({
        path: 'segments.alpha',
        message: expect.stringMatching(/must be below alpha \(0\.01\)/),
      }),
    ]);
  });

  it('a duplicate dimension is an error naming it', () => {
    const v = validateGatePolicy({
      segments: { dimensions: ['device', 'device'] },
    });
    expect(v.ok ? [] : v.problems).toEqual([
      {
        path: 'segments.dimensions[1]',
        message: 'duplicate dimension "device"',
      },
    ]);
  });
});

describe('segments at a step maximum', () => {
  it('a step maximum does not promote while a segment dimension is missing', () => {
    const ctx = simCtx(0.01, false);
    const ticks = simulateSegments(
      {
        ticks: 70,
        traffic: 20000,
        share: 0.01,
        errRate: 0.003,
        slow: 0.002,
        conv: 0.05,
      },
      4,
    );
    // region is asked for but never reported
    for (const t of ticks) {
      delete t.baseline!.segments!.region;
      delete t.canary!.segments!.region;
    }
    const policy = { segments: { dimensions: ['device', 'region'] } };
    const rs = createRolloutGate(ctx, policy, [0.01, 0.05]);
    for (const t of ticks) observeRolloutTick(rs, t);
    const d = decideRollout(rs);
    expect(d.rollout!.rule).toBe('step-timeout');
    expect(d.verdict).toBe('hold');
    expect(d.reasons[0]).toMatch(/segment telemetry is missing/);
  });
});
