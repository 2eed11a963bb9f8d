/**
 * The segment change detectors and the segment bake watch under continuous monitoring: A/A
 * streams (device × region, checked after every tick) must keep the false alarms within the
 * configured alpha — the rollout's `alpha` (whole and segments, from-start tests and change
 * detectors together), and `rollout.bake.alpha` for the watch — and a harm confined to mobile
 * users is caught and named.
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
const SHARES = [0.01, 0.05, 0.25];
const RATES = { errRate: 0.003, slow: 0.002, conv: 0.05 };
const bySegment = (reasons: string[]) =>
  reasons.filter(r => r.startsWith('segment '));

/** the first rollback of a one-step rollout over the stream, or none */
function firstRollback(
  spec: SegmentSimSpec,
  seed: number,
  policy: GatePolicyInput,
): { tick: number; reasons: string[] } | undefined {
  const rs = createRolloutGate(simCtx(spec.share, false), policy, [spec.share]);
  for (const t of simulateSegments(spec, seed)) {
    observeRolloutTick(rs, t);
    const d = decideRollout(rs, { tick: t.tick });
    if (d.verdict === 'rollback') return { tick: t.tick, reasons: d.reasons };
  }
  return undefined;
}

/** 60 reference ticks at 50 %, then the bake window (60 ticks): the watch's verdict */
function bakeRun(
  harm: SegmentSimSpec['harm'],
  seed: number,
  policy: GatePolicyInput,
) {
  const rs = createRolloutGate(simCtx(0.5, false), policy, [0.5]);
  for (const t of simulateSegments(
    { ...RATES, traffic: 4000, ticks: 60, share: 0.5 },
    seed,
  ))
    observeRolloutTick(rs, t);
  const w = createBakeWatch(rs, 61);
  let d = decideBake(w, { tick: 60 });
  for (const t of simulateSegments(
    { ...RATES, traffic: 4000, ticks: 60, share: 1, harm },
    seed + 1e6,
  )) {
    const tick = { ...t, tick: t.tick + 60 };
    observeBakeTick(w, tick);
    d = decideBake(w, { tick: tick.tick });
    if (d.verdict !== 'continue') break;
  }
  return d;
}

describe('segments: change detection and the bake watch, simulated', () => {
  it('A/A: false rollbacks over 300 streams x 100 ticks stay within alpha with the segment change detectors on', () => {
    const alpha = 0.05;
    const segAlpha = 0.01;
    const streams = 300;
    let rollbacks = 0;
    let segment = 0;
    let segmentChange = 0;
    for (let i = 0; i < streams; i++) {
      const share = SHARES[i % 3];
      const r = firstRollback(
        { ...RATES, ticks: 100, traffic: 4000, share },
        2000 + i,
        {
          alpha,
          promote: { minDurationSeconds: 1e9 },
          rollout: { maxStepSeconds: 1e9 },
          segments: { dimensions: DIMENSIONS, alpha: segAlpha },
        },
      );
      if (!r) continue;
      rollbacks++;
      const seg = bySegment(r.reasons);
      if (seg.length) segment++;
      if (seg.some(x => x.includes('since a change'))) segmentChange++;
    }
    // eslint-disable-next-line no-console
    console.log(
      `[segments] A/A rollout, change detectors per segment: ${rollbacks}/${streams} false rollbacks (${segment} by a segment, ${segmentChange} by a segment's change detector); bound alpha = ${alpha}, segments ${segAlpha}`,
    );
    expect(rollbacks / streams).toBeLessThanOrEqual(alpha);
    expect(segment / streams).toBeLessThanOrEqual(segAlpha);
  });

  it('A/A: the bake watch with segments keeps false rollbacks within rollout.bake.alpha over 300 windows (no SLO margin)', () => {
    const bakeAlpha = 0.05;
    const windows = 300;
    let rollbacks = 0;
    let segment = 0;
    for (let i = 0; i < windows; i++) {
      const d = bakeRun(undefined, 7000 + i, {
        alpha: 0.05,
        errorRate: { budgetFraction: 0 },
        latency: { budgetFraction: 0 },
        rollout: { bake: { alpha: bakeAlpha } },
        segments: { dimensions: DIMENSIONS, alpha: 0.01 },
      });
      if (d.verdict === 'rollback') {
        rollbacks++;
        if (bySegment(d.reasons).length) segment++;
      }
    }
    // eslint-disable-next-line no-console
    console.log(
      `[segments] A/A bake watch: ${rollbacks}/${windows} false rollbacks (${segment} by a segment); bound bake.alpha = ${bakeAlpha} (segments ${(bakeAlpha * 0.01) / 0.05})`,
    );
    expect(rollbacks / windows).toBeLessThanOrEqual(bakeAlpha);
    expect(segment / windows).toBeLessThanOrEqual((bakeAlpha * 0.01) / 0.05);
  });

  it('mobile errors x3 after full promotion: rolled back with device=mobile named in at least 45 of 50 windows, no other device named', () => {
    let named = 0;
    let wrongDevice = 0;
    for (let i = 0; i < 50; i++) {
      const d = bakeRun(
        { device: 'mobile', errMult: 3, fromTick: 5 },
        9000 + i,
        {
          segments: { dimensions: DIMENSIONS },
        },
      );
      const seg = bySegment(d.reasons);
      if (seg.some(r => /^segment device=(desktop|tablet)/.test(r)))
        wrongDevice++;
      if (
        d.verdict === 'rollback' &&
        seg.some(r => r.startsWith('segment device=mobile: error rate'))
      )
        named++;
    }
    // eslint-disable-next-line no-console
    console.log(`[segments] bake, mobile errors x3: named in ${named}/50`);
    expect(named).toBeGreaterThanOrEqual(45);
    expect(wrongDevice).toBe(0);
  });

  it('a mobile-only harm from mid-step (mobile errors x2, desktop cut: the whole does not move; 5 % canary): rolled back with device=mobile named in at least 45 of 50 streams', () => {
    let named = 0;
    let wrongDevice = 0;
    let byDetector = 0;
    let delay = 0;
    for (let i = 0; i < 50; i++) {
      const r = firstRollback(
        {
          ...RATES,
          ticks: 200,
          traffic: 20000,
          share: 0.05,
          harm: {
            device: 'mobile',
            errMult: 2,
            others: { desktop: 0.31 },
            fromTick: 60,
          },
        },
        5000 + i,
        {
          promote: { minDurationSeconds: 1e9 },
          rollout: { maxStepSeconds: 1e9 },
          segments: { dimensions: DIMENSIONS },
        },
      );
      const seg = bySegment(r?.reasons ?? []);
      if (seg.some(x => /^segment device=(desktop|tablet)/.test(x)))
        wrongDevice++;
      if (
        r &&
        r.tick >= 60 &&
        seg.some(x => x.startsWith('segment device=mobile:'))
      ) {
        named++;
        delay += r.tick - 60;
        if (seg.some(x => x.includes('since a change'))) byDetector++;
      }
    }
    // eslint-disable-next-line no-console
    console.log(
      `[segments] mid-step mobile-only harm: named in ${named}/50 (by the change detector in ${byDetector}), mean delay ${(delay / Math.max(1, named)).toFixed(1)} ticks`,
    );
    expect(named).toBeGreaterThanOrEqual(45);
    // the segment's change detector, not its test from the start (diluted by the 60 good ticks), fires first in most (measured 46/50)
    expect(byDetector).toBeGreaterThanOrEqual(40);
    expect(wrongDevice).toBe(0);
  });
});
