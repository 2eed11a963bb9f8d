/**
 * Segments in the two paths that watch for a change: the change detector during the canary steps
 * (a harm confined to one segment that starts mid-step) and the post-promotion watch (a harm
 * confined to one segment that starts after the release reached everyone).
 */
import {
  createBakeWatch,
  createRolloutGate,
  decideBake,
  decideRollout,
  observeBakeTick,
  observeRolloutTick,
} from './index';
import type { GatePolicyInput } from './policy';
import { simCtx } from './__testkit__/sim';
import { simulateSegments, SegmentSimSpec } from './__testkit__/segmentSim';

const DIMENSIONS = ['device', 'region'];
const TRAFFIC: Omit<SegmentSimSpec, 'ticks' | 'share'> = {
  traffic: 20000,
  errRate: 0.003,
  slow: 0.002,
  conv: 0.05,
};
/** mobile users' errors ×2 and desktop's cut to 0.3×: the whole's error rate does not move */
const MOBILE_ONLY = {
  device: 'mobile',
  errMult: 2,
  others: { desktop: 0.31 },
};

const stepPolicy = (segments?: GatePolicyInput['segments']) => ({
  promote: { minDurationSeconds: 1e9 },
  rollout: { maxStepSeconds: 1e9 },
  ...(segments ? { segments } : {}),
});

/** a rollout held at one step (share) over `ticks`: the first rollback, or none */
function walkStep(
  spec: SegmentSimSpec,
  seed: number,
  policy: GatePolicyInput,
): { tick: number; reasons: string[]; rule?: string } | undefined {
  const rs = createRolloutGate(simCtx(spec.share, false), policy, [spec.share]);
  for (const t of simulateSegments(spec, seed)) {
    observeRolloutTick(rs, t);
    const d = decideRollout(rs, { tick: t.tick });
    if (d.verdict === 'rollback')
      return { tick: t.tick, reasons: d.reasons, rule: d.rollout?.rule };
  }
  return undefined;
}

describe('segments: change detection', () => {
  it('a mobile-only harm starting mid-step is rolled back by the segment change detector, naming device=mobile', () => {
    const spec = {
      ...TRAFFIC,
      ticks: 300,
      share: 0.25,
      harm: { ...MOBILE_ONLY, fromTick: 150 },
    };
    const withSeg = walkStep(spec, 77, stepPolicy({ dimensions: DIMENSIONS }))!;
    expect(withSeg.tick).toBeGreaterThanOrEqual(150);
    expect(withSeg.rule).toBe('change-detection');
    expect(withSeg.reasons[0]).toMatch(
      /^segment device=mobile: error rate canary worse than baseline in this segment since a change during the rollout \(change detector e-value [\d.e+]+ ≥ [\d.e+]+; over the rollout canary [\d.]+% vs baseline [\d.]+%\)/,
    );
    // the whole does not see it
    expect(walkStep(spec, 77, stepPolicy())).toBeUndefined();
    // the segment's test from the start alone (no change detector) is later, diluted by the 150 good ticks
    const fromStart = walkStep(spec, 77, {
      ...stepPolicy({ dimensions: DIMENSIONS }),
      rollout: { maxStepSeconds: 1e9, changeDetection: { enabled: false } },
    });
    expect(fromStart?.tick ?? Infinity).toBeGreaterThan(withSeg.tick);
  });

  it('with onHarm: hold the segment change detector holds, naming device=mobile, and never rolls back', () => {
    const spec = {
      ...TRAFFIC,
      ticks: 200,
      share: 0.25,
      harm: { ...MOBILE_ONLY, fromTick: 150 },
    };
    const rs = createRolloutGate(
      simCtx(0.25, false),
      stepPolicy({ dimensions: DIMENSIONS, onHarm: 'hold' }),
      [0.25],
    );
    const verdicts = new Set<string>();
    let held: string[] | undefined;
    for (const t of simulateSegments(spec, 77)) {
      observeRolloutTick(rs, t);
      const d = decideRollout(rs, { tick: t.tick });
      verdicts.add(d.verdict);
      if (!held && d.rollout?.rule === 'change-detection') held = d.reasons;
    }
    expect(verdicts.has('rollback')).toBe(false);
    expect(held?.[0]).toMatch(
      /^segment device=mobile: error rate canary worse/,
    );
  });

  it('keeps the cells detectors out of the state without segments (the rollout state is as before)', () => {
    const rs = createRolloutGate(simCtx(0.05, false), stepPolicy(), [0.05]);
    expect('segmentDetectors' in rs).toBe(false);
    const withSeg = createRolloutGate(
      simCtx(0.05, false),
      stepPolicy({ dimensions: DIMENSIONS }),
      [0.05],
    );
    expect(withSeg.segmentDetectors).toEqual([]);
    // the cells' tests from the start spend segments.alpha × (1 − alphaShare): 0.01 × 0.7
    expect(withSeg.gate.policy.segments.alpha).toBeCloseTo(0.007, 12);
    // and the whole (alpha − segments.alpha) × 0.7: plan.ts takes the step's segments' α out of this
    expect(withSeg.gate.policy.alpha).toBeCloseTo(0.05 * 0.7, 12);
  });
});

/** A/A reference traffic folded into a one-step rollout, then the watch over the bake window. */
function bake(
  spec: Omit<SegmentSimSpec, 'ticks' | 'share'>,
  seed: number,
  policy: GatePolicyInput,
): ReturnType<typeof decideBake> {
  const before = simulateSegments({ ...TRAFFIC, ticks: 60, share: 0.5 }, seed);
  const rs = createRolloutGate(simCtx(0.5, false), policy, [0.5]);
  for (const t of before) observeRolloutTick(rs, t);
  const w = createBakeWatch(rs, 61);
  const after = simulateSegments({ ...spec, ticks: 60, share: 1 }, seed + 1e6);
  let d = decideBake(w, { tick: 60 });
  for (const t of after) {
    const tick = { ...t, tick: t.tick + 60 };
    observeBakeTick(w, tick);
    d = decideBake(w, { tick: tick.tick });
    if (d.verdict !== 'continue') break;
  }
  return d;
}

describe('segments: the post-promotion watch', () => {
  it('rolls back a mobile-only harm after full promotion, naming device=mobile; without segments the window passes', () => {
    const harm = { ...TRAFFIC, harm: { ...MOBILE_ONLY, fromTick: 10 } };
    const d = bake(harm, 11, { segments: { dimensions: DIMENSIONS } });
    expect(d.verdict).toBe('rollback');
    expect(d.reasons[0]).toMatch(
      /^segment device=mobile: error rate after full promotion [\d.]+% vs [\d.]+% before in this segment \(limit [\d.]+%: the old rate's upper bound plus the SLO-budget margin; e-value [\d.e+]+ ≥ [\d.e+]+\)$/,
    );
    expect(d.reasons.some(r => /device=(desktop|tablet)/.test(r))).toBe(false);
    expect(
      d.signals.find(s => s.name === 'segment device=mobile: error rate'),
    ).toBeDefined();
    const whole = bake(harm, 11, {});
    expect(whole.verdict).toBe('complete');
    expect(whole.signals.every(s => !s.name.startsWith('segment'))).toBe(true);
  });

  it('splits the bake alpha: the cells get bake.alpha × segments.alpha / alpha, the whole the rest', () => {
    const rs = createRolloutGate(
      simCtx(0.5, false),
      { segments: { dimensions: DIMENSIONS } },
      [0.5],
    );
    for (const t of simulateSegments({ ...TRAFFIC, ticks: 5, share: 0.5 }, 1))
      observeRolloutTick(rs, t);
    const w = createBakeWatch(rs, 6);
    expect(w.segments!.alpha).toBeCloseTo((0.01 * 0.01) / 0.05, 15);
    expect(w.alpha + w.segments!.alpha).toBeCloseTo(0.01, 15);
    expect(w.segments!.cellBudget).toBe(8);
    // every device and region seen (tablet 7 %, latam 5 % are above minShare 2 %)
    expect(
      w.segments!.cells.map(c => `${c.dimension}=${c.value}`).sort(),
    ).toEqual([
      'device=desktop',
      'device=mobile',
      'device=tablet',
      'region=apac',
      'region=eu',
      'region=latam',
      'region=na',
    ]);
    // onHarm: hold never rolls back from a segment: the whole keeps all of bake.alpha
    const held = createRolloutGate(
      simCtx(0.5, false),
      { segments: { dimensions: DIMENSIONS, onHarm: 'hold' } },
      [0.5],
    );
    const hw = createBakeWatch(held, 1);
    expect(hw.segments).toBeUndefined();
    expect(hw.alpha).toBe(0.01);
  });
});
